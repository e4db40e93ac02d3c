//! The `berth-build` command line: flags parsed into [`crate::options::BuildOptions`].

pub mod build;

use crate::options::{parse_build_arg, BuildOptions, Output, Progress, Secret};
use clap::Parser;
use std::path::PathBuf;

/// Build an OCI image from a Dockerfile, like `docker build`.
#[derive(Parser, Debug)]
#[command(name = "berth-build", version, about)]
pub struct Cli {
    /// The Dockerfile (default: CONTEXT/Dockerfile; `-` reads it from stdin).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Name and tag the image (repeatable).
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Set a build-time variable: K=V, or K to take it from the environment (repeatable).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Build this stage (and what it needs) instead of the last one.
    #[arg(long)]
    pub target: Option<String>,
    /// Ignore the build cache (the result is still cached for next time).
    #[arg(long)]
    pub no_cache: bool,
    /// Pull base images even when the store has them.
    #[arg(long)]
    pub pull: bool,
    /// Where the image goes: type=store (default), type=oci,dest=FILE, type=docker,dest=FILE.
    #[arg(long, value_parser = Output::parse)]
    pub output: Option<Output>,
    /// Push the tags to their registries after the build.
    #[arg(long)]
    pub push: bool,
    /// Progress output: auto (tty when stderr is a terminal), plain, tty.
    #[arg(long, default_value = "auto", value_parser = Progress::parse)]
    pub progress: Progress,
    /// Expose a secret to RUN --mount=type=secret: id=X,src=FILE or id=X,env=VAR (repeatable).
    #[arg(long = "secret", value_parser = Secret::parse)]
    pub secrets: Vec<Secret>,
    /// Allow plain HTTP to registries (loopback registries are always allowed).
    #[arg(long)]
    pub insecure: bool,
    /// Target platform (default: this machine's).
    #[arg(long)]
    pub platform: Option<String>,
    /// The berth-store root.
    #[arg(long, default_value = "/var/lib/berth/store", env = "BERTH_STORE_ROOT")]
    pub root: PathBuf,
    /// The build context directory.
    pub context: PathBuf,
}

impl Cli {
    pub fn options(self) -> BuildOptions {
        let dockerfile = self.file.unwrap_or_else(|| self.context.join("Dockerfile"));
        BuildOptions {
            context: self.context,
            dockerfile,
            tags: self.tags,
            build_args: self.build_args.iter().filter_map(|a| parse_build_arg(a)).collect(),
            target: self.target,
            no_cache: self.no_cache,
            pull: self.pull,
            output: self.output.unwrap_or(Output::Store),
            push: self.push,
            progress: self.progress,
            secrets: self.secrets,
            insecure: self.insecure,
            store_root: self.root,
            platform: self.platform,
        }
    }
}
