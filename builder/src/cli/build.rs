//! `berth-build CONTEXT`: read and check the Dockerfile, then build.

use crate::options::BuildOptions;
use anyhow::{bail, Context as _, Result};
use std::io::Read;

/// The name errors use for the Dockerfile (`Dockerfile:7: COPY: ...`).
pub fn display_name(opts: &BuildOptions) -> String {
    let p = &opts.dockerfile;
    if p.as_os_str() == "-" {
        return "Dockerfile".into();
    }
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

pub fn read_dockerfile(opts: &BuildOptions) -> Result<String> {
    if opts.dockerfile.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading the Dockerfile from stdin")?;
        return Ok(s);
    }
    let bytes = std::fs::read(&opts.dockerfile).with_context(|| format!("reading Dockerfile {}", opts.dockerfile.display()))?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", opts.dockerfile.display()))
}

pub fn run(opts: BuildOptions) -> Result<()> {
    if !opts.context.is_dir() {
        bail!("build context {} is not a directory", opts.context.display());
    }
    let text = read_dockerfile(&opts)?;
    let name = display_name(&opts);
    let plan = crate::plan::check(&text, &opts).map_err(|e| anyhow::anyhow!(e.in_file(&name)))?;
    for w in &plan.warnings {
        eprintln!("warning: {name}: {w}");
    }
    crate::exec::build(&opts, plan)
}
