use std::path::PathBuf;

use berth_store::Store;

use super::progress::Bars;
use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    /// Image reference or id.
    reference: String,
    /// Directory to create (must not exist, or be empty).
    dir: PathBuf,
}

pub fn run(store: &Store, a: &Args, out: &Output) -> anyhow::Result<()> {
    let p = Bars::for_output(out);
    store.unpack(&a.reference, &a.dir, p.as_ref())?;
    Ok(())
}
