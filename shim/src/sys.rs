//! The few syscalls the shim needs that std does not wrap: epoll, signalfd, prctl, waitpid,
//! mount. Each wrapper returns `io::Result` and owns the fds it creates.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// An epoll instance; the `u64` token of each registration comes back in [`Epoll::wait`].
pub struct Epoll(OwnedFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; the fd is owned from here on.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: valid epoll fd and event struct.
        check(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) }).map(|_| ())
    }

    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    pub fn delete(&self, fd: RawFd) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Wait up to `timeout_ms` (-1: forever); fills `out` with (token, events).
    pub fn wait(&self, out: &mut Vec<(u64, u32)>, timeout_ms: i32) -> io::Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 32];
        // SAFETY: the buffer is valid for 32 events.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), evs.as_mut_ptr(), 32, timeout_ms) };
        out.clear();
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(e) };
        }
        out.extend(evs[..n as usize].iter().map(|e| (e.u64, e.events)));
        Ok(())
    }
}

fn sigset(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Block `signals` (they are read from the returned signalfd instead) and give them a no-op
/// handler rather than SIG_IGN: an ignored disposition would be inherited by the containers the
/// runtime forks, a handler is reset by their execve.
pub fn signalfd(signals: &[i32]) -> io::Result<OwnedFd> {
    let set = sigset(signals);
    // SAFETY: installing a handler that does nothing; masks on a valid set.
    unsafe {
        for s in signals.iter().chain([libc::SIGPIPE].iter()) {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ignore_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(*s, &sa, std::ptr::null_mut());
        }
        check(libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()))?;
        let fd = check(libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Drain a signalfd; returns the signal numbers read.
pub fn read_signals(fd: BorrowedFd<'_>) -> Vec<i32> {
    let mut out = Vec::new();
    loop {
        // SAFETY: reading whole siginfo structs into a local.
        let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let n = unsafe {
            libc::read(fd.as_raw_fd(), &mut si as *mut _ as *mut libc::c_void, std::mem::size_of::<libc::signalfd_siginfo>())
        };
        if n != std::mem::size_of::<libc::signalfd_siginfo>() as isize {
            return out;
        }
        out.push(si.ssi_signo as i32);
    }
}

/// One reaped child: pid and its wait status turned into containerd's exit status
/// (the exit code, or 128 + signal).
pub fn reap_one() -> Option<(i32, u32)> {
    let mut status = 0;
    // SAFETY: plain waitpid.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u32
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status) as u32
    } else {
        255
    };
    Some((pid, code))
}

pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(|_| ())
}


pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a caller-owned fd.
    unsafe {
        let fl = check(libc::fcntl(fd, libc::F_GETFL))?;
        let fl = if on { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK };
        check(libc::fcntl(fd, libc::F_SETFL, fl)).map(|_| ())
    }
}

pub fn open(path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    // SAFETY: NUL-terminated path; the fd is owned from here on.
    let fd = check(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is valid for two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for its length.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: plain kill.
    check(unsafe { libc::kill(pid, sig) }).map(|_| ())
}

pub fn resize_pty(fd: RawFd, cols: u16, rows: u16) -> io::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ with a valid winsize.
    check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(|_| ())
}

pub fn mount(src: &str, target: &Path, fstype: &str, flags: libc::c_ulong, data: &str) -> io::Result<()> {
    let (s, t, f, d) = (
        CString::new(src)?,
        cpath(target)?,
        CString::new(fstype)?,
        CString::new(data)?,
    );
    let dp = if data.is_empty() { std::ptr::null() } else { d.as_ptr().cast() };
    // SAFETY: NUL-terminated strings that outlive the call.
    check(unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), flags, dp) }).map(|_| ())
}

pub fn umount_detach(target: &Path) -> io::Result<()> {
    let t = cpath(target)?;
    // SAFETY: NUL-terminated path.
    check(unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) }).map(|_| ())
}

/// Reap one specific child if it has exited (its containerd exit status).
pub fn reap_pid(pid: i32) -> Option<u32> {
    let mut status = 0;
    // SAFETY: plain waitpid.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r != pid {
        return None;
    }
    Some(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u32
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status) as u32
    } else {
        255
    })
}

/// Drop our page-table entries for clean, read-only, file-backed mappings (the shim's own code
/// and the shared libraries'): the kernel maps whole 64 KiB fault-around windows and readahead
/// of a binary that mostly sleeps, and they would stay counted in its RSS. Pages are re-faulted
/// from the page cache when next used. Mappings holding anonymous (copy-on-write) pages, such
/// as RELRO, are left alone: dropping those would lose their contents.
pub fn trim_file_mappings() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return };
    let mut current: Option<(usize, usize)> = None;
    let mut eligible = false;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let perms = f.next().unwrap_or("");
            let path = f.nth(3).unwrap_or("");
            current = match (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                (Ok(s), Ok(e)) => Some((s, e)),
                _ => None,
            };
            eligible = !perms.contains('w') && perms.ends_with('p') && path.starts_with('/');
            if perms.starts_with("rw") && perms.ends_with('p') {
                if let Some((s, e)) = current {
                    // No transparent huge pages for the shim's own heap, stack and data: one
                    // would round a few KiB of use up to 2 MiB. (Not prctl(PR_SET_THP_DISABLE):
                    // that flag is inherited across fork and exec, i.e. by the containers.)
                    // SAFETY: advice on a mapping of our own process; contents are unaffected.
                    unsafe { libc::madvise(s as *mut libc::c_void, e - s, libc::MADV_NOHUGEPAGE) };
                }
            }
        } else if first == "Anonymous:" {
            let anon: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(1);
            if let (true, 0, Some((s, e))) = (eligible, anon, current) {
                // SAFETY: a private, read-only, file-backed mapping of our own process with no
                // anonymous pages: dropping its PTEs loses nothing (they re-fault from the file).
                unsafe { libc::madvise(s as *mut libc::c_void, e - s, libc::MADV_DONTNEED) };
            }
        }
    }
    drop(smaps);
    // SAFETY: returns free heap memory to the kernel; no other thread exists.
    unsafe { libc::malloc_trim(0) };
}
