//! A fake cgroupfs for unit tests: a temp directory laid out like a v1, v2 or hybrid host,
//! plus a "kernel" that populates interface files when a cgroup directory is made and when
//! controllers are enabled in `cgroup.subtree_control`. Tests read the files back.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use super::layout::{Hierarchy, Layout, Mode};

thread_local! {
    /// The trees alive on this test thread (the hooks below act only inside them).
    static TREES: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
}

pub struct FakeTree {
    pub root: PathBuf,
    pub layout: Layout,
}

const V1_HIERARCHIES: &[&str] =
    &["cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb", "net_cls,net_prio", "rdma", "name=systemd"];
const V2_CONTROLLERS: &str = "cpuset cpu io memory hugetlb pids rdma misc";

fn v1_files(controller: &str) -> &'static [(&'static str, &'static str)] {
    match controller {
        "cpu" => &[
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.cfs_burst_us", "0"),
            ("cpu.idle", "0"),
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "0"),
            ("cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n"),
        ],
        "cpuacct" => &[
            ("cpuacct.usage", "5000"),
            ("cpuacct.usage_percpu", "3000 2000 \n"),
            ("cpuacct.usage_percpu_sys", "1000 500 \n"),
            ("cpuacct.usage_percpu_user", "2000 1500 \n"),
            ("cpuacct.stat", "user 3\nsystem 1\n"),
        ],
        "cpuset" => &[("cpuset.cpus", ""), ("cpuset.mems", "")],
        "memory" => &[
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712"),
            ("memory.soft_limit_in_bytes", "9223372036854771712"),
            ("memory.kmem.tcp.limit_in_bytes", "9223372036854771712"),
            ("memory.swappiness", "60"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"),
            ("memory.use_hierarchy", "1"),
            ("memory.usage_in_bytes", "4096"),
            ("memory.max_usage_in_bytes", "8192"),
            ("memory.failcnt", "0"),
            ("memory.memsw.usage_in_bytes", "4096"),
            ("memory.memsw.max_usage_in_bytes", "8192"),
            ("memory.memsw.failcnt", "0"),
            ("memory.kmem.usage_in_bytes", "0"),
            ("memory.kmem.max_usage_in_bytes", "0"),
            ("memory.kmem.failcnt", "0"),
            ("memory.kmem.limit_in_bytes", "9223372036854771712"),
            ("memory.stat", "cache 100\nrss 200\ntotal_cache 100\ntotal_rss 200\ntotal_inactive_file 10\n"),
        ],
        "devices" => &[("devices.allow", ""), ("devices.deny", ""), ("devices.list", "a *:* rwm\n")],
        "freezer" => &[("freezer.state", "THAWED")],
        "blkio" => &[
            ("blkio.bfq.weight", "100"),
            ("blkio.bfq.weight_device", ""),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", ""),
            ("blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n"),
            ("blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 0\nTotal 1\n"),
        ],
        "pids" => &[("pids.max", "max"), ("pids.current", "1")],
        "hugetlb" => &[
            ("hugetlb.2MB.limit_in_bytes", "9223372036854771712"),
            ("hugetlb.2MB.usage_in_bytes", "0"),
            ("hugetlb.2MB.max_usage_in_bytes", "0"),
            ("hugetlb.2MB.failcnt", "0"),
        ],
        "net_cls" => &[("net_cls.classid", "0")],
        "net_prio" => &[("net_prio.ifpriomap", "lo 0\n")],
        "rdma" => &[("rdma.max", "")],
        _ => &[],
    }
}

fn v2_files(controller: &str) -> &'static [(&'static str, &'static str)] {
    match controller {
        "cpu" => &[
            ("cpu.weight", "100"),
            ("cpu.max", "max 100000"),
            ("cpu.max.burst", "0"),
            ("cpu.idle", "0"),
            ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 10\nnr_throttled 2\nthrottled_usec 3\n"),
        ],
        "cpuset" => &[("cpuset.cpus", ""), ("cpuset.mems", "")],
        "memory" => &[
            ("memory.max", "max"),
            ("memory.swap.max", "max"),
            ("memory.low", "0"),
            ("memory.current", "4096"),
            ("memory.peak", "8192"),
            ("memory.swap.current", "0"),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ("memory.stat", "anon 200\nfile 100\nkernel 7\n"),
        ],
        "io" => &[("io.max", ""), ("io.weight", "default 100"), ("io.stat", "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")],
        "pids" => &[("pids.max", "max"), ("pids.current", "1")],
        "hugetlb" => &[
            ("hugetlb.2MB.max", "max"),
            ("hugetlb.2MB.rsvd.max", "max"),
            ("hugetlb.2MB.current", "0"),
            ("hugetlb.2MB.events", "max 0\n"),
        ],
        "rdma" => &[("rdma.max", "")],
        _ => &[],
    }
}

fn put(dir: &Path, files: &[(&str, &str)]) {
    for (f, v) in files {
        let p = dir.join(f);
        if !p.exists() {
            std::fs::write(p, v).unwrap();
        }
    }
}

impl FakeTree {
    fn new(mode: Mode) -> FakeTree {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "berth-fakecg-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut layout = Layout { mode, v1: Vec::new(), unified: None };
        if mode != Mode::V2 {
            for h in V1_HIERARCHIES {
                if mode == Mode::Hybrid && *h == "hugetlb" {
                    continue; // like this host: hugetlb only on cgroup2
                }
                let mp = root.join(h.replace("name=", ""));
                std::fs::create_dir_all(&mp).unwrap();
                layout.v1.push(Hierarchy { controllers: h.to_string(), mountpoint: mp.clone(), root: "/".into() });
                populate_v1(&mp, h);
                if h.contains("cpuset") {
                    std::fs::write(mp.join("cpuset.cpus"), "0-3\n").unwrap();
                    std::fs::write(mp.join("cpuset.mems"), "0\n").unwrap();
                }
            }
        }
        if mode != Mode::V1 {
            let mp = root.join("unified");
            std::fs::create_dir_all(&mp).unwrap();
            let ctrls = if mode == Mode::Hybrid { "hugetlb" } else { V2_CONTROLLERS };
            put(&mp, &[("cgroup.procs", ""), ("cgroup.controllers", ctrls), ("cgroup.subtree_control", "")]);
            layout.unified = Some(Hierarchy { controllers: String::new(), mountpoint: mp, root: "/".into() });
        }
        TREES.with(|t| t.borrow_mut().push(root.clone()));
        FakeTree { root, layout }
    }

    pub fn v1() -> FakeTree {
        Self::new(Mode::V1)
    }
    pub fn v2() -> FakeTree {
        Self::new(Mode::V2)
    }
    pub fn hybrid() -> FakeTree {
        Self::new(Mode::Hybrid)
    }
}

impl Drop for FakeTree {
    fn drop(&mut self) {
        TREES.with(|t| t.borrow_mut().retain(|r| r != &self.root));
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn populate_v1(dir: &Path, controllers: &str) {
    put(dir, &[("cgroup.procs", ""), ("tasks", ""), ("cgroup.clone_children", "0"), ("notify_on_release", "0")]);
    for c in controllers.split(',') {
        put(dir, v1_files(c));
    }
    if controllers == "memory" {
        put(dir, &[("cgroup.event_control", "")]);
    }
}

fn populate_v2(dir: &Path, enabled_in_parent: &str) {
    put(
        dir,
        &[
            ("cgroup.procs", ""),
            ("cgroup.subtree_control", ""),
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 0\nfrozen 0\n"),
            ("cgroup.type", "domain"),
            ("cgroup.kill", ""),
        ],
    );
    std::fs::write(dir.join("cgroup.controllers"), enabled_in_parent).unwrap();
    for c in enabled_in_parent.split_whitespace() {
        put(dir, v2_files(c));
    }
}

fn tree_of(p: &Path) -> Option<PathBuf> {
    TREES.with(|t| t.borrow().iter().find(|r| p.starts_with(r)).cloned())
}

/// The fake kernel's side of mkdir.
pub fn after_mkdir(dir: &Path) {
    let Some(root) = tree_of(dir) else { return };
    let Ok(rel) = dir.strip_prefix(&root) else { return };
    let top = rel.components().next().map(|c| c.as_os_str().to_string_lossy().to_string()).unwrap_or_default();
    if top == "unified" {
        let parent = dir.parent().unwrap();
        let enabled = std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
        populate_v2(dir, enabled.trim());
    } else {
        let controllers = V1_HIERARCHIES.iter().find(|h| h.replace("name=", "") == top).copied().unwrap_or("");
        populate_v1(dir, controllers);
    }
}

/// The fake kernel's side of a write: `cgroup.subtree_control` takes `+ctrl` / `-ctrl` and
/// shows the resulting set, and children gain the files of newly enabled controllers.
pub fn after_write(path: &Path) {
    if tree_of(path).is_none() || path.file_name().and_then(|n| n.to_str()) != Some("cgroup.subtree_control") {
        return;
    }
    thread_local! { static STATE: RefCell<std::collections::HashMap<PathBuf, Vec<String>>> = RefCell::new(Default::default()); }
    let dir = path.parent().unwrap().to_path_buf();
    let written = std::fs::read_to_string(path).unwrap_or_default();
    let avail = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let set = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let set = s.entry(dir.clone()).or_default();
        for tok in written.split_whitespace() {
            if let Some(c) = tok.strip_prefix('+') {
                assert!(avail.split_whitespace().any(|a| a == c), "fake kernel: {c} not in {}/cgroup.controllers", dir.display());
                if !set.iter().any(|x| x == c) {
                    set.push(c.to_string());
                }
            } else if let Some(c) = tok.strip_prefix('-') {
                set.retain(|x| x != c);
            }
        }
        set.join(" ")
    });
    std::fs::write(path, &set).unwrap();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            populate_v2(&e.path(), &set);
        }
    }
}

/// The fake kernel's side of rmdir: interface files go with an empty cgroup (one with child
/// cgroups stays busy).
pub fn before_rmdir(dir: &Path) {
    if tree_of(dir).is_none() {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let entries: Vec<_> = rd.flatten().collect();
    if entries.iter().any(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false)) {
        return;
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    if !procs.trim().is_empty() {
        return; // busy, like the kernel
    }
    for e in entries {
        let _ = std::fs::remove_file(e.path());
    }
}
