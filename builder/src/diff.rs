//! A RUN's overlay upper directory turned into layer entries: overlayfs whiteouts (0/0
//! character devices) become `.wh.NAME` files, opaque directories (`trusted.overlay.opaque`
//! or `user.overlay.opaque` = `y`) get a `.wh..wh..opq` entry, hardlinks inside the layer stay
//! hardlinks, file capabilities and user xattrs are kept, times are clamped.

use crate::context::{Context, Entry, Kind};
use crate::layer::{clamp, normalize, Content, EntryKind, LayerEntry};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io;
use std::path::Path;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE: &str = ".wh..wh..opq";

/// xattrs that belong in a layer (overlay's own bookkeeping and SELinux labels do not).
fn keep_xattr(name: &str) -> bool {
    name == "security.capability" || name.starts_with("user.") && !name.starts_with("user.overlay.")
}

fn xattr_list(path: &Path, follow: bool) -> io::Result<Vec<(String, Vec<u8>)>> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let list = |buf: *mut libc::c_char, n: usize| unsafe {
        // SAFETY: path is NUL-terminated; buf has n bytes (or is null with n = 0).
        if follow { libc::listxattr(c.as_ptr(), buf, n) } else { libc::llistxattr(c.as_ptr(), buf, n) }
    };
    let n = list(std::ptr::null_mut(), 0);
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOTSUP) { Ok(Vec::new()) } else { Err(e) };
    }
    let mut names = vec![0u8; n as usize];
    let n = list(names.as_mut_ptr().cast(), names.len());
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let key = String::from_utf8_lossy(name).into_owned();
        let cname = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let get = |buf: *mut libc::c_void, len: usize| unsafe {
            // SAFETY: as above, for one attribute.
            if follow { libc::getxattr(c.as_ptr(), cname.as_ptr(), buf, len) } else { libc::lgetxattr(c.as_ptr(), cname.as_ptr(), buf, len) }
        };
        let size = get(std::ptr::null_mut(), 0);
        if size < 0 {
            continue;
        }
        let mut v = vec![0u8; size as usize];
        let size = get(v.as_mut_ptr().cast(), v.len());
        if size < 0 {
            continue;
        }
        v.truncate(size as usize);
        out.push((key, v));
    }
    Ok(out)
}

fn is_opaque(xattrs: &[(String, Vec<u8>)]) -> bool {
    xattrs.iter().any(|(k, v)| (k == "trusted.overlay.opaque" || k == "user.overlay.opaque") && v.as_slice() == b"y")
}

/// Layer entries for the upper directory `upper` (opened as `tree` number `tree_id`).
/// Paths in `skip` (mount points the executor created for the RUN) are left out when they
/// are empty.
pub fn upper_to_entries(upper: &Path, tree_id: usize, epoch: Option<i64>, skip: &BTreeSet<String>) -> Result<Vec<LayerEntry>, String> {
    let tree = Context::open_plain(upper).map_err(|e| e.to_string())?;
    let walked = tree.walk(".").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut links: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let skipped_dirs: BTreeSet<&String> = skip.iter().collect();
    for e in walked.into_iter().skip(1) {
        let Entry { rel, kind, mode, uid, gid, size, mtime, ino, dev, nlink, rdev, .. } = e;
        if skipped_dirs.contains(&rel) && kind == Kind::File && size == 0 {
            continue;
        }
        let host = upper.join(&rel);
        let mtime = clamp(mtime, epoch);
        let (parent, name) = match rel.rfind('/') {
            Some(i) => (&rel[..i + 1], &rel[i + 1..]),
            None => ("", rel.as_str()),
        };
        let xattrs = match kind {
            Kind::Symlink(_) => Vec::new(),
            _ => xattr_list(&host, false).map_err(|x| format!("{rel}: reading xattrs: {x}"))?,
        };
        let entry = |path: String, kind: EntryKind, size: u64, xattrs: Vec<(String, Vec<u8>)>| LayerEntry { path, kind, mode, uid, gid, mtime, size, xattrs };
        match kind {
            Kind::Other(libc::S_IFCHR) if rdev == 0 => {
                let mut w = entry(format!("{parent}{WHITEOUT_PREFIX}{name}"), EntryKind::File(Content::Inline(Vec::new())), 0, Vec::new());
                w.mode = 0;
                out.push(w);
            }
            Kind::Dir => {
                let opaque = is_opaque(&xattrs);
                let kept = xattrs.into_iter().filter(|(k, _)| keep_xattr(k)).collect();
                out.push(entry(rel.clone(), EntryKind::Dir, 0, kept));
                if opaque {
                    let mut o = entry(format!("{rel}/{OPAQUE}"), EntryKind::File(Content::Inline(Vec::new())), 0, Vec::new());
                    o.mode = 0;
                    out.push(o);
                }
            }
            Kind::File => {
                let kept = xattrs.into_iter().filter(|(k, _)| keep_xattr(k)).collect();
                let k = if nlink > 1 {
                    match links.get(&(dev, ino)) {
                        Some(first) => EntryKind::Hardlink(first.clone()),
                        None => {
                            links.insert((dev, ino), rel.clone());
                            EntryKind::File(Content::Tree { tree: tree_id, path: rel.clone() })
                        }
                    }
                } else {
                    EntryKind::File(Content::Tree { tree: tree_id, path: rel.clone() })
                };
                let size = if matches!(k, EntryKind::File(_)) { size } else { 0 };
                out.push(entry(rel, k, size, kept));
            }
            Kind::Symlink(t) => out.push(entry(rel, EntryKind::Symlink(t), 0, Vec::new())),
            Kind::Other(fmt) => {
                let (ma, mi) = (libc::major(rdev), libc::minor(rdev));
                let k = match fmt {
                    libc::S_IFIFO => EntryKind::Fifo,
                    libc::S_IFCHR => EntryKind::Char(ma, mi),
                    libc::S_IFBLK => EntryKind::Block(ma, mi),
                    _ => continue, // sockets are not layer content
                };
                out.push(entry(rel, k, 0, Vec::new()));
            }
        }
    }
    // Stub directories go when nothing else below them is in the layer.
    let out = normalize(out);
    let keep: Vec<bool> = out
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if !(e.kind == EntryKind::Dir && skip.contains(&e.path)) {
                return true;
            }
            let prefix = format!("{}/", e.path);
            out[i + 1..].iter().any(|x| x.path.starts_with(&prefix) && !(x.kind == EntryKind::Dir && skip.contains(&x.path)))
        })
        .collect();
    Ok(out.into_iter().zip(keep).filter(|(_, k)| *k).map(|(e, _)| e).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn mknod_whiteout(p: &Path) -> bool {
        let c = CString::new(p.as_os_str().as_bytes()).unwrap();
        // SAFETY: plain syscall on a NUL-terminated path.
        unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o000, 0) == 0 }
    }

    fn set_xattr(p: &Path, k: &str, v: &[u8]) -> bool {
        let c = CString::new(p.as_os_str().as_bytes()).unwrap();
        let k = CString::new(k).unwrap();
        // SAFETY: NUL-terminated strings, value with its length.
        unsafe { libc::lsetxattr(c.as_ptr(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0) == 0 }
    }

    #[test]
    fn whiteouts_opaque_hardlinks_and_skips() {
        let upper = std::env::temp_dir().join(format!("berth-build-upper-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&upper);
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::create_dir_all(upper.join("var/cache")).unwrap();
        std::fs::create_dir_all(upper.join("run/secrets")).unwrap();
        std::fs::write(upper.join("etc/new"), "n").unwrap();
        std::fs::hard_link(upper.join("etc/new"), upper.join("etc/new2")).unwrap();
        if !mknod_whiteout(&upper.join("etc/gone")) {
            eprintln!("skipping: mknod needs root");
            return;
        }
        let opaque_ok = set_xattr(&upper.join("var/cache"), "trusted.overlay.opaque", b"y");
        set_xattr(&upper.join("etc/new"), "user.note", b"hi");
        let skip: BTreeSet<String> = ["run/secrets".to_string()].into();
        let e = upper_to_entries(&upper, 3, Some(5), &skip).unwrap();
        let paths: Vec<&str> = e.iter().map(|x| x.path.as_str()).collect();
        let mut want = vec!["etc", "etc/.wh.gone", "etc/new", "etc/new2", "run", "var", "var/cache"];
        if opaque_ok {
            want.push("var/cache/.wh..wh..opq");
        }
        assert_eq!(paths, want);
        assert_eq!(e[1].kind, EntryKind::File(Content::Inline(vec![])));
        assert_eq!(e[3].kind, EntryKind::Hardlink("etc/new".into()));
        assert_eq!(e[2].xattrs, vec![("user.note".to_string(), b"hi".to_vec())]);
        assert!(e.iter().all(|x| x.mtime <= 5));
        let _ = std::fs::remove_dir_all(&upper);
    }
}
