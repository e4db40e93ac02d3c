//! /dev inside the container: the default nodes, the spec's devices (mknod, or a bind of the
//! host node inside a user namespace, where mknod is not allowed), and the usual links.

use super::{err, Result};
use crate::inroot::InRoot;
use crate::plan::{DevicePlan, MountKind, Plan, DEFAULT_DEVICES};
use crate::sys;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub fn create(plan: &Plan, root: &InRoot) -> Result<()> {
    let bind = plan.ns.has(libc::CLONE_NEWUSER);
    let mut list: Vec<DevicePlan> = Vec::new();
    if plan.default_devices {
        for (p, major, minor) in DEFAULT_DEVICES {
            if !plan.devices.iter().any(|d| d.path == Path::new(p)) {
                list.push(DevicePlan { path: PathBuf::from(p), kind: libc::S_IFCHR, major, minor, mode: 0o666, uid: 0, gid: 0 });
            }
        }
    }
    list.extend(plan.devices.iter().cloned());
    for d in &list {
        node(root, d, bind).map_err(|e| format!("device {}: {e}", d.path.display()))?;
    }
    if plan.default_devices {
        let links = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"), ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")];
        for (target, link) in links {
            symlink(root, target, link)?;
        }
        if Path::new("/proc/kcore").exists() {
            symlink(root, "/proc/kcore", "/dev/core")?;
        }
    }
    let has_devpts = plan.mounts.iter().any(|m| m.kind == MountKind::Fs && m.fstype == "devpts" && crate::inroot::relative(&m.dest) == Path::new("dev/pts"));
    if has_devpts {
        let (dir, name) = root.parent(Path::new("/dev/ptmx"), true).map_err(|e| err("/dev", e))?;
        unlink(dir.as_raw_fd(), &name);
        let c = CString::new(name.as_bytes()).unwrap();
        // SAFETY: relative name under a dir fd.
        if unsafe { libc::symlinkat(c"pts/ptmx".as_ptr(), dir.as_raw_fd(), c.as_ptr()) } < 0 {
            return Err(err("symlink /dev/ptmx", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn unlink(dir: i32, name: &std::ffi::OsStr) {
    let c = CString::new(name.as_bytes()).unwrap();
    // SAFETY: relative name under a dir fd; a missing entry is fine.
    unsafe { libc::unlinkat(dir, c.as_ptr(), 0) };
}

fn symlink(root: &InRoot, target: &str, link: &str) -> Result<()> {
    let (dir, name) = root.parent(Path::new(link), true).map_err(|e| err(link, e))?;
    let c = CString::new(name.as_bytes()).unwrap();
    let t = CString::new(target).unwrap();
    // SAFETY: relative name under a dir fd.
    if unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), c.as_ptr()) } < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(err(format!("symlink {link}"), e));
        }
    }
    Ok(())
}

fn node(root: &InRoot, d: &DevicePlan, bind: bool) -> Result<()> {
    let (dir, name) = root.parent(&d.path, true).map_err(|e| err("parent", e))?;
    let dfd = dir.as_raw_fd();
    unlink(dfd, &name);
    let c = CString::new(name.as_bytes()).unwrap();
    if bind {
        // SAFETY: create an empty file to mount the host node onto.
        let fd = unsafe { libc::openat(dfd, c.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_WRONLY, 0o000) };
        if fd < 0 {
            return Err(err("create", std::io::Error::last_os_error()));
        }
        // SAFETY: close the fd we just got.
        unsafe { libc::close(fd) };
        let target = root.resolve(&d.path, true).map_err(|e| err("open", e))?;
        let tree = sys::open_tree(libc::AT_FDCWD, &d.path, sys::OPEN_TREE_CLONE).map_err(|e| err("clone host node", e))?;
        sys::move_mount_fd(tree.as_fd(), target.as_fd()).map_err(|e| err("bind host node", e))?;
        return Ok(());
    }
    let dev = libc::makedev(d.major as u32, d.minor as u32);
    // SAFETY: relative name under a dir fd.
    if unsafe { libc::mknodat(dfd, c.as_ptr(), d.kind | d.mode, dev) } < 0 {
        return Err(err("mknod", std::io::Error::last_os_error()));
    }
    // SAFETY: as above; mknod honours the umask, so set the mode explicitly.
    unsafe {
        if libc::fchownat(dfd, c.as_ptr(), d.uid, d.gid, libc::AT_SYMLINK_NOFOLLOW) < 0 {
            return Err(err("chown", std::io::Error::last_os_error()));
        }
        if libc::fchmodat(dfd, c.as_ptr(), d.mode, 0) < 0 {
            return Err(err("chmod", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}
