//! `berth kill [--all] ID [SIGNAL]` (default SIGTERM; names with or without SIG, or numbers).

use super::args::flag;
use super::Globals;
use anyhow::{anyhow, Result};

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("kill", argv, &[flag(&["all", "a"])], None)?;
    let id = a.id("kill")?;
    super::no_more("kill", &a, 2)?;
    let sig_name = a.pos.get(1).map(String::as_str).unwrap_or("SIGTERM");
    let sig = berth_runtime::signal::parse(sig_name).ok_or_else(|| anyhow!(berth_runtime::Error::Signal(sig_name.to_owned())))?;
    g.runtime()?.load(id)?.kill(sig, a.bool("all"))?;
    Ok(0)
}
