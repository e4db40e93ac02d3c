//! `berth start ID`: let a created container's process run; returns once it has exec'd.

use super::Globals;
use anyhow::Result;

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("start", argv, &[], None)?;
    let id = a.id("start")?;
    super::no_more("start", &a, 1)?;
    g.runtime()?.load(id)?.start()?;
    Ok(0)
}
