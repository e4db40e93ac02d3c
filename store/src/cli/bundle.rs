use std::path::PathBuf;

use berth_store::bundle::BundleOptions;
use berth_store::Store;

use super::progress::Bars;
use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    /// A flat private copy of the rootfs instead of an overlay of shared snapshots.
    #[arg(long)]
    copy: bool,
    /// Replace the image's entrypoint.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Extra environment (KEY=VALUE), repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// Run as this user (name|uid[:group|gid]), resolved in the image.
    #[arg(short, long)]
    user: Option<String>,
    /// Give the process a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Image reference or id.
    reference: String,
    /// Bundle directory to create.
    dir: PathBuf,
    /// Command replacing the image's Cmd.
    #[arg(last = true)]
    cmd: Vec<String>,
}

#[derive(clap::Args)]
pub struct UnbundleArgs {
    #[command(flatten)]
    pub o: super::OutArgs,
    /// Bundle directory made by `bundle`.
    dir: PathBuf,
}

pub fn run(store: &Store, a: &Args, out: &Output) -> anyhow::Result<()> {
    let opts = BundleOptions {
        args: if a.cmd.is_empty() { None } else { Some(a.cmd.clone()) },
        entrypoint: a.entrypoint.as_ref().map(|e| vec![e.clone()]),
        env: a.env.clone(),
        user: a.user.clone(),
        copy: a.copy,
        terminal: a.tty,
    };
    let p = Bars::for_output(out);
    let b = store.bundle(&a.reference, &a.dir, &opts, p.as_ref())?;
    if out.json() {
        out.print_json(&b);
    } else {
        out.line(&b.dir.display().to_string());
    }
    Ok(())
}

pub fn unbundle(store: &Store, a: &UnbundleArgs, _out: &Output) -> anyhow::Result<()> {
    store.unbundle(&a.dir)?;
    Ok(())
}
