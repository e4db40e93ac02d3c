//! A `cgroup` mount: the host's hierarchies as the container should see them. Each hierarchy
//! (every v1 controller mount, the v2 mount) is bound from the host at the container's own
//! cgroup (from /proc/self/cgroup, read after the cgroup join), so the container sees its
//! cgroup as the root, with or without a cgroup namespace and inside a user namespace.
//! On a v1 or hybrid host the hierarchies sit on a small tmpfs, as on the host.

use super::{err, MountSys, Result, Rootfs};
use crate::plan::MountPlan;
use crate::sys::{self, MountAttr};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

struct Hierarchy {
    mountpoint: PathBuf,
    /// Controllers from the super options (`cpu`, `name=systemd`); empty for cgroup2.
    controllers: Vec<String>,
}

fn host_hierarchies<S: MountSys>(s: &S) -> Result<Vec<Hierarchy>> {
    let info = s.read_host(Path::new("/proc/self/mountinfo")).map_err(|e| err("read mountinfo", e))?;
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let _src = post.next();
        let opts = post.next().unwrap_or("");
        let mountpoint = pre.split(' ').nth(4).unwrap_or("");
        if !mountpoint.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let controllers = if fstype == "cgroup2" {
            Vec::new()
        } else {
            opts.split(',').filter(|o| !matches!(*o, "rw" | "ro" | "clone_children" | "xattr" | "noprefix" | "cpuset_v2_mode")).map(str::to_owned).collect()
        };
        out.push(Hierarchy { mountpoint: PathBuf::from(unescape(mountpoint)), controllers });
    }
    Ok(out)
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// Our cgroup path in a hierarchy, from /proc/self/cgroup.
fn own_path(self_cgroup: &str, h: &Hierarchy) -> String {
    for line in self_cgroup.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or("/"));
        let matches = if h.controllers.is_empty() {
            ctrls.is_empty()
        } else {
            !ctrls.is_empty() && ctrls.split(',').all(|c| h.controllers.iter().any(|x| x == c))
        };
        if matches {
            return path.to_owned();
        }
    }
    "/".to_owned()
}

pub fn mount<S: MountSys>(x: &Rootfs<'_, S>, m: &MountPlan, root: &S::Fd) -> Result<()> {
    let s = x.sys;
    let dest = x.mkdir(root, &m.dest)?;
    let hs = host_hierarchies(s)?;
    let self_cgroup = s.read_host(Path::new("/proc/self/cgroup")).map_err(|e| err("read /proc/self/cgroup", e))?;
    let attr = MountAttr {
        attr_set: [(libc::MS_RDONLY, sys::MOUNT_ATTR_RDONLY), (libc::MS_NOSUID, sys::MOUNT_ATTR_NOSUID), (libc::MS_NODEV, sys::MOUNT_ATTR_NODEV), (libc::MS_NOEXEC, sys::MOUNT_ATTR_NOEXEC)]
            .iter()
            .filter(|(ms, _)| m.flags & ms != 0)
            .fold(0, |a, (_, at)| a | at),
        ..Default::default()
    };
    let bind = |h: &Hierarchy, onto: &S::Fd| -> Result<()> {
        let rel = own_path(&self_cgroup, h);
        let src = h.mountpoint.join(rel.trim_start_matches('/'));
        let tree = s.open_tree(&src, sys::OPEN_TREE_CLONE).map_err(|e| err(format!("clone {}", src.display()), e))?;
        s.mount_setattr(&tree, false, &attr).map_err(|e| err("set attributes", e))?;
        s.move_mount(&tree, onto).map_err(|e| err(format!("attach {}", src.display()), e))
    };
    // A pure v2 host: one hierarchy at /sys/fs/cgroup.
    if let Some(h) = hs.iter().find(|h| h.mountpoint == Path::new("/sys/fs/cgroup")) {
        return bind(h, &dest);
    }
    let flags = m.flags & !libc::MS_RDONLY;
    s.mount_on(Some(OsStr::new("tmpfs")), &dest, Some("tmpfs"), flags, Some("mode=755")).map_err(|e| err("mount tmpfs", e))?;
    // Re-resolve: the old fd still points below the new tmpfs.
    let tmp = s.open_dir(root, &m.dest).map_err(|e| err("reopen cgroup tmpfs", e))?;
    for h in &hs {
        let Some(name) = h.mountpoint.strip_prefix("/sys/fs/cgroup").ok().filter(|n| !n.as_os_str().is_empty()) else { continue };
        let sub = s.mkdir_all(&tmp, name, 0o755).map_err(|e| err(format!("mkdir {}", name.display()), e))?;
        bind(h, &sub)?;
    }
    // Combined controllers get their usual aliases (cpu -> cpu,cpuacct).
    for h in &hs {
        let Some(name) = h.mountpoint.file_name().and_then(|n| n.to_str()) else { continue };
        if name.contains(',') {
            for alias in name.split(',') {
                let _ = s.symlink_at(OsStr::new(name), &tmp, OsStr::new(alias));
            }
        }
    }
    if m.flags & libc::MS_RDONLY != 0 {
        let ro = MountAttr { attr_set: sys::MOUNT_ATTR_RDONLY, ..Default::default() };
        s.mount_setattr(&tmp, false, &ro).map_err(|e| err("make read-only", e))?;
    }
    Ok(())
}
