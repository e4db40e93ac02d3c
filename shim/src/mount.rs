//! The rootfs mounts containerd sends with Create (an overlay of snapshot layers, or a bind of
//! a prepared directory), mounted in order onto `<bundle>/rootfs`, and undone on failure and
//! on Delete. Options are split the way mount(8) does: flag words become mount flags, the rest
//! is the filesystem's data string.

use crate::sys;
use berth_proto::mount::Mount;
use std::path::Path;

/// (flags, data) for a list of mount(8)-style options.
pub fn parse_options(options: &[String]) -> (libc::c_ulong, String) {
    let mut flags: libc::c_ulong = 0;
    let mut data: Vec<&str> = Vec::new();
    for o in options {
        let (set, clear): (libc::c_ulong, libc::c_ulong) = match o.as_str() {
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "noatime" => (libc::MS_NOATIME, 0),
            "atime" => (0, libc::MS_NOATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "bind" => (libc::MS_BIND, 0),
            "rbind" => (libc::MS_BIND | libc::MS_REC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "defaults" => (0, 0),
            _ => {
                data.push(o);
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, data.join(","))
}

fn mount_one(m: &Mount, target: &Path) -> std::io::Result<()> {
    let (flags, data) = parse_options(&m.options);
    let fstype = if m.type_ == "bind" || m.type_ == "rbind" { "none" } else { m.type_.as_str() };
    let flags = if m.type_ == "rbind" { flags | libc::MS_BIND | libc::MS_REC } else if m.type_ == "bind" { flags | libc::MS_BIND } else { flags };
    sys::mount(&m.source, target, fstype, flags, &data)?;
    // A bind mount ignores MS_RDONLY and friends on the first call: apply them by remounting.
    if flags & libc::MS_BIND != 0 && flags & (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) != 0 {
        if let Err(e) = sys::mount("", target, "", flags | libc::MS_REMOUNT, "") {
            let _ = sys::umount_detach(target);
            return Err(e);
        }
    }
    Ok(())
}

/// Mount `mounts` onto `rootfs` (created if missing); on error undo what was done.
pub fn mount_rootfs(mounts: &[Mount], rootfs: &Path) -> Result<usize, String> {
    if mounts.is_empty() {
        return Ok(0);
    }
    std::fs::create_dir_all(rootfs).map_err(|e| format!("create {}: {e}", rootfs.display()))?;
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, rootfs) {
            for _ in 0..i {
                let _ = sys::umount_detach(rootfs);
            }
            return Err(format!("mount {} ({}) on {}: {e}", m.source, m.type_, rootfs.display()));
        }
    }
    Ok(mounts.len())
}

/// Unmount everything stacked on `rootfs` (lazily: a dead container's mounts may be busy for a
/// moment). Returns how many were unmounted.
pub fn unmount_all(rootfs: &Path) -> usize {
    let mut n = 0;
    while sys::umount_detach(rootfs).is_ok() {
        n += 1;
        if n > 64 {
            break;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn overlay_options_are_data() {
        let (f, d) = parse_options(&opts(&["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"]));
        assert_eq!(f, 0);
        assert_eq!(d, "index=off,workdir=/w,upperdir=/u,lowerdir=/l1:/l2");
    }

    #[test]
    fn flag_words_become_flags() {
        let (f, d) = parse_options(&opts(&["rbind", "ro", "nosuid", "size=65536k", "rw"]));
        assert_eq!(f, libc::MS_BIND | libc::MS_REC | libc::MS_NOSUID);
        assert_eq!(d, "size=65536k");
    }
}
