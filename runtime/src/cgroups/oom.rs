//! OOM notification: an fd the caller polls (the shim's event loop, `berth events`), and
//! [`OomWatcher::check`] to consume what happened.
//!
//! - v1 (and hybrid hosts, where memory is v1): an eventfd registered for `memory.oom_control`
//!   through `cgroup.event_control`. The kernel signals it when the cgroup runs out of memory,
//!   and also when the cgroup is removed.
//! - v2: inotify on `memory.events` (its `oom_kill` counter) and on `cgroup.events` (its
//!   `populated` flag, to notice the container is gone).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::{fs, stats::flat_keyed, Cgroup, Error};

/// What [`OomWatcher::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OomCheck {
    /// New OOM events since the last check (v2: OOM kills; v1: times the cgroup hit OOM).
    pub ooms: u64,
    /// The cgroup is empty or removed: nothing more will come; stop watching.
    pub gone: bool,
}

pub struct OomWatcher {
    fd: OwnedFd,
    kind: Kind,
}

enum Kind {
    V1 {
        dir: PathBuf,
        /// Kept open: the registration lives as long as this file.
        _control: std::fs::File,
    },
    V2 {
        dir: PathBuf,
        events_wd: i32,
        last_kills: u64,
    },
}

fn sys(what: &str, path: &Path) -> Error {
    Error::Read { path: path.into(), source: io::Error::new(io::Error::last_os_error().kind(), format!("{what}: {}", io::Error::last_os_error())) }
}

impl Cgroup {
    /// Start watching for OOM events in this container's memory cgroup.
    pub fn oom_watcher(&self) -> Result<OomWatcher, Error> {
        if self.disabled.get() {
            return Err(Error::Disabled);
        }
        if let Some(d) = self.v1.iter().find(|d| d.controllers.split(',').any(|c| c == "memory")) {
            return OomWatcher::v1(&d.path);
        }
        match &self.unified {
            Some(u) => OomWatcher::v2(u),
            None => Err(Error::MissingController { controller: "memory".into() }),
        }
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup so far
    /// (`oom_kill` of `memory.oom_control` on v1, of `memory.events` on v2).
    pub fn oom_kills(&self) -> Result<u64, Error> {
        if let Some(d) = self.v1.iter().find(|d| d.controllers.split(',').any(|c| c == "memory")) {
            return Ok(flat_keyed(&fs::read(&d.path, "memory.oom_control")?).get("oom_kill").copied().unwrap_or(0));
        }
        match &self.unified {
            Some(u) => Ok(flat_keyed(&fs::read(u, "memory.events")?).get("oom_kill").copied().unwrap_or(0)),
            None => Err(Error::MissingController { controller: "memory".into() }),
        }
    }
}

impl OomWatcher {
    fn v1(dir: &Path) -> Result<OomWatcher, Error> {
        // SAFETY: plain syscall.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(sys("eventfd", dir));
        }
        // SAFETY: fresh fd.
        let fd = unsafe { OwnedFd::from_raw_fd(efd) };
        let control_path = dir.join("memory.oom_control");
        let control = std::fs::File::open(&control_path).map_err(|source| Error::Read { path: control_path, source })?;
        fs::write(dir, "cgroup.event_control", &format!("{} {}", fd.as_raw_fd(), control.as_raw_fd()))?;
        Ok(OomWatcher { fd, kind: Kind::V1 { dir: dir.into(), _control: control } })
    }

    fn v2(dir: &Path) -> Result<OomWatcher, Error> {
        // SAFETY: plain syscall.
        let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if ifd < 0 {
            return Err(sys("inotify_init1", dir));
        }
        // SAFETY: fresh fd.
        let fd = unsafe { OwnedFd::from_raw_fd(ifd) };
        let watch = |file: &str| -> Result<i32, Error> {
            let p = dir.join(file);
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| sys("path", &p))?;
            // SAFETY: valid fd and NUL-terminated path.
            let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) };
            if wd < 0 {
                return Err(sys("inotify_add_watch", &p));
            }
            Ok(wd)
        };
        let events_wd = watch("memory.events")?;
        watch("cgroup.events")?;
        let last_kills = flat_keyed(&fs::read(dir, "memory.events")?).get("oom_kill").copied().unwrap_or(0);
        Ok(OomWatcher { fd, kind: Kind::V2 { dir: dir.into(), events_wd, last_kills } })
    }

    /// Consume pending notifications (non-blocking) and say what happened.
    pub fn check(&mut self) -> Result<OomCheck, Error> {
        match &mut self.kind {
            Kind::V1 { dir, .. } => {
                let mut buf = [0u8; 8];
                // SAFETY: 8-byte buffer for an eventfd counter.
                let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                let count = if n == 8 { u64::from_ne_bytes(buf) } else { 0 };
                // The eventfd also fires when the cgroup goes away: that is not an OOM.
                let gone = !dir.join("memory.oom_control").exists();
                Ok(OomCheck { ooms: if gone { 0 } else { count }, gone })
            }
            Kind::V2 { dir, events_wd, last_kills } => {
                let mut buf = [0u8; 4096];
                let mut memory_changed = false;
                let mut any = false;
                loop {
                    // SAFETY: buffer of the given size.
                    let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        break;
                    }
                    any = true;
                    let mut off = 0usize;
                    while off + 16 <= n as usize {
                        let wd = i32::from_ne_bytes(buf[off..off + 4].try_into().unwrap_or_default());
                        let mask = u32::from_ne_bytes(buf[off + 4..off + 8].try_into().unwrap_or_default());
                        let len = u32::from_ne_bytes(buf[off + 12..off + 16].try_into().unwrap_or_default()) as usize;
                        if wd == *events_wd || mask & libc::IN_IGNORED != 0 {
                            memory_changed = true;
                        }
                        off += 16 + len;
                    }
                }
                let mut out = OomCheck::default();
                if memory_changed || !any {
                    match fs::read(dir, "memory.events") {
                        Ok(text) => {
                            let kills = flat_keyed(&text).get("oom_kill").copied().unwrap_or(0);
                            out.ooms = kills.saturating_sub(*last_kills);
                            *last_kills = kills;
                        }
                        Err(_) => out.gone = true,
                    }
                }
                match fs::read(dir, "cgroup.events") {
                    Ok(ev) => out.gone |= flat_keyed(&ev).get("populated") == Some(&0),
                    Err(_) => out.gone = true,
                }
                Ok(out)
            }
        }
    }

    /// Block until something happens or `timeout_ms` passes (-1: forever); then [`check`].
    ///
    /// [`check`]: OomWatcher::check
    pub fn wait(&mut self, timeout_ms: i32) -> Result<OomCheck, Error> {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        self.check()
    }
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for OomWatcher {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
