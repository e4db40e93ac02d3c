//! `tmpcopyup` (a runc/crun extension podman uses for `--tmpfs`): the tmpfs mounted on a
//! directory starts with a copy of what the directory held. The copy works on fds only: the
//! source is the directory's fd taken before the mount (it still names the covered
//! directory), the destination the new tmpfs's root, every entry opened with `O_NOFOLLOW`
//! relative to its parent's fd, so a symlink in the image is copied as a symlink and never
//! followed out of the rootfs.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn open_at(dir: RawFd, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    // SAFETY: openat with a valid dir fd and a NUL-terminated name; the fd is ours on success.
    let fd = check(unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOFOLLOW, mode) })?;
    // SAFETY: a fresh fd from openat.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn stat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid out buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstatat into the buffer, not following a final symlink.
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

/// The names in a directory (without `.` and `..`), read through a dup of `dir`.
fn entries(dir: RawFd) -> io::Result<Vec<CString>> {
    let fd = open_at(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    // SAFETY: fdopendir takes ownership of the fd on success.
    let d = unsafe { libc::fdopendir(fd.as_raw_fd()) };
    if d.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(fd);
    let mut names = Vec::new();
    loop {
        // SAFETY: readdir on an open DIR; errno distinguishes the end from an error.
        unsafe { *libc::__errno_location() = 0 };
        let e = unsafe { libc::readdir64(d) };
        if e.is_null() {
            let err = io::Error::last_os_error();
            // SAFETY: closing the DIR we opened.
            unsafe { libc::closedir(d) };
            return if err.raw_os_error().unwrap_or(0) == 0 { Ok(names) } else { Err(err) };
        }
        // SAFETY: d_name is NUL-terminated inside the entry readdir returned.
        let name = unsafe { CStr::from_ptr((*e).d_name.as_ptr()) };
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
}

/// Owner, mode and times of `st` onto `name` in `dir` (a symlink: owner and times only).
fn set_meta(dir: RawFd, name: &CStr, st: &libc::stat, symlink: bool) -> io::Result<()> {
    // SAFETY: plain *at calls on a valid dir fd and NUL-terminated name.
    unsafe {
        check(libc::fchownat(dir, name.as_ptr(), st.st_uid, st.st_gid, libc::AT_SYMLINK_NOFOLLOW))?;
        if !symlink {
            check(libc::fchmodat(dir, name.as_ptr(), st.st_mode & 0o7777, 0))?;
        }
        let times = [
            libc::timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec },
            libc::timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec },
        ];
        check(libc::utimensat(dir, name.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW))?;
    }
    Ok(())
}

/// Copy the tree under `from` into `to` (both directory fds, `O_PATH` is fine): directories,
/// regular files, symlinks, device nodes and fifos, with owners, modes and times. Sockets are
/// skipped (they cannot be copied). Errors name the entry.
pub fn copy_tree(from: RawFd, to: RawFd) -> io::Result<()> {
    copy_dir(from, to, &mut Vec::new())
}

fn copy_dir(from: RawFd, to: RawFd, path: &mut Vec<String>) -> io::Result<()> {
    for name in entries(from)? {
        path.push(name.to_string_lossy().into_owned());
        copy_entry(from, to, &name, path).map_err(|e| io::Error::new(e.kind(), format!("copy {}: {e}", path.join("/"))))?;
        path.pop();
    }
    Ok(())
}

fn copy_entry(from: RawFd, to: RawFd, name: &CStr, path: &mut Vec<String>) -> io::Result<()> {
    let st = stat_at(from, name)?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            // SAFETY: mkdirat on a valid dir fd.
            check(unsafe { libc::mkdirat(to, name.as_ptr(), 0o700) })?;
            let src = open_at(from, name, libc::O_PATH | libc::O_DIRECTORY, 0)?;
            let dst = open_at(to, name, libc::O_PATH | libc::O_DIRECTORY, 0)?;
            copy_dir(src.as_raw_fd(), dst.as_raw_fd(), path)?;
            set_meta(to, name, &st, false)
        }
        libc::S_IFREG => {
            let mut src = File::from(open_at(from, name, libc::O_RDONLY, 0)?);
            let mut dst = File::from(open_at(to, name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o600)?);
            io::copy(&mut src, &mut dst)?;
            set_meta(to, name, &st, false)
        }
        libc::S_IFLNK => {
            let mut buf = vec![0u8; st.st_size as usize + 1];
            // SAFETY: readlinkat into our buffer of the given length.
            let n = unsafe { libc::readlinkat(from, name.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            buf.truncate(n as usize);
            let target = CString::new(buf).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            // SAFETY: symlinkat with NUL-terminated strings.
            check(unsafe { libc::symlinkat(target.as_ptr(), to, name.as_ptr()) })?;
            set_meta(to, name, &st, true)
        }
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
            // SAFETY: mknodat on a valid dir fd.
            check(unsafe { libc::mknodat(to, name.as_ptr(), st.st_mode, st.st_rdev) })?;
            set_meta(to, name, &st, false)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_files_dirs_links_with_modes_and_times() {
        let base = std::env::temp_dir().join(format!("berth-copyup-{}", std::process::id()));
        let (src, dst) = (base.join("src"), base.join("dst"));
        std::fs::create_dir_all(src.join("d/e")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(src.join("d/e/f"), b"data").unwrap();
        std::fs::set_permissions(src.join("d/e/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::set_permissions(src.join("d"), std::fs::Permissions::from_mode(0o751)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        let (s, d) = (File::open(&src).unwrap(), File::open(&dst).unwrap());
        copy_tree(s.as_raw_fd(), d.as_raw_fd()).unwrap();
        assert_eq!(std::fs::read(dst.join("d/e/f")).unwrap(), b"data");
        let meta = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap();
        assert_eq!(meta(&dst.join("d/e/f")).mode() & 0o7777, 0o640);
        assert_eq!(meta(&dst.join("d")).mode() & 0o7777, 0o751);
        assert_eq!(meta(&dst.join("d/e/f")).mtime(), meta(&src.join("d/e/f")).mtime());
        assert_eq!(std::fs::read_link(dst.join("link")).unwrap().to_str(), Some("/etc/passwd"));
        // the second copy into the same place fails, naming the entry
        let e = copy_tree(s.as_raw_fd(), d.as_raw_fd()).unwrap_err().to_string();
        assert!(e.starts_with("copy d: ") || e.starts_with("copy link: "), "{e}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
