use berth_store::registry::PullOptions;
use berth_store::{Platform, Store};

use super::progress::Bars;
use super::{Output, RegistryArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    #[command(flatten)]
    reg: RegistryArgs,
    /// Platform to pick from a multi-platform image (os/arch[/variant]; default the host's).
    #[arg(long)]
    platform: Option<String>,
    /// Also unpack the layers into snapshots (verifying every diff_id) before committing.
    #[arg(long)]
    unpack: bool,
    /// Image reference ([registry/]name[:tag][@digest]).
    reference: String,
}

pub fn run(store: &Store, a: &Args, out: &Output) -> anyhow::Result<()> {
    let platform = a.platform.as_deref().map(Platform::parse).transpose()?;
    let p = Bars::for_output(out);
    let img = store.pull(&a.reference, &PullOptions { registry: a.reg.options(), platform, unpack: a.unpack }, p.as_ref())?;
    if out.json() {
        out.print_json(&serde_json::json!({"name": img.name, "digest": img.descriptor.digest, "id": img.id()}));
    } else {
        out.line(&format!("Digest: {}", img.descriptor.digest));
        out.line(&format!("Pulled: {}", img.name.unwrap_or_default()));
    }
    Ok(())
}
