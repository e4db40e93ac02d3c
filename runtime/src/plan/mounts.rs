//! Mount entries of the spec turned into what the kernel takes: `mount(2)` flags and data,
//! `mount_setattr(2)` attributes for binds, propagation changes, and the few runtime
//! extensions (`tmpcopyup`, `idmap`).

use crate::error::{Error, Result};
use crate::sys::{self, MountAttr};
use oci_spec::runtime::{LinuxIdMapping, Mount};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// `bind`/`rbind`: a clone of a host tree (open_tree + mount_setattr + move_mount).
    Bind { recursive: bool },
    /// A filesystem mounted fresh (`proc`, `tmpfs`, `sysfs`, ...).
    Fs,
    /// `cgroup`/`cgroup2`: the host's cgroup hierarchies as the container sees them.
    Cgroup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    pub dest: PathBuf,
    pub source: Option<PathBuf>,
    pub fstype: String,
    pub kind: MountKind,
    /// `mount(2)` flags for `Fs` mounts (MS_RDONLY, MS_NOSUID, ...).
    pub flags: libc::c_ulong,
    /// Filesystem data (`mode=755,size=65536k`).
    pub data: String,
    /// Attributes for bind mounts, applied to the top mount only.
    pub attr: MountAttr,
    /// `r*` attributes (`rro`, `rnosuid`, ...), applied to the whole tree.
    pub rec_attr: MountAttr,
    /// Propagation changes (`MS_SHARED | MS_REC`, ...), in spec order.
    pub propagation: Vec<libc::c_ulong>,
    pub tmpcopyup: bool,
    /// Idmapped mount: "containerID hostID size" lines for uid and gid, and whether the
    /// mapping applies to the whole tree (`ridmap`).
    pub idmap: Option<(String, String, bool)>,
}

impl MountPlan {
    pub fn readonly(&self) -> bool {
        match self.kind {
            MountKind::Bind { .. } => self.attr.attr_set & sys::MOUNT_ATTR_RDONLY != 0 || self.rec_attr.attr_set & sys::MOUNT_ATTR_RDONLY != 0,
            _ => self.flags & libc::MS_RDONLY != 0,
        }
    }
}

/// (name, set, flag) for options that are plain `mount(2)` flags.
const FLAGS: &[(&str, bool, libc::c_ulong)] = &[
    ("async", false, libc::MS_SYNCHRONOUS),
    ("atime", false, libc::MS_NOATIME),
    ("defaults", true, 0),
    ("dev", false, libc::MS_NODEV),
    ("diratime", false, libc::MS_NODIRATIME),
    ("dirsync", true, libc::MS_DIRSYNC),
    ("exec", false, libc::MS_NOEXEC),
    ("iversion", true, libc::MS_I_VERSION),
    ("lazytime", true, libc::MS_LAZYTIME),
    ("loud", false, libc::MS_SILENT),
    ("mand", true, libc::MS_MANDLOCK),
    ("noatime", true, libc::MS_NOATIME),
    ("nodev", true, libc::MS_NODEV),
    ("nodiratime", true, libc::MS_NODIRATIME),
    ("noexec", true, libc::MS_NOEXEC),
    ("noiversion", false, libc::MS_I_VERSION),
    ("nolazytime", false, libc::MS_LAZYTIME),
    ("nomand", false, libc::MS_MANDLOCK),
    ("norelatime", false, libc::MS_RELATIME),
    ("nostrictatime", false, libc::MS_STRICTATIME),
    ("nosuid", true, libc::MS_NOSUID),
    ("nosymfollow", true, 256),
    ("relatime", true, libc::MS_RELATIME),
    ("remount", true, libc::MS_REMOUNT),
    ("ro", true, libc::MS_RDONLY),
    ("rw", false, libc::MS_RDONLY),
    ("silent", true, libc::MS_SILENT),
    ("strictatime", true, libc::MS_STRICTATIME),
    ("suid", false, libc::MS_NOSUID),
    ("symfollow", false, 256),
    ("sync", true, libc::MS_SYNCHRONOUS),
];

const PROPAGATION: &[(&str, libc::c_ulong)] = &[
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

/// Parse a `rootfsPropagation` / propagation option name.
pub fn propagation(name: &str) -> Option<libc::c_ulong> {
    PROPAGATION.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// `r`-prefixed recursive attribute options: (name, set?, MOUNT_ATTR_*).
fn rec_attr(name: &str) -> Option<(bool, u64)> {
    let n = name.strip_prefix('r')?;
    Some(match n {
        "ro" => (true, sys::MOUNT_ATTR_RDONLY),
        "rw" => (false, sys::MOUNT_ATTR_RDONLY),
        "nosuid" => (true, sys::MOUNT_ATTR_NOSUID),
        "suid" => (false, sys::MOUNT_ATTR_NOSUID),
        "nodev" => (true, sys::MOUNT_ATTR_NODEV),
        "dev" => (false, sys::MOUNT_ATTR_NODEV),
        "noexec" => (true, sys::MOUNT_ATTR_NOEXEC),
        "exec" => (false, sys::MOUNT_ATTR_NOEXEC),
        "nodiratime" => (true, sys::MOUNT_ATTR_NODIRATIME),
        "diratime" => (false, sys::MOUNT_ATTR_NODIRATIME),
        "nosymfollow" => (true, sys::MOUNT_ATTR_NOSYMFOLLOW),
        "symfollow" => (false, sys::MOUNT_ATTR_NOSYMFOLLOW),
        "relatime" => (true, sys::MOUNT_ATTR_RELATIME | ATIME_MARK),
        "norelatime" => (false, sys::MOUNT_ATTR_RELATIME | ATIME_MARK),
        "noatime" => (true, sys::MOUNT_ATTR_NOATIME | ATIME_MARK),
        "atime" => (false, sys::MOUNT_ATTR_NOATIME | ATIME_MARK),
        "strictatime" => (true, sys::MOUNT_ATTR_STRICTATIME | ATIME_MARK),
        "nostrictatime" => (false, sys::MOUNT_ATTR_STRICTATIME | ATIME_MARK),
        _ => return None,
    })
}

/// Internal marker: the attribute is one of the atime modes (set as a group).
const ATIME_MARK: u64 = 1 << 63;

fn apply_attr(attr: &mut MountAttr, set: bool, bits: u64) {
    if bits & ATIME_MARK != 0 {
        let mode = bits & !ATIME_MARK;
        // atime modes are one field: setting one clears the others.
        attr.attr_clr |= sys::MOUNT_ATTR__ATIME;
        attr.attr_set &= !sys::MOUNT_ATTR__ATIME;
        if set {
            attr.attr_set |= mode;
        }
        return;
    }
    if set {
        attr.attr_set |= bits;
        attr.attr_clr &= !bits;
    } else {
        attr.attr_clr |= bits;
        attr.attr_set &= !bits;
    }
}

/// Bind-mount attributes equivalent to a set of `mount(2)` flags.
fn flags_to_attr(flags: libc::c_ulong, cleared: libc::c_ulong) -> MountAttr {
    let mut a = MountAttr::default();
    for (ms, at) in [
        (libc::MS_RDONLY, sys::MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, sys::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, sys::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, sys::MOUNT_ATTR_NOEXEC),
        (libc::MS_NODIRATIME, sys::MOUNT_ATTR_NODIRATIME),
        (256, sys::MOUNT_ATTR_NOSYMFOLLOW),
    ] {
        if flags & ms != 0 {
            apply_attr(&mut a, true, at);
        } else if cleared & ms != 0 {
            apply_attr(&mut a, false, at);
        }
    }
    for (ms, at) in [(libc::MS_NOATIME, sys::MOUNT_ATTR_NOATIME), (libc::MS_STRICTATIME, sys::MOUNT_ATTR_STRICTATIME), (libc::MS_RELATIME, sys::MOUNT_ATTR_RELATIME)] {
        if flags & ms != 0 {
            apply_attr(&mut a, true, at | ATIME_MARK);
        }
    }
    a
}

pub fn id_map_lines(m: &[LinuxIdMapping]) -> String {
    m.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

/// Turn one spec mount into a plan entry; relative bind sources are taken from the bundle.
pub fn plan_mount(m: &Mount, bundle: &Path) -> Result<MountPlan> {
    let dest = m.destination().clone();
    if dest.as_os_str().is_empty() {
        return Err(Error::Spec("mounts: an entry has an empty destination".into()));
    }
    let bad = |reason: String| Error::Spec(format!("mount {}: {reason}", dest.display()));
    let fstype = m.typ().clone().unwrap_or_default();
    let mut flags: libc::c_ulong = 0;
    let mut cleared: libc::c_ulong = 0;
    let mut data: Vec<&str> = Vec::new();
    let mut propagation_list = Vec::new();
    let mut rec = MountAttr::default();
    let (mut bind, mut rbind, mut tmpcopyup, mut idmap, mut ridmap) = (false, false, false, false, false);
    for o in m.options().iter().flatten() {
        let o = o.as_str();
        match o {
            "bind" => bind = true,
            "rbind" => rbind = true,
            "tmpcopyup" => tmpcopyup = true,
            "idmap" => idmap = true,
            "ridmap" => ridmap = true,
            _ => {
                if let Some((_, set, f)) = FLAGS.iter().find(|(n, _, _)| *n == o) {
                    if *set {
                        flags |= f;
                        cleared &= !f;
                    } else {
                        flags &= !f;
                        cleared |= f;
                    }
                } else if let Some(p) = propagation(o) {
                    propagation_list.push(p);
                } else if let Some((set, bits)) = rec_attr(o) {
                    apply_attr(&mut rec, set, bits);
                } else if o.is_empty() {
                } else {
                    data.push(o);
                }
            }
        }
    }
    let kind = if bind || rbind || fstype == "bind" {
        MountKind::Bind { recursive: rbind }
    } else if fstype == "cgroup" || fstype == "cgroup2" {
        MountKind::Cgroup
    } else {
        if fstype.is_empty() || fstype == "none" {
            return Err(bad("no filesystem type (and not a bind mount)".into()));
        }
        MountKind::Fs
    };
    let mut source = m.source().clone();
    if let MountKind::Bind { .. } = kind {
        let s = source.ok_or_else(|| bad("bind mount without a source".into()))?;
        source = Some(if s.is_absolute() { s } else { bundle.join(s) });
    }
    if flags & libc::MS_REMOUNT != 0 {
        return Err(bad("\"remount\" is not a valid option for a new mount".into()));
    }
    if tmpcopyup && fstype != "tmpfs" {
        return Err(bad("tmpcopyup is only valid for tmpfs".into()));
    }
    let idmap = if idmap || ridmap || m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        if !matches!(kind, MountKind::Bind { .. }) {
            return Err(bad("idmapped mounts are only supported for bind mounts".into()));
        }
        let (u, g) = (m.uid_mappings().as_deref().unwrap_or(&[]), m.gid_mappings().as_deref().unwrap_or(&[]));
        if u.is_empty() || g.is_empty() {
            return Err(bad("an idmapped mount needs both uidMappings and gidMappings".into()));
        }
        Some((id_map_lines(u), id_map_lines(g), ridmap || rbind))
    } else {
        None
    };
    let attr = flags_to_attr(flags, cleared);
    Ok(MountPlan {
        dest,
        source,
        fstype,
        kind,
        flags,
        data: data.join(","),
        attr,
        rec_attr: rec,
        propagation: propagation_list,
        tmpcopyup,
        idmap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::MountBuilder;

    fn mount(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Mount {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(src)
            .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .build()
            .unwrap()
    }

    #[test]
    fn tmpfs_flags_and_data() {
        let p = plan_mount(&mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]), Path::new("/b")).unwrap();
        assert_eq!(p.kind, MountKind::Fs);
        assert_eq!(p.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(p.data, "mode=755,size=65536k");
        assert!(!p.readonly());
    }

    #[test]
    fn bind_relative_source_and_attrs() {
        let p = plan_mount(&mount("/data", "none", "data", &["rbind", "ro", "nosuid", "rprivate"]), Path::new("/b")).unwrap();
        assert_eq!(p.kind, MountKind::Bind { recursive: true });
        assert_eq!(p.source.as_deref(), Some(Path::new("/b/data")));
        assert_eq!(p.attr.attr_set, sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID);
        assert_eq!(p.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        assert!(p.readonly());
    }

    #[test]
    fn recursive_attrs() {
        let p = plan_mount(&mount("/x", "bind", "/src", &["rro", "rnoexec", "rnoatime"]), Path::new("/b")).unwrap();
        assert_eq!(p.rec_attr.attr_set, sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOEXEC | sys::MOUNT_ATTR_NOATIME);
        assert_eq!(p.rec_attr.attr_clr, sys::MOUNT_ATTR__ATIME);
        assert!(p.readonly());
    }

    #[test]
    fn rw_clears_ro() {
        let p = plan_mount(&mount("/x", "bind", "/src", &["ro", "rw"]), Path::new("/b")).unwrap();
        assert_eq!(p.attr.attr_set & sys::MOUNT_ATTR_RDONLY, 0);
        assert_ne!(p.attr.attr_clr & sys::MOUNT_ATTR_RDONLY, 0);
    }

    #[test]
    fn errors() {
        assert!(plan_mount(&mount("/x", "none", "/src", &[]), Path::new("/b")).is_err());
        assert!(plan_mount(&mount("/x", "tmpfs", "t", &["remount"]), Path::new("/b")).is_err());
        assert!(plan_mount(&mount("/x", "proc", "proc", &["tmpcopyup"]), Path::new("/b")).is_err());
        assert!(plan_mount(&mount("/x", "tmpfs", "t", &["idmap"]), Path::new("/b")).is_err());
    }
}
