//! `berth list [--format table|json] [--quiet]`

use super::args::{flag, opt};
use super::Globals;
use anyhow::{bail, Result};

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("list", argv, &[opt(&["format", "f"]), flag(&["quiet", "q"])], None)?;
    super::no_more("list", &a, 0)?;
    let cs = g.runtime().list()?;
    if a.bool("quiet") {
        for c in &cs {
            println!("{}", c.id);
        }
        return Ok(0);
    }
    match a.get("format").unwrap_or("table") {
        "json" => {
            let v: Vec<_> = cs.iter().map(|c| c.state()).collect();
            println!("{}", serde_json::to_string(&v)?);
        }
        "table" => {
            println!("{:<12} {:<10} {:<10} {:<40} {:<32} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
            for c in &cs {
                let s = c.state();
                println!("{:<12} {:<10} {:<10} {:<40} {:<32} {}", s.id, s.pid, s.status, s.bundle.display(), s.created, "root");
            }
        }
        f => bail!("list: unknown format {f:?} (table or json)"),
    }
    Ok(0)
}
