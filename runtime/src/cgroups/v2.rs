//! cgroup v2: `linux.resources` -> writes to the container's one directory (pure), and
//! handing controllers down the tree (`cgroup.subtree_control`).

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxRdma, LinuxResources};

use super::devices;
use super::resources::{CgroupWrite as W, Current, IfFails, Intent, Plan};
use super::v1::{check_bytes, pids_value};
use super::{fs, Error};

/// Controllers a hybrid host may have on its cgroup2 mount instead of v1.
pub const HYBRID_CAPABLE: &[&str] = &["hugetlb", "rdma", "misc", "memory", "cpu", "cpuset", "io", "pids"];

/// Plan the writes for the controllers `want` selects. Unified key/values go last, so they
/// override the typed fields, as runc does.
pub fn plan(res: &LinuxResources, cur: &Current, intent: Intent, want: &dyn Fn(&str) -> bool) -> Result<Plan, Error> {
    let mut p = Plan::default();
    if want("devices") {
        p.device_rules = devices::effective_rules(res.devices().as_deref(), intent)?;
    }
    if want("memory") {
        if let Some(m) = res.memory() {
            memory(m, cur, &mut p)?;
        }
    }
    if let Some(c) = res.cpu() {
        if want("cpu") {
            cpu(c, &mut p)?;
        }
        if want("cpuset") {
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                p.unified.push(W::new("cpuset", "cpuset.cpus", cpus));
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                p.unified.push(W::new("cpuset", "cpuset.mems", mems));
            }
        }
    }
    if want("pids") {
        if let Some(v) = res.pids().as_ref().and_then(|l| pids_value(l.limit())) {
            p.unified.push(W::new("pids", "pids.max", v));
        }
    }
    if want("io") {
        if let Some(b) = res.block_io() {
            io(b, &mut p);
        }
    }
    if want("hugetlb") {
        for h in res.hugepage_limits().iter().flatten() {
            let size = page_size(h.page_size())?;
            let v = if h.limit() < 0 { "max".to_string() } else { h.limit().to_string() };
            p.unified.push(W::new("hugetlb", format!("hugetlb.{size}.max"), v.clone()));
            p.unified.push(W::new("hugetlb", format!("hugetlb.{size}.rsvd.max"), v).or(IfFails::SkipIfMissing));
        }
    }
    if want("rdma") {
        if let Some(r) = res.rdma() {
            rdma(r, &mut p.unified);
        }
    }
    if want("net_cls") {
        if let Some(n) = res.network() {
            if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|v| !v.is_empty()) {
                p.warn("cgroups: network.classID and network.priorities are ignored: cgroup v2 has no net_cls/net_prio controllers");
            }
        }
    }
    if let Some(u) = res.unified() {
        unified(u, want, &mut p.unified)?;
    }
    Ok(p)
}

fn bad(what: &str, reason: impl Into<String>) -> Error {
    Error::InvalidResource { what: what.into(), reason: reason.into() }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

#[allow(deprecated)] // `kernel` is obsolete; it is read only to say it is ignored
fn memory(m: &LinuxMemory, cur: &Current, p: &mut Plan) -> Result<(), Error> {
    let limit = check_bytes("memory.limit", m.limit())?;
    let swap = check_bytes("memory.swap", m.swap())?;
    // OCI's swap is memory+swap (v1's meaning); v2 limits swap alone.
    let swap_only = match (limit, swap) {
        (Some(-1), None) => Some(-1),
        (_, None) => None,
        (_, Some(-1)) => Some(-1),
        (None | Some(-1), Some(_)) => return Err(bad("memory.swap", "a memory+swap limit needs a memory limit")),
        (Some(l), Some(s)) if s < l => {
            return Err(bad("memory.swap", format!("memory+swap {s} is lower than the memory limit {l}")))
        }
        (Some(l), Some(s)) => Some(s - l),
    };
    if let (Some(usage), Some(l)) = (cur.memory_usage, limit) {
        if l > 0 && usage > l as u64 {
            return Err(bad("memory.limit", format!("{l} is below the current usage {usage} (checkBeforeUpdate)")));
        }
    }
    if let Some(s) = swap_only {
        let w = W::new("memory", "memory.swap.max", max_or(s));
        // Asked-for swap without swap accounting: say so; implied "unlimited": quiet.
        p.unified.push(w.or(if swap.is_some() { IfFails::WarnIfMissing } else { IfFails::SkipIfMissing }));
    }
    if let Some(l) = limit {
        p.unified.push(W::new("memory", "memory.max", max_or(l)));
    }
    if let Some(r) = check_bytes("memory.reservation", m.reservation())? {
        p.unified.push(W::new("memory", "memory.low", max_or(r)));
    }
    if m.kernel().is_some_and(|k| k != 0) {
        p.warn("cgroups: memory.kernel (kernel memory limit) is ignored: cgroup v2 accounts kernel memory in memory.max");
    }
    if m.kernel_tcp().is_some_and(|k| k != 0) {
        p.warn("cgroups: memory.kernelTCP is ignored: cgroup v2 accounts TCP buffers in memory.max");
    }
    if m.swappiness().is_some() {
        p.warn("cgroups: memory.swappiness is ignored: cgroup v2 has no per-cgroup swappiness");
    }
    if m.disable_oom_killer() == Some(true) {
        p.warn("cgroups: memory.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer");
    }
    if m.use_hierarchy() == Some(false) {
        p.warn("cgroups: memory.useHierarchy=false is ignored: cgroup v2 is always hierarchical");
    }
    Ok(())
}

/// v1 `cpu.shares` (2-262144, default 1024) -> v2 `cpu.weight` (1-10000, default 100), the
/// linear mapping runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262144) - 2) * 9999 / 262142
}

/// v1 `blkio.weight` (10-1000) -> v2 `io.weight` (1-10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).clamp(10, 1000) - 10) * 9999 / 990
}

fn cpu(c: &LinuxCpu, p: &mut Plan) -> Result<(), Error> {
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        p.unified.push(W::new("cpu", "cpu.weight", shares_to_weight(s).to_string()));
    }
    if let Some(b) = c.burst() {
        // The burst may not exceed the quota: before cpu.max, again after it if refused.
        p.unified.push(W::new("cpu", "cpu.max.burst", b.to_string()).or(IfFails::RetryAfterNext));
    }
    let quota = c.quota().filter(|&q| q != 0);
    let period = c.period().filter(|&v| v != 0);
    if quota.is_some() || period.is_some() {
        let mut v = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        if let Some(per) = period {
            v.push(' ');
            v.push_str(&per.to_string());
        }
        p.unified.push(W::new("cpu", "cpu.max", v));
    }
    if let Some(i) = c.idle() {
        p.unified.push(W::new("cpu", "cpu.idle", i.to_string()).or(IfFails::WarnIfMissing));
    }
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(bad("cpu.realtimeRuntime/realtimePeriod", "real-time bandwidth is not supported on cgroup v2"));
    }
    Ok(())
}

fn io(b: &LinuxBlockIo, p: &mut Plan) {
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        p.unified.push(W::new("io", "io.bfq.weight", w.to_string()).or(IfFails::Instead(Box::new(
            W::new("io", "io.weight", blkio_to_io_weight(w).to_string()).or(IfFails::WarnIfMissing),
        ))));
    }
    if b.leaf_weight().is_some_and(|w| w != 0) {
        p.warn("cgroups: blockIO.leafWeight is ignored: cgroup v2 has no leaf weights");
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|&w| w != 0) {
            p.unified.push(W::new("io", "io.bfq.weight", format!("{}:{} {}", d.major(), d.minor(), w)).or(IfFails::WarnIfMissing));
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for t in list.iter().flatten() {
            let rate = if t.rate() == 0 { "max".to_string() } else { t.rate().to_string() };
            p.unified.push(W::new("io", "io.max", format!("{}:{} {key}={rate}", t.major(), t.minor())).or(IfFails::WarnIfMissing));
        }
    }
}

/// `rdma.max` lines (same format on v1 and v2).
pub fn rdma(r: &HashMap<String, LinuxRdma>, out: &mut Vec<W>) {
    let mut devs: Vec<_> = r.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, l) in devs {
        let n = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "max".into());
        out.push(W::new("rdma", "rdma.max", format!("{dev} hca_handle={} hca_object={}", n(l.hca_handles()), n(l.hca_objects()))));
    }
}

/// A hugepage size as the kernel names it in file names (`2MB`, `1GB`, `64KB`).
pub fn page_size(s: &str) -> Result<&str, Error> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let ok = digits > 0 && matches!(&s[digits..], "KB" | "MB" | "GB" | "TB" | "PB");
    if ok {
        Ok(s)
    } else {
        Err(bad("hugepageLimits.pageSize", format!("{s:?} is not a size like \"2MB\" or \"1GB\"")))
    }
}

/// `unified`: file name -> value, written as given. A key names a file in the container's
/// directory; keys that would move processes or escape it are refused.
fn unified(u: &HashMap<String, String>, want: &dyn Fn(&str) -> bool, out: &mut Vec<W>) -> Result<(), Error> {
    let mut keys: Vec<_> = u.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in keys {
        let Some((ctrl, _)) = k.split_once('.') else {
            return Err(bad(&format!("unified[{k:?}]"), "not a cgroup interface file name"));
        };
        if ctrl.is_empty() || k.contains('/') || k.contains('\0') {
            return Err(bad(&format!("unified[{k:?}]"), "not a cgroup interface file name"));
        }
        if matches!(k.as_str(), "cgroup.procs" | "cgroup.threads" | "cgroup.kill" | "cgroup.subtree_control" | "cgroup.type") {
            return Err(bad(&format!("unified[{k:?}]"), "this file is managed by the runtime"));
        }
        let controller: &'static str = match ctrl {
            "cgroup" => "cgroup",
            other => known_controller(other).ok_or_else(|| bad(&format!("unified[{k:?}]"), format!("unknown controller {other:?}")))?,
        };
        if controller != "cgroup" && !want(controller) {
            return Err(bad(
                &format!("unified[{k:?}]"),
                format!("the {controller} controller is on a cgroup v1 hierarchy on this host; unified keys need cgroup v2"),
            ));
        }
        out.push(W::new(controller, k.clone(), v.clone()));
    }
    Ok(())
}

fn known_controller(c: &str) -> Option<&'static str> {
    ["cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc", "perf_event", "freezer"].into_iter().find(|k| *k == c)
}

/// Hand controllers down from the mount root to `leaf`: each ancestor's `subtree_control`
/// gets what its `cgroup.controllers` offers (or only `wanted`, on a hybrid host). Failures
/// are left to surface as "controller not available" when a limit is written.
pub fn enable_controllers(mount: Option<&Path>, leaf: &Path, wanted: Option<&[&str]>) {
    let Some(mount) = mount else { return };
    let Ok(rel) = leaf.strip_prefix(mount) else { return };
    // Every ancestor of the leaf, from the mount root down.
    let mut dir = mount.to_path_buf();
    for c in rel.components() {
        enable_in(&dir, wanted);
        dir.push(c);
    }
}

fn enable_in(dir: &Path, wanted: Option<&[&str]>) {
    let Ok(avail) = fs::read(dir, "cgroup.controllers") else { return };
    let Ok(enabled) = fs::read(dir, "cgroup.subtree_control") else { return };
    let missing: Vec<&str> = avail
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .filter(|c| wanted.is_none_or(|w| w.contains(c)))
        .collect();
    if missing.is_empty() {
        return;
    }
    let all = missing.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
    if fs::write(dir, "cgroup.subtree_control", &all).is_err() {
        // One refused controller (e.g. not delegated) must not block the others.
        for c in &missing {
            if let Err(e) = fs::write(dir, "cgroup.subtree_control", &format!("+{c}")) {
                log::debug!("{e}");
            }
        }
    }
}
