//! `berth update [--resources FILE|-] [runc's resource flags] ID`

use super::args::{opt, Flag};
use super::Globals;
use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;

const FLAGS: &[Flag] = &[
    opt(&["resources", "r"]),
    opt(&["blkio-weight"]),
    opt(&["cpu-period"]),
    opt(&["cpu-quota"]),
    opt(&["cpu-share"]),
    opt(&["cpu-rt-period"]),
    opt(&["cpu-rt-runtime"]),
    opt(&["cpuset-cpus"]),
    opt(&["cpuset-mems"]),
    opt(&["memory"]),
    opt(&["memory-reservation"]),
    opt(&["memory-swap"]),
    opt(&["pids-limit"]),
    opt(&["l3-cache-schema"]),
    opt(&["mem-bw-schema"]),
];

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("update", argv, FLAGS, None)?;
    let id = a.id("update")?;
    let c = g.runtime().load(id)?;
    let res: oci_spec::runtime::LinuxResources = match a.get("resources") {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            serde_json::from_str(&s).map_err(|e| anyhow!("update: resources from stdin: {e}"))?
        }
        Some(f) => serde_json::from_slice(&std::fs::read(f).with_context(|| f.to_owned())?).map_err(|e| anyhow!("update: {f}: {e}"))?,
        None => {
            if a.flags.is_empty() {
                bail!("update: nothing to update (give --resources or a resource flag)");
            }
            let mut v = serde_json::json!({});
            let num = |k: &str| -> Result<Option<i64>> { a.get(k).map(|s| s.parse::<i64>().map_err(|_| anyhow!("update: --{k} {s:?}: not a number"))).transpose() };
            if let Some(m) = num("memory")? { v["memory"]["limit"] = m.into(); }
            if let Some(m) = num("memory-reservation")? { v["memory"]["reservation"] = m.into(); }
            if let Some(m) = num("memory-swap")? { v["memory"]["swap"] = m.into(); }
            if let Some(m) = num("cpu-quota")? { v["cpu"]["quota"] = m.into(); }
            if let Some(m) = num("cpu-period")? { v["cpu"]["period"] = m.into(); }
            if let Some(m) = num("cpu-share")? { v["cpu"]["shares"] = m.into(); }
            if let Some(m) = num("cpu-rt-period")? { v["cpu"]["realtimePeriod"] = m.into(); }
            if let Some(m) = num("cpu-rt-runtime")? { v["cpu"]["realtimeRuntime"] = m.into(); }
            if let Some(s) = a.get("cpuset-cpus") { v["cpu"]["cpus"] = s.into(); }
            if let Some(s) = a.get("cpuset-mems") { v["cpu"]["mems"] = s.into(); }
            if let Some(m) = num("pids-limit")? { v["pids"]["limit"] = m.into(); }
            if let Some(m) = num("blkio-weight")? { v["blockIO"]["weight"] = m.into(); }
            serde_json::from_value(v)?
        }
    };
    c.update(&res)?;
    Ok(0)
}
