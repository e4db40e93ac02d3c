//! Harness for the load and fault tests: the `berth-fault` binary (berth built with the
//! `fault-injection` feature, see runtime/src/fault.rs), a parallel runner, and a
//! nothing-left-behind check over the whole host: state dirs, mounts, cgroup directories in
//! every hierarchy, and processes.

use crate::runtime::Berth;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The steps `BERTH_FAULT` knows, in the order `create` passes them.
pub use berth_runtime::fault::STEPS;

/// `berth-fault`, built on first use (`cargo build -p berth-runtime --features fault-injection
/// --bin berth-fault`: a separate feature build, so the `berth` binary never carries it).
/// With `$BERTH_BIN_DIR` set the binary must already be there.
pub fn fault_bin() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut g = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = &*g {
        return p.clone();
    }
    let p = crate::bin_dir().join("berth-fault");
    if std::env::var_os("BERTH_BIN_DIR").is_none() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let release = crate::bin_dir().file_name().is_some_and(|n| n == "release");
        let mut c = Command::new(cargo);
        c.args(["build", "-q", "-p", "berth-runtime", "--features", "fault-injection", "--bin", "berth-fault", "--manifest-path"]).arg(&manifest);
        if release {
            c.arg("--release");
        }
        let st = c.status().expect("run cargo to build berth-fault");
        assert!(st.success(), "cargo build --features fault-injection --bin berth-fault failed");
    }
    assert!(p.exists(), "{} not built: cargo build -p berth-runtime --features fault-injection --bin berth-fault", p.display());
    *g = Some(p.clone());
    p
}

/// A [`Berth`] driving `berth-fault` instead of `berth`.
pub fn fault_berth(prefix: &str) -> Berth {
    let mut b = Berth::new(prefix);
    b.bin = fault_bin();
    b
}

/// Run `f(i)` for i in 0..n on `threads` threads; panics (after all finish) with every
/// failure message.
pub fn parallel(n: usize, threads: usize, f: impl Fn(usize) -> Result<(), String> + Sync) {
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                if let Err(e) = f(i) {
                    errors.lock().unwrap().push(format!("#{i}: {e}"));
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    assert!(errors.is_empty(), "{} of {n} failed:\n{}", errors.len(), errors.iter().take(20).cloned().collect::<Vec<_>>().join("\n"));
}

/// Mount points of every cgroup hierarchy (v1 controllers and the cgroup2 mount).
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mi.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let point = pre.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(point))
        })
        .collect()
}

/// Live (non-zombie) processes whose command line contains `needle`. The init of a container
/// that never exec'd is a fork of `berth create ... ID` and still has that command line.
pub fn procs_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    let me = std::process::id();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) && !is_dead(pid as i32) {
            out.push(format!("{pid}: {}", cmd.trim()));
        }
    }
    out
}

/// Gone, or a zombie (dead; reaping it is its new parent's business).
pub fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => matches!(stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()), Some("Z") | Some("X")),
        Err(_) => true,
    }
}

/// Wait (up to `ms`) for `pid` to die.
pub fn wait_dead(pid: i32, ms: u64) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < end {
        if is_dead(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    is_dead(pid)
}

/// Everything left behind by containers whose ids start with `prefix` (state dirs under
/// `b.root`, mounts under `b.tmp`, cgroup directories in any hierarchy, live processes
/// mentioning the prefix): empty when clean.
pub fn leftovers(b: &Berth, prefix: &str) -> Vec<String> {
    let mut left = Vec::new();
    for e in std::fs::read_dir(&b.root).into_iter().flatten().flatten() {
        left.push(format!("state dir {}", e.path().display()));
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let tmp = b.tmp.path().to_string_lossy().into_owned();
    for l in mi.lines() {
        if l.contains(&tmp) || l.contains(prefix) {
            left.push(format!("mount {l}"));
        }
    }
    // Not only at the top: a hierarchy where the caller sits in a sub-cgroup (this host's
    // memory one) gets the container's directory below the caller's.
    for m in cgroup_mounts() {
        cgroup_dirs_named(&m, prefix, 6, &mut left);
    }
    for p in procs_mentioning(prefix) {
        left.push(format!("process {p}"));
    }
    left
}

fn cgroup_dirs_named(dir: &Path, prefix: &str, depth: u32, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if e.file_name().to_string_lossy().starts_with(prefix) {
            out.push(format!("cgroup {}", e.path().display()));
        } else if depth > 0 {
            cgroup_dirs_named(&e.path(), prefix, depth - 1, out);
        }
    }
}

/// [`leftovers`], given a moment for killed processes to finish exiting.
pub fn assert_no_leftovers(b: &Berth, prefix: &str) {
    let mut left = leftovers(b, prefix);
    for _ in 0..50 {
        if left.is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = leftovers(b, prefix);
    }
    panic!("{} things left behind by {prefix}*:\n{}", left.len(), left.join("\n"));
}

/// On drop (a test passing or failing), `delete --force` every container left under the
/// root: a failed assertion must not leave containers, cgroups or processes to the host.
pub struct DeleteAll<'a>(pub &'a Berth);

impl Drop for DeleteAll<'_> {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.0.root).into_iter().flatten().flatten() {
            let id = e.file_name();
            let _ = self.0.cmd([std::ffi::OsStr::new("delete"), "--force".as_ref(), &id]).output();
        }
    }
}
