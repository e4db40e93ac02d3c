//! `berth update [--resources FILE|-] [runc's resource flags] ID`: runc's flags, mapped to
//! `linux.resources` by the cgroups library; only what is given changes.

use super::args::{opt, Flag};
use super::Globals;
use anyhow::{bail, Context, Result};
use berth_runtime::cgroups::update::{resources_from_flags, UpdateFlags};
use std::io::Read;

const FLAGS: &[Flag] = &[
    opt(&["resources", "r"]),
    opt(&["blkio-weight"]),
    opt(&["cpu-period"]),
    opt(&["cpu-quota"]),
    opt(&["cpu-share", "cpu-shares"]),
    opt(&["cpu-rt-period"]),
    opt(&["cpu-rt-runtime"]),
    opt(&["cpuset-cpus"]),
    opt(&["cpuset-mems"]),
    opt(&["memory"]),
    opt(&["memory-reservation"]),
    opt(&["memory-swap"]),
    opt(&["kernel-memory"]),
    opt(&["kernel-memory-tcp"]),
    opt(&["pids-limit"]),
    opt(&["l3-cache-schema"]),
    opt(&["mem-bw-schema"]),
];

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("update", argv, FLAGS, None)?;
    let id = a.id("update")?;
    super::no_more("update", &a, 1)?;
    if a.flags.is_empty() {
        bail!("update: nothing to update (give --resources or a resource flag)");
    }
    let resources_json = match a.get("resources") {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("update: read resources from stdin")?;
            Some(s)
        }
        Some(f) => Some(std::fs::read_to_string(f).with_context(|| format!("update: read resources file {f}"))?),
        None => None,
    };
    let s = |k: &str| a.get(k).map(str::to_owned);
    let flags = UpdateFlags {
        resources_json,
        blkio_weight: s("blkio-weight"),
        cpu_period: s("cpu-period"),
        cpu_quota: s("cpu-quota"),
        cpu_shares: s("cpu-share"),
        cpu_rt_period: s("cpu-rt-period"),
        cpu_rt_runtime: s("cpu-rt-runtime"),
        cpuset_cpus: s("cpuset-cpus"),
        cpuset_mems: s("cpuset-mems"),
        memory: s("memory"),
        memory_reservation: s("memory-reservation"),
        memory_swap: s("memory-swap"),
        kernel_memory: s("kernel-memory"),
        kernel_memory_tcp: s("kernel-memory-tcp"),
        pids_limit: s("pids-limit"),
        l3_cache_schema: s("l3-cache-schema"),
        mem_bw_schema: s("mem-bw-schema"),
    };
    let res = resources_from_flags(&flags).with_context(|| format!("update: container {id:?}"))?;
    let c = g.runtime()?.load(id)?;
    c.update(&res)?;
    Ok(0)
}
