//! Test harnesses shared by the integration tests: where the built binaries are, unique ids,
//! temporary directories, and a busybox root filesystem made from Debian's `busybox-static`.
//!
//! Every test runs as root, in parallel with the others (and with other checkouts' tests on
//! the same machine): ids carry the pid and a counter, state lives under a fresh temp dir.

pub mod build;
pub mod cgroups;
pub mod faults;
pub mod containerd;
pub mod cri;
pub mod runtime;
pub mod seccomp;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The directory holding the workspace's built binaries: `$BERTH_BIN_DIR`, or the target
/// profile directory this test executable was built into (`target/<profile>/deps/..`).
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BERTH_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a parent dir");
    deps.parent().expect("deps has a parent dir").to_path_buf()
}

/// Absolute path of a workspace binary (`berth`, `berth-store`, ...); panics with a hint
/// when it was not built (the test command runs `cargo build --workspace --bins` first).
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(p.exists(), "{} not built: run `cargo build --workspace --bins` first", p.display());
    p
}

/// A container/image id unique across parallel tests and processes: `prefix-PID-N`.
pub fn unique_id(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}-{}-{}", prefix, std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A fresh directory under `$TMPDIR` removed on drop (after unmounting anything left in it).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let p = std::env::temp_dir().join(unique_id(&format!("berth-it-{prefix}")));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("BERTH_KEEP_TMP").is_some() {
            return;
        }
        // Lazy-unmount whatever a failed test left mounted below us, deepest first.
        if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
            let prefix = self.0.to_string_lossy().to_string();
            let mut points: Vec<String> = info
                .lines()
                .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
                .filter(|m| m.starts_with(&prefix))
                .collect();
            points.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in points {
                let _ = Command::new("umount").arg("-l").arg(&m).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Path of the static busybox the rootfs is made from (`$BUSYBOX`, default `/bin/busybox`).
pub fn busybox() -> PathBuf {
    let p = PathBuf::from(std::env::var_os("BUSYBOX").unwrap_or_else(|| "/bin/busybox".into()));
    assert!(p.exists(), "{} missing: apt-get install busybox-static", p.display());
    p
}

/// Fill `rootfs` with a static busybox, a symlink per applet at its usual place,
/// `/etc/passwd` and `/etc/group` (root, nobody, and a user `berth` 1000:1000).
pub fn make_busybox_rootfs(rootfs: &Path) {
    use std::os::unix::fs::{symlink, PermissionsExt};
    for d in ["bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "etc", "root", "run", "home/berth"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
    let out = Command::new(busybox()).arg("--list-full").output().expect("busybox --list-full");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line == "bin/busybox" || line.is_empty() {
            continue;
        }
        let p = rootfs.join(line);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let _ = symlink("/bin/busybox", &p);
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nberth:x:1000:1000:berth:/home/berth:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nberth:x:1000:\nnogroup:x:65534:\n").unwrap();
}

pub mod containerd_peer;
pub mod docker_registry;
pub mod fake_registry;
pub mod image_fixture;
pub mod store;
