use std::path::PathBuf;

use berth_store::archive::ImportOptions;
use berth_store::Store;

use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    /// OCI archive, OCI layout directory, or docker-save archive (may be gzip-compressed).
    file: PathBuf,
    /// Repository for images the archive names only by tag (default localhost/<file name>).
    #[arg(long)]
    name: Option<String>,
}

pub fn run(store: &Store, a: &Args, out: &Output) -> anyhow::Result<()> {
    let tags = store.import(&a.file, &ImportOptions { name: a.name.clone() })?;
    if out.json() {
        let v: Vec<serde_json::Value> = tags.iter().map(|(n, d)| serde_json::json!({"name": n, "digest": d.digest})).collect();
        out.print_json(&v);
    } else {
        for (n, d) in tags {
            out.line(&format!("Loaded image: {n} ({})", d.digest));
        }
    }
    Ok(())
}
