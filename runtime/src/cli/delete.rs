//! `berth delete [--force] ID`: a missing container is an error, except with --force.

use super::args::flag;
use super::Globals;
use anyhow::Result;
use berth_runtime::Error;

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("delete", argv, &[flag(&["force", "f"])], None)?;
    let id = a.id("delete")?;
    super::no_more("delete", &a, 1)?;
    let force = a.bool("force");
    match g.runtime()?.load(id) {
        Ok(mut c) => c.delete(force)?,
        Err(Error::NotFound(_)) if force => {}
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}
