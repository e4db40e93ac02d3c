use berth_store::Store;

use super::output::human_size;
use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
}

pub fn run(store: &Store, _a: &Args, out: &Output) -> anyhow::Result<()> {
    let r = store.gc()?;
    if out.json() {
        out.print_json(&r);
    } else {
        out.line(&format!("removed {} blobs ({}), {} snapshots, {} stale ingests", r.blobs_removed.len(), human_size(r.bytes_freed), r.snapshots_removed.len(), r.stale_ingests_removed));
    }
    Ok(())
}
