//! Thin, errno-preserving wrappers over the syscalls the runtime needs and `libc` does not
//! wrap (the new mount API, pidfds, clone3, capset), plus a few conveniences.
//!
//! Every function returns `io::Result` with the kernel's errno; callers add the context
//! (which path, which container).

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub const OPEN_TREE_CLONE: u32 = 1;
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
pub const FSOPEN_CLOEXEC: u32 = 1;
pub const FSMOUNT_CLOEXEC: u32 = 1;
pub const FSCONFIG_SET_FLAG: u32 = 0;
pub const FSCONFIG_SET_STRING: u32 = 1;
pub const FSCONFIG_CMD_CREATE: u32 = 6;
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_IDMAP: u64 = 0x100000;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;
pub const AT_RECURSIVE: u32 = 0x8000;
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;

#[repr(C)]
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn check_fd(r: libc::c_long) -> io::Result<OwnedFd> {
    // SAFETY: a non-negative return of an fd-returning syscall is a fresh fd we now own.
    check(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn cstr(p: &OsStr) -> io::Result<CString> {
    CString::new(p.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub fn cpath(p: &Path) -> io::Result<CString> {
    cstr(p.as_os_str())
}

const EMPTY: &CStr = c"";

/// `open_tree(2)`: with `OPEN_TREE_CLONE`, a detached copy of the mount at `path`.
pub fn open_tree(dirfd: RawFd, path: &Path, flags: u32) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    let (p, extra) = if path.as_os_str().is_empty() { (EMPTY.as_ptr(), libc::AT_EMPTY_PATH as u32) } else { (c.as_ptr(), 0) };
    // SAFETY: valid fd/NUL-terminated path; the kernel validates flags.
    check_fd(unsafe { libc::syscall(libc::SYS_open_tree, dirfd, p, flags | extra | OPEN_TREE_CLOEXEC) })
}

/// Attach the detached mount `from` onto the object `to` refers to.
pub fn move_mount_fd(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: both fds are valid for the call; empty paths with the *_EMPTY_PATH flags.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            EMPTY.as_ptr(),
            to.as_raw_fd(),
            EMPTY.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// `mount_setattr(2)` on the mount `fd` refers to (`recursive`: the whole subtree).
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> io::Result<()> {
    let flags = libc::AT_EMPTY_PATH as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: attr lives across the call and its size is passed.
    check(unsafe {
        libc::syscall(libc::SYS_mount_setattr, fd.as_raw_fd(), EMPTY.as_ptr(), flags, attr as *const MountAttr, std::mem::size_of::<MountAttr>())
    })
    .map(drop)
}

pub fn fsopen(fstype: &str) -> io::Result<OwnedFd> {
    let c = cstr(OsStr::new(fstype))?;
    // SAFETY: NUL-terminated name.
    check_fd(unsafe { libc::syscall(libc::SYS_fsopen, c.as_ptr(), FSOPEN_CLOEXEC) })
}

pub fn fsconfig_string(fs: BorrowedFd<'_>, key: &str, value: &OsStr) -> io::Result<()> {
    let k = cstr(OsStr::new(key))?;
    let v = cstr(value)?;
    // SAFETY: NUL-terminated key/value for FSCONFIG_SET_STRING.
    check(unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), FSCONFIG_SET_STRING, k.as_ptr(), v.as_ptr(), 0) }).map(drop)
}

pub fn fsconfig_create(fs: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: FSCONFIG_CMD_CREATE takes no key/value.
    check(unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), FSCONFIG_CMD_CREATE, 0usize, 0usize, 0) }).map(drop)
}

pub fn fsmount(fs: BorrowedFd<'_>, attr: u64) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall on a valid fs context fd.
    check_fd(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attr) })
}

/// `mount(2)`; `None` arguments are passed as NULL.
pub fn mount(src: Option<&OsStr>, target: &Path, fstype: Option<&str>, flags: libc::c_ulong, data: Option<&str>) -> io::Result<()> {
    let s = src.map(cstr).transpose()?;
    let t = cpath(target)?;
    let f = fstype.map(|f| cstr(OsStr::new(f))).transpose()?;
    let d = data.filter(|d| !d.is_empty()).map(|d| cstr(OsStr::new(d))).transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: all pointers are NULL or NUL-terminated strings living across the call.
    let r = unsafe { libc::mount(ptr(&s), t.as_ptr(), ptr(&f), flags, ptr(&d) as *const libc::c_void) };
    check(r as libc::c_long).map(drop)
}

pub fn umount2(target: &Path, flags: i32) -> io::Result<()> {
    let t = cpath(target)?;
    // SAFETY: NUL-terminated path.
    check(unsafe { libc::umount2(t.as_ptr(), flags) } as libc::c_long).map(drop)
}

pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    check_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall; NULL siginfo.
    check(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, 0usize, 0) }).map(drop)
}

/// Wait until `fd` is readable (or hung up); `timeout_ms < 0` waits forever.
/// Returns false on timeout.
pub fn poll_in(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// fork-like `clone3` with namespace `flags`. Returns 0 in the child, the child's pid in the
/// parent. The caller must be single-threaded (the child gets a copy of this thread only).
pub fn clone_fork(flags: u64) -> io::Result<i32> {
    clone_fork_into(flags, None)
}

/// [`clone_fork`], with the child created straight in the cgroup2 directory `cgroup` (an fd,
/// `CLONE_INTO_CGROUP`): no migration afterwards, so no global threadgroup lock.
pub fn clone_fork_into(flags: u64, cgroup: Option<RawFd>) -> io::Result<i32> {
    const CLONE_INTO_CGROUP: u64 = 0x200000000;
    // clone3 refuses an exit signal with CLONE_PARENT (EINVAL): the child then inherits the
    // caller's own exit signal, which is what a sibling needs.
    let exit_signal = if flags & (libc::CLONE_PARENT | libc::CLONE_THREAD) as u64 != 0 { 0 } else { libc::SIGCHLD as u64 };
    let mut args = CloneArgs { flags, exit_signal, ..Default::default() };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: a stack of 0 gives fork semantics (the child continues on a copy of our stack).
    let r = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>()) };
    check(r).map(|r| r as i32)
}

pub fn setns(fd: BorrowedFd<'_>, nstype: i32) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) } as libc::c_long).map(drop)
}

pub fn unshare(flags: i32) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::unshare(flags) } as libc::c_long).map(drop)
}

pub fn close_range_cloexec(first: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) }).map(drop)
}

pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a caller-provided fd; failure is reported.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on { flags | libc::FD_CLOEXEC } else { flags & !libc::FD_CLOEXEC };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, new) } as libc::c_long).map(drop)
}

pub fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    if from == to {
        return set_cloexec(to, false);
    }
    // SAFETY: dup2 on caller-provided fds.
    check(unsafe { libc::dup2(from, to) } as libc::c_long).map(drop)
}

pub fn prctl(op: i32, a: libc::c_ulong, b: libc::c_ulong) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) } as libc::c_long).map(drop)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `capset(2)` (version 3, 64-bit sets) on the calling thread.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    let hdr = CapHeader { version: 0x20080522, pid: 0 };
    let data = [
        CapData { effective: effective as u32, permitted: permitted as u32, inheritable: inheritable as u32 },
        CapData { effective: (effective >> 32) as u32, permitted: (permitted >> 32) as u32, inheritable: (inheritable >> 32) as u32 },
    ];
    // SAFETY: header and two data structs as the v3 ABI requires.
    check(unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) }).map(drop)
}

/// `capget(2)` of the calling thread: (effective, permitted, inheritable).
pub fn capget() -> io::Result<(u64, u64, u64)> {
    let hdr = CapHeader { version: 0x20080522, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and two data structs as the v3 ABI requires.
    check(unsafe { libc::syscall(libc::SYS_capget, &hdr as *const CapHeader, data.as_mut_ptr()) })?;
    let join = |lo: u32, hi: u32| (hi as u64) << 32 | lo as u64;
    Ok((join(data[0].effective, data[1].effective), join(data[0].permitted, data[1].permitted), join(data[0].inheritable, data[1].inheritable)))
}

/// The highest capability number this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40)
}

/// Write all of `data` to `fd`, retrying on EINTR.
pub fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: data is a valid buffer of the given length.
        let n = unsafe { libc::write(fd, data.as_ptr() as *const libc::c_void, data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// waitpid retrying on EINTR; returns the raw status.
pub fn waitpid(pid: i32, flags: i32) -> io::Result<(i32, i32)> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r >= 0 {
            return Ok((r, status));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The shell-style exit code of a wait status (128+signal for a signal death).
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// `/proc/PID/stat`: (state char, start time in clock ticks since boot).
pub fn proc_stat(pid: i32) -> Option<(u8, u64)> {
    let s = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The comm field may contain spaces and parens: fields start after the last ')'.
    let close = s.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&s[close + 2..]).ok()?;
    let mut it = rest.split(' ');
    let state = it.next()?.as_bytes().first().copied()?;
    // field 3 is state; starttime is field 22, i.e. 19 further on.
    let start = it.nth(18)?.parse().ok()?;
    Some((state, start))
}

pub fn getpid() -> i32 {
    // SAFETY: always succeeds.
    unsafe { libc::getpid() }
}

pub fn exit_now(code: i32) -> ! {
    // SAFETY: ends this (forked) process without running the parent's atexit/destructors.
    unsafe { libc::_exit(code) }
}
