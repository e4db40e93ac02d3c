use berth_store::registry::PushOptions;
use berth_store::Store;

use super::progress::Bars;
use super::{Output, RegistryArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    #[command(flatten)]
    reg: RegistryArgs,
    /// Image in the store (reference or id).
    reference: String,
    /// Where to push it (default: the image's own name).
    destination: Option<String>,
}

pub fn run(store: &Store, a: &Args, out: &Output) -> anyhow::Result<()> {
    let p = Bars::for_output(out);
    let d = store.push(&a.reference, a.destination.as_deref(), &PushOptions { registry: a.reg.options() }, p.as_ref())?;
    if out.json() {
        out.print_json(&serde_json::json!({"digest": d}));
    } else {
        out.line(&format!("Digest: {d}"));
    }
    Ok(())
}
