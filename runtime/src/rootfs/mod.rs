//! The container's root filesystem, built inside its new mount namespace: the rootfs bound
//! onto itself, every spec mount (destinations resolved inside the rootfs by fd, never by
//! string), /dev nodes and links, then pivot_root and the masked/read-only paths.
//!
//! Runs in the container's init only. Errors are returned as one-line strings, which the init
//! sends to the runtime.

mod cgroupfs;
pub mod devices;

use crate::inroot::{proc_fd_path, InRoot};
use crate::plan::{MountKind, MountPlan, Plan};
use crate::sys::{self, MountAttr};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

pub type Result<T> = std::result::Result<T, String>;

pub fn err(what: impl std::fmt::Display, e: io::Error) -> String {
    format!("{what}: {}", crate::hooks::lower(&e))
}

/// Make the mount tree private enough for pivot_root, and bind the rootfs onto itself so it
/// is a mount point. Returns the rootfs as an [`InRoot`].
pub fn prepare(plan: &Plan) -> Result<InRoot> {
    let root_prop = plan.rootfs_propagation.unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    // Nothing we mount below may propagate back to the host.
    let first = if root_prop & (libc::MS_SHARED) != 0 { libc::MS_SLAVE | libc::MS_REC } else { root_prop };
    sys::mount(None, Path::new("/"), None, first, None).map_err(|e| err("make / private", e))?;
    sys::mount(Some(plan.rootfs.as_os_str()), &plan.rootfs, None, libc::MS_BIND | libc::MS_REC, None)
        .map_err(|e| err(format!("bind rootfs {}", plan.rootfs.display()), e))?;
    if root_prop & libc::MS_SHARED != 0 {
        // pivot_root refuses a shared parent; the rootfs mount itself is made shared after it.
        sys::mount(None, &plan.rootfs, None, libc::MS_PRIVATE, None).map_err(|e| err("rootfs propagation", e))?;
    }
    InRoot::open(&plan.rootfs).map_err(|e| err(format!("open rootfs {}", plan.rootfs.display()), e))
}

/// Every spec mount, in order.
pub fn mount_all(plan: &Plan, root: &InRoot) -> Result<()> {
    let in_userns = plan.ns.has(libc::CLONE_NEWUSER);
    for m in &plan.mounts {
        mount_one(m, root, in_userns, &plan.lsm).map_err(|e| format!("mount {}: {e}", m.dest.display()))?;
    }
    Ok(())
}

fn mount_one(m: &MountPlan, root: &InRoot, in_userns: bool, lsm: &crate::lsm::LsmPlan) -> Result<()> {
    match m.kind {
        MountKind::Bind { recursive } => {
            let src = m.source.as_deref().unwrap_or(Path::new(""));
            let meta = std::fs::metadata(src).map_err(|e| err(format!("source {}", src.display()), e))?;
            let dest = if meta.is_dir() { mkdir(root, &m.dest)? } else { mkfile(root, &m.dest)? };
            let flags = sys::OPEN_TREE_CLONE | if recursive { sys::AT_RECURSIVE } else { 0 };
            let tree = sys::open_tree(libc::AT_FDCWD, src, flags).map_err(|e| err(format!("clone {}", src.display()), e))?;
            if let Some((uid_map, gid_map, recursive_map)) = &m.idmap {
                let userns = idmap_userns(uid_map, gid_map)?;
                let attr = MountAttr { attr_set: sys::MOUNT_ATTR_IDMAP, userns_fd: userns.as_raw_fd() as u64, ..Default::default() };
                sys::mount_setattr(tree.as_fd(), *recursive_map, &attr).map_err(|e| err("idmap", e))?;
            }
            if m.attr != MountAttr::default() {
                sys::mount_setattr(tree.as_fd(), false, &m.attr).map_err(|e| err("set attributes", e))?;
            }
            if m.rec_attr != MountAttr::default() {
                sys::mount_setattr(tree.as_fd(), true, &m.rec_attr).map_err(|e| err("set recursive attributes", e))?;
            }
            sys::move_mount_fd(tree.as_fd(), dest.as_fd()).map_err(|e| err("attach", e))?;
        }
        MountKind::Fs => {
            let dest = mkdir(root, &m.dest)?;
            let src = m.source.as_deref().map(|s| s.as_os_str()).unwrap_or(OsStr::new(&m.fstype));
            let mut data = crate::lsm::mount_data(lsm, &m.fstype, false, &m.data);
            if m.fstype == "devpts" && in_userns {
                // gid=5 may not be mapped inside a user namespace: let devpts pick the default.
                data = data.split(',').filter(|o| !o.starts_with("gid=")).collect::<Vec<_>>().join(",");
            }
            sys::mount(Some(src), &proc_fd_path(dest.as_fd()), Some(&m.fstype), m.flags, Some(&data))
                .map_err(|e| err(format!("mount {}", m.fstype), e))?;
            if m.tmpcopyup {
                return Err("tmpcopyup is not supported yet".into());
            }
        }
        MountKind::Cgroup => cgroupfs::mount(m, root)?,
    }
    for &p in &m.propagation {
        let fd = root.resolve(&m.dest, false).map_err(|e| err("reopen", e))?;
        sys::mount(None, &proc_fd_path(fd.as_fd()), None, p, None).map_err(|e| err("set propagation", e))?;
    }
    Ok(())
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
        crate::inroot::openat2(proc_root.fd().as_raw_fd(), std::ffi::OsStr::new(&name), libc::O_RDONLY | libc::O_CLOEXEC, 0, 0)
            .map_err(|e| err("open user namespace", e))
    })();
    // SAFETY: release and reap the parked child.
    unsafe {
        libc::close(p[0]);
        libc::close(p[1]);
    }
    let _ = sys::waitpid(pid, 0);
    result
}

/// mkdir -p inside the root; an O_PATH fd of the directory.
pub fn mkdir(root: &InRoot, p: &Path) -> Result<OwnedFd> {
    root.mkdir_all(p, 0o755).map_err(|e| err(format!("mkdir {}", p.display()), e))
}

/// Create (if missing) a regular file inside the root to mount a file onto.
pub fn mkfile(root: &InRoot, p: &Path) -> Result<OwnedFd> {
    if let Some(parent) = p.parent() {
        mkdir(root, parent)?;
    }
    match root.open_at(p, libc::O_CREAT | libc::O_RDONLY | libc::O_NOCTTY, 0o644) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {}
        Err(e) => return Err(err(format!("create {}", p.display()), e)),
    }
    root.resolve(p, false).map_err(|e| err(format!("open {}", p.display()), e))
}

/// pivot_root into the rootfs (or, with `--no-pivot`, move it over / and chroot).
pub fn pivot(plan: &Plan, root: &InRoot) -> Result<()> {
    let rfd = root.fd().as_raw_fd();
    // SAFETY: plain syscalls on fds we own; paths are static.
    unsafe {
        if plan.opts.no_pivot {
            if libc::fchdir(rfd) < 0 {
                return Err(err("chdir rootfs", io::Error::last_os_error()));
            }
            sys::mount(Some(OsStr::new(".")), Path::new("/"), None, libc::MS_MOVE, None).map_err(|e| err("move rootfs to /", e))?;
            if libc::chroot(c".".as_ptr()) < 0 {
                return Err(err("chroot", io::Error::last_os_error()));
            }
        } else {
            let old = libc::open(c"/".as_ptr(), libc::O_DIRECTORY | libc::O_PATH | libc::O_CLOEXEC);
            if old < 0 {
                return Err(err("open /", io::Error::last_os_error()));
            }
            if libc::fchdir(rfd) < 0 {
                return Err(err("chdir rootfs", io::Error::last_os_error()));
            }
            if libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) < 0 {
                return Err(err("pivot_root", io::Error::last_os_error()));
            }
            // The old root is now stacked under "."; detach it without propagating to the host.
            if libc::fchdir(old) < 0 {
                return Err(err("chdir old root", io::Error::last_os_error()));
            }
            libc::close(old);
            sys::mount(None, Path::new("."), None, libc::MS_SLAVE | libc::MS_REC, None).map_err(|e| err("make old root slave", e))?;
            sys::umount2(Path::new("."), libc::MNT_DETACH).map_err(|e| err("detach old root", e))?;
        }
        if libc::chdir(c"/".as_ptr()) < 0 {
            return Err(err("chdir /", io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// After pivot_root: read-only and masked paths, root read-only, root propagation.
pub fn finish(plan: &Plan) -> Result<()> {
    let root = InRoot::open(Path::new("/")).map_err(|e| err("open /", e))?;
    for p in &plan.readonly_paths {
        readonly_path(&root, p).map_err(|e| format!("readonly path {}: {e}", p.display()))?;
    }
    for p in &plan.masked_paths {
        mask_path(&root, p).map_err(|e| format!("masked path {}: {e}", p.display()))?;
    }
    if plan.root_readonly {
        let attr = MountAttr { attr_set: sys::MOUNT_ATTR_RDONLY, ..Default::default() };
        sys::mount_setattr(root.fd(), false, &attr).map_err(|e| err("make rootfs read-only", e))?;
    }
    if let Some(p) = plan.rootfs_propagation {
        sys::mount(None, Path::new("/"), None, p, None).map_err(|e| err("rootfs propagation", e))?;
    }
    Ok(())
}

fn readonly_path(root: &InRoot, p: &Path) -> Result<()> {
    let fd = match root.resolve(p, false) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(err("open", e)),
    };
    let tree = sys::open_tree(fd.as_raw_fd(), Path::new(""), sys::OPEN_TREE_CLONE | sys::AT_RECURSIVE).map_err(|e| err("clone", e))?;
    let attr = MountAttr { attr_set: sys::MOUNT_ATTR_RDONLY, ..Default::default() };
    sys::mount_setattr(tree.as_fd(), true, &attr).map_err(|e| err("make read-only", e))?;
    sys::move_mount_fd(tree.as_fd(), fd.as_fd()).map_err(|e| err("attach", e))
}

fn mask_path(root: &InRoot, p: &Path) -> Result<()> {
    let fd = match root.resolve(p, false) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) || e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(()),
        Err(e) => return Err(err("open", e)),
    };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on our O_PATH fd into a zeroed struct.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(err("stat", io::Error::last_os_error()));
    }
    let cover = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        empty_tmpfs(true)?
    } else {
        let null = root.resolve(Path::new("/dev/null"), false).map_err(|e| err("open /dev/null", e))?;
        sys::open_tree(null.as_raw_fd(), Path::new(""), sys::OPEN_TREE_CLONE).map_err(|e| err("clone /dev/null", e))?
    };
    sys::move_mount_fd(cover.as_fd(), fd.as_fd()).map_err(|e| err("attach", e))
}

/// A detached, empty tmpfs (read-only when asked).
pub fn empty_tmpfs(readonly: bool) -> Result<OwnedFd> {
    let fs = sys::fsopen("tmpfs").map_err(|e| err("fsopen tmpfs", e))?;
    let _ = sys::fsconfig_string(fs.as_fd(), "size", OsStr::new("0"));
    sys::fsconfig_string(fs.as_fd(), "mode", OsStr::new("0755")).map_err(|e| err("tmpfs mode", e))?;
    sys::fsconfig_create(fs.as_fd()).map_err(|e| err("create tmpfs", e))?;
    let attr = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC | if readonly { sys::MOUNT_ATTR_RDONLY } else { 0 };
    sys::fsmount(fs.as_fd(), attr).map_err(|e| err("fsmount tmpfs", e))
}

/// Open `path` (after pivot_root) for writing, refusing anything that is not on procfs:
/// a container must not redirect the runtime's /proc writes (CVE-2019-16884 and friends).
pub fn open_proc_file(path: &Path) -> Result<OwnedFd> {
    let root = InRoot::open(Path::new("/")).map_err(|e| err("open /", e))?;
    let fd = crate::inroot::openat2(
        root.fd().as_raw_fd(),
        crate::inroot::relative(path).as_os_str(),
        libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        0,
        crate::inroot::IN_ROOT | libc::RESOLVE_NO_SYMLINKS,
    )
    .map_err(|e| err(format!("open {}", path.display()), e))?;
    check_procfs(fd.as_fd()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(fd)
}

pub fn check_procfs(fd: BorrowedFd<'_>) -> Result<()> {
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs into a zeroed struct.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(err("statfs", io::Error::last_os_error()));
    }
    if st.f_type as i64 != sys::PROC_SUPER_MAGIC {
        return Err("not on procfs (refusing to write)".into());
    }
    Ok(())
}

pub fn write_proc(path: &Path, value: &str) -> Result<()> {
    let fd = open_proc_file(path)?;
    sys::write_all(fd.as_raw_fd(), value.as_bytes()).map_err(|e| err(format!("write {}", path.display()), e))
}
