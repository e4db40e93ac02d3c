//! `berth list [--format table|json] [--quiet]`

use super::args::{flag, opt};
use super::Globals;
use anyhow::{bail, Result};
use std::path::Path;

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("list", argv, &[opt(&["format", "f"]), flag(&["quiet", "q"])], None)?;
    super::no_more("list", &a, 0)?;
    let rt = g.runtime()?;
    let cs = rt.list()?;
    if a.bool("quiet") {
        for c in &cs {
            println!("{}", c.id);
        }
        return Ok(0);
    }
    match a.get("format").unwrap_or("table") {
        "json" => {
            let v: Vec<_> = cs.iter().map(|c| with_owner(&rt.root, c.state())).collect();
            println!("{}", serde_json::to_string(&v)?);
        }
        "table" => {
            println!("{:<12} {:<10} {:<10} {:<40} {:<32} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
            for c in &cs {
                let s = with_owner(&rt.root, c.state());
                println!("{:<12} {:<10} {:<10} {:<40} {:<32} {}", s.id, s.pid, s.status, s.bundle.display(), s.created, s.owner);
            }
        }
        f => bail!("list: unknown format {f:?} (table or json)"),
    }
    Ok(0)
}

/// As runc: the owner is the user owning the container's state dir (`#UID` without a name).
fn with_owner(root: &Path, mut s: berth_runtime::State) -> berth_runtime::State {
    use std::os::unix::fs::MetadataExt;
    if let Ok(m) = std::fs::metadata(root.join(&s.id)) {
        let uid = m.uid();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let name = passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_owned())
        });
        s.owner = name.unwrap_or_else(|| format!("#{uid}"));
    }
    s
}
