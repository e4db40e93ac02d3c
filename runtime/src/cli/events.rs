//! `berth events [--stats] [--interval D] ID`: one stats JSON object (`--stats`), or a stream
//! of stats lines every interval plus `oom` events until the container stops.

use super::args::{flag, opt};
use super::Globals;
use anyhow::{anyhow, bail, Result};
use berth_runtime::cgroups::stats::Event;
use std::time::Duration;

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("events", argv, &[flag(&["stats"]), opt(&["interval"])], None)?;
    let id = a.id("events")?;
    super::no_more("events", &a, 1)?;
    let c = g.runtime().load(id)?;
    if !c.is_alive() {
        bail!("container {id:?} is not running");
    }
    if a.bool("stats") {
        let ev = Event::stats(id, c.stats()?);
        println!("{}", serde_json::to_string(&ev)?);
        return Ok(0);
    }
    let interval = parse_duration(a.get("interval").unwrap_or("5s"))?;
    let cg = c.cgroup().ok_or_else(|| anyhow!("container {id:?} has no cgroup"))?;
    let mut out = std::io::stdout();
    berth_runtime::cgroups::events::stream(cg, id, interval, &mut out, &|| c.is_alive())?;
    Ok(0)
}

/// Go-style durations as runc takes them: `500ms`, `5s`, `1m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || anyhow!("--interval {s:?}: expected a duration like 500ms, 5s or 1m");
    let (num, unit) = s.find(|c: char| c.is_ascii_alphabetic()).map(|i| s.split_at(i)).unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if !(secs > 0.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}
