use berth_store::Store;

use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    /// Image reference or id.
    reference: String,
}

pub fn run(store: &Store, a: &Args, out: &Output) -> anyhow::Result<()> {
    let img = store.resolve(&a.reference)?;
    let config: serde_json::Value = serde_json::from_slice(&img.config_bytes)?;
    let v = serde_json::json!({
        "Name": img.name,
        "Id": img.id(),
        "Digest": img.descriptor.digest,
        "MediaType": img.descriptor.media_type,
        "Size": img.size(),
        "Manifest": img.manifest,
        "Config": config,
        "ChainIds": img.chain_ids(),
    });
    out.print_json(&v);
    Ok(())
}
