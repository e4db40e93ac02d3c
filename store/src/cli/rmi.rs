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
    let all = store.untag_all(&a.refs)?;
    if out.json() {
        out.print_json(&all);
    } else {
        for n in all {
            out.line(&format!("Untagged: {n}"));
        }
    }
    Ok(())
}
