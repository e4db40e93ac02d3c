//! `berth pause ID` / `berth resume ID` (the cgroup freezer).

use super::Globals;
use anyhow::Result;

pub fn main(g: &Globals, argv: &[String], pause: bool) -> Result<i32> {
    let verb = if pause { "pause" } else { "resume" };
    let a = super::args::parse(verb, argv, &[], None)?;
    let id = a.id(verb)?;
    super::no_more(verb, &a, 1)?;
    let mut c = g.runtime()?.load(id)?;
    if pause {
        c.pause()?
    } else {
        c.resume()?
    }
    Ok(0)
}
