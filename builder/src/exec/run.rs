//! RUN: a container over the stage's layers. The rootfs is an overlay of the parent's
//! snapshots with a fresh upper directory; the process gets the image's env, user, workdir
//! and shell; `--mount`s are set up as BuildKit does (cache dirs that persist in the store,
//! read-only binds of the context or another stage, tmpfs, secrets under /run/secrets);
//! `--network=none` gets its own empty network namespace. After the process exits the upper
//! directory is the layer ([`crate::diff`]).

use crate::dispatch::{Network, RunStep};
use crate::dockerfile::mount::{Mount, MountType, Sharing};
use crate::view::{resolve_user, DirView, RootView};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Runs an OCI bundle to completion and returns the exit code.
pub trait Runner {
    fn run(&self, id: &str, bundle: &Path, stdout: OwnedFd, stderr: OwnedFd) -> io::Result<i32>;
}

/// An OCI runtime binary with runc's CLI (`RUNTIME --root STATE run --bundle B ID`).
pub struct CliRunner {
    pub binary: PathBuf,
    pub state: PathBuf,
}

impl Runner for CliRunner {
    fn run(&self, id: &str, bundle: &Path, stdout: OwnedFd, stderr: OwnedFd) -> io::Result<i32> {
        let mut child = std::process::Command::new(&self.binary)
            .arg("--root")
            .arg(&self.state)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(stdout))
            .stderr(std::process::Stdio::from(stderr))
            .spawn()?;
        loop {
            if let Some(st) = child.try_wait()? {
                return Ok(st.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)));
            }
            if super::interrupted() {
                // Stop the container (its init may ignore SIGTERM as pid 1) until the runtime
                // exits: it may still be creating it when the signal comes.
                loop {
                    let _ = std::process::Command::new(&self.binary)
                        .arg("--root")
                        .arg(&self.state)
                        .args(["kill", id, "KILL"])
                        .stderr(std::process::Stdio::null())
                        .status();
                    if child.try_wait()?.is_some() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                let _ = std::process::Command::new(&self.binary).arg("--root").arg(&self.state).args(["delete", "--force", id]).stderr(std::process::Stdio::null()).status();
                return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// The runtime RUN uses: `$BERTH_BUILD_RUNTIME`, else berth's `berth` installed next to
/// this binary, else runc from the PATH.
pub fn default_runner(state: PathBuf) -> Result<CliRunner, String> {
    if let Some(b) = std::env::var_os("BERTH_BUILD_RUNTIME") {
        return Ok(CliRunner { binary: PathBuf::from(b), state });
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        let berth = dir.join("berth");
        if berth.is_file() {
            return Ok(CliRunner { binary: berth, state });
        }
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/sbin", "/usr/bin", "/sbin"]) {
        let p = Path::new(dir).join("runc");
        if p.is_file() {
            return Ok(CliRunner { binary: p, state });
        }
    }
    Err("RUN needs an OCI runtime: install berth next to berth-build, or set BERTH_BUILD_RUNTIME".into())
}

/// A mount set up for one RUN (source on the host, target in the container).
pub struct PreparedMount {
    pub source: PathBuf,
    pub target: String,
    pub kind: &'static str,
    pub options: Vec<String>,
}

/// Docker's default capability set for build containers.
pub const CAPS: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP",
    "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

/// Supplementary groups of `user` from the image's /etc/group.
fn additional_gids(view: &dyn RootView, user: &str, uid: u32) -> Vec<u32> {
    let name = view
        .read("/etc/passwd")
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .and_then(|p| p.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() > 2 && (f[0] == user || f[2] == uid.to_string())).map(|f| f[0].to_string()));
    let Some(name) = name else { return vec![] };
    let groups = view.read("/etc/group").map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    groups
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[3].split(',').any(|m| m == name)).then(|| f[2].parse().ok()).flatten()
        })
        .collect()
}

/// The config.json of a RUN.
pub fn spec(step: &RunStep, view: &dyn RootView, mounts: &[PreparedMount], hostname: &str) -> Result<Value, String> {
    let (uid, gid) = if step.user.is_empty() { (0, 0) } else { resolve_user(&step.user, view)? };
    let user_name = step.user.split(':').next().unwrap_or("");
    let extra = if step.user.contains(':') { vec![] } else { additional_gids(view, user_name, uid) };
    let mut env: Vec<String> = step.env.clone();
    env.extend(step.proxy_env.iter().cloned());
    let caps: Vec<&str> = if step.insecure { vec![] } else { CAPS.to_vec() };
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ];
    for pm in mounts {
        m.push(json!({"destination": pm.target, "type": pm.kind, "source": pm.source, "options": pm.options}));
    }
    let mut ns = vec![json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "mount"})];
    if step.network == Network::None {
        ns.push(json!({"type": "network"}));
    }
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": uid, "gid": gid, "additionalGids": extra},
            "args": step.argv,
            "env": env,
            "cwd": step.workdir,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": hostname,
        "mounts": m,
        "linux": {
            "namespaces": ns,
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    }))
}

/// Paths to leave out of the layer when they are empty stubs RUN's mounts created.
pub fn stub_paths(view: &dyn RootView, targets: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in targets {
        let real = view.realpath(t);
        let mut p = real.trim_start_matches('/').to_string();
        // The target and every parent that did not exist before.
        loop {
            if p.is_empty() || view.lstat(&format!("/{p}")).is_some() {
                break;
            }
            out.insert(p.clone());
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => break,
            }
        }
    }
    out
}

/// A pipe whose read end is read line by line while the process runs.
pub fn pipe() -> io::Result<(File, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fds owned by nobody else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Read `r` to its end, handing each line to `f` (output is kept for the error message).
pub fn drain(r: File, mut f: impl FnMut(&str)) -> Vec<String> {
    let mut tail = Vec::new();
    for line in BufReader::new(r).lines() {
        let Ok(line) = line else { break };
        f(&line);
        tail.push(line);
        if tail.len() > 200 {
            tail.remove(0);
        }
    }
    tail
}

/// The directory a `type=cache` mount keeps between builds, with its lock held for
/// `sharing=locked` (released when the returned file is dropped).
pub fn cache_dir(cache_root: &Path, m: &Mount) -> io::Result<(PathBuf, Option<File>)> {
    let id = m.id.clone().or_else(|| m.target.clone()).unwrap_or_default();
    let name = crate::cache::hex(&<sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()));
    let dir = cache_root.join(&name);
    let fresh = !dir.exists();
    std::fs::create_dir_all(&dir)?;
    if fresh {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m.mode.unwrap_or(0o755)))?;
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: NUL-terminated path.
        unsafe { libc::chown(c.as_ptr(), m.uid.unwrap_or(0), m.gid.unwrap_or(0)) };
    }
    let lock = match m.sharing {
        Sharing::Shared => None,
        Sharing::Locked | Sharing::Private => {
            let f = File::options().create(true).truncate(false).write(true).open(cache_root.join(format!("{name}.lock")))?;
            let op = if m.sharing == Sharing::Locked { libc::LOCK_EX } else { libc::LOCK_EX | libc::LOCK_NB };
            // SAFETY: a valid fd.
            if unsafe { libc::flock(f.as_raw_fd(), op) } != 0 {
                // `private`: someone else has it; use a throwaway directory instead.
                let tmp = cache_root.join(format!("{name}.private-{}", std::process::id()));
                std::fs::create_dir_all(&tmp)?;
                return Ok((tmp, None));
            }
            Some(f)
        }
    };
    Ok((dir, lock))
}

pub fn is_tmpfs(m: &Mount) -> bool {
    m.kind == MountType::Tmpfs
}

/// Write a secret file readable only by the RUN's user.
pub fn secret_file(dir: &Path, id: &str, data: &[u8], m: &Mount) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(format!("secret-{}", crate::cache::hex(&<sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()))));
    std::fs::write(&p, data)?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400)))?;
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: NUL-terminated path.
    unsafe { libc::chown(c.as_ptr(), m.uid.unwrap_or(0), m.gid.unwrap_or(0)) };
    Ok(p)
}

/// A DirView over a mounted rootfs (for user lookups and mount stubs).
pub fn view(rootfs: &Path) -> Result<DirView, String> {
    DirView::open(rootfs).map_err(|e| format!("{}: {e}", rootfs.display()))
}
