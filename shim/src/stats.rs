//! Stats and OOM for containerd, read from the cgroup the container's init is in (found through
//! `/proc/<pid>/cgroup`, so it is right whatever `cgroupsPath` the spec chose): cgroup v1
//! controllers give `io.containerd.cgroups.v1.Metrics`, a unified hierarchy gives the v2 type.
//! OOM kills are watched with the v1 memory controller's eventfd (`cgroup.event_control`) or,
//! on v2, inotify on `memory.events`.

use berth_proto::names::type_url;
use berth_proto::protobuf::{Message, MessageField};
use berth_proto::{cgroups_v1 as v1, cgroups_v2 as v2, Any};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// controller name ("" for the unified hierarchy) -> path inside the hierarchy.
fn cgroup_paths(pid: i32) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else { continue };
        for c in ctrls.split(',') {
            out.push((c.to_owned(), path.to_owned()));
        }
    }
    out
}

fn v1_dir(paths: &[(String, String)], ctrl: &str) -> Option<PathBuf> {
    let (_, p) = paths.iter().find(|(c, _)| c == ctrl)?;
    // cpu and cpuacct are usually co-mounted as "cpu,cpuacct"
    for mnt in [ctrl.to_owned(), "cpu,cpuacct".to_owned()] {
        let d = Path::new(CGROUP_ROOT).join(&mnt).join(p.trim_start_matches('/'));
        if d.is_dir() {
            return Some(d);
        }
    }
    None
}

fn unified_dir(paths: &[(String, String)]) -> Option<PathBuf> {
    let (_, p) = paths.iter().find(|(c, _)| c.is_empty())?;
    let root = if Path::new(CGROUP_ROOT).join("cgroup.controllers").exists() { CGROUP_ROOT.to_owned() } else { format!("{CGROUP_ROOT}/unified") };
    let d = Path::new(&root).join(p.trim_start_matches('/'));
    d.join("memory.current").exists().then_some(d)
}

fn read_u64(p: &Path) -> u64 {
    std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat, memory.events).
fn read_kv(p: &Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

fn get(kv: &[(String, u64)], k: &str) -> u64 {
    kv.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v)
}

/// The metrics of the cgroup `pid` is in, as containerd's Stats `Any`.
pub fn metrics(pid: i32) -> Result<Any, String> {
    let paths = cgroup_paths(pid);
    if paths.is_empty() {
        return Err(format!("cannot read the cgroups of pid {pid}"));
    }
    let mut any = Any::new();
    if let Some(mem) = v1_dir(&paths, "memory") {
        any.type_url = type_url::CGROUPS_V1_METRICS.into();
        any.value = v1_metrics(&paths, &mem).write_to_bytes().map_err(|e| e.to_string())?;
    } else if let Some(dir) = unified_dir(&paths) {
        any.type_url = type_url::CGROUPS_V2_METRICS.into();
        any.value = v2_metrics(&dir).write_to_bytes().map_err(|e| e.to_string())?;
    } else {
        return Err(format!("no memory cgroup found for pid {pid}"));
    }
    Ok(any)
}

fn v1_entry(dir: &Path, prefix: &str) -> v1::MemoryEntry {
    let mut e = v1::MemoryEntry::new();
    let f = |n: &str| read_u64(&dir.join(format!("{prefix}{n}")));
    e.usage = f("usage_in_bytes");
    e.max = f("max_usage_in_bytes");
    e.limit = f("limit_in_bytes");
    e.failcnt = f("failcnt");
    e
}

fn v1_metrics(paths: &[(String, String)], mem: &Path) -> v1::Metrics {
    let mut m = v1::Metrics::new();
    let kv = read_kv(&mem.join("memory.stat"));
    let mut s = v1::MemoryStat::new();
    s.cache = get(&kv, "cache");
    s.rss = get(&kv, "rss");
    s.rss_huge = get(&kv, "rss_huge");
    s.mapped_file = get(&kv, "mapped_file");
    s.dirty = get(&kv, "dirty");
    s.writeback = get(&kv, "writeback");
    s.pg_pg_in = get(&kv, "pgpgin");
    s.pg_pg_out = get(&kv, "pgpgout");
    s.pg_fault = get(&kv, "pgfault");
    s.pg_maj_fault = get(&kv, "pgmajfault");
    s.inactive_anon = get(&kv, "inactive_anon");
    s.active_anon = get(&kv, "active_anon");
    s.inactive_file = get(&kv, "inactive_file");
    s.active_file = get(&kv, "active_file");
    s.unevictable = get(&kv, "unevictable");
    s.hierarchical_memory_limit = get(&kv, "hierarchical_memory_limit");
    s.hierarchical_swap_limit = get(&kv, "hierarchical_memsw_limit");
    s.total_cache = get(&kv, "total_cache");
    s.total_rss = get(&kv, "total_rss");
    s.total_rss_huge = get(&kv, "total_rss_huge");
    s.total_mapped_file = get(&kv, "total_mapped_file");
    s.total_dirty = get(&kv, "total_dirty");
    s.total_writeback = get(&kv, "total_writeback");
    s.total_pg_pg_in = get(&kv, "total_pgpgin");
    s.total_pg_pg_out = get(&kv, "total_pgpgout");
    s.total_pg_fault = get(&kv, "total_pgfault");
    s.total_pg_maj_fault = get(&kv, "total_pgmajfault");
    s.total_inactive_anon = get(&kv, "total_inactive_anon");
    s.total_active_anon = get(&kv, "total_active_anon");
    s.total_inactive_file = get(&kv, "total_inactive_file");
    s.total_active_file = get(&kv, "total_active_file");
    s.total_unevictable = get(&kv, "total_unevictable");
    s.usage = MessageField::some(v1_entry(mem, "memory."));
    s.swap = MessageField::some(v1_entry(mem, "memory.memsw."));
    s.kernel = MessageField::some(v1_entry(mem, "memory.kmem."));
    s.kernel_tcp = MessageField::some(v1_entry(mem, "memory.kmem.tcp."));
    m.memory = MessageField::some(s);
    let oom = read_kv(&mem.join("memory.oom_control"));
    let mut o = v1::MemoryOomControl::new();
    o.oom_kill_disable = get(&oom, "oom_kill_disable");
    o.under_oom = get(&oom, "under_oom");
    o.oom_kill = get(&oom, "oom_kill");
    m.memory_oom_control = MessageField::some(o);

    if let Some(cpu) = v1_dir(paths, "cpuacct") {
        let mut u = v1::CPUUsage::new();
        u.total = read_u64(&cpu.join("cpuacct.usage"));
        // cpuacct.stat is in USER_HZ ticks; containerd reports nanoseconds
        let st = read_kv(&cpu.join("cpuacct.stat"));
        u.user = get(&st, "user") * 10_000_000;
        u.kernel = get(&st, "system") * 10_000_000;
        u.per_cpu = std::fs::read_to_string(cpu.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let mut c = v1::CPUStat::new();
        c.usage = MessageField::some(u);
        if let Some(cpuctl) = v1_dir(paths, "cpu") {
            let t = read_kv(&cpuctl.join("cpu.stat"));
            let mut th = v1::Throttle::new();
            th.periods = get(&t, "nr_periods");
            th.throttled_periods = get(&t, "nr_throttled");
            th.throttled_time = get(&t, "throttled_time");
            c.throttling = MessageField::some(th);
        }
        m.cpu = MessageField::some(c);
    }
    if let Some(pids) = v1_dir(paths, "pids") {
        let mut p = v1::PidsStat::new();
        p.current = read_u64(&pids.join("pids.current"));
        p.limit = read_u64(&pids.join("pids.max"));
        m.pids = MessageField::some(p);
    }
    m
}

fn v2_metrics(dir: &Path) -> v2::Metrics {
    let mut m = v2::Metrics::new();
    let mut p = v2::PidsStat::new();
    p.current = read_u64(&dir.join("pids.current"));
    p.limit = read_u64(&dir.join("pids.max"));
    m.pids = MessageField::some(p);
    let c = read_kv(&dir.join("cpu.stat"));
    let mut cpu = v2::CPUStat::new();
    cpu.usage_usec = get(&c, "usage_usec");
    cpu.user_usec = get(&c, "user_usec");
    cpu.system_usec = get(&c, "system_usec");
    cpu.nr_periods = get(&c, "nr_periods");
    cpu.nr_throttled = get(&c, "nr_throttled");
    cpu.throttled_usec = get(&c, "throttled_usec");
    m.cpu = MessageField::some(cpu);
    let s = read_kv(&dir.join("memory.stat"));
    let mut mem = v2::MemoryStat::new();
    mem.anon = get(&s, "anon");
    mem.file = get(&s, "file");
    mem.kernel_stack = get(&s, "kernel_stack");
    mem.slab = get(&s, "slab");
    mem.sock = get(&s, "sock");
    mem.shmem = get(&s, "shmem");
    mem.file_mapped = get(&s, "file_mapped");
    mem.file_dirty = get(&s, "file_dirty");
    mem.file_writeback = get(&s, "file_writeback");
    mem.inactive_anon = get(&s, "inactive_anon");
    mem.active_anon = get(&s, "active_anon");
    mem.inactive_file = get(&s, "inactive_file");
    mem.active_file = get(&s, "active_file");
    mem.unevictable = get(&s, "unevictable");
    mem.pgfault = get(&s, "pgfault");
    mem.pgmajfault = get(&s, "pgmajfault");
    mem.usage = read_u64(&dir.join("memory.current"));
    mem.usage_limit = read_u64(&dir.join("memory.max"));
    mem.swap_usage = read_u64(&dir.join("memory.swap.current"));
    mem.swap_limit = read_u64(&dir.join("memory.swap.max"));
    m.memory = MessageField::some(mem);
    let e = read_kv(&dir.join("memory.events"));
    let mut ev = v2::MemoryEvents::new();
    ev.low = get(&e, "low");
    ev.high = get(&e, "high");
    ev.max = get(&e, "max");
    ev.oom = get(&e, "oom");
    ev.oom_kill = get(&e, "oom_kill");
    m.memory_events = MessageField::some(ev);
    m
}

/// A readable fd that fires when the container's memory cgroup hits OOM.
pub struct OomWatch {
    pub fd: OwnedFd,
    /// v2: the memory.events file and the last oom_kill count seen.
    events: Option<(PathBuf, u64)>,
    _control: Option<OwnedFd>,
}

impl OomWatch {
    pub fn new(pid: i32) -> Option<OomWatch> {
        let paths = cgroup_paths(pid);
        if let Some(mem) = v1_dir(&paths, "memory") {
            let ctl = crate::sys::open(&mem.join("memory.oom_control"), libc::O_RDONLY, 0).ok()?;
            // SAFETY: plain eventfd; owned from here on.
            let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if efd < 0 {
                return None;
            }
            let efd = unsafe { OwnedFd::from_raw_fd(efd) };
            let line = format!("{} {}", efd.as_raw_fd(), ctl.as_raw_fd());
            std::fs::write(mem.join("cgroup.event_control"), line).ok()?;
            return Some(OomWatch { fd: efd, events: None, _control: Some(ctl) });
        }
        let dir = unified_dir(&paths)?;
        let events = dir.join("memory.events");
        // SAFETY: plain inotify calls on an owned fd.
        let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if ifd < 0 {
            return None;
        }
        let ifd = unsafe { OwnedFd::from_raw_fd(ifd) };
        let c = crate::sys::cpath(&events).ok()?;
        if unsafe { libc::inotify_add_watch(ifd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) } < 0 {
            return None;
        }
        let base = get(&read_kv(&events), "oom_kill");
        Some(OomWatch { fd: ifd, events: Some((events, base)), _control: None })
    }

    /// Consume the notification; true when it was an OOM kill.
    pub fn fired(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let _ = crate::sys::read(self.fd.as_raw_fd(), &mut buf);
        match self.events.as_mut() {
            None => true,
            Some((path, last)) => {
                let now = get(&read_kv(path), "oom_kill");
                let fired = now > *last;
                *last = now;
                fired
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_metrics_decode() {
        // The test process is in some cgroup on any Linux host: its metrics must be readable.
        let any = metrics(std::process::id() as i32).unwrap();
        if any.type_url == type_url::CGROUPS_V1_METRICS {
            let m = v1::Metrics::parse_from_bytes(&any.value).unwrap();
            assert!(m.memory.usage.usage > 0);
        } else {
            assert_eq!(any.type_url, type_url::CGROUPS_V2_METRICS);
            let m = v2::Metrics::parse_from_bytes(&any.value).unwrap();
            assert!(m.memory.usage > 0);
        }
    }

    #[test]
    fn unknown_pid_is_an_error() {
        assert!(metrics(i32::MAX).is_err());
    }
}
