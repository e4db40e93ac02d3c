use berth_store::Store;

use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    /// Existing image (reference or id).
    src: String,
    /// New name[:tag].
    dst: String,
}

pub fn run(store: &Store, a: &Args, _out: &Output) -> anyhow::Result<()> {
    store.tag(&a.src, &a.dst)?;
    Ok(())
}
