use berth_store::Store;

use super::output::{human_age, human_size};
use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    /// Print only image ids.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(store: &Store, a: &Args, out: &Output) -> anyhow::Result<()> {
    let images = store.images()?;
    if out.json() {
        out.print_json(&images);
    } else if a.quiet {
        for i in images {
            out.line(i.id.short());
        }
    } else {
        let rows: Vec<Vec<String>> = images
            .iter()
            .map(|i| vec![i.repository.clone(), i.tag.clone(), i.digest.to_string(), i.id.short().to_owned(), human_size(i.size), i.created.as_deref().map(human_age).unwrap_or_default()])
            .collect();
        out.table(&["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "SIZE", "CREATED"], &rows);
    }
    Ok(())
}
