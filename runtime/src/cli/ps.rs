//! `berth ps [--format table|json] ID [ps options]`: the container's processes, as the host's
//! `ps` shows them (default `-ef`), or the pid list as JSON.

use super::args::opt;
use super::Globals;
use anyhow::{bail, Context, Result};

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("ps", argv, &[opt(&["format", "f"])], Some(1))?;
    let id = a.id("ps")?;
    let pids = g.runtime()?.load(id)?.pids()?;
    match a.get("format").unwrap_or("table") {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(0)
        }
        "table" => {
            let ps_args: Vec<String> = if a.pos.len() > 1 { a.pos[1..].to_vec() } else { vec!["-ef".into()] };
            let out = std::process::Command::new("ps").args(&ps_args).output().context("run ps")?;
            if !out.status.success() {
                bail!("ps {}: {}", ps_args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header.split_whitespace().position(|h| h == "PID").context("ps output has no PID column")?;
            println!("{header}");
            for l in lines {
                if let Some(p) = l.split_whitespace().nth(col).and_then(|p| p.parse::<i32>().ok()) {
                    if pids.contains(&p) {
                        println!("{l}");
                    }
                }
            }
            Ok(0)
        }
        f => bail!("ps: unknown format {f:?} (table or json)"),
    }
}
