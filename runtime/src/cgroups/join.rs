//! The cheapest way for a container's init to enter its cgroup: it moves itself, right after
//! fork while it is still single-threaded, by writing "0" to each hierarchy's `tasks` file.
//!
//! Why not the parent writing the pid to `cgroup.procs` ([`Cgroup::add_process`])? Moving a
//! whole thread group takes the kernel's global `cgroup_threadgroup_rwsem` for writing, which
//! waits for an RCU grace period (measured here: 4-15 ms under load, per container). A thread
//! moving itself through `tasks` skips that lock (v1: ~30 µs per hierarchy). cgroup2 has no
//! per-thread move for domain cgroups, so its `cgroup.procs` still costs a grace period:
//! creating the child with `clone3(CLONE_INTO_CGROUP)` and [`Cgroup::unified_fd`] avoids it.
//!
//! [`SelfJoin::join`] only opens and writes pre-built paths: async-signal-safe, no allocation,
//! fine between fork and exec.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};

use super::{Cgroup, Error};

/// Files a child writes "0" to, built before fork.
#[derive(Debug, Clone, Default)]
pub struct SelfJoin {
    files: Vec<CString>,
}

impl Cgroup {
    /// The self-join for this cgroup, or `None` when the parent must use
    /// [`Cgroup::add_process`] instead (systemd starts its unit with the pid). Without a
    /// cgroup of its own (rootless, not delegated) the join is empty. `include_unified`:
    /// false when the child is created in the cgroup2 directory by `clone3(CLONE_INTO_CGROUP)`.
    pub fn self_join(&self, include_unified: bool) -> Option<SelfJoin> {
        if self.systemd.as_ref().is_some_and(|s| !s.started.get()) {
            return None;
        }
        if self.disabled.get() {
            return Some(SelfJoin::default());
        }
        let c = |p: std::path::PathBuf| CString::new(p.into_os_string().into_encoded_bytes()).ok();
        let mut files: Vec<CString> = self.v1.iter().filter_map(|d| c(d.path.join("tasks"))).collect();
        if include_unified {
            files.extend(self.unified.as_ref().and_then(|u| c(u.join("cgroup.procs"))));
        }
        Some(SelfJoin { files })
    }

    /// The cgroup2 directory, opened for `clone3`'s `CLONE_INTO_CGROUP` (None without one).
    pub fn unified_fd(&self) -> Result<Option<OwnedFd>, Error> {
        let Some(u) = self.unified.as_ref().filter(|_| !self.disabled.get()) else { return Ok(None) };
        let p = CString::new(u.as_os_str().as_encoded_bytes()).map_err(|_| Error::InvalidPath {
            path: u.display().to_string(),
            reason: "contains NUL".into(),
        })?;
        // SAFETY: NUL-terminated path.
        let fd = unsafe { libc::open(p.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::Read { path: u.clone(), source: std::io::Error::last_os_error() });
        }
        // SAFETY: fresh fd.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

impl SelfJoin {
    /// Move the calling (single-threaded) process into the cgroup. Returns the errno and the
    /// index of the file that failed.
    pub fn join(&self) -> Result<(), (i32, usize)> {
        for (i, f) in self.files.iter().enumerate() {
            // SAFETY: pre-built NUL-terminated path; open/write/close are async-signal-safe.
            unsafe {
                let fd = libc::open(f.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err((*libc::__errno_location(), i));
                }
                let r = libc::write(fd, b"0".as_ptr().cast(), 1);
                let errno = *libc::__errno_location();
                libc::close(fd);
                if r != 1 {
                    return Err((errno, i));
                }
            }
        }
        Ok(())
    }

    /// The file at `index` (for the error message, in the parent).
    pub fn file(&self, index: usize) -> String {
        self.files.get(index).map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
