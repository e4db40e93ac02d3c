//! The container's root filesystem, built inside its new mount namespace: the rootfs bound
//! onto itself, every spec mount (destinations resolved inside the rootfs by fd, never by
//! string), /dev nodes and links, then pivot_root and the masked/read-only paths.
//!
//! Runs in the container's init only. Errors are returned as one-line strings, which the init
//! sends to the runtime.
//!
//! The plan (`crate::plan`) says what to mount; [`Rootfs`] carries it out through the
//! [`MountSys`] trait, which is the kernel ([`Real`]) in the init and a recording fake in the
//! unit tests. The free functions at the bottom are the init's entry points on [`Real`].

mod cgroupfs;
mod copyup;
pub mod devices;
#[cfg(test)]
mod fake;
pub mod mountsys;
#[cfg(test)]
mod tests;

pub use mountsys::{MountSys, Real};

use crate::inroot::InRoot;
use crate::plan::{MountKind, MountPlan, Plan};
use crate::sys::{self, MountAttr};
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

pub type Result<T> = std::result::Result<T, String>;

pub fn err(what: impl std::fmt::Display, e: io::Error) -> String {
    format!("{what}: {}", crate::hooks::lower(&e))
}

/// The rootfs executor: a plan applied through `S`.
pub struct Rootfs<'a, S: MountSys> {
    pub sys: &'a S,
    pub plan: &'a Plan,
}

impl<'a, S: MountSys> Rootfs<'a, S> {
    pub fn new(sys: &'a S, plan: &'a Plan) -> Self {
        Rootfs { sys, plan }
    }

    /// Make the mount tree private enough for pivot_root, and bind the rootfs onto itself so
    /// it is a mount point. Returns the rootfs, for lookups confined to it.
    pub fn prepare(&self) -> Result<S::Fd> {
        let (s, plan) = (self.sys, self.plan);
        let root_prop = plan.rootfs_propagation.unwrap_or(libc::MS_SLAVE | libc::MS_REC);
        // Nothing we mount below may propagate back to the host: a recursive private or slave
        // is applied as asked; anything else (shared, unbindable, or a non-recursive change
        // that would leave the host's shared submounts peered) is a recursive slave here and
        // the asked propagation is applied to the new root in `finish`. An unbindable `/`
        // would also refuse the rootfs bind below.
        let first = if root_prop & libc::MS_REC != 0 && root_prop & (libc::MS_SHARED | libc::MS_UNBINDABLE) == 0 {
            root_prop
        } else {
            libc::MS_SLAVE | libc::MS_REC
        };
        s.mount(None, Path::new("/"), None, first, None).map_err(|e| err("make / private", e))?;
        s.mount(Some(plan.rootfs.as_os_str()), &plan.rootfs, None, libc::MS_BIND | libc::MS_REC, None)
            .map_err(|e| err(format!("bind rootfs {}", plan.rootfs.display()), e))?;
        if root_prop & libc::MS_SHARED != 0 {
            // pivot_root refuses a shared parent; the rootfs mount itself is made shared after it.
            s.mount(None, &plan.rootfs, None, libc::MS_PRIVATE, None).map_err(|e| err("rootfs propagation", e))?;
        }
        s.open_root(&plan.rootfs).map_err(|e| err(format!("open rootfs {}", plan.rootfs.display()), e))
    }

    /// Every spec mount, in order.
    pub fn mount_all(&self, root: &S::Fd) -> Result<()> {
        for m in &self.plan.mounts {
            self.mount_one(m, root).map_err(|e| format!("mount {}: {e}", m.dest.display()))?;
        }
        Ok(())
    }

    fn mount_one(&self, m: &MountPlan, root: &S::Fd) -> Result<()> {
        let s = self.sys;
        match m.kind {
            MountKind::Bind { recursive } => {
                let src = m.source.as_deref().unwrap_or(Path::new(""));
                let is_dir = s.host_is_dir(src).map_err(|e| err(format!("source {}", src.display()), e))?;
                let dest = if is_dir { self.mkdir(root, &m.dest)? } else { self.mkfile(root, &m.dest)? };
                let flags = sys::OPEN_TREE_CLONE | if recursive { sys::AT_RECURSIVE } else { 0 };
                let tree = s.open_tree(src, flags).map_err(|e| err(format!("clone {}", src.display()), e))?;
                if let Some((uid_map, gid_map, recursive_map)) = &m.idmap {
                    let userns = s.idmap_userns(uid_map, gid_map)?;
                    let attr = MountAttr { attr_set: sys::MOUNT_ATTR_IDMAP, userns_fd: s.raw_fd(&userns) as u64, ..Default::default() };
                    s.mount_setattr(&tree, *recursive_map, &attr).map_err(|e| err("idmap", e))?;
                }
                if m.attr != MountAttr::default() {
                    s.mount_setattr(&tree, false, &m.attr).map_err(|e| err("set attributes", e))?;
                }
                if m.rec_attr != MountAttr::default() {
                    s.mount_setattr(&tree, true, &m.rec_attr).map_err(|e| err("set recursive attributes", e))?;
                }
                s.move_mount(&tree, &dest).map_err(|e| err("attach", e))?;
            }
            MountKind::Fs => {
                let dest = self.mkdir(root, &m.dest)?;
                let src = m.source.as_deref().map(|s| s.as_os_str()).unwrap_or(OsStr::new(&m.fstype));
                let mut data = crate::lsm::mount_data(&self.plan.lsm, &m.fstype, false, &m.data);
                if m.fstype == "devpts" && self.plan.ns.has(libc::CLONE_NEWUSER) {
                    // gid=5 may not be mapped inside a user namespace: let devpts pick the default.
                    data = data.split(',').filter(|o| !o.starts_with("gid=")).collect::<Vec<_>>().join(",");
                }
                s.mount_on(Some(src), &dest, Some(&m.fstype), m.flags, Some(&data)).map_err(|e| err(format!("mount {}", m.fstype), e))?;
                if m.tmpcopyup {
                    // `dest` still names the covered directory; a fresh lookup finds the tmpfs.
                    let tmpfs = s.resolve(root, &m.dest, false).map_err(|e| err("reopen", e))?;
                    s.copy_tree(&dest, &tmpfs).map_err(|e| err("tmpcopyup", e))?;
                }
            }
            MountKind::Cgroup => cgroupfs::mount(self, m, root)?,
        }
        for &p in &m.propagation {
            let fd = s.resolve(root, &m.dest, false).map_err(|e| err("reopen", e))?;
            s.mount_on(None, &fd, None, p, None).map_err(|e| err("set propagation", e))?;
        }
        Ok(())
    }

    /// mkdir -p inside the root; the directory.
    pub fn mkdir(&self, root: &S::Fd, p: &Path) -> Result<S::Fd> {
        self.sys.mkdir_all(root, p, 0o755).map_err(|e| err(format!("mkdir {}", p.display()), e))
    }

    /// Create (if missing) a regular file inside the root to mount a file onto.
    pub fn mkfile(&self, root: &S::Fd, p: &Path) -> Result<S::Fd> {
        if let Some(parent) = p.parent() {
            self.mkdir(root, parent)?;
        }
        match self.sys.create_file(root, p, 0o644) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {}
            Err(e) => return Err(err(format!("create {}", p.display()), e)),
        }
        self.sys.resolve(root, p, false).map_err(|e| err(format!("open {}", p.display()), e))
    }

    /// /dev nodes and links (see [`devices`]).
    pub fn devices(&self, root: &S::Fd) -> Result<()> {
        devices::apply(self, root)
    }

    /// pivot_root into the rootfs (or, with `--no-pivot`, move it over / and chroot).
    pub fn pivot(&self, root: &S::Fd) -> Result<()> {
        let s = self.sys;
        let dot = Path::new(".");
        if self.plan.opts.no_pivot {
            s.fchdir(root).map_err(|e| err("chdir rootfs", e))?;
            s.mount(Some(dot.as_os_str()), Path::new("/"), None, libc::MS_MOVE, None).map_err(|e| err("move rootfs to /", e))?;
            s.chroot(dot).map_err(|e| err("chroot", e))?;
        } else {
            let old = s.open_root(Path::new("/")).map_err(|e| err("open /", e))?;
            s.fchdir(root).map_err(|e| err("chdir rootfs", e))?;
            s.pivot_root(dot, dot).map_err(|e| err("pivot_root", e))?;
            // The old root is now stacked under "."; detach it without propagating to the host.
            s.fchdir(&old).map_err(|e| err("chdir old root", e))?;
            drop(old);
            s.mount(None, dot, None, libc::MS_SLAVE | libc::MS_REC, None).map_err(|e| err("make old root slave", e))?;
            s.umount(dot, libc::MNT_DETACH).map_err(|e| err("detach old root", e))?;
        }
        s.chdir(Path::new("/")).map_err(|e| err("chdir /", e))
    }

    /// After pivot_root: read-only and masked paths, root read-only, root propagation.
    pub fn finish(&self) -> Result<()> {
        let (s, plan) = (self.sys, self.plan);
        let root = s.open_root(Path::new("/")).map_err(|e| err("open /", e))?;
        for p in &plan.readonly_paths {
            self.readonly_path(&root, p).map_err(|e| format!("readonly path {}: {e}", p.display()))?;
        }
        for p in &plan.masked_paths {
            self.mask_path(&root, p).map_err(|e| format!("masked path {}: {e}", p.display()))?;
        }
        if plan.root_readonly {
            let attr = MountAttr { attr_set: sys::MOUNT_ATTR_RDONLY, ..Default::default() };
            s.mount_setattr(&root, false, &attr).map_err(|e| err("make rootfs read-only", e))?;
        }
        if let Some(p) = plan.rootfs_propagation {
            s.mount(None, Path::new("/"), None, p, None).map_err(|e| err("rootfs propagation", e))?;
        }
        Ok(())
    }

    fn readonly_path(&self, root: &S::Fd, p: &Path) -> Result<()> {
        let s = self.sys;
        let fd = match s.resolve(root, p, false) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(err("open", e)),
        };
        let tree = s.open_tree_fd(&fd, sys::OPEN_TREE_CLONE | sys::AT_RECURSIVE).map_err(|e| err("clone", e))?;
        let attr = MountAttr { attr_set: sys::MOUNT_ATTR_RDONLY, ..Default::default() };
        s.mount_setattr(&tree, true, &attr).map_err(|e| err("make read-only", e))?;
        s.move_mount(&tree, &fd).map_err(|e| err("attach", e))
    }

    fn mask_path(&self, root: &S::Fd, p: &Path) -> Result<()> {
        let s = self.sys;
        let fd = match s.resolve(root, p, false) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) || e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(()),
            Err(e) => return Err(err("open", e)),
        };
        let cover = if s.is_dir(&fd).map_err(|e| err("stat", e))? {
            empty_tmpfs_with(s, true)?
        } else {
            let null = s.resolve(root, Path::new("/dev/null"), false).map_err(|e| err("open /dev/null", e))?;
            s.open_tree_fd(&null, sys::OPEN_TREE_CLONE).map_err(|e| err("clone /dev/null", e))?
        };
        s.move_mount(&cover, &fd).map_err(|e| err("attach", e))
    }

    /// After pivot_root: the spec's sysctls, each written only through a verified procfs.
    pub fn sysctl(&self) -> Result<()> {
        for (key, value) in &self.plan.sysctl {
            write_proc_with(self.sys, &Path::new("/proc/sys").join(key), value)?;
        }
        Ok(())
    }

    /// hostname and domainname, in the container's UTS namespace.
    pub fn set_names(&self) -> Result<()> {
        if let Some(h) = &self.plan.hostname {
            self.sys.sethostname(h).map_err(|e| err("sethostname", e))?;
        }
        if let Some(d) = &self.plan.domainname {
            self.sys.setdomainname(d).map_err(|e| err("setdomainname", e))?;
        }
        Ok(())
    }
}

/// A detached, empty tmpfs (read-only when asked).
pub fn empty_tmpfs_with<S: MountSys>(s: &S, readonly: bool) -> Result<S::Fd> {
    let fs = s.fsopen("tmpfs").map_err(|e| err("fsopen tmpfs", e))?;
    let _ = s.fsconfig_string(&fs, "size", "0");
    s.fsconfig_string(&fs, "mode", "0755").map_err(|e| err("tmpfs mode", e))?;
    s.fsconfig_create(&fs).map_err(|e| err("create tmpfs", e))?;
    let attr = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC | if readonly { sys::MOUNT_ATTR_RDONLY } else { 0 };
    s.fsmount(&fs, attr).map_err(|e| err("fsmount tmpfs", e))
}

/// Write `value` to `path` (after pivot_root), refusing anything that is not on procfs or is
/// reached through a symlink: a container must not redirect the runtime's /proc writes
/// (CVE-2019-16884 and friends).
pub fn write_proc_with<S: MountSys>(s: &S, path: &Path, value: &str) -> Result<()> {
    let root = s.open_root(Path::new("/")).map_err(|e| err("open /", e))?;
    let fd = s.open_write_nofollow(&root, path).map_err(|e| err(format!("open {}", path.display()), e))?;
    let magic = s.fs_magic(&fd).map_err(|e| format!("{}: {}", path.display(), err("statfs", e)))?;
    if magic != sys::PROC_SUPER_MAGIC {
        return Err(format!("{}: not on procfs (refusing to write)", path.display()));
    }
    s.write_all(&fd, value.as_bytes()).map_err(|e| err(format!("write {}", path.display()), e))
}

// The init's entry points: the executor on the kernel.

pub fn prepare(plan: &Plan) -> Result<InRoot> {
    Rootfs::new(&Real, plan).prepare()
}

pub fn mount_all(plan: &Plan, root: &InRoot) -> Result<()> {
    Rootfs::new(&Real, plan).mount_all(root)
}

pub fn pivot(plan: &Plan, root: &InRoot) -> Result<()> {
    Rootfs::new(&Real, plan).pivot(root)
}

pub fn finish(plan: &Plan) -> Result<()> {
    Rootfs::new(&Real, plan).finish()
}

/// The plan's sysctls (after pivot_root, before [`finish`]: /proc/sys becomes read-only).
pub fn sysctl(plan: &Plan) -> Result<()> {
    Rootfs::new(&Real, plan).sysctl()
}

pub fn set_names(plan: &Plan) -> Result<()> {
    Rootfs::new(&Real, plan).set_names()
}

/// A detached, empty tmpfs (read-only when asked), as a plain fd.
pub fn empty_tmpfs(readonly: bool) -> Result<OwnedFd> {
    empty_tmpfs_with(&Real, readonly).map(InRoot::into_fd)
}
