//! `berth events [--stats] [--interval D] ID`: needs the cgroup statistics (cgroups work).

use super::args::{flag, opt};
use super::Globals;
use anyhow::{bail, Result};

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("events", argv, &[flag(&["stats"]), opt(&["interval"])], None)?;
    let id = a.id("events")?;
    let c = g.runtime().load(id)?;
    let _ = c.state();
    bail!("events: container {id:?}: statistics need the cgroups support, which is not implemented yet")
}
