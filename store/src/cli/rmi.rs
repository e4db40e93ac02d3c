use berth_store::Store;

use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    /// Images to untag (references or ids).
    #[arg(required = true)]
    refs: Vec<String>,
}

pub fn run(store: &Store, a: &Args, out: &Output) -> anyhow::Result<()> {
    let mut all = vec![];
    for r in &a.refs {
        all.extend(store.untag(r)?);
    }
    if out.json() {
        out.print_json(&all);
    } else {
        for n in all {
            out.line(&format!("Untagged: {n}"));
        }
    }
    Ok(())
}
