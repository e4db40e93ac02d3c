//! `berth state ID`: the runtime-spec state as JSON.

use super::Globals;
use anyhow::Result;

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("state", argv, &[], None)?;
    let id = a.id("state")?;
    super::no_more("state", &a, 1)?;
    let c = g.runtime()?.load(id)?;
    println!("{}", serde_json::to_string_pretty(&c.state())?);
    Ok(0)
}
