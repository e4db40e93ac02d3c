//! `berth events [--stats] [--interval 5s] ID`: with `--stats` one line of runc's stats JSON;
//! otherwise a stats line every interval and an `oom` line whenever the OOM killer acts in
//! the container, until it stops.

use super::args::{flag, opt};
use super::Globals;
use anyhow::{bail, Context, Result};
use berth_runtime::cgroups::{events, stats::Event};
use std::io::Write;
use std::time::Duration;

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("events", argv, &[flag(&["stats"]), opt(&["interval"])], None)?;
    let id = a.id("events")?;
    super::no_more("events", &a, 1)?;
    let interval = match a.get("interval") {
        Some(v) => parse_duration(v).with_context(|| format!("events: --interval {v:?}"))?,
        None => Duration::from_secs(5),
    };
    let c = g.runtime()?.load(id)?;
    if !c.is_alive() {
        bail!("events: container {id:?} is not running");
    }
    let out = std::io::stdout();
    if a.bool("stats") {
        let line = serde_json::to_string(&Event::stats(id, c.stats()?))?;
        writeln!(out.lock(), "{line}")?;
        return Ok(0);
    }
    let cg = c.cgroup().with_context(|| format!("events: container {id:?} has no cgroup"))?;
    events::stream(cg, id, interval, &mut out.lock(), &|| c.is_alive()).with_context(|| format!("events: container {id:?}"))?;
    Ok(0)
}

/// Go's duration syntax as runc takes it: `5s`, `100ms`, `1m30s`, `1.5h`.
fn parse_duration(s: &str) -> Result<Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        bail!("empty duration");
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().map_err(|_| anyhow::anyhow!("not a duration (like 5s, 100ms, 1m)"))?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => bail!("not a duration (like 5s, 100ms, 1m)"),
        };
        total += num * scale;
        rest = &rest[u..];
    }
    if total <= 0.0 {
        bail!("the interval must be positive");
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        for bad in ["", "5", "x", "0s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
