//! Paths inside a root directory, resolved by file descriptor.
//!
//! Everything berth writes into a tree it does not trust (a container rootfs, an image layer,
//! a build context's destination) goes through [`InRoot`]: every lookup is `openat2(2)` with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` from an fd of the root, so `..` and symlinks
//! (absolute or relative, planted before or during the walk) can never leave the root.
//! Paths are never joined as strings and re-resolved by the kernel from `/`.
//!
//! The final component of a path is opened, created or removed relative to an fd of its
//! parent, never re-resolved, so a symlink swapped in at the last moment is not followed
//! unless the caller asked to follow it.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// A directory treated as `/` for every path resolved through it.
#[derive(Debug)]
pub struct InRoot {
    fd: OwnedFd,
}

impl InRoot {
    /// Open `path` (resolved normally, from the caller's view) as a root.
    pub fn open(path: &Path) -> io::Result<Self> {
        let c = cstring(path.as_os_str())?;
        // SAFETY: plain syscall with a valid NUL-terminated path.
        let fd = unsafe {
            libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by open and is owned by nobody else.
        Ok(Self { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Use an already open directory fd as the root.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// The fd itself, for a caller that keeps it as a plain fd.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// The root directory itself.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Open `path` inside the root with `flags` (`O_*`) and `mode` for `O_CREAT`.
    /// Absolute paths are taken relative to the root; `..` stops at the root; symlinks,
    /// including the last component unless `O_NOFOLLOW` is given, resolve inside it.
    pub fn open_at(&self, path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
        openat2(self.fd.as_raw_fd(), relative(path).as_os_str(), flags | libc::O_CLOEXEC, mode, IN_ROOT)
    }

    /// An `O_PATH` fd for `path`; the last component is not followed when `nofollow` is set.
    pub fn resolve(&self, path: &Path, nofollow: bool) -> io::Result<OwnedFd> {
        let flags = libc::O_PATH | if nofollow { libc::O_NOFOLLOW } else { 0 };
        self.open_at(path, flags, 0)
    }

    /// An `O_PATH | O_DIRECTORY` fd for the directory `path`.
    pub fn open_dir(&self, path: &Path) -> io::Result<OwnedFd> {
        self.open_at(path, libc::O_PATH | libc::O_DIRECTORY, 0)
    }

    /// Create every missing directory of `path` with `mode` (like `mkdir -p`, symlinks on the
    /// way resolved inside the root, dangling ones by creating their target inside the root)
    /// and return an `O_PATH` fd of the last one.
    pub fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        let mut todo: std::collections::VecDeque<OsString> = relative(path).iter().map(|c| c.to_owned()).collect();
        let mut current = self.fd.try_clone()?;
        let mut walked = PathBuf::new();
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            walked.push(&name);
            match self.open_dir(&walked) {
                Ok(fd) => current = fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let c = cstring(&name)?;
                    // SAFETY: valid dirfd and NUL-terminated name.
                    let r = unsafe { libc::mkdirat(current.as_raw_fd(), c.as_ptr(), mode) };
                    if r < 0 {
                        let err = io::Error::last_os_error();
                        if err.raw_os_error() != Some(libc::EEXIST) {
                            return Err(err);
                        }
                        // Exists but does not resolve: a dangling symlink. Create its target,
                        // read as a path inside the root.
                        if let Ok(target) = readlinkat(current.as_fd(), &c) {
                            links += 1;
                            if links > 40 {
                                return Err(io::Error::from_raw_os_error(libc::ELOOP));
                            }
                            walked.pop();
                            if target.is_absolute() {
                                walked = PathBuf::new();
                                current = self.fd.try_clone()?;
                            }
                            for comp in relative(&target).iter().rev() {
                                todo.push_front(comp.to_owned());
                            }
                            continue;
                        }
                    }
                    // Re-resolve from the root: a racing symlink at this name stays confined.
                    current = self.open_dir(&walked)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(current)
    }

    /// The parent directory of `path` (resolved inside the root, created first when `create`
    /// is set) and the final name, which is left for the caller to act on with `*at` calls.
    /// Fails with `EINVAL` for the root itself, which has no name.
    pub fn parent(&self, path: &Path, create: bool) -> io::Result<(OwnedFd, OsString)> {
        let rel = relative(path);
        let name = rel.file_name().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?.to_owned();
        let dir = rel.parent().unwrap_or(Path::new(""));
        let fd = if create { self.mkdir_all(dir, 0o755)? } else { self.open_dir(dir)? };
        Ok((fd, name))
    }
}

/// `openat2` with these resolve flags; a thin, errno-preserving wrapper.
pub fn openat2(dirfd: RawFd, path: &OsStr, flags: i32, mode: u32, resolve: u64) -> io::Result<OwnedFd> {
    let c = cstring(if path.is_empty() { OsStr::new(".") } else { path })?;
    // SAFETY: open_how is plain data; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.mode = if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 { mode as u64 } else { 0 };
    how.resolve = resolve;
    loop {
        // SAFETY: `how` lives across the call and its size is passed; the path is NUL-terminated.
        let r = unsafe {
            libc::syscall(libc::SYS_openat2, dirfd, c.as_ptr(), &how as *const libc::open_how, std::mem::size_of::<libc::open_how>())
        };
        if r >= 0 {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
        }
        let err = io::Error::last_os_error();
        // EAGAIN: a rename raced the lookup (RESOLVE_IN_ROOT refuses to guess); try again.
        if err.raw_os_error() != Some(libc::EAGAIN) {
            return Err(err);
        }
    }
}

/// Resolve flags used for every lookup inside a root.
pub const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// `path` with any leading `/` (and `.` components) dropped: how a root-relative path is
/// spelled for `openat2`. `..` components are kept; the kernel clamps them at the root.
pub fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir | Component::Prefix(_)))
        .collect()
}

/// The `/proc/self/fd/N` spelling of an fd, for the few syscalls that only take a path.
pub fn proc_fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn readlinkat(dir: BorrowedFd<'_>, name: &CString) -> io::Result<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is valid for its length.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(OsString::from_vec(buf)))
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-inroot-{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn real_path(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(proc_fd_path(fd.as_fd())).unwrap()
    }

    #[test]
    fn symlinks_and_dotdot_stay_inside() {
        let top = tmp("escape");
        let root = top.join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/", root.join("abs")).unwrap();
        symlink("../../..", root.join("rel")).unwrap();
        let r = InRoot::open(&root).unwrap();
        assert_eq!(real_path(&r.open_dir(Path::new("/abs/etc")).unwrap()), root.join("etc"));
        assert_eq!(real_path(&r.open_dir(Path::new("rel/etc")).unwrap()), root.join("etc"));
        assert_eq!(real_path(&r.open_dir(Path::new("../../etc")).unwrap()), root.join("etc"));
    }

    #[test]
    fn mkdir_all_follows_symlinks_inside_root() {
        let top = tmp("mkdir");
        let root = top.join("root");
        std::fs::create_dir_all(&root).unwrap();
        symlink("/", root.join("up")).unwrap();
        let r = InRoot::open(&root).unwrap();
        let fd = r.mkdir_all(Path::new("/up/up/a/b"), 0o755).unwrap();
        assert_eq!(real_path(&fd), root.join("a/b"));
        assert!(!top.join("a").exists());
    }

    #[test]
    fn mkdir_all_creates_dangling_symlink_targets_inside() {
        let top = tmp("dangling");
        let root = top.join("root");
        std::fs::create_dir_all(&root).unwrap();
        symlink("/../../outside/x", root.join("abs")).unwrap();
        symlink("../../rel-target", root.join("rel")).unwrap();
        let r = InRoot::open(&root).unwrap();
        assert_eq!(real_path(&r.mkdir_all(Path::new("/abs/y"), 0o755).unwrap()), root.join("outside/x/y"));
        assert_eq!(real_path(&r.mkdir_all(Path::new("/rel"), 0o755).unwrap()), root.join("rel-target"));
        assert!(!top.join("outside").exists() && !top.join("rel-target").exists());
    }

    #[test]
    fn parent_leaves_last_component_unresolved() {
        let top = tmp("parent");
        let root = top.join("root");
        std::fs::create_dir_all(root.join("d")).unwrap();
        symlink("/etc/passwd", root.join("d/link")).unwrap();
        let r = InRoot::open(&root).unwrap();
        let (dir, name) = r.parent(Path::new("/d/link"), false).unwrap();
        assert_eq!(real_path(&dir), root.join("d"));
        assert_eq!(name, OsString::from("link"));
        assert!(r.parent(Path::new("/"), false).is_err());
    }

    #[test]
    fn magic_links_are_refused() {
        let top = tmp("magic");
        let root = top.join("root");
        std::fs::create_dir_all(root.join("proc")).unwrap();
        let r = InRoot::open(&root).unwrap();
        // /proc inside this root is an empty dir; the host's magic links are not reachable.
        assert!(r.resolve(Path::new("/proc/self/exe"), false).is_err());
    }
}
