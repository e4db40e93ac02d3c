//! cgroup v1: `linux.resources` -> writes to the per-controller hierarchies (pure), and the
//! cpuset set-up a new v1 cgroup needs before any task can join it.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::devices;
use super::resources::{CgroupWrite as W, Current, IfFails, Intent, Plan};
use super::{fs, Error};

/// Plan the writes for the controllers `want` selects (hybrid hosts plan the rest on v2).
pub fn plan(res: &LinuxResources, cur: &Current, intent: Intent, want: &dyn Fn(&str) -> bool) -> Result<Plan, Error> {
    let mut p = Plan::default();
    if want("devices") {
        if let Some(rules) = devices::effective_rules(res.devices().as_deref(), intent)? {
            devices::v1_writes(&rules, cur.devices_list.as_deref(), &mut p.v1)?;
        }
    }
    if want("memory") {
        if let Some(m) = res.memory() {
            memory(m, cur, intent, &mut p)?;
        }
    }
    if let Some(c) = res.cpu() {
        if want("cpu") {
            cpu(c, &mut p)?;
        }
        if want("cpuset") {
            cpuset(c, &mut p);
        }
    }
    if want("pids") {
        if let Some(pids) = res.pids() {
            if let Some(v) = pids_value(pids.limit()) {
                p.v1.push(W::new("pids", "pids.max", v));
            }
        }
    }
    if want("blkio") {
        if let Some(b) = res.block_io() {
            blkio(b, &mut p)?;
        }
    }
    if want("hugetlb") {
        for h in res.hugepage_limits().iter().flatten() {
            let size = super::v2::page_size(h.page_size())?;
            p.v1.push(W::new("hugetlb", format!("hugetlb.{size}.limit_in_bytes"), h.limit().to_string()));
            p.v1.push(W::new("hugetlb", format!("hugetlb.{size}.rsvd.limit_in_bytes"), h.limit().to_string()).or(IfFails::SkipIfMissing));
        }
    }
    if let Some(n) = res.network() {
        if want("net_cls") {
            if let Some(id) = n.class_id() {
                p.v1.push(W::new("net_cls", "net_cls.classid", id.to_string()));
            }
        }
        if want("net_prio") {
            for prio in n.priorities().iter().flatten() {
                p.v1.push(W::new("net_prio", "net_prio.ifpriomap", format!("{} {}", prio.name(), prio.priority())));
            }
        }
    }
    if want("rdma") {
        if let Some(r) = res.rdma() {
            super::v2::rdma(r, &mut p.v1);
        }
    }
    Ok(p)
}

/// OCI's "0 means unset" for pids (as runc): positive is a limit, negative is unlimited.
pub fn pids_value(limit: i64) -> Option<String> {
    match limit {
        0 => None,
        l if l < 0 => Some("max".into()),
        l => Some(l.to_string()),
    }
}

fn bad(what: &str, reason: impl Into<String>) -> Error {
    Error::InvalidResource { what: what.into(), reason: reason.into() }
}

/// Memory limits are bytes; 0 means unset (runc) and -1 unlimited.
pub fn check_bytes(what: &str, v: Option<i64>) -> Result<Option<i64>, Error> {
    match v {
        Some(0) | None => Ok(None),
        Some(v) if v < -1 => Err(bad(what, format!("{v} is neither a byte count nor -1 (unlimited)"))),
        Some(v) => Ok(Some(v)),
    }
}

#[allow(deprecated)] // `kernel` is obsolete; it is read only to say it is ignored
fn memory(m: &LinuxMemory, cur: &Current, intent: Intent, p: &mut Plan) -> Result<(), Error> {
    let limit = check_bytes("memory.limit", m.limit())?;
    let swap = check_bytes("memory.swap", m.swap())?;
    if let (Some(l), Some(s)) = (limit, swap) {
        if l > 0 && s > 0 && s < l {
            return Err(bad("memory.swap", format!("memory+swap {s} is lower than the memory limit {l}")));
        }
    }
    if limit.is_none() && matches!(swap, Some(s) if s > 0) {
        return Err(bad("memory.swap", "a memory+swap limit needs a memory limit"));
    }
    let mem_w = limit.map(|l| W::new("memory", "memory.limit_in_bytes", l.to_string()));
    let swap_w = match swap {
        Some(s) => Some(W::new("memory", "memory.memsw.limit_in_bytes", s.to_string()).or(IfFails::WarnIfMissing)),
        // Unlimited memory without a swap value: unlimited swap too (if swap is accounted).
        None if limit == Some(-1) => Some(W::new("memory", "memory.memsw.limit_in_bytes", "-1").or(IfFails::SkipIfMissing)),
        None => None,
    };
    match (mem_w, swap_w) {
        (Some(mw), Some(sw)) => {
            // memory+swap may never be below memory: raise it first when it grows (or goes
            // unlimited) past the current memory limit, lower the memory limit first otherwise.
            let s = swap.unwrap_or(-1);
            let current = cur.memory_limit.unwrap_or(u64::MAX);
            if s == -1 || current < s as u64 {
                p.v1.push(sw);
                p.v1.push(mw);
            } else {
                p.v1.push(mw);
                p.v1.push(sw);
            }
        }
        (Some(w), None) | (None, Some(w)) => p.v1.push(w),
        (None, None) => {}
    }
    if let Some(r) = check_bytes("memory.reservation", m.reservation())? {
        p.v1.push(W::new("memory", "memory.soft_limit_in_bytes", r.to_string()));
    }
    if m.kernel().is_some_and(|k| k != 0) {
        p.warn("cgroups: memory.kernel (kernel memory limit) is ignored: the kernel deprecated it in 5.4 and removed it since");
    }
    if let Some(k) = check_bytes("memory.kernelTCP", m.kernel_tcp())? {
        p.v1.push(W::new("memory", "memory.kmem.tcp.limit_in_bytes", k.to_string()).or(IfFails::WarnIfMissing));
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(bad("memory.swappiness", format!("{s} is not within 0-100")));
        }
        p.v1.push(W::new("memory", "memory.swappiness", s.to_string()));
    }
    match (m.disable_oom_killer(), intent) {
        (Some(true), _) => p.v1.push(W::new("memory", "memory.oom_control", "1")),
        (Some(false), Intent::Update) => p.v1.push(W::new("memory", "memory.oom_control", "0")),
        _ => {}
    }
    if let Some(h) = m.use_hierarchy() {
        // Kernels since 5.x are always hierarchical and refuse "0": warn, do not fail.
        p.v1.push(W::new("memory", "memory.use_hierarchy", if h { "1" } else { "0" }).or(IfFails::Warn));
    }
    Ok(())
}

fn cpu(c: &LinuxCpu, p: &mut Plan) -> Result<(), Error> {
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        if !(2..=262144).contains(&s) {
            return Err(bad("cpu.shares", format!("{s} is outside the kernel's range 2-262144")));
        }
        p.v1.push(W::new("cpu", "cpu.shares", s.to_string()));
    }
    let quota = c.quota().filter(|&q| q != 0);
    if let Some(period) = c.period().filter(|&v| v != 0) {
        // A shorter period can be refused while the old quota would exceed the parent's;
        // it goes in again after the quota.
        let w = W::new("cpu", "cpu.cfs_period_us", period.to_string());
        p.v1.push(if quota.is_some() { w.or(IfFails::RetryAfterNext) } else { w });
    }
    if let Some(q) = quota {
        p.v1.push(W::new("cpu", "cpu.cfs_quota_us", if q < 0 { "-1".to_string() } else { q.to_string() }));
    }
    if let Some(b) = c.burst() {
        p.v1.push(W::new("cpu", "cpu.cfs_burst_us", b.to_string()).or(IfFails::WarnIfMissing));
    }
    if let Some(i) = c.idle() {
        p.v1.push(W::new("cpu", "cpu.idle", i.to_string()).or(IfFails::WarnIfMissing));
    }
    let rt_runtime = c.realtime_runtime().filter(|&v| v != 0);
    if let Some(rp) = c.realtime_period().filter(|&v| v != 0) {
        let w = W::new("cpu", "cpu.rt_period_us", rp.to_string());
        p.v1.push(if rt_runtime.is_some() { w.or(IfFails::RetryAfterNext) } else { w });
    }
    if let Some(rr) = rt_runtime {
        p.v1.push(W::new("cpu", "cpu.rt_runtime_us", rr.to_string()));
    }
    Ok(())
}

fn cpuset(c: &LinuxCpu, p: &mut Plan) {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        p.v1.push(W::new("cpuset", "cpuset.cpus", cpus));
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        p.v1.push(W::new("cpuset", "cpuset.mems", mems));
    }
}

fn blkio(b: &LinuxBlockIo, p: &mut Plan) -> Result<(), Error> {
    // BFQ's files where the BFQ scheduler is in use (what current kernels have), CFQ's on old
    // ones; neither (no proportional scheduler on any disk): a warning.
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        p.v1.push(
            W::new("blkio", "blkio.bfq.weight", w.to_string())
                .or(IfFails::Instead(Box::new(W::new("blkio", "blkio.weight", w.to_string()).or(IfFails::WarnIfMissing)))),
        );
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        p.v1.push(W::new("blkio", "blkio.leaf_weight", w.to_string()).or(IfFails::WarnIfMissing));
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|&w| w != 0) {
            let v = format!("{}:{} {}", d.major(), d.minor(), w);
            p.v1.push(
                W::new("blkio", "blkio.bfq.weight_device", v.clone())
                    .or(IfFails::Instead(Box::new(W::new("blkio", "blkio.weight_device", v).or(IfFails::WarnIfMissing)))),
            );
        }
        if let Some(w) = d.leaf_weight().filter(|&w| w != 0) {
            let v = format!("{}:{} {}", d.major(), d.minor(), w);
            p.v1.push(W::new("blkio", "blkio.leaf_weight_device", v).or(IfFails::WarnIfMissing));
        }
    }
    let throttles = [
        ("blkio.throttle.read_bps_device", b.throttle_read_bps_device()),
        ("blkio.throttle.write_bps_device", b.throttle_write_bps_device()),
        ("blkio.throttle.read_iops_device", b.throttle_read_iops_device()),
        ("blkio.throttle.write_iops_device", b.throttle_write_iops_device()),
    ];
    for (file, list) in throttles {
        for t in list.iter().flatten() {
            p.v1.push(W::new("blkio", file, format!("{}:{} {}", t.major(), t.minor(), t.rate())).or(IfFails::WarnIfMissing));
        }
    }
    Ok(())
}

/// Give a v1 cpuset cgroup we just made its parent's cpus and mems (it starts empty, and an
/// empty cpuset takes no tasks). An empty parent — one someone else made with mkdir — is
/// filled from its own parent first, up to the first ancestor that has values (runc does the
/// same). Returns the (cpus, mems) now in `dir`.
pub fn inherit_cpuset(dir: &Path) -> Result<(String, String), Error> {
    let cpus = fs::read(dir, "cpuset.cpus")?.trim().to_string();
    let mems = fs::read(dir, "cpuset.mems")?.trim().to_string();
    if !cpus.is_empty() && !mems.is_empty() {
        return Ok((cpus, mems));
    }
    let Some(parent) = dir.parent().filter(|p| p.join("cpuset.cpus").exists()) else { return Ok((cpus, mems)) };
    let (pc, pm) = inherit_cpuset(parent)?;
    if cpus.is_empty() && !pc.is_empty() {
        fs::write(dir, "cpuset.cpus", &pc)?;
    }
    if mems.is_empty() && !pm.is_empty() {
        fs::write(dir, "cpuset.mems", &pm)?;
    }
    Ok((if cpus.is_empty() { pc } else { cpus }, if mems.is_empty() { pm } else { mems }))
}
