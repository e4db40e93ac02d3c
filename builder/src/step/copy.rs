//! COPY/ADD planned as layer entries: which source paths go where, with what owner, mode and
//! time, following docker's rules (a directory source copies its contents, a destination
//! ending in `/` or naming an existing directory receives sources by their base names,
//! missing parent directories are created) — and a digest of everything read, for the
//! cache key.

use crate::cache::InputHasher;
use crate::context::{Context, Kind};
use crate::dispatch::CopyStep;
use crate::dockerfile::Chmod;
use crate::layer::{clamp, normalize, Content, EntryKind, LayerEntry};
use crate::view::{resolve_owner, RootView};
use std::collections::{BTreeMap, BTreeSet};

/// Times used for what the build creates itself.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// Now (seconds since the epoch).
    pub now: i64,
    /// `SOURCE_DATE_EPOCH`: every time written is clamped to it.
    pub epoch: Option<i64>,
}

impl Times {
    pub fn created(&self) -> i64 {
        self.epoch.unwrap_or(self.now)
    }
}

/// A planned COPY: its layer entries and the digest of its inputs.
#[derive(Debug)]
pub struct CopyPlan {
    pub entries: Vec<LayerEntry>,
    pub inputs: [u8; 32],
}

fn join(dir: &str, name: &str) -> String {
    let d = dir.trim_end_matches('/');
    if name.is_empty() {
        return if d.is_empty() { "/".into() } else { d.to_string() };
    }
    format!("{d}/{name}")
}

fn base_name(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or(p)
}

/// Plan a COPY/ADD whose sources are read from `tree` (the context, or another stage's
/// root opened as a tree; `tree_id` is how [`Content::Tree`] refers to it).
/// Without `--chown`, entries are owned by root, or keep their owners with `keep_owners`
/// (sources from another stage or image, as BuildKit does).
pub fn plan_copy(step: &CopyStep, tree: &Context, tree_id: usize, view: &dyn RootView, times: Times, keep_owners: bool) -> Result<CopyPlan, String> {
    plan_copy_with(step, tree, tree_id, view, &CopyEnv { times, keep_owners, spill: None, downloads: &[] })
}

/// What a COPY/ADD plan needs besides the step and its trees.
pub struct CopyEnv<'a> {
    pub times: Times,
    pub keep_owners: bool,
    /// Where ADD extracts archive members to (no extraction without it).
    pub spill: Option<&'a std::path::Path>,
    /// ADD URL sources, fetched: (url, file).
    pub downloads: &'a [(String, crate::step::add::Download)],
}

pub fn plan_copy_with(step: &CopyStep, tree: &Context, tree_id: usize, view: &dyn RootView, env: &CopyEnv<'_>) -> Result<CopyPlan, String> {
    let times = env.times;
    let keep_owners = env.keep_owners;
    let owner = match &step.chown {
        Some(spec) => Some(resolve_owner(spec, view)?),
        None => None,
    };
    let (uid, gid) = owner.unwrap_or((0, 0));
    let chmod: Option<&Chmod> = step.chmod.as_ref();
    let excludes = if step.excludes.is_empty() { None } else { Some(crate::context::ignore::Ignore::new(&step.excludes).map_err(|e| e.to_string())?) };

    // Sources: each matched context path.
    let mut matches: Vec<String> = Vec::new();
    let mut urls = Vec::new();
    for s in &step.sources {
        if step.add && crate::dispatch::is_url(s) {
            let d = env.downloads.iter().find(|(u, _)| u == s).map(|(_, d)| d).ok_or_else(|| format!("source {s:?} was not fetched"))?;
            urls.push(d);
            continue;
        }
        if step.add && crate::dispatch::is_git(s) {
            return Err(format!("source {s:?}: git sources are not supported"));
        }
        let m = tree.expand_source(s).map_err(|e| e.to_string())?;
        matches.extend(m);
    }
    let dest_is_dir_syntax = step.dest.ends_with('/');
    if matches.len() + urls.len() + step.inline.len() > 1 && !dest_is_dir_syntax {
        let name = if step.add { "ADD" } else { "COPY" };
        return Err(format!("When using {name} with more than one source file, the destination must be a directory and end with a /"));
    }
    let dest_real = view.realpath(&step.dest);
    let dest_exists_dir = view.lstat(&dest_real).is_some_and(|m| m.is_dir);
    let into_dir = dest_is_dir_syntax || dest_exists_dir;

    let mut hasher = InputHasher::new();
    hasher.record(&[b"dest", dest_real.as_bytes()]);
    let mut planned: Vec<LayerEntry> = Vec::new();
    let mut hardlinks: BTreeMap<(u64, u64), String> = BTreeMap::new();
    for d in &urls {
        let target = if into_dir { join(&dest_real, &d.name) } else { dest_real.clone() };
        let path = target.trim_start_matches('/').to_string();
        let mode = chmod.map_or(0o600, |c| c.apply(0o600, false));
        hasher.record(&[path.as_bytes(), b"url", &mode.to_le_bytes(), &uid.to_le_bytes(), &gid.to_le_bytes(), &d.digest]);
        planned.push(LayerEntry { path, kind: EntryKind::File(Content::Spill(d.path.clone())), mode, uid, gid, mtime: clamp(d.mtime, times.epoch), size: d.size, xattrs: Vec::new() });
    }
    for m in &matches {
        let walked = tree.walk(m).map_err(|e| e.to_string())?;
        let top_is_dir = walked[0].kind == Kind::Dir;
        // ADD extracts local tar archives into the destination directory.
        if let (true, Some(spill), Kind::File) = (step.add && step.unpack != Some(false), env.spill, &walked[0].kind) {
            let open = || tree.open_source(m).map_err(std::io::Error::other);
            if let Some(mut members) = crate::step::add::extract(&open, m, &format!("{dest_real}/"), spill, times.epoch)? {
                let digest = tree.hash_file(m, true).map_err(|x| x.to_string())?;
                hasher.record(&[m.as_bytes(), b"archive", &digest, &uid.to_le_bytes(), &gid.to_le_bytes()]);
                for e in &mut members {
                    if let Some((u, g)) = owner {
                        e.uid = u;
                        e.gid = g;
                    }
                }
                planned.extend(members);
                continue;
            }
        }
        let base_target = if step.parents {
            let rel = if m == "." { String::new() } else { m.clone() };
            join(&dest_real, &rel)
        } else if top_is_dir {
            dest_real.clone()
        } else if into_dir {
            join(&dest_real, base_name(m))
        } else {
            dest_real.clone()
        };
        for e in walked {
            if let Some(x) = &excludes {
                if !e.rel.is_empty() && x.matches(&e.rel) {
                    continue;
                }
            }
            let target = join(&base_target, &e.rel);
            // Existing symlinked directories inside the destination are followed.
            let target = if e.rel.is_empty() { target } else { view.realpath(&target) };
            let path = target.trim_start_matches('/').to_string();
            if path.is_empty() {
                // Copying a directory's contents onto `/` leaves `/` itself alone.
                continue;
            }
            let is_dir = e.kind == Kind::Dir;
            let mode = chmod.map_or(e.mode, |c| c.apply(e.mode, is_dir));
            let mut kind = match &e.kind {
                Kind::Dir => EntryKind::Dir,
                Kind::File => EntryKind::File(Content::Tree { tree: tree_id, path: e.ctx_path.clone() }),
                Kind::Symlink(t) => EntryKind::Symlink(t.clone()),
                Kind::Other(fmt) => match *fmt {
                    libc::S_IFIFO => EntryKind::Fifo,
                    // Sockets do not go into layers; devices only when the source has them.
                    _ => continue,
                },
            };
            if e.kind == Kind::File && e.nlink > 1 {
                match hardlinks.get(&(e.dev, e.ino)) {
                    Some(first) => kind = EntryKind::Hardlink(first.clone()),
                    None => {
                        hardlinks.insert((e.dev, e.ino), path.clone());
                    }
                }
            }
            let size = if matches!(kind, EntryKind::File(_)) { e.size } else { 0 };
            let (uid, gid) = if owner.is_none() && keep_owners { (e.uid, e.gid) } else { (uid, gid) };
            let digest: Vec<u8> = match &kind {
                EntryKind::File(_) => tree.hash_file(&e.ctx_path, e.rel.is_empty()).map_err(|x| x.to_string())?.to_vec(),
                EntryKind::Symlink(t) | EntryKind::Hardlink(t) => t.as_bytes().to_vec(),
                _ => Vec::new(),
            };
            hasher.record(&[path.as_bytes(), kind_tag(&kind).as_bytes(), &mode.to_le_bytes(), &uid.to_le_bytes(), &gid.to_le_bytes(), &size.to_le_bytes(), &digest]);
            planned.push(LayerEntry { path, kind, mode, uid, gid, mtime: clamp(e.mtime, times.epoch), size, xattrs: Vec::new() });
        }
    }
    for (name, data) in &step.inline {
        let target = if into_dir { join(&dest_real, name) } else { dest_real.clone() };
        let path = target.trim_start_matches('/').to_string();
        let mode = chmod.map_or(0o644, |c| c.apply(0o644, false));
        hasher.record(&[path.as_bytes(), b"inline", &mode.to_le_bytes(), &uid.to_le_bytes(), &gid.to_le_bytes(), data.as_bytes()]);
        planned.push(LayerEntry {
            path,
            kind: EntryKind::File(Content::Inline(data.as_bytes().to_vec())),
            mode,
            uid,
            gid,
            mtime: times.created(),
            size: data.len() as u64,
            xattrs: Vec::new(),
        });
    }
    let entries = with_parents(planned, view, owner, times);
    Ok(CopyPlan { entries, inputs: hasher.finish() })
}

fn kind_tag(k: &EntryKind) -> &'static str {
    match k {
        EntryKind::Dir => "dir",
        EntryKind::File(_) => "file",
        EntryKind::Symlink(_) => "symlink",
        EntryKind::Hardlink(_) => "hardlink",
        EntryKind::Fifo => "fifo",
        EntryKind::Char(..) => "char",
        EntryKind::Block(..) => "block",
    }
}

/// Add every missing ancestor directory of the planned entries: existing ones as they are in
/// the parent file system, new ones `0755` owned by the `--chown` owner (else root).
pub fn with_parents(planned: Vec<LayerEntry>, view: &dyn RootView, owner: Option<(u32, u32)>, times: Times) -> Vec<LayerEntry> {
    let have: BTreeSet<String> = planned.iter().map(|e| e.path.clone()).collect();
    let mut parents: BTreeMap<String, LayerEntry> = BTreeMap::new();
    for e in &planned {
        let mut p = e.path.as_str();
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            if have.contains(p) || parents.contains_key(p) {
                continue;
            }
            let entry = match view.lstat(&format!("/{p}")) {
                Some(m) if m.is_dir => LayerEntry { path: p.to_string(), kind: EntryKind::Dir, mode: m.mode, uid: m.uid, gid: m.gid, mtime: clamp(m.mtime, times.epoch), size: 0, xattrs: Vec::new() },
                _ => {
                    let (uid, gid) = owner.unwrap_or((0, 0));
                    LayerEntry { path: p.to_string(), kind: EntryKind::Dir, mode: 0o755, uid, gid, mtime: times.created(), size: 0, xattrs: Vec::new() }
                }
            };
            parents.insert(p.to_string(), entry);
        }
    }
    let mut all = planned;
    all.extend(parents.into_values());
    normalize(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{DirView, EmptyView};
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::PathBuf;

    fn tmp(name: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("berth-build-copy-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn step(sources: &[&str], dest: &str) -> CopyStep {
        CopyStep {
            add: false,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            inline: vec![],
            dest: dest.into(),
            from: None,
            chown: None,
            chmod: None,
            chmod_text: None,
            link: false,
            parents: false,
            excludes: vec![],
            checksum: None,
            keep_git_dir: false,
            unpack: None,
            workdir: "/".into(),
            user: String::new(),
        }
    }

    const T: Times = Times { now: 1000, epoch: None };

    fn paths(p: &CopyPlan) -> Vec<String> {
        p.entries.iter().map(|e| e.path.clone()).collect()
    }

    fn setup() -> (PathBuf, Context) {
        let top = tmp("ctx");
        let ctx = top.join("ctx");
        std::fs::create_dir_all(ctx.join("src/sub")).unwrap();
        std::fs::write(ctx.join("src/a.txt"), "a").unwrap();
        std::fs::write(ctx.join("src/sub/b.txt"), "bb").unwrap();
        std::fs::write(ctx.join("one"), "1").unwrap();
        std::fs::hard_link(ctx.join("one"), ctx.join("src/one-link")).unwrap();
        symlink("a.txt", ctx.join("src/alias")).unwrap();
        std::fs::set_permissions(ctx.join("src/a.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = Context::open(&ctx, None).unwrap();
        (top, c)
    }

    #[test]
    fn directory_contents_and_file_targets() {
        let (top, c) = setup();
        let p = plan_copy(&step(&["src/"], "/app/"), &c, 0, &EmptyView, T, false).unwrap();
        assert_eq!(paths(&p), vec!["app", "app/a.txt", "app/alias", "app/one-link", "app/sub", "app/sub/b.txt"]);
        let a = p.entries.iter().find(|e| e.path == "app/a.txt").unwrap();
        assert_eq!((a.mode, a.uid, a.gid, a.size), (0o600, 0, 0, 1));
        assert_eq!(p.entries[2].kind, EntryKind::Symlink("a.txt".into()));
        let p = plan_copy(&step(&["one"], "/x/renamed"), &c, 0, &EmptyView, T, false).unwrap();
        assert_eq!(paths(&p), vec!["x", "x/renamed"]);
        let p = plan_copy(&step(&["one"], "/x/"), &c, 0, &EmptyView, T, false).unwrap();
        assert_eq!(paths(&p), vec!["x", "x/one"]);
        let p = plan_copy(&step(&["one", "src/a.txt"], "/d/"), &c, 0, &EmptyView, T, false).unwrap();
        assert_eq!(paths(&p), vec!["d", "d/a.txt", "d/one"]);
        let p = plan_copy(&step(&["src/*.txt", "nomatch*"], "/w/"), &c, 0, &EmptyView, T, false).unwrap();
        assert_eq!(paths(&p), vec!["w", "w/a.txt"]);
        let e = plan_copy(&step(&["missing"], "/w/"), &c, 0, &EmptyView, T, false).unwrap_err();
        assert_eq!(e, "source \"missing\" not found in the build context");
        let e = plan_copy(&step(&["../etc/passwd"], "/w/"), &c, 0, &EmptyView, T, false).unwrap_err();
        assert_eq!(e, "forbidden path outside the build context: ../etc/passwd");
        let _ = std::fs::remove_dir_all(top);
    }

    #[test]
    fn hardlinks_inside_one_copy() {
        let (top, c) = setup();
        let p = plan_copy(&step(&["one", "src/"], "/d/"), &c, 0, &EmptyView, T, false).unwrap();
        let l = p.entries.iter().find(|e| e.path == "d/one-link").unwrap();
        assert_eq!(l.kind, EntryKind::Hardlink("d/one".into()));
        let _ = std::fs::remove_dir_all(top);
    }

    #[test]
    fn owner_mode_time_and_existing_destination() {
        let (top, c) = setup();
        let root = top.join("root");
        std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "app:x:1000:1000::/:/bin/sh\n").unwrap();
        symlink("usr/local/bin", root.join("bin")).unwrap();
        let v = DirView::open(&root).unwrap();
        let mut s = step(&["one"], "/bin");
        s.chown = Some("app".into());
        s.chmod = Some(Chmod::Octal(0o755));
        let p = plan_copy(&s, &c, 0, &v, Times { now: 1000, epoch: Some(10) }, false).unwrap();
        assert_eq!(paths(&p), vec!["usr", "usr/local", "usr/local/bin", "usr/local/bin/one"]);
        let f = p.entries.last().unwrap();
        assert_eq!((f.mode, f.uid, f.gid, f.mtime), (0o755, 1000, 1000, 10));
        assert_eq!(p.entries[0].uid, std::fs::metadata(root.join("usr")).unwrap().uid_of(), "existing parents keep their owner");
        let _ = std::fs::remove_dir_all(top);
    }

    trait Uid {
        fn uid_of(&self) -> u32;
    }
    impl Uid for std::fs::Metadata {
        fn uid_of(&self) -> u32 {
            std::os::unix::fs::MetadataExt::uid(self)
        }
    }

    #[test]
    fn inputs_digest_tracks_content_and_metadata() {
        let (top, c) = setup();
        let d1 = plan_copy(&step(&["src/"], "/app/"), &c, 0, &EmptyView, T, false).unwrap().inputs;
        let d2 = plan_copy(&step(&["src/"], "/app/"), &c, 0, &EmptyView, Times { now: 5000, epoch: None }, false).unwrap().inputs;
        assert_eq!(d1, d2, "time of the build is not an input");
        std::fs::write(c.root().join("src/a.txt"), "A").unwrap();
        let d3 = plan_copy(&step(&["src/"], "/app/"), &c, 0, &EmptyView, T, false).unwrap().inputs;
        assert_ne!(d1, d3);
        std::fs::set_permissions(c.root().join("src/a.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let d4 = plan_copy(&step(&["src/"], "/app/"), &c, 0, &EmptyView, T, false).unwrap().inputs;
        assert_ne!(d3, d4);
        let mut s = step(&["src/"], "/app/");
        s.chown = Some("7:7".into());
        assert_ne!(d4, plan_copy(&s, &c, 0, &EmptyView, T, false).unwrap().inputs);
        let _ = std::fs::remove_dir_all(top);
    }

    #[test]
    fn inline_and_excludes() {
        let (top, c) = setup();
        let mut s = step(&[], "/etc/app.conf");
        s.inline = vec![("EOF".into(), "k=v\n".into())];
        let p = plan_copy(&s, &c, 0, &EmptyView, T, false).unwrap();
        assert_eq!(paths(&p), vec!["etc", "etc/app.conf"]);
        assert_eq!(p.entries[1].kind, EntryKind::File(Content::Inline(b"k=v\n".to_vec())));
        let mut s = step(&["src/"], "/app/");
        s.excludes = vec!["*.txt".into(), "sub".into()];
        let p = plan_copy(&s, &c, 0, &EmptyView, T, false).unwrap();
        assert_eq!(paths(&p), vec!["app", "app/alias", "app/one-link"]);
        let _ = std::fs::remove_dir_all(top);
    }
}
