//! The `--root` directory: one directory per container holding `state.json` (written
//! atomically), `config.json` (the spec as created, for `exec`), and `exec.fifo` (the start
//! handshake). The directory's creation is the duplicate-id check; an exclusive `flock` on it
//! serialises the verbs that change a container.

use crate::cgroups::Cgroup;
use crate::error::{Error, IoContext, Result};
use crate::hooks::Hooks;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const FIFO: &str = "exec.fifo";
/// Written before the init is cloned: what a `create` killed midway leaves to undo.
pub const CREATING_FILE: &str = "creating.json";

/// What `create` is about to make, recorded before it makes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Creating {
    #[serde(default)]
    pub cgroup: Option<Cgroup>,
}

/// What berth remembers about a container between verbs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Saved {
    pub id: String,
    /// The init's pid in the runtime's pid namespace.
    pub pid: i32,
    /// Its start time (clock ticks since boot, /proc/PID/stat field 22): pid reuse guard.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub cgroup: Option<Cgroup>,
    #[serde(default)]
    pub hooks: Hooks,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub owner: u32,
    /// The init has its own pid namespace (SIGKILL to it ends every process of the container).
    #[serde(default)]
    pub own_pid_ns: bool,
    #[serde(default)]
    pub systemd: bool,
}

/// An open (and optionally locked) container directory.
#[derive(Debug)]
pub struct StateDir {
    pub path: PathBuf,
    pub fd: OwnedFd,
}

impl StateDir {
    /// Make the directory of a new container; fails with `Exists` for a duplicate id.
    /// The returned directory is locked.
    pub fn create(root: &Path, id: &str) -> Result<StateDir> {
        if let Err(e) = std::fs::create_dir(root) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                std::fs::create_dir_all(root).ctx(|| format!("state root {}", root.display()))?;
            }
        }
        let path = root.join(id);
        let c = crate::sys::cpath(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        // SAFETY: NUL-terminated path.
        if unsafe { libc::mkdir(c.as_ptr(), 0o711) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::AlreadyExists {
                return Err(Error::Exists(id.to_owned()));
            }
            return Err(Error::io(format!("state dir {}", path.display()), e));
        }
        let dir = Self::open_path(path)?;
        dir.lock(true)?;
        Ok(dir)
    }

    /// Open an existing container's directory (`NotFound` when there is none).
    pub fn open(root: &Path, id: &str) -> Result<StateDir> {
        crate::plan::validate_id(id).map_err(|_| Error::NotFound(id.to_owned()))?;
        let path = root.join(id);
        Self::open_path(path).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => Error::NotFound(id.to_owned()),
            e => e,
        })
    }

    fn open_path(path: PathBuf) -> Result<StateDir> {
        let c = crate::sys::cpath(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        // SAFETY: NUL-terminated path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io(format!("state dir {}", path.display()), io::Error::last_os_error()));
        }
        // SAFETY: fresh fd.
        Ok(StateDir { path, fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Take the container's lock (blocking, or failing with `Ok(false)` when `wait` is false
    /// and someone else holds it).
    pub fn lock(&self, wait: bool) -> Result<bool> {
        let op = libc::LOCK_EX | if wait { 0 } else { libc::LOCK_NB };
        loop {
            // SAFETY: flock on our own fd.
            if unsafe { libc::flock(self.fd.as_raw_fd(), op) } == 0 {
                return Ok(true);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) if !wait => return Ok(false),
                _ => return Err(Error::io(format!("lock {}", self.path.display()), e)),
            }
        }
    }

    pub fn unlock(&self) {
        // SAFETY: flock on our own fd.
        unsafe { libc::flock(self.fd.as_raw_fd(), libc::LOCK_UN) };
    }

    pub fn read(&self) -> Result<Option<Saved>> {
        self.read_json(STATE_FILE)
    }

    /// Write state.json atomically (temp file + rename).
    pub fn write(&self, s: &Saved) -> Result<()> {
        self.write_json(STATE_FILE, s)
    }

    pub fn write_creating(&self, c: &Creating) -> Result<()> {
        self.write_json(CREATING_FILE, c)
    }

    /// The record of an unfinished create (None when it made no cgroup or wrote none).
    pub fn read_creating(&self) -> Result<Option<Creating>> {
        self.read_json(CREATING_FILE)
    }

    /// A JSON file of the state dir; None when it does not exist.
    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        match std::fs::read(self.path.join(name)) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| Error::State { id: self.id(), reason: format!("corrupt {name}: {e}") }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("{}/{name}", self.path.display()), e)),
        }
    }

    fn write_json<T: Serialize>(&self, name: &str, v: &T) -> Result<()> {
        let b = serde_json::to_vec(v).map_err(|e| Error::State { id: self.id(), reason: e.to_string() })?;
        self.write_file(name, &b)
    }

    pub fn write_file(&self, name: &str, data: &[u8]) -> Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, data).ctx(|| tmp.display().to_string())?;
        std::fs::rename(&tmp, self.path.join(name)).ctx(|| format!("{}/{name}", self.path.display()))
    }

    pub fn make_fifo(&self) -> Result<()> {
        let c = std::ffi::CString::new(FIFO).unwrap();
        // SAFETY: relative name under our dir fd. 0622: the init may have switched user.
        if unsafe { libc::mkfifoat(self.fd.as_raw_fd(), c.as_ptr(), 0o622) } < 0 {
            return Err(Error::io(format!("{}/{FIFO}", self.path.display()), io::Error::last_os_error()));
        }
        // mkfifo honours the umask; make sure the mode is what we asked for.
        // SAFETY: as above.
        unsafe { libc::fchmodat(self.fd.as_raw_fd(), c.as_ptr(), 0o622, 0) };
        Ok(())
    }

    pub fn has_fifo(&self) -> bool {
        let c = std::ffi::CString::new(FIFO).unwrap();
        // SAFETY: relative name under our dir fd.
        unsafe { libc::faccessat(self.fd.as_raw_fd(), c.as_ptr(), libc::F_OK, libc::AT_SYMLINK_NOFOLLOW) == 0 }
    }

    pub fn remove_fifo(&self) {
        let _ = std::fs::remove_file(self.path.join(FIFO));
    }

    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove {}", self.path.display()), e)),
        }
    }

    pub fn id(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// Every container id under `root` (sorted).
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(Error::io(format!("state root {}", root.display()), e)),
    };
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            if let Some(n) = e.file_name().to_str() {
                if crate::plan::validate_id(n).is_ok() {
                    ids.push(n.to_owned());
                }
            }
        }
    }
    ids.sort();
    Ok(ids)
}

/// Now as RFC 3339 UTC with nanoseconds (`2024-05-01T12:00:00.123456789Z`).
pub fn now_rfc3339(nanos: bool) -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339(d.as_secs() as i64, if nanos { Some(d.subsec_nanos()) } else { None })
}

pub fn rfc3339(secs: i64, nanos: Option<u32>) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let base = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    match nanos {
        Some(n) => format!("{base}.{n:09}Z"),
        None => format!("{base}Z"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn dates() {
        assert_eq!(rfc3339(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951782400, None), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1714564800, Some(5)), "2024-05-01T12:00:00.000000005Z");
    }
}
