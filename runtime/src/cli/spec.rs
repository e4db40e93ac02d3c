//! `berth spec [--bundle DIR] [--rootless]`: write a default config.json (never overwrite).

use super::args::{flag, opt};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

pub fn main(argv: &[String]) -> Result<i32> {
    let a = super::args::parse("spec", argv, &[opt(&["bundle", "b"]), flag(&["rootless"])], None)?;
    super::no_more("spec", &a, 0)?;
    let path = PathBuf::from(a.get("bundle").unwrap_or(".")).join("config.json");
    if path.exists() {
        bail!("{}: file exists, remove it first", path.display());
    }
    let v = berth_runtime::spec::default::default_spec(a.bool("rootless"));
    std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n").with_context(|| path.display().to_string())?;
    Ok(0)
}
