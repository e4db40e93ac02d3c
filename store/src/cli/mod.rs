//! Argument parsing and dispatch; shared output helpers.

mod bundle;
mod export;
mod fsck;
mod gc;
mod history;
mod images;
mod import;
mod inspect;
mod output;
mod progress;
mod pull;
mod push;
mod rmi;
mod tag;
mod unpack;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use output::Output;

#[derive(Parser)]
#[command(name = "berth-store", version, about = "content-addressed OCI image store: pull, push, import, export, unpack, bundle")]
pub struct Cli {
    /// Store root (an OCI image layout plus snapshots/).
    #[arg(long, global = true, default_value = berth_store::store::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// `--format table|json` (export has its own `--format oci|docker`).
#[derive(clap::Args, Clone)]
pub struct OutArgs {
    /// Output format: a table for people, JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Registry connection options shared by pull and push.
#[derive(clap::Args, Clone)]
pub struct RegistryArgs {
    /// Allow plain HTTP and skip TLS verification for this registry.
    #[arg(long)]
    pub insecure: bool,
    /// Trust this PEM CA bundle in addition to the system roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Credentials file (docker config.json or containers auth.json format; its credHelpers/credsStore helpers are run as docker runs them).
    #[arg(long)]
    pub authfile: Option<PathBuf>,
    /// Layers transferred at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

impl RegistryArgs {
    pub fn options(&self) -> berth_store::registry::RegistryOptions {
        berth_store::registry::RegistryOptions { insecure: self.insecure, ca_file: self.ca_file.clone(), authfile: self.authfile.clone(), jobs: self.jobs.max(1) }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Pull an image from a registry.
    Pull(pull::Args),
    /// Push an image to a registry.
    Push(push::Args),
    /// List images.
    Images(images::Args),
    /// Tag an image under another name.
    Tag(tag::Args),
    /// Remove image tags (blobs are freed by gc).
    Rmi(rmi::Args),
    /// Show an image's manifest and config.
    Inspect(inspect::Args),
    /// Show an image's history.
    History(history::Args),
    /// Import an OCI archive, OCI layout directory or docker-save archive.
    Import(import::Args),
    /// Export images as an OCI or docker-save archive.
    Export(export::Args),
    /// Unpack an image into a directory (a flat rootfs).
    Unpack(unpack::Args),
    /// Make an OCI runtime bundle from an image.
    Bundle(bundle::Args),
    /// Unmount and remove a bundle made by `bundle`.
    Unbundle(bundle::UnbundleArgs),
    /// Remove blobs and snapshots no tag reaches.
    Gc(gc::Args),
    /// Re-hash every blob and check every tagged image is complete.
    Fsck(fsck::Args),
}

impl Command {
    fn format(&self) -> Format {
        let o = match self {
            Command::Pull(a) => &a.o,
            Command::Push(a) => &a.o,
            Command::Images(a) => &a.o,
            Command::Tag(a) => &a.o,
            Command::Rmi(a) => &a.o,
            Command::Inspect(a) => &a.o,
            Command::History(a) => &a.o,
            Command::Import(a) => &a.o,
            Command::Unpack(a) => &a.o,
            Command::Bundle(a) => &a.o,
            Command::Unbundle(a) => &a.o,
            Command::Gc(a) => &a.o,
            Command::Fsck(a) => &a.o,
            Command::Export(_) => return Format::Table,
        };
        o.format
    }
}

pub fn run() -> i32 {
    let cli = Cli::parse();
    env_logger::Builder::new().parse_filters(&cli.log_level).format_timestamp(None).init();
    let out = Output::new(cli.command.format());
    let res = (|| -> anyhow::Result<()> {
        let store = || -> anyhow::Result<berth_store::Store> { Ok(berth_store::Store::open(&cli.root)?) };
        match &cli.command {
            Command::Pull(a) => pull::run(&store()?, a, &out),
            Command::Push(a) => push::run(&store()?, a, &out),
            Command::Images(a) => images::run(&store()?, a, &out),
            Command::Tag(a) => tag::run(&store()?, a, &out),
            Command::Rmi(a) => rmi::run(&store()?, a, &out),
            Command::Inspect(a) => inspect::run(&store()?, a, &out),
            Command::History(a) => history::run(&store()?, a, &out),
            Command::Import(a) => import::run(&store()?, a, &out),
            Command::Export(a) => export::run(&store()?, a, &out),
            Command::Unpack(a) => unpack::run(&store()?, a, &out),
            Command::Bundle(a) => bundle::run(&store()?, a, &out),
            Command::Unbundle(a) => bundle::unbundle(&store()?, a, &out),
            Command::Gc(a) => gc::run(&store()?, a, &out),
            Command::Fsck(a) => fsck::run(&store()?, a, &out),
        }
    })();
    match res {
        Ok(()) => 0,
        Err(e) => {
            let mut msg = e.to_string();
            // Library errors already print their source (`{path}: {source}`): don't repeat it.
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.ends_with(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            // One line, whatever a peer (registry body, helper output) put in the message.
            // (Only line breaks are replaced: a path's own spacing stays as it is.)
            let msg = msg.trim().replace(['\n', '\r'], " ");
            eprintln!("berth-store: {msg}");
            1
        }
    }
}
