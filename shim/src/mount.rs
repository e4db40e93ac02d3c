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

/// Page size minus the NUL: the longest data string mount(2) takes.
const MAX_DATA: usize = 4095;

/// An overlay of many layers can exceed the mount data limit. Like containerd's own shims, make
/// the lowerdirs relative to their longest common parent directory and mount from there.
/// Returns (the directory to mount from, the shortened data), or None when not needed.
pub fn compact_overlay(data: &str) -> Option<(String, String)> {
    if data.len() <= MAX_DATA {
        return None;
    }
    let opts: Vec<&str> = data.split(',').collect();
    let lower = opts.iter().find_map(|o| o.strip_prefix("lowerdir="))?;
    let dirs: Vec<&str> = lower.split(':').collect();
    let mut common: &str = dirs[0];
    for d in &dirs[1..] {
        while !(d.starts_with(common) && (d.len() == common.len() || d.as_bytes()[common.len()] == b'/' || common.ends_with('/'))) {
            common = match common.rfind('/') {
                Some(0) => "/",
                Some(i) => &common[..i],
                None => return None,
            };
        }
    }
    if common == "/" || common.is_empty() {
        return None;
    }
    let rel: Vec<&str> = dirs.iter().map(|d| d[common.len()..].trim_start_matches('/')).collect();
    let new: Vec<String> = opts
        .iter()
        .map(|o| if o.starts_with("lowerdir=") { format!("lowerdir={}", rel.join(":")) } else { (*o).to_owned() })
        .collect();
    Some((common.to_owned(), new.join(",")))
}

fn mount_one(m: &Mount, target: &Path) -> std::io::Result<()> {
    let (flags, data) = parse_options(&m.options);
    if m.type_ == "overlay" {
        if let Some((dir, short)) = compact_overlay(&data) {
            // Single-threaded: changing our cwd for the call is safe; put it back after.
            let cwd = std::env::current_dir()?;
            std::env::set_current_dir(&dir)?;
            let target = if target.is_absolute() { target.to_path_buf() } else { cwd.join(target) };
            let r = sys::mount(&m.source, &target, "overlay", flags, &short);
            std::env::set_current_dir(&cwd)?;
            return r;
        }
    }
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
    fn long_overlay_lowerdirs_are_made_relative() {
        let base = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots";
        let lowers: Vec<String> = (1..200).map(|i| format!("{base}/{i}/fs")).collect();
        let data = format!("index=off,workdir={base}/300/work,upperdir={base}/300/fs,lowerdir={}", lowers.join(":"));
        assert!(data.len() > MAX_DATA);
        let (dir, short) = compact_overlay(&data).unwrap();
        assert_eq!(dir, base);
        assert!(short.len() <= MAX_DATA, "{}", short.len());
        assert!(short.contains("lowerdir=1/fs:2/fs:3/fs"));
        assert!(short.contains(&format!("upperdir={base}/300/fs")));
        assert_eq!(compact_overlay("lowerdir=/a:/b"), None);
    }

    #[test]
    fn flag_words_become_flags() {
        let (f, d) = parse_options(&opts(&["rbind", "ro", "nosuid", "size=65536k", "rw"]));
        assert_eq!(f, libc::MS_BIND | libc::MS_REC | libc::MS_NOSUID);
        assert_eq!(d, "size=65536k");
    }
}
