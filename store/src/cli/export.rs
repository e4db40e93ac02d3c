use std::path::PathBuf;

use berth_store::archive::ArchiveFormat;
use berth_store::Store;

use super::Output;

#[derive(clap::ValueEnum, Clone, Copy)]
enum Kind {
    Oci,
    Docker,
}

#[derive(clap::Args)]
pub struct Args {
    /// Image reference or id.
    reference: String,
    /// Archive to write.
    file: PathBuf,
    /// More images to put in the same archive.
    more: Vec<String>,
    /// Archive format: an OCI image layout tar, or `docker save`'s format.
    #[arg(long = "format", value_enum, default_value = "oci")]
    kind: Kind,
}

pub fn run(store: &Store, a: &Args, _out: &Output) -> anyhow::Result<()> {
    let mut refs = vec![a.reference.clone()];
    refs.extend(a.more.iter().cloned());
    let f = match a.kind {
        Kind::Oci => ArchiveFormat::Oci,
        Kind::Docker => ArchiveFormat::Docker,
    };
    store.export(&refs, &a.file, f)?;
    Ok(())
}
