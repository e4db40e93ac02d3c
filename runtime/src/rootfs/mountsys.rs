//! The system calls the rootfs executor makes, behind one trait, so the mount logic can be
//! driven against a recording fake in unit tests (no root, no namespaces) and against the
//! kernel in the container's init. The executor is generic over [`MountSys`]: static
//! dispatch, and [`Real`] is a zero-sized type whose methods are the plain wrappers.
//!
//! Every method is one system call (or one [`InRoot`] lookup, which is one `openat2` or a
//! walk of them), so a fake that records calls records what the kernel would see. The one
//! exceptions are [`MountSys::idmap_userns`], which forks, and [`MountSys::copy_tree`], which
//! walks a directory; each is one step to the executor.

use super::{err, Result};
use crate::inroot::{self, proc_fd_path, InRoot};
use crate::sys::{self, MountAttr};
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// What the rootfs executor asks of the system. `Fd` is an open object: a directory that
/// paths are resolved in (confined to it, as [`InRoot`] does), an `O_PATH` handle, a file,
/// or a detached mount or filesystem context.
pub trait MountSys {
    type Fd;

    /// The fd number behind a handle (for `mount_attr.userns_fd`); not a system call.
    fn raw_fd(&self, fd: &Self::Fd) -> i32;

    // Lookups. `root`-relative paths never leave `root` (openat2 RESOLVE_IN_ROOT).
    /// Open a directory by its path as the caller sees it (`O_PATH | O_DIRECTORY`).
    fn open_root(&self, path: &Path) -> io::Result<Self::Fd>;
    /// `mkdir -p` inside `root`; the last directory.
    fn mkdir_all(&self, root: &Self::Fd, path: &Path, mode: u32) -> io::Result<Self::Fd>;
    /// An `O_PATH` handle of `path` inside `root`.
    fn resolve(&self, root: &Self::Fd, path: &Path, nofollow: bool) -> io::Result<Self::Fd>;
    fn open_dir(&self, root: &Self::Fd, path: &Path) -> io::Result<Self::Fd>;
    /// Create `path` inside `root` if missing (`O_CREAT`, closed at once).
    fn create_file(&self, root: &Self::Fd, path: &Path, mode: u32) -> io::Result<()>;
    /// The parent directory of `path` inside `root` (created when `create`) and the last name.
    fn parent(&self, root: &Self::Fd, path: &Path, create: bool) -> io::Result<(Self::Fd, OsString)>;
    /// Open `path` inside `root` for writing, following no symlink at all.
    fn open_write_nofollow(&self, root: &Self::Fd, path: &Path) -> io::Result<Self::Fd>;

    // Names in a directory.
    fn unlink_at(&self, dir: &Self::Fd, name: &OsStr) -> io::Result<()>;
    fn symlink_at(&self, target: &OsStr, dir: &Self::Fd, name: &OsStr) -> io::Result<()>;
    /// Create an empty file that must not exist yet (`O_CREAT | O_EXCL | O_NOFOLLOW`).
    fn create_excl_at(&self, dir: &Self::Fd, name: &OsStr, mode: u32) -> io::Result<()>;
    fn mknod_at(&self, dir: &Self::Fd, name: &OsStr, mode: u32, dev: u64) -> io::Result<()>;
    /// `fchownat` without following a final symlink.
    fn chown_at(&self, dir: &Self::Fd, name: &OsStr, uid: u32, gid: u32) -> io::Result<()>;
    fn chmod_at(&self, dir: &Self::Fd, name: &OsStr, mode: u32) -> io::Result<()>;

    // Inspection.
    /// `fstat`: is it a directory.
    fn is_dir(&self, fd: &Self::Fd) -> io::Result<bool>;
    /// `fstatfs`: the filesystem's magic number.
    fn fs_magic(&self, fd: &Self::Fd) -> io::Result<i64>;
    /// `stat` of a host path (a bind source), following symlinks: is it a directory.
    fn host_is_dir(&self, path: &Path) -> io::Result<bool>;
    fn host_exists(&self, path: &Path) -> bool;
    /// A small host file (`/proc/self/mountinfo`, `/proc/self/cgroup`).
    fn read_host(&self, path: &Path) -> io::Result<String>;

    // Mounts.
    /// `mount(2)` on a path.
    fn mount(&self, src: Option<&OsStr>, target: &Path, fstype: Option<&str>, flags: libc::c_ulong, data: Option<&str>) -> io::Result<()>;
    /// `mount(2)` on the object `target` refers to (through `/proc/self/fd/N`).
    fn mount_on(&self, src: Option<&OsStr>, target: &Self::Fd, fstype: Option<&str>, flags: libc::c_ulong, data: Option<&str>) -> io::Result<()>;
    fn umount(&self, target: &Path, flags: i32) -> io::Result<()>;
    /// `open_tree(2)` of a host path.
    fn open_tree(&self, path: &Path, flags: u32) -> io::Result<Self::Fd>;
    /// `open_tree(2)` of the object `fd` refers to.
    fn open_tree_fd(&self, fd: &Self::Fd, flags: u32) -> io::Result<Self::Fd>;
    fn mount_setattr(&self, fd: &Self::Fd, recursive: bool, attr: &MountAttr) -> io::Result<()>;
    /// `move_mount(2)`: attach the detached mount `from` onto the object `to` refers to.
    fn move_mount(&self, from: &Self::Fd, to: &Self::Fd) -> io::Result<()>;
    fn fsopen(&self, fstype: &str) -> io::Result<Self::Fd>;
    fn fsconfig_string(&self, fs: &Self::Fd, key: &str, value: &str) -> io::Result<()>;
    fn fsconfig_create(&self, fs: &Self::Fd) -> io::Result<()>;
    fn fsmount(&self, fs: &Self::Fd, attr: u64) -> io::Result<Self::Fd>;
    /// A user namespace with these maps, for an idmapped mount (forks a helper: one step).
    fn idmap_userns(&self, uid_map: &str, gid_map: &str) -> Result<Self::Fd>;
    /// Copy the tree under directory `from` into directory `to` (`tmpcopyup`); one step to
    /// the executor, a walk of `*at` calls underneath ([`super::copyup`]).
    fn copy_tree(&self, from: &Self::Fd, to: &Self::Fd) -> io::Result<()>;

    // The root switch.
    fn fchdir(&self, dir: &Self::Fd) -> io::Result<()>;
    fn chdir(&self, path: &Path) -> io::Result<()>;
    fn chroot(&self, path: &Path) -> io::Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()>;

    // Writes and names.
    fn write_all(&self, fd: &Self::Fd, data: &[u8]) -> io::Result<()>;
    fn sethostname(&self, name: &str) -> io::Result<()>;
    fn setdomainname(&self, name: &str) -> io::Result<()>;
}

/// The kernel. Handles are [`InRoot`]s: an owned fd that can also be resolved in, which the
/// executor does with the rootfs, `/` after pivot_root, and the cgroup tmpfs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Real;

fn cname(name: &OsStr) -> io::Result<CString> {
    sys::cstr(name)
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl MountSys for Real {
    type Fd = InRoot;

    fn raw_fd(&self, fd: &InRoot) -> i32 {
        fd.fd().as_raw_fd()
    }

    fn open_root(&self, path: &Path) -> io::Result<InRoot> {
        InRoot::open(path)
    }
    fn mkdir_all(&self, root: &InRoot, path: &Path, mode: u32) -> io::Result<InRoot> {
        root.mkdir_all(path, mode).map(InRoot::from_fd)
    }
    fn resolve(&self, root: &InRoot, path: &Path, nofollow: bool) -> io::Result<InRoot> {
        root.resolve(path, nofollow).map(InRoot::from_fd)
    }
    fn open_dir(&self, root: &InRoot, path: &Path) -> io::Result<InRoot> {
        root.open_dir(path).map(InRoot::from_fd)
    }
    fn create_file(&self, root: &InRoot, path: &Path, mode: u32) -> io::Result<()> {
        root.open_at(path, libc::O_CREAT | libc::O_RDONLY | libc::O_NOCTTY, mode).map(drop)
    }
    fn parent(&self, root: &InRoot, path: &Path, create: bool) -> io::Result<(InRoot, OsString)> {
        root.parent(path, create).map(|(fd, name)| (InRoot::from_fd(fd), name))
    }
    fn open_write_nofollow(&self, root: &InRoot, path: &Path) -> io::Result<InRoot> {
        let flags = libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
        inroot::openat2(root.fd().as_raw_fd(), inroot::relative(path).as_os_str(), flags, 0, inroot::IN_ROOT | libc::RESOLVE_NO_SYMLINKS)
            .map(InRoot::from_fd)
    }

    fn unlink_at(&self, dir: &InRoot, name: &OsStr) -> io::Result<()> {
        let c = cname(name)?;
        // SAFETY: a relative name under a dir fd.
        check(unsafe { libc::unlinkat(dir.fd().as_raw_fd(), c.as_ptr(), 0) })
    }
    fn symlink_at(&self, target: &OsStr, dir: &InRoot, name: &OsStr) -> io::Result<()> {
        let (t, c) = (cname(target)?, cname(name)?);
        // SAFETY: NUL-terminated target and a relative name under a dir fd.
        check(unsafe { libc::symlinkat(t.as_ptr(), dir.fd().as_raw_fd(), c.as_ptr()) })
    }
    fn create_excl_at(&self, dir: &InRoot, name: &OsStr, mode: u32) -> io::Result<()> {
        let c = cname(name)?;
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_WRONLY;
        // SAFETY: a relative name under a dir fd; the fd we get is closed at once.
        let fd = unsafe { libc::openat(dir.fd().as_raw_fd(), c.as_ptr(), flags, mode) };
        check(fd)?;
        // SAFETY: closing the fd we just got.
        unsafe { libc::close(fd) };
        Ok(())
    }
    fn mknod_at(&self, dir: &InRoot, name: &OsStr, mode: u32, dev: u64) -> io::Result<()> {
        let c = cname(name)?;
        // SAFETY: a relative name under a dir fd.
        check(unsafe { libc::mknodat(dir.fd().as_raw_fd(), c.as_ptr(), mode, dev) })
    }
    fn chown_at(&self, dir: &InRoot, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
        let c = cname(name)?;
        // SAFETY: a relative name under a dir fd.
        check(unsafe { libc::fchownat(dir.fd().as_raw_fd(), c.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
    }
    fn chmod_at(&self, dir: &InRoot, name: &OsStr, mode: u32) -> io::Result<()> {
        let c = cname(name)?;
        // SAFETY: a relative name under a dir fd.
        check(unsafe { libc::fchmodat(dir.fd().as_raw_fd(), c.as_ptr(), mode, 0) })
    }

    fn is_dir(&self, fd: &InRoot) -> io::Result<bool> {
        // SAFETY: an all-zero stat is a valid out buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on our fd into the zeroed struct.
        check(unsafe { libc::fstat(fd.fd().as_raw_fd(), &mut st) })?;
        Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
    }
    fn fs_magic(&self, fd: &InRoot) -> io::Result<i64> {
        // SAFETY: an all-zero statfs is a valid out buffer.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: fstatfs on our fd into the zeroed struct.
        check(unsafe { libc::fstatfs(fd.fd().as_raw_fd(), &mut st) })?;
        Ok(st.f_type as i64)
    }
    fn host_is_dir(&self, path: &Path) -> io::Result<bool> {
        std::fs::metadata(path).map(|m| m.is_dir())
    }
    fn host_exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn read_host(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn mount(&self, src: Option<&OsStr>, target: &Path, fstype: Option<&str>, flags: libc::c_ulong, data: Option<&str>) -> io::Result<()> {
        sys::mount(src, target, fstype, flags, data)
    }
    fn mount_on(&self, src: Option<&OsStr>, target: &InRoot, fstype: Option<&str>, flags: libc::c_ulong, data: Option<&str>) -> io::Result<()> {
        sys::mount(src, &proc_fd_path(target.fd()), fstype, flags, data)
    }
    fn umount(&self, target: &Path, flags: i32) -> io::Result<()> {
        sys::umount2(target, flags)
    }
    fn open_tree(&self, path: &Path, flags: u32) -> io::Result<InRoot> {
        sys::open_tree(libc::AT_FDCWD, path, flags).map(InRoot::from_fd)
    }
    fn open_tree_fd(&self, fd: &InRoot, flags: u32) -> io::Result<InRoot> {
        sys::open_tree(fd.fd().as_raw_fd(), Path::new(""), flags).map(InRoot::from_fd)
    }
    fn mount_setattr(&self, fd: &InRoot, recursive: bool, attr: &MountAttr) -> io::Result<()> {
        sys::mount_setattr(fd.fd(), recursive, attr)
    }
    fn move_mount(&self, from: &InRoot, to: &InRoot) -> io::Result<()> {
        sys::move_mount_fd(from.fd(), to.fd())
    }
    fn fsopen(&self, fstype: &str) -> io::Result<InRoot> {
        sys::fsopen(fstype).map(InRoot::from_fd)
    }
    fn fsconfig_string(&self, fs: &InRoot, key: &str, value: &str) -> io::Result<()> {
        sys::fsconfig_string(fs.fd(), key, OsStr::new(value))
    }
    fn fsconfig_create(&self, fs: &InRoot) -> io::Result<()> {
        sys::fsconfig_create(fs.fd())
    }
    fn fsmount(&self, fs: &InRoot, attr: u64) -> io::Result<InRoot> {
        sys::fsmount(fs.fd(), attr).map(InRoot::from_fd)
    }
    fn copy_tree(&self, from: &InRoot, to: &InRoot) -> io::Result<()> {
        super::copyup::copy_tree(from.fd().as_raw_fd(), to.fd().as_raw_fd())
    }
    fn idmap_userns(&self, uid_map: &str, gid_map: &str) -> Result<InRoot> {
        idmap_userns(uid_map, gid_map).map(InRoot::from_fd)
    }

    fn fchdir(&self, dir: &InRoot) -> io::Result<()> {
        // SAFETY: plain syscall on our fd.
        check(unsafe { libc::fchdir(dir.fd().as_raw_fd()) })
    }
    fn chdir(&self, path: &Path) -> io::Result<()> {
        let c = sys::cpath(path)?;
        // SAFETY: NUL-terminated path.
        check(unsafe { libc::chdir(c.as_ptr()) })
    }
    fn chroot(&self, path: &Path) -> io::Result<()> {
        let c = sys::cpath(path)?;
        // SAFETY: NUL-terminated path.
        check(unsafe { libc::chroot(c.as_ptr()) })
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        let (n, o) = (sys::cpath(new_root)?, sys::cpath(put_old)?);
        // SAFETY: NUL-terminated paths.
        check(unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) } as libc::c_int)
    }

    fn write_all(&self, fd: &InRoot, data: &[u8]) -> io::Result<()> {
        sys::write_all(fd.fd().as_raw_fd(), data)
    }
    fn sethostname(&self, name: &str) -> io::Result<()> {
        // SAFETY: pointer and length of a live string.
        check(unsafe { libc::sethostname(name.as_ptr() as *const libc::c_char, name.len()) })
    }
    fn setdomainname(&self, name: &str) -> io::Result<()> {
        // SAFETY: pointer and length of a live string.
        check(unsafe { libc::setdomainname(name.as_ptr() as *const libc::c_char, name.len()) })
    }
}

/// A user namespace with these maps, for an idmapped mount: a child parked in a new user
/// namespace gets its maps written (through a private procfs of our pid namespace, since
/// /proc is still the host's), then its namespace is kept by fd and the child released.
fn idmap_userns(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let mut p = [0i32; 2];
    // SAFETY: p is a valid out array.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(err("pipe", io::Error::last_os_error()));
    }
    let pid = sys::clone_fork(libc::CLONE_NEWUSER as u64).map_err(|e| err("clone user namespace", e))?;
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: wait until the parent closes its end, then leave.
        unsafe {
            libc::close(p[1]);
            libc::read(p[0], b.as_mut_ptr() as *mut libc::c_void, 1);
        }
        sys::exit_now(0);
    }
    let result = (|| {
        let fs = sys::fsopen("proc").map_err(|e| err("fsopen proc", e))?;
        sys::fsconfig_create(fs.as_fd()).map_err(|e| err("create proc", e))?;
        let procfs = sys::fsmount(fs.as_fd(), 0).map_err(|e| err("fsmount proc", e))?;
        let proc_root = InRoot::from_fd(procfs);
        for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let f = proc_root.open_at(Path::new(&format!("{pid}/{file}")), libc::O_WRONLY, 0).map_err(|e| err(file, e))?;
            sys::write_all(f.as_raw_fd(), map.as_bytes()).map_err(|e| err(format!("write {file} {:?}", map.trim()), e))?;
        }
        // ns/user is a magic link: opened from our own private procfs, without the in-root rules.
        let name = format!("{pid}/ns/user");
        inroot::openat2(proc_root.fd().as_raw_fd(), OsStr::new(&name), libc::O_RDONLY | libc::O_CLOEXEC, 0, 0).map_err(|e| err("open user namespace", e))
    })();
    // SAFETY: release and reap the parked child.
    unsafe {
        libc::close(p[0]);
        libc::close(p[1]);
    }
    let _ = sys::waitpid(pid, 0);
    result
}

