//! Resource usage in the JSON shape of runc's `events --stats` (runc's `types.Stats`: what
//! containerd's runc shim and `ctr task metrics` parse), read from v1, v2 or hybrid cgroups.
//!
//! Field names, nesting and omit-when-zero rules follow runc's Go types exactly: a consumer
//! written against runc must decode ours unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{fs, Cgroup, Error, Mode};

fn zero(v: &u64) -> bool {
    *v == 0
}

/// `{"type": "stats"|"oom"|..., "id": ..., "data": ...}`, one per line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

impl Event {
    pub fn stats(id: &str, s: Stats) -> Event {
        Event { kind: "stats".into(), id: id.into(), data: Some(s) }
    }
    pub fn oom(id: &str) -> Event {
        Event { kind: "oom".into(), id: id.into(), data: None }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: IntelRdt,
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hugetlb {
    #[serde(default, skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BlkioEntry {
    #[serde(default, skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(default, skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(default, skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Blkio {
    #[serde(rename = "ioServiceBytesRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioQueueRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServiceTimeRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioWaitTimeRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioMergedRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioTimeRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(rename = "sectorsRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Pids {
    #[serde(default, skip_serializing_if = "zero")]
    pub current: u64,
    #[serde(default, skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Throttling {
    #[serde(default, skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", default, skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime", default, skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

/// Nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuUsage {
    #[serde(default, skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuSet {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(default, skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    #[serde(default, skip_serializing_if = "zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Intel RDT is not a cgroup; berth reports none (runc's empty object).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IntelRdt {}

/// USER_HZ: cpuacct.stat counts in these.
fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Reading a file the kernel may not have: absent is zero/empty, other failures are errors.
fn opt(dir: &Path, file: &str) -> Result<Option<String>, Error> {
    match fs::read_raw(&dir.join(file)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::ENODEV)) => Ok(None),
        Err(source) => Err(Error::Read { path: dir.join(file), source }),
    }
}

fn num(dir: &Path, file: &str) -> Result<u64, Error> {
    Ok(opt(dir, file)?.and_then(|s| fs::parse_u64(&s)).unwrap_or(0))
}

/// `max`/unlimited as runc reports a limit: the kernel's huge number (v1) stays; v2's `max`
/// becomes u64::MAX, as runc's parser does.
fn limit(dir: &Path, file: &str) -> Result<u64, Error> {
    num(dir, file)
}

/// `key value` lines.
pub fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let k = f.next()?;
            let v = f.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// `0-3,8,10-11` -> [0,1,2,3,8,10,11].
pub fn parse_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b.max(a));
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

impl Cgroup {
    /// Current usage, in runc's `events --stats` shape.
    pub fn stats(&self) -> Result<Stats, Error> {
        if self.disabled.get() {
            return Err(Error::Disabled);
        }
        let mut s = Stats::default();
        let v1 = |c: &str| self.v1.iter().find(|d| d.controllers.split(',').any(|x| x == c)).map(|d| d.path.as_path());
        let v2dir = self.unified.as_deref();
        let on_v2 = |c: &str| -> Option<&Path> {
            match self.mode {
                Mode::V2 => v2dir,
                Mode::Hybrid if v1(c).is_none() => v2dir,
                _ => None,
            }
        };
        if let Some(d) = v1("cpuacct") {
            cpuacct_v1(d, &mut s.cpu)?;
        }
        if let Some(d) = v1("cpu") {
            let t = flat_keyed(&opt(d, "cpu.stat")?.unwrap_or_default());
            s.cpu.throttling = Throttling {
                periods: t.get("nr_periods").copied().unwrap_or(0),
                throttled_periods: t.get("nr_throttled").copied().unwrap_or(0),
                throttled_time: t.get("throttled_time").copied().unwrap_or(0),
            };
        } else if let Some(d) = on_v2("cpu") {
            cpu_v2(d, &mut s.cpu)?;
        }
        if let Some(d) = v1("cpuset").or_else(|| on_v2("cpuset")) {
            cpuset(d, self.mode == Mode::V2 || v1("cpuset").is_none(), &mut s.cpuset)?;
        }
        if let Some(d) = v1("memory") {
            memory_v1(d, &mut s.memory)?;
        } else if let Some(d) = on_v2("memory") {
            memory_v2(d, &mut s.memory)?;
        }
        if let Some(d) = v1("pids").or_else(|| on_v2("pids")) {
            s.pids = Pids { current: num(d, "pids.current")?, limit: match num(d, "pids.max")? { u64::MAX => 0, l => l } };
        }
        if let Some(d) = v1("blkio") {
            blkio_v1(d, &mut s.blkio)?;
        } else if let Some(d) = on_v2("io") {
            io_v2(d, &mut s.blkio)?;
        }
        if let Some(d) = v1("hugetlb") {
            hugetlb(d, false, &mut s.hugetlb)?;
        } else if let Some(d) = on_v2("hugetlb") {
            hugetlb(d, true, &mut s.hugetlb)?;
        }
        Ok(s)
    }
}

fn cpuacct_v1(d: &Path, cpu: &mut Cpu) -> Result<(), Error> {
    cpu.usage.total = num(d, "cpuacct.usage")?;
    let list = |f: &str| -> Result<Vec<u64>, Error> {
        Ok(opt(d, f)?.unwrap_or_default().split_whitespace().filter_map(|v| v.parse().ok()).collect())
    };
    cpu.usage.percpu = list("cpuacct.usage_percpu")?;
    cpu.usage.percpu_kernel = list("cpuacct.usage_percpu_sys")?;
    cpu.usage.percpu_user = list("cpuacct.usage_percpu_user")?;
    let st = flat_keyed(&opt(d, "cpuacct.stat")?.unwrap_or_default());
    let ns = 1_000_000_000 / clock_ticks();
    cpu.usage.user = st.get("user").copied().unwrap_or(0) * ns;
    cpu.usage.kernel = st.get("system").copied().unwrap_or(0) * ns;
    Ok(())
}

fn cpu_v2(d: &Path, cpu: &mut Cpu) -> Result<(), Error> {
    let st = flat_keyed(&opt(d, "cpu.stat")?.unwrap_or_default());
    let g = |k: &str| st.get(k).copied().unwrap_or(0);
    cpu.usage.total = g("usage_usec") * 1000;
    cpu.usage.user = g("user_usec") * 1000;
    cpu.usage.kernel = g("system_usec") * 1000;
    cpu.throttling = Throttling {
        periods: g("nr_periods"),
        throttled_periods: g("nr_throttled"),
        throttled_time: g("throttled_usec") * 1000,
    };
    Ok(())
}

fn cpuset(d: &Path, v2: bool, c: &mut CpuSet) -> Result<(), Error> {
    let (cpus, mems) = if v2 { ("cpuset.cpus.effective", "cpuset.mems.effective") } else { ("cpuset.cpus", "cpuset.mems") };
    c.cpus = parse_list(&opt(d, cpus)?.unwrap_or_default());
    c.mems = parse_list(&opt(d, mems)?.unwrap_or_default());
    if !v2 {
        c.cpu_exclusive = num(d, "cpuset.cpu_exclusive")?;
        c.mem_hardwall = num(d, "cpuset.mem_hardwall")?;
        c.mem_exclusive = num(d, "cpuset.mem_exclusive")?;
        c.memory_migrate = num(d, "cpuset.memory_migrate")?;
        c.memory_spread_page = num(d, "cpuset.memory_spread_page")?;
        c.memory_spread_slab = num(d, "cpuset.memory_spread_slab")?;
        c.memory_pressure = num(d, "cpuset.memory_pressure")?;
        c.sched_load_balance = num(d, "cpuset.sched_load_balance")?;
        c.sched_relax_domain_level =
            opt(d, "cpuset.sched_relax_domain_level")?.and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    }
    Ok(())
}

fn memory_v1(d: &Path, m: &mut Memory) -> Result<(), Error> {
    m.raw = flat_keyed(&opt(d, "memory.stat")?.unwrap_or_default());
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    let entry = |prefix: &str| -> Result<MemoryEntry, Error> {
        Ok(MemoryEntry {
            limit: limit(d, &format!("{prefix}limit_in_bytes"))?,
            usage: num(d, &format!("{prefix}usage_in_bytes"))?,
            max: num(d, &format!("{prefix}max_usage_in_bytes"))?,
            failcnt: num(d, &format!("{prefix}failcnt"))?,
        })
    };
    m.usage = entry("memory.")?;
    m.swap = entry("memory.memsw.")?;
    m.kernel = entry("memory.kmem.")?;
    m.kernel_tcp = entry("memory.kmem.tcp.")?;
    Ok(())
}

fn memory_v2(d: &Path, m: &mut Memory) -> Result<(), Error> {
    m.raw = flat_keyed(&opt(d, "memory.stat")?.unwrap_or_default());
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    let events = flat_keyed(&opt(d, "memory.events")?.unwrap_or_default());
    m.usage = MemoryEntry {
        limit: limit(d, "memory.max")?,
        usage: num(d, "memory.current")?,
        max: num(d, "memory.peak")?,
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    // v1 reports memory+swap; so does runc on v2, for consumers written against v1.
    let swap_limit = limit(d, "memory.swap.max")?;
    m.swap = MemoryEntry {
        limit: if swap_limit == u64::MAX || m.usage.limit == u64::MAX { u64::MAX } else { swap_limit + m.usage.limit },
        usage: num(d, "memory.swap.current")? + m.usage.usage,
        max: 0,
        failcnt: 0,
    };
    Ok(())
}

fn blkio_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                return None; // "Total N"
            }
            let (maj, min) = f[0].split_once(':')?;
            Some(BlkioEntry { major: maj.parse().ok()?, minor: min.parse().ok()?, op: f[1].to_string(), value: f[2].parse().ok()? })
        })
        .collect()
}

fn blkio_v1(d: &Path, b: &mut Blkio) -> Result<(), Error> {
    // CFQ's files on old kernels, else BFQ's, else the throttle layer's (always there).
    for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
        let bytes = blkio_entries(&opt(d, &format!("{prefix}io_service_bytes_recursive"))?.unwrap_or_default());
        if bytes.is_empty() && prefix != "blkio.throttle." {
            continue;
        }
        b.io_service_bytes_recursive = bytes;
        b.io_serviced_recursive = blkio_entries(&opt(d, &format!("{prefix}io_serviced_recursive"))?.unwrap_or_default());
        if prefix == "blkio." {
            b.io_queued_recursive = blkio_entries(&opt(d, "blkio.io_queued_recursive")?.unwrap_or_default());
            b.io_service_time_recursive = blkio_entries(&opt(d, "blkio.io_service_time_recursive")?.unwrap_or_default());
            b.io_wait_time_recursive = blkio_entries(&opt(d, "blkio.io_wait_time_recursive")?.unwrap_or_default());
            b.io_merged_recursive = blkio_entries(&opt(d, "blkio.io_merged_recursive")?.unwrap_or_default());
            b.io_time_recursive = blkio_entries(&opt(d, "blkio.time_recursive")?.unwrap_or_default());
            b.sectors_recursive = blkio_entries(&opt(d, "blkio.sectors_recursive")?.unwrap_or_default());
        }
        break;
    }
    Ok(())
}

fn io_v2(d: &Path, b: &mut Blkio) -> Result<(), Error> {
    for line in opt(d, "io.stat")?.unwrap_or_default().lines() {
        let mut f = line.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|dev| dev.split_once(':')) else { continue };
        let (Ok(major), Ok(minor)) = (maj.parse::<u64>(), min.parse::<u64>()) else { continue };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else { continue };
            let Ok(value) = v.parse::<u64>() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry { major, minor, op: op.into(), value });
        }
    }
    Ok(())
}

fn hugetlb(d: &Path, v2: bool, out: &mut BTreeMap<String, Hugetlb>) -> Result<(), Error> {
    let rd = std::fs::read_dir(d).map_err(|source| Error::Read { path: d.into(), source })?;
    let mut sizes: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let size = n.strip_prefix("hugetlb.")?.strip_suffix(if v2 { ".current" } else { ".usage_in_bytes" })?.to_string();
            (!size.contains('.')).then_some(size)
        })
        .collect();
    sizes.sort();
    for size in sizes {
        let h = if v2 {
            let ev = flat_keyed(&opt(d, &format!("hugetlb.{size}.events"))?.unwrap_or_default());
            Hugetlb { usage: num(d, &format!("hugetlb.{size}.current"))?, max: 0, failcnt: ev.get("max").copied().unwrap_or(0) }
        } else {
            Hugetlb {
                usage: num(d, &format!("hugetlb.{size}.usage_in_bytes"))?,
                max: num(d, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: num(d, &format!("hugetlb.{size}.failcnt"))?,
            }
        };
        out.insert(size, h);
    }
    Ok(())
}
