use berth_store::Store;

use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
}

pub fn run(store: &Store, _a: &Args, out: &Output) -> anyhow::Result<()> {
    let r = store.fsck()?;
    if out.json() {
        out.print_json(&r);
    } else {
        for c in r.corrupt.iter().chain(&r.missing) {
            out.line(c);
        }
        out.line(&format!("checked {} blobs: {}", r.blobs_checked, if r.ok() { "ok" } else { "PROBLEMS FOUND" }));
    }
    if !r.ok() {
        // The one-line error names the first problem (its digest), so scripts see which blob.
        let first = r.corrupt.iter().chain(&r.missing).next().cloned().unwrap_or_default();
        anyhow::bail!("fsck found {} corrupt and {} missing: {first}", r.corrupt.len(), r.missing.len());
    }
    Ok(())
}
