//! /dev inside the container: the default nodes, the spec's devices (mknod, or a bind of the
//! host node inside a user namespace, where mknod is not allowed), and the usual links.

use super::{err, MountSys, Real, Result, Rootfs};
use crate::inroot::InRoot;
use crate::plan::{DevicePlan, MountKind, Plan, DEFAULT_DEVICES};
use crate::sys;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The init's entry point, on the kernel.
pub fn create(plan: &Plan, root: &InRoot) -> Result<()> {
    apply(&Rootfs::new(&Real, plan), root)
}

pub fn apply<S: MountSys>(x: &Rootfs<'_, S>, root: &S::Fd) -> Result<()> {
    let (s, plan) = (x.sys, x.plan);
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
        node(s, root, d, bind).map_err(|e| format!("device {}: {e}", d.path.display()))?;
    }
    if plan.default_devices {
        let links = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"), ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")];
        for (target, link) in links {
            symlink(s, root, target, link)?;
        }
        if s.host_exists(Path::new("/proc/kcore")) {
            symlink(s, root, "/proc/kcore", "/dev/core")?;
        }
    }
    let has_devpts = plan.mounts.iter().any(|m| m.kind == MountKind::Fs && m.fstype == "devpts" && crate::inroot::relative(&m.dest) == Path::new("dev/pts"));
    if has_devpts {
        let (dir, name) = s.parent(root, Path::new("/dev/ptmx"), true).map_err(|e| err("/dev", e))?;
        let _ = s.unlink_at(&dir, &name);
        s.symlink_at(OsStr::new("pts/ptmx"), &dir, &name).map_err(|e| err("symlink /dev/ptmx", e))?;
    }
    Ok(())
}

fn symlink<S: MountSys>(s: &S, root: &S::Fd, target: &str, link: &str) -> Result<()> {
    let (dir, name) = s.parent(root, Path::new(link), true).map_err(|e| err(link, e))?;
    match s.symlink_at(OsStr::new(target), &dir, &name) {
        Err(e) if e.raw_os_error() != Some(libc::EEXIST) => Err(err(format!("symlink {link}"), e)),
        _ => Ok(()),
    }
}

fn node<S: MountSys>(s: &S, root: &S::Fd, d: &DevicePlan, bind: bool) -> Result<()> {
    let (dir, name) = s.parent(root, &d.path, true).map_err(|e| err("parent", e))?;
    // A missing entry is fine.
    let _ = s.unlink_at(&dir, &name);
    if bind {
        // An empty file to mount the host node onto.
        s.create_excl_at(&dir, &name, 0o000).map_err(|e| err("create", e))?;
        let target = s.resolve(root, &d.path, true).map_err(|e| err("open", e))?;
        let tree = s.open_tree(&d.path, sys::OPEN_TREE_CLONE).map_err(|e| err("clone host node", e))?;
        s.move_mount(&tree, &target).map_err(|e| err("bind host node", e))?;
        return Ok(());
    }
    let dev = libc::makedev(d.major as u32, d.minor as u32);
    s.mknod_at(&dir, &name, d.kind | d.mode, dev).map_err(|e| err("mknod", e))?;
    // mknod honours the umask, so set the mode explicitly.
    s.chown_at(&dir, &name, d.uid, d.gid).map_err(|e| err("chown", e))?;
    s.chmod_at(&dir, &name, d.mode).map_err(|e| err("chmod", e))?;
    Ok(())
}
