//! Harness for `berth-store` tests: run the binary against a private root, and describe
//! directory trees (types, modes, owners, contents, link targets, hardlink groups) so two
//! trees, or a store before and after a failed operation, can be compared exactly.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::image_fixture::sha256;

/// `berth-store --root ROOT ARGS...`, output captured.
pub fn store(root: &Path, args: &[&str]) -> Output {
    Command::new(crate::bin("berth-store")).arg("--root").arg(root).args(args).output().expect("run berth-store")
}

/// Like [`store`], panicking with both streams unless it succeeded.
pub fn store_ok(root: &Path, args: &[&str]) -> String {
    let o = store(root, args);
    assert!(o.status.success(), "berth-store {args:?} failed:\nstdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Like [`store`], expecting failure; returns stderr.
pub fn store_err(root: &Path, args: &[&str]) -> String {
    let o = store(root, args);
    assert!(!o.status.success(), "berth-store {args:?} should have failed; stdout: {}", String::from_utf8_lossy(&o.stdout));
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(e.trim().lines().count() >= 1, "an error message is expected");
    e
}

/// One node of a described tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// sha256 of a file's content, a symlink's target, or "major,minor" of a device.
    pub content: String,
    /// For files with more than one link: the smallest path of the group.
    pub link_group: Option<String>,
}

/// Describe every entry under `root` (relative paths; `root` itself is "").
pub fn describe(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    walk(root, root, &mut out, &mut inodes);
    for paths in inodes.values() {
        if paths.len() > 1 {
            let first = paths.iter().min().unwrap().clone();
            for p in paths {
                out.get_mut(p).unwrap().link_group = Some(first.clone());
            }
        }
    }
    out
}

fn walk(root: &Path, p: &Path, out: &mut BTreeMap<String, Node>, inodes: &mut BTreeMap<(u64, u64), Vec<String>>) {
    let md = std::fs::symlink_metadata(p).unwrap();
    let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
    let ft = md.file_type();
    use std::os::unix::fs::FileTypeExt;
    let (kind, content) = if ft.is_dir() {
        ('d', String::new())
    } else if ft.is_symlink() {
        ('l', std::fs::read_link(p).unwrap().to_string_lossy().into_owned())
    } else if ft.is_file() {
        if md.nlink() > 1 {
            inodes.entry((md.dev(), md.ino())).or_default().push(rel.clone());
        }
        ('f', sha256(&std::fs::read(p).unwrap()))
    } else if ft.is_char_device() {
        ('c', format!("{},{}", libc::major(md.rdev()), libc::minor(md.rdev())))
    } else if ft.is_block_device() {
        ('b', format!("{},{}", libc::major(md.rdev()), libc::minor(md.rdev())))
    } else {
        ('p', String::new())
    };
    out.insert(rel, Node { kind, mode: md.mode() & 0o7777, uid: md.uid(), gid: md.gid(), content, link_group: None });
    if ft.is_dir() {
        let mut names: Vec<PathBuf> = std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for n in names {
            walk(root, &n, out, inodes);
        }
    }
}

/// A store root's state that must not change when an operation fails: every file under
/// it except the lock file and empty staging area.
pub fn store_state(root: &Path) -> BTreeMap<String, Node> {
    let mut d = describe(root);
    d.retain(|k, _| !k.starts_with("ingest") && k != ".berth.lock");
    // Directory mtimes/modes of the root are not part of the content.
    d.remove("");
    d
}

/// Assert two described trees are equal, listing differences.
pub fn assert_same_tree(a: &BTreeMap<String, Node>, b: &BTreeMap<String, Node>, what: &str) {
    let mut diffs = vec![];
    for (k, v) in a {
        match b.get(k) {
            None => diffs.push(format!("only in first: {k}")),
            Some(w) if w != v => diffs.push(format!("differs: {k}: {v:?} vs {w:?}")),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            diffs.push(format!("only in second: {k}"));
        }
    }
    assert!(diffs.is_empty(), "{what}: {} differences:\n{}", diffs.len(), diffs.iter().take(40).cloned().collect::<Vec<_>>().join("\n"));
}

/// Is `tool` on PATH?
pub fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Standard base64 with padding (docker's `auth` field, basic auth headers).
pub fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                o.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}
