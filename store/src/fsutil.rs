//! Thin, errno-preserving wrappers over the `*at` syscalls the unpacker and snapshots use.
//! Every call takes a directory fd and a single name: nothing here resolves a path.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

pub fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub fn openat(dir: RawFd, name: &CStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: valid NUL-terminated name; the returned fd is owned by the caller.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode) };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

pub fn mkdirat(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::mkdirat(dir, name.as_ptr(), mode) })
}

pub fn symlinkat(target: &CStr, dir: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) })
}

pub fn linkat(old_dir: RawFd, old: &CStr, new_dir: RawFd, new: &CStr) -> io::Result<()> {
    // No AT_SYMLINK_FOLLOW: a symlink target is linked as the symlink itself.
    // SAFETY: plain syscall.
    check(unsafe { libc::linkat(old_dir, old.as_ptr(), new_dir, new.as_ptr(), 0) })
}

pub fn mknodat(dir: RawFd, name: &CStr, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::mknodat(dir, name.as_ptr(), mode, dev) })
}

pub fn unlinkat(dir: RawFd, name: &CStr, flags: i32) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::unlinkat(dir, name.as_ptr(), flags) })
}

pub fn fstatat(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data, filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

pub fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: as above.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::fchown(fd, uid, gid) })
}

pub fn fchownat_nofollow(dir: RawFd, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::fchownat(dir, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
}

pub fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::fchmod(fd, mode) })
}

pub fn fchmodat(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::fchmodat(dir, name.as_ptr(), mode, 0) })
}

fn times(secs: i64, nsec: u32) -> [libc::timespec; 2] {
    let t = libc::timespec { tv_sec: secs as libc::time_t, tv_nsec: nsec as _ };
    [t, t]
}

pub fn futimens(fd: RawFd, secs: i64, nsec: u32) -> io::Result<()> {
    let ts = times(secs, nsec);
    // SAFETY: ts lives across the call.
    check(unsafe { libc::futimens(fd, ts.as_ptr()) })
}

pub fn utimensat_nofollow(dir: RawFd, name: &CStr, secs: i64, nsec: u32) -> io::Result<()> {
    let ts = times(secs, nsec);
    // SAFETY: as above.
    check(unsafe { libc::utimensat(dir, name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
}

pub fn fsetxattr(fd: RawFd, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: value pointer/len describe a live slice.
    check(unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
}

pub fn fgetxattr(fd: RawFd, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    // SAFETY: buffer pointer/len describe a live, writable slice.
    let n = unsafe { libc::fgetxattr(fd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Names in the directory `fd` (without `.` and `..`).
pub fn read_dir_fd(fd: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    // fdopendir takes ownership of the fd it is given, so hand it a duplicate.
    let dup = openat(fd.as_raw_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(dup);
    // SAFETY: raw is a directory fd we own; closedir below releases it.
    let dirp = unsafe { libc::fdopendir(raw) };
    if dirp.is_null() {
        let e = io::Error::last_os_error();
        unsafe { libc::close(raw) };
        return Err(e);
    }
    let mut out = vec![];
    loop {
        // SAFETY: dirp is valid until closedir; errno distinguishes end from error.
        unsafe { *libc::__errno_location() = 0 };
        let ent = unsafe { libc::readdir64(dirp) };
        if ent.is_null() {
            let errno = unsafe { *libc::__errno_location() };
            unsafe { libc::closedir(dirp) };
            if errno != 0 {
                return Err(io::Error::from_raw_os_error(errno));
            }
            return Ok(out);
        }
        // SAFETY: d_name is NUL-terminated inside the dirent.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            out.push(OsString::from_vec(name.to_vec()));
        }
    }
}

/// Remove `name` in `dir` whatever it is; directories recursively, by fd all the way down
/// (no symlink is ever followed).
pub fn remove_all_at(dir: RawFd, name: &CStr) -> io::Result<()> {
    let st = match fstatat(dir, name) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return unlinkat(dir, name, 0);
    }
    let child = openat(dir, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
    empty_dir(child.as_raw_fd())?;
    unlinkat(dir, name, libc::AT_REMOVEDIR)
}

/// Remove everything inside the directory `fd`.
pub fn empty_dir(fd: RawFd) -> io::Result<()> {
    // SAFETY: fd is a live directory fd for the duration of the call.
    let names = read_dir_fd(unsafe { BorrowedFd::borrow_raw(fd) })?;
    for n in names {
        remove_all_at(fd, &cstring(&n)?)?;
    }
    Ok(())
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// `rm -rf` of a host path we own (a temp dir of ours): by fd, never following symlinks.
pub fn remove_tree(path: &std::path::Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(std::path::Path::new("/"));
    let name = match path.file_name() {
        Some(n) => n,
        None => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let pfd = openat(libc::AT_FDCWD, &cstring(parent.as_os_str())?, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    remove_all_at(pfd.as_raw_fd(), &cstring(name)?)
}
