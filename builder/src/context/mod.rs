//! The build context: a directory COPY and ADD read from, and nothing outside it.
//!
//! Every path is resolved through [`berth_runtime::inroot::InRoot`] (openat2 with
//! `RESOLVE_IN_ROOT`), so `../x`, absolute sources and symlinks that point outside the
//! context all land inside it; a source that names a path above the context is refused
//! outright. Directories are walked by file descriptor without following symlinks, in
//! sorted order, skipping what `.dockerignore` excludes.

pub mod glob;
pub mod ignore;

use berth_runtime::inroot::InRoot;
use glob::{clean, Glob};
use ignore::Ignore;
use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("forbidden path outside the build context: {0}")]
    Outside(String),
    #[error("source {0:?} not found in the build context")]
    NotFound(String),
    #[error("source {0:?}: {1}")]
    BadPattern(String, String),
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0}")]
    Ignore(#[from] ignore::IgnoreError),
}

fn io_err(path: &str) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io { path: path.to_string(), source }
}

/// What kind of thing an entry is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    /// Fifos, sockets, devices: carried as they are.
    Other(u32),
}

/// One file system object read from a tree.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// Slash path relative to the walked source (`""` for the source itself).
    pub rel: String,
    /// Slash path relative to the context root.
    pub ctx_path: String,
    pub kind: Kind,
    /// Permission bits (incl. setuid/setgid/sticky).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ino: u64,
    pub dev: u64,
    pub nlink: u64,
    /// Device number of char/block devices.
    pub rdev: u64,
}

/// The build context directory.
pub struct Context {
    root: PathBuf,
    inroot: InRoot,
    pub ignore: Ignore,
    /// Content digests of files already hashed, by what `fstat` says about them.
    hashes: std::sync::Mutex<HashCache>,
}

/// (dev, ino, size, mtime ns, ctime ns) -> sha256. A file whose inode, size and change
/// time are unchanged is not read again (ctime moves on any write, even one that restores
/// the mtime).
pub type HashCache = std::collections::HashMap<(u64, u64, u64, i128, i128), [u8; 32]>;

impl Context {
    /// Open `dir` as the context; `.dockerignore` is `<dockerfile>.dockerignore` next to the
    /// Dockerfile when that exists, else `<dir>/.dockerignore`.
    pub fn open(dir: &Path, dockerfile: Option<&Path>) -> Result<Self, ContextError> {
        let d = dir.display().to_string();
        let inroot = InRoot::open(dir).map_err(io_err(&d))?;
        let mut ignore_text = None;
        if let Some(df) = dockerfile {
            let mut p = df.as_os_str().to_owned();
            p.push(".dockerignore");
            if let Ok(t) = std::fs::read_to_string(PathBuf::from(p)) {
                ignore_text = Some(t);
            }
        }
        if ignore_text.is_none() {
            if let Ok(fd) = inroot.open_at(Path::new(".dockerignore"), libc::O_RDONLY, 0) {
                let mut s = String::new();
                File::from(fd).read_to_string(&mut s).map_err(io_err(".dockerignore"))?;
                ignore_text = Some(s);
            }
        }
        let ignore = match ignore_text {
            Some(t) => Ignore::parse(&t)?,
            None => Ignore::default(),
        };
        Ok(Context { root: dir.to_path_buf(), inroot, ignore, hashes: Default::default() })
    }

    /// Open a tree that is not a build context: another stage's root, a RUN's upper
    /// directory. No `.dockerignore`.
    pub fn open_plain(dir: &Path) -> Result<Self, ContextError> {
        let d = dir.display().to_string();
        let inroot = InRoot::open(dir).map_err(io_err(&d))?;
        Ok(Context { root: dir.to_path_buf(), inroot, ignore: Ignore::default(), hashes: Default::default() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A COPY/ADD source as a slash path relative to the root (`.` for the root itself).
    /// Absolute paths are taken relative to the context; climbing above it is refused.
    pub fn normalize(src: &str) -> Result<String, ContextError> {
        let c = clean(src);
        if c == ".." || c.starts_with("../") {
            return Err(ContextError::Outside(src.to_string()));
        }
        let c = c.trim_start_matches('/');
        Ok(if c.is_empty() { ".".into() } else { c.to_string() })
    }

    /// The context paths a source names: itself, or every match of its wildcards (Go
    /// `filepath.Match` per path component, ignored paths left out, sorted). A wildcard
    /// that matches nothing gives an empty list; a plain path that does not exist is an error.
    pub fn expand_source(&self, src: &str) -> Result<Vec<String>, ContextError> {
        let norm = Self::normalize(src)?;
        if !Glob::has_meta(&norm) {
            if norm != "." && self.ignore.matches(&norm) {
                return Err(ContextError::NotFound(src.to_string()));
            }
            match self.inroot.resolve(Path::new(&norm), false) {
                Ok(_) => return Ok(vec![norm]),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                    return Err(ContextError::NotFound(src.to_string()))
                }
                Err(e) => return Err(io_err(src)(e)),
            }
        }
        let comps: Vec<&str> = norm.split('/').collect();
        let mut globs = Vec::new();
        for c in &comps {
            globs.push(Glob::new(c).map_err(|e| ContextError::BadPattern(src.to_string(), e.to_string()))?);
        }
        let mut current = vec![String::new()];
        for (i, (c, g)) in comps.iter().zip(&globs).enumerate() {
            let last = i + 1 == comps.len();
            let mut next = Vec::new();
            for base in &current {
                let names: Vec<String> = if Glob::has_meta(c) {
                    let dir = if base.is_empty() { "." } else { base.as_str() };
                    match self.list_dir(dir) {
                        Ok(n) => n.into_iter().filter(|n| g.matches(n)).collect(),
                        Err(_) => continue,
                    }
                } else {
                    vec![c.to_string()]
                };
                for n in names {
                    let p = if base.is_empty() { n } else { format!("{base}/{n}") };
                    if self.ignore.matches(&p) {
                        continue;
                    }
                    let exists = self.inroot.resolve(Path::new(&p), false).is_ok();
                    if exists && (last || self.is_dir(&p)) {
                        next.push(p);
                    }
                }
            }
            current = next;
        }
        current.sort();
        current.dedup();
        Ok(current)
    }

    fn is_dir(&self, p: &str) -> bool {
        self.inroot.open_dir(Path::new(p)).is_ok()
    }

    fn list_dir(&self, p: &str) -> io::Result<Vec<String>> {
        let fd = self.inroot.open_at(Path::new(p), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        read_dir_fd(fd)
    }

    /// Stat a context path, following symlinks inside the context.
    pub fn stat(&self, ctx_path: &str) -> Result<Entry, ContextError> {
        let fd = self.inroot.resolve(Path::new(ctx_path), false).map_err(io_err(ctx_path))?;
        let st = fstat(&fd).map_err(io_err(ctx_path))?;
        Ok(entry_from_stat("", ctx_path, &st, None))
    }

    /// Everything at and below `ctx_path` (the top followed through symlinks, nothing below
    /// it followed), sorted by path, `.dockerignore`d paths left out.
    pub fn walk(&self, ctx_path: &str) -> Result<Vec<Entry>, ContextError> {
        let top = self.stat(ctx_path)?;
        let mut out = vec![top.clone()];
        if top.kind == Kind::Dir {
            let fd = self.inroot.open_at(Path::new(ctx_path), libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(io_err(ctx_path))?;
            self.walk_dir(fd, "", ctx_path, &mut out)?;
        }
        Ok(out)
    }

    fn walk_dir(&self, dir: OwnedFd, rel: &str, ctx: &str, out: &mut Vec<Entry>) -> Result<(), ContextError> {
        let names = read_dir_fd(dir.try_clone().map_err(io_err(ctx))?).map_err(io_err(ctx))?;
        for name in names {
            let r = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let c = if ctx == "." { name.clone() } else { format!("{ctx}/{name}") };
            let cname = CString::new(name.as_bytes()).map_err(|_| io_err(&c)(io::Error::from_raw_os_error(libc::EINVAL)))?;
            let st = fstatat_nofollow(&dir, &cname).map_err(io_err(&c))?;
            let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if self.ignore.matches(&c) {
                if is_dir && self.ignore.has_exclusions() && self.ignore.may_reinclude_below(&c) {
                    // Walk it for re-included children, but do not emit the directory itself
                    // unless something below survives.
                    let sub = openat_dir(&dir, &cname).map_err(io_err(&c))?;
                    let mark = out.len();
                    self.walk_dir(sub, &r, &c, out)?;
                    if out.len() > mark {
                        out.insert(mark, entry_from_stat(&r, &c, &st, None));
                    }
                }
                continue;
            }
            let link = if st.st_mode & libc::S_IFMT == libc::S_IFLNK { Some(readlinkat(&dir, &cname).map_err(io_err(&c))?) } else { None };
            out.push(entry_from_stat(&r, &c, &st, link));
            if is_dir {
                let sub = openat_dir(&dir, &cname).map_err(io_err(&c))?;
                self.walk_dir(sub, &r, &c, out)?;
            }
        }
        Ok(())
    }

    /// Open a regular file found by [`walk`](Self::walk) (its last component not followed).
    pub fn open_file(&self, ctx_path: &str) -> Result<File, ContextError> {
        let fd = self.inroot.open_at(Path::new(ctx_path), libc::O_RDONLY | libc::O_NOFOLLOW, 0).map_err(io_err(ctx_path))?;
        Ok(File::from(fd))
    }

    /// Open a source path itself, following symlinks inside the context.
    pub fn open_source(&self, ctx_path: &str) -> Result<File, ContextError> {
        let fd = self.inroot.open_at(Path::new(ctx_path), libc::O_RDONLY, 0).map_err(io_err(ctx_path))?;
        Ok(File::from(fd))
    }

    /// sha256 of a context file's content.
    pub fn hash_file(&self, ctx_path: &str, follow: bool) -> Result<[u8; 32], ContextError> {
        let mut f = if follow { self.open_source(ctx_path)? } else { self.open_file(ctx_path)? };
        let st = fstat(&OwnedFd::from(f.try_clone().map_err(io_err(ctx_path))?)).map_err(io_err(ctx_path))?;
        let key = (
            st.st_dev,
            st.st_ino,
            st.st_size as u64,
            i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
        );
        if let Some(d) = self.hashes.lock().ok().and_then(|m| m.get(&key).copied()) {
            return Ok(d);
        }
        let digest = Self::hash_reader(&mut f, ctx_path)?;
        if let Ok(mut m) = self.hashes.lock() {
            m.insert(key, digest);
        }
        Ok(digest)
    }

    /// Seed the digest cache (from a previous build).
    pub fn load_hashes(&self, entries: HashCache) {
        if let Ok(mut m) = self.hashes.lock() {
            m.extend(entries);
        }
    }

    /// The digest cache, to keep for the next build.
    pub fn hashes(&self) -> HashCache {
        self.hashes.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn hash_reader(f: &mut File, ctx_path: &str) -> Result<[u8; 32], ContextError> {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(io_err(ctx_path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(h.finalize().into())
    }
}

fn entry_from_stat(rel: &str, ctx: &str, st: &libc::stat, link: Option<String>) -> Entry {
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink(link.unwrap_or_default()),
        other => Kind::Other(other),
    };
    Entry {
        rel: rel.to_string(),
        ctx_path: ctx.to_string(),
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as u64,
        mtime: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
        ino: st.st_ino,
        dev: st.st_dev,
        nlink: st.st_nlink,
        rdev: st.st_rdev,
    }
}

pub(crate) fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data; fstatat with AT_EMPTY_PATH on a valid fd fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstatat(fd.as_raw_fd(), c"".as_ptr(), &mut st, libc::AT_EMPTY_PATH) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

pub(crate) fn fstatat_nofollow(dir: &OwnedFd, name: &CString) -> io::Result<libc::stat> {
    // SAFETY: valid dirfd, NUL-terminated name, zeroed plain-data out parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

pub(crate) fn openat_dir(dir: &OwnedFd, name: &CString) -> io::Result<OwnedFd> {
    // SAFETY: valid dirfd and name; O_NOFOLLOW keeps a swapped-in symlink from being entered.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn readlinkat(dir: &OwnedFd, name: &CString) -> io::Result<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: buffer and its length passed together.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Names in a directory fd, sorted, without `.` and `..`.
pub(crate) fn read_dir_fd(fd: OwnedFd) -> io::Result<Vec<String>> {
    let raw = fd.as_raw_fd();
    std::mem::forget(fd);
    // SAFETY: fdopendir takes ownership of the fd (closed by closedir).
    let d = unsafe { libc::fdopendir(raw) };
    if d.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so we still own raw.
        unsafe { libc::close(raw) };
        return Err(e);
    }
    let mut names = Vec::new();
    loop {
        // SAFETY: d is a valid DIR*; readdir returns NULL at the end.
        let ent = unsafe { libc::readdir(d) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated within the dirent.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        let b = name.to_bytes();
        if b == b"." || b == b".." {
            continue;
        }
        names.push(String::from_utf8_lossy(std::ffi::OsStr::from_bytes(b).as_bytes()).into_owned());
    }
    // SAFETY: closes the DIR* and its fd.
    unsafe { libc::closedir(d) };
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-build-ctx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn normalize_rules() {
        assert_eq!(Context::normalize("./a/../b").unwrap(), "b");
        assert_eq!(Context::normalize("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(Context::normalize(".").unwrap(), ".");
        assert_eq!(Context::normalize("/").unwrap(), ".");
        assert!(matches!(Context::normalize("../x"), Err(ContextError::Outside(_))));
        assert!(matches!(Context::normalize("a/../../x"), Err(ContextError::Outside(_))));
    }

    #[test]
    fn symlinks_stay_inside_and_wildcards_match() {
        let top = tmp("walk");
        let ctx = top.join("ctx");
        std::fs::create_dir_all(ctx.join("src/sub")).unwrap();
        std::fs::create_dir_all(ctx.join("etc")).unwrap();
        std::fs::write(top.join("secret"), "outside").unwrap();
        std::fs::write(ctx.join("etc/passwd"), "inside").unwrap();
        std::fs::write(ctx.join("src/a.txt"), "a").unwrap();
        std::fs::write(ctx.join("src/b.md"), "b").unwrap();
        std::fs::write(ctx.join("src/sub/c.txt"), "c").unwrap();
        std::fs::write(ctx.join(".dockerignore"), "src/b.md\n").unwrap();
        symlink("/etc/passwd", ctx.join("abs")).unwrap();
        symlink("../secret", ctx.join("up")).unwrap();
        let c = Context::open(&ctx, None).unwrap();
        let mut s = String::new();
        c.open_source("abs").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "inside");
        assert!(c.open_source("up").is_err(), "../secret resolves to <ctx>/secret, which does not exist");
        assert_eq!(c.expand_source("src/*.txt").unwrap(), vec!["src/a.txt"]);
        assert_eq!(c.expand_source("src/*").unwrap(), vec!["src/a.txt", "src/sub"]);
        assert_eq!(c.expand_source("*/*.txt").unwrap(), vec!["src/a.txt"]);
        assert!(c.expand_source("nothing*").unwrap().is_empty());
        assert!(matches!(c.expand_source("src/b.md"), Err(ContextError::NotFound(_))));
        assert!(matches!(c.expand_source("missing"), Err(ContextError::NotFound(_))));
        let w: Vec<String> = c.walk("src").unwrap().into_iter().map(|e| e.rel).collect();
        assert_eq!(w, vec!["", "a.txt", "sub", "sub/c.txt"]);
        let root: Vec<String> = c.walk(".").unwrap().into_iter().map(|e| e.ctx_path).collect();
        assert!(root.contains(&"abs".to_string()) && root.contains(&".dockerignore".to_string()));
        let e = c.walk("abs").unwrap();
        assert_eq!(e[0].kind, Kind::File, "the source itself is followed (inside the context)");
        let _ = std::fs::remove_dir_all(&top);
    }
}
