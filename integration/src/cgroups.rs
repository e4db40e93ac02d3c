//! Harness for the cgroup tests: host layout checks, processes placed in a cgroup before they
//! exec, and guards that kill and remove what a test made, even when it fails.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

pub use berth_runtime::cgroups::{Cgroup, CgroupRequest, Layout, LinuxResources, Mode};

/// A cgroupsPath unique to this test: `/berth-it-<pid>-<n>/<leaf>` (its own top directory,
/// so parallel tests never share a parent that one of them removes).
pub fn unique_path(leaf: &str) -> String {
    format!("/{}/{leaf}", crate::unique_id("berth-it"))
}

pub fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("resources json")
}

/// The host's layout; the tests need root and a cgroup mount.
pub fn host() -> &'static Layout {
    Layout::host().expect("cgroup layout")
}

/// Say visibly that a test did not run here: written to the real stderr (the test harness
/// captures only the print macros), so it shows in CI logs even when the test "passes".
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// A cgroup made by a test; on drop every process in it is killed and it is destroyed.
pub struct TestCgroup {
    pub cg: Cgroup,
    /// Directories that must be gone after destroy (the leaf dirs and what was created).
    pub expect_gone: Vec<PathBuf>,
}

impl TestCgroup {
    /// Plan and create `path` on the host.
    pub fn create(path: &str) -> TestCgroup {
        let req = CgroupRequest { cgroups_path: Some(path), id: "test", systemd: false };
        let cg = Cgroup::plan(&req).expect("plan");
        cg.create().expect("create");
        let expect_gone = cg.created.get();
        TestCgroup { cg, expect_gone }
    }

    /// Plan and create `path` on a given layout (a v2 layout rooted in a test directory).
    pub fn create_on(path: &str, layout: &Layout) -> TestCgroup {
        let req = CgroupRequest { cgroups_path: Some(path), id: "test", systemd: false };
        let cg = Cgroup::plan_on(&req, layout, || panic!("absolute path")).expect("plan");
        cg.create().expect("create");
        let expect_gone = cg.created.get();
        TestCgroup { cg, expect_gone }
    }

    /// Spawn `argv` already inside this cgroup (it joins between fork and exec, the way a
    /// container's init is charged from its first instruction).
    pub fn spawn(&self, argv: &[&str]) -> Child {
        let procs: Vec<CString> = self
            .cg
            .dirs()
            .map(|d| CString::new(d.join("cgroup.procs").to_str().unwrap()).unwrap())
            .collect();
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        // SAFETY: only async-signal-safe calls (open, write, close) on pre-built strings.
        unsafe {
            cmd.pre_exec(move || {
                for p in &procs {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // "0" means the writing process itself.
                    let r = libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                    if r != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        cmd.spawn().expect("spawn in cgroup")
    }

    /// Kill everything in the cgroup (thawing first), wait for the pids to go.
    pub fn kill_all(&self) {
        let _ = self.cg.set_frozen(false);
        for _ in 0..200 {
            let pids = self.cg.pids().unwrap_or_default();
            if pids.is_empty() {
                return;
            }
            for p in pids {
                // SAFETY: plain kill(2).
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Destroy and check that nothing the test made is left.
    pub fn destroy_and_check(&self) {
        self.kill_all();
        self.cg.destroy().expect("destroy");
        for d in &self.expect_gone {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        self.kill_all();
        let _ = self.cg.destroy();
    }
}

/// A child reaped on drop (after a kill).
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pure-v2 tests run on the host's cgroup2 mount when it has one. On a hybrid host the
/// cgroup2 mount holds few controllers; the tests then use a private parent directory as the
/// root of their "v2 host" so they never write the mount root's `subtree_control`.
pub struct V2Root {
    pub layout: Layout,
    pub dir: PathBuf,
}

impl V2Root {
    pub fn new() -> Option<V2Root> {
        let host = host();
        let u = host.unified.as_ref()?;
        let dir = u.mountpoint.join(crate::unique_id("berth-it-v2"));
        std::fs::create_dir(&dir).ok()?;
        let mut hier = u.clone();
        hier.mountpoint = dir.clone();
        Some(V2Root { layout: Layout { mode: Mode::V2, v1: Vec::new(), unified: Some(hier) }, dir })
    }
}

impl Drop for V2Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The cgroup of `pid` in the hierarchy whose `/proc/PID/cgroup` controller field is `key`
/// (`memory`, `cpu,cpuacct`, or "" for cgroup2).
pub fn proc_cgroup(pid: u32, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, c, p) = (f.next()?, f.next()?, f.next()?);
        (c == key).then(|| p.to_string())
    })
}

/// `/proc/PID/status` State letter.
pub fn proc_state(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("State:").map(|s| s.trim().to_string()))
        .unwrap_or_default()
}

pub fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref()).unwrap_or_else(|e| panic!("read {}: {e}", p.as_ref().display())).trim().to_string()
}
