//! Applying one tar entry at a time to a directory, confined by file descriptor.
//!
//! Every parent directory is resolved with [`InRoot`] (openat2 `RESOLVE_IN_ROOT`), so `..`
//! and symlinks planted by this or earlier layers cannot lead outside; the final component is
//! created with `O_CREAT|O_EXCL|O_NOFOLLOW` / `*at` calls on the parent's fd and its metadata
//! set through its own fd. The parent fd is cached across consecutive entries in the same
//! directory (tars are grouped by directory), and dropped whenever an entry replaces or
//! removes a path that could be that directory or one of its ancestors.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use berth_runtime::inroot::InRoot;

use super::path::{classify, Target};
use super::tar::{Entry, Kind, TarError, TarReader};
use crate::error::Error;
use crate::fsutil::{self, cstring};

/// How whiteouts are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Layers applied on top of each other in one directory: whiteouts delete.
    Flat,
    /// One directory per layer for overlayfs: whiteouts become 0/0 character devices and
    /// opaque directories get `trusted.overlay.opaque=y`.
    Snapshot,
}

pub const OVERLAY_OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";

pub struct Applier<'a> {
    root: &'a InRoot,
    mode: Mode,
    /// Layer digest, for error messages.
    layer: String,
    /// Snapshot mode: the snapshots below this one, top first (for hardlink copy-up).
    lowers: &'a [InRoot],
    cache: Option<(PathBuf, OwnedFd)>,
    dir_times: Vec<(PathBuf, i64, u32)>,
    /// Paths this layer created (whiteouts only hide lower layers' files).
    created: HashSet<PathBuf>,
    buf: Vec<u8>,
    chown: bool,
    pub entries: u64,
}

type R<T> = Result<T, Error>;

impl<'a> Applier<'a> {
    pub fn new(root: &'a InRoot, mode: Mode, layer: &str, lowers: &'a [InRoot]) -> Self {
        Applier {
            root,
            mode,
            layer: layer.to_owned(),
            lowers,
            cache: None,
            dir_times: vec![],
            created: HashSet::new(),
            buf: vec![0u8; 1 << 20],
            // SAFETY: geteuid has no failure mode.
            chown: unsafe { libc::geteuid() } == 0,
            entries: 0,
        }
    }

    fn refuse(&self, e: &Entry, reason: impl Into<String>) -> Error {
        Error::UnsafeEntry { layer: self.layer.clone(), entry: e.path_lossy(), reason: reason.into() }
    }

    fn eio(&self, e: &Entry, source: io::Error) -> Error {
        Error::EntryIo { layer: self.layer.clone(), entry: e.path_lossy(), source }
    }

    pub fn tar_error(&self, e: TarError) -> Error {
        Error::Layer { layer: self.layer.clone(), reason: e.to_string() }
    }

    /// Apply every entry of the archive.
    pub fn apply_all<Rd: io::Read>(&mut self, tar: &mut TarReader<Rd>) -> R<()> {
        while let Some(e) = tar.next_entry().map_err(|e| self.tar_error(e))? {
            self.apply(&e, tar)?;
            self.entries += 1;
        }
        self.finish()
    }

    /// Apply one entry; its data (regular files) is read from `tar`.
    pub fn apply<Rd: io::Read>(&mut self, e: &Entry, tar: &mut TarReader<Rd>) -> R<()> {
        let target = classify(&e.path).map_err(|r| self.refuse(e, r))?;
        match target {
            Target::Whiteout(p) => self.whiteout(e, &p),
            Target::Opaque(p) => self.opaque(e, &p),
            Target::Path(p) if p.as_os_str().is_empty() => {
                if e.kind != Kind::Dir {
                    return Err(self.refuse(e, "names the root itself but is not a directory"));
                }
                let fd = self.root.open_at(Path::new("."), libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|x| self.eio(e, x))?;
                self.set_meta_fd(e, fd.as_raw_fd())?;
                self.dir_times.push((p, e.mtime, e.mtime_nsec));
                Ok(())
            }
            Target::Path(p) => {
                let r = match e.kind {
                    Kind::File => self.file(e, &p, tar),
                    Kind::Dir => self.dir(e, &p),
                    Kind::Symlink => self.symlink(e, &p),
                    Kind::Hardlink => self.hardlink(e, &p),
                    Kind::Char | Kind::Block | Kind::Fifo => self.node(e, &p),
                };
                if r.is_ok() && self.mode == Mode::Flat {
                    self.created.insert(p);
                }
                r
            }
        }
    }

    /// Set directory mtimes (deferred: creating children changes them).
    pub fn finish(&mut self) -> R<()> {
        self.cache = None;
        for (p, s, ns) in std::mem::take(&mut self.dir_times).into_iter().rev() {
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            match self.root.open_at(&p, flags, 0) {
                Ok(fd) => {
                    let _ = fsutil::futimens(fd.as_raw_fd(), s, ns);
                }
                Err(_) => continue, // replaced or removed by a later entry
            }
        }
        Ok(())
    }

    /// The fd of `p`'s parent (created if missing) and `p`'s final name.
    fn parent(&mut self, e: &Entry, p: &Path) -> R<(RawFd, CString)> {
        let parent = p.parent().unwrap_or(Path::new(""));
        let name = cstring(p.file_name().expect("normalised non-root path has a name")).map_err(|x| self.eio(e, x))?;
        let hit = matches!(&self.cache, Some((c, _)) if c == parent);
        if !hit {
            let fd = match self.root.open_dir(parent) {
                Ok(fd) => fd,
                Err(x) if x.raw_os_error() == Some(libc::ENOENT) => self.root.mkdir_all(parent, 0o755).map_err(|x| self.eio(e, x))?,
                Err(x) if x.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(self.refuse(e, "a parent of this path is not a directory"));
                }
                Err(x) => return Err(self.eio(e, x)),
            };
            self.cache = Some((parent.to_path_buf(), fd));
        }
        Ok((self.cache.as_ref().unwrap().1.as_raw_fd(), name))
    }

    /// Forget the cached parent when `p` (being replaced or removed) is it or an ancestor.
    fn invalidate(&mut self, p: &Path) {
        if matches!(&self.cache, Some((c, _)) if c.starts_with(p)) {
            self.cache = None;
        }
    }

    /// Remove whatever is at `name` in `dir` (`p`'s parent; directories recursively, by fd).
    /// `dir` may be the cached fd of `p`'s parent, which `invalidate(p)` never drops.
    fn clear(&mut self, e: &Entry, p: &Path, dir: RawFd, name: &CStr) -> R<()> {
        fsutil::remove_all_at(dir, name).map_err(|x| self.eio(e, x))?;
        self.invalidate(p);
        Ok(())
    }

    fn file<Rd: io::Read>(&mut self, e: &Entry, p: &Path, tar: &mut TarReader<Rd>) -> R<()> {
        let (dir, name) = self.parent(e, p)?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let fd = match fsutil::openat(dir, &name, flags, 0o600) {
            Ok(fd) => fd,
            Err(x) if x.raw_os_error() == Some(libc::EEXIST) => {
                self.clear(e, p, dir, &name)?;
                self.invalidate(p);
                let (dir, name) = self.parent(e, p)?;
                fsutil::openat(dir, &name, flags, 0o600).map_err(|x| self.eio(e, x))?
            }
            Err(x) => return Err(self.eio(e, x)),
        };
        let raw = fd.as_raw_fd();
        let mut buf = std::mem::take(&mut self.buf);
        let res = (|| {
            loop {
                let n = tar.read_data(&mut buf).map_err(|x| self.tar_error(x))?;
                if n == 0 {
                    break;
                }
                write_all(raw, &buf[..n]).map_err(|x| self.eio(e, x))?;
            }
            Ok(())
        })();
        self.buf = buf;
        res?;
        self.set_meta_fd(e, raw)?;
        fsutil::futimens(raw, e.mtime, e.mtime_nsec).map_err(|x| self.eio(e, x))
    }

    fn dir(&mut self, e: &Entry, p: &Path) -> R<()> {
        let (dir, name) = self.parent(e, p)?;
        match fsutil::mkdirat(dir, &name, 0o700) {
            Ok(()) => {}
            Err(x) if x.raw_os_error() == Some(libc::EEXIST) => {
                let st = fsutil::fstatat(dir, &name).map_err(|x| self.eio(e, x))?;
                if !fsutil::is_dir(&st) {
                    self.clear(e, p, dir, &name)?;
                    self.invalidate(p);
                    let (dir, name) = self.parent(e, p)?;
                    fsutil::mkdirat(dir, &name, 0o700).map_err(|x| self.eio(e, x))?;
                }
            }
            Err(x) => return Err(self.eio(e, x)),
        }
        let (dir, name) = self.parent(e, p)?;
        let fd = fsutil::openat(dir, &name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0).map_err(|x| self.eio(e, x))?;
        self.set_meta_fd(e, fd.as_raw_fd())?;
        self.dir_times.push((p.to_path_buf(), e.mtime, e.mtime_nsec));
        Ok(())
    }

    fn symlink(&mut self, e: &Entry, p: &Path) -> R<()> {
        if e.link.is_empty() {
            return Err(self.refuse(e, "symlink with an empty target"));
        }
        let target = CString::new(e.link.clone()).map_err(|_| self.refuse(e, "symlink target contains a NUL byte"))?;
        self.invalidate(p);
        let (dir, name) = self.parent(e, p)?;
        if let Err(x) = fsutil::symlinkat(&target, dir, &name) {
            if x.raw_os_error() != Some(libc::EEXIST) {
                return Err(self.eio(e, x));
            }
            self.clear(e, p, dir, &name)?;
            let (dir, name) = self.parent(e, p)?;
            fsutil::symlinkat(&target, dir, &name).map_err(|x| self.eio(e, x))?;
        }
        let (dir, name) = self.parent(e, p)?;
        if self.chown {
            fsutil::fchownat_nofollow(dir, &name, e.uid, e.gid).map_err(|x| self.eio(e, x))?;
        }
        fsutil::utimensat_nofollow(dir, &name, e.mtime, e.mtime_nsec).map_err(|x| self.eio(e, x))
    }

    fn hardlink(&mut self, e: &Entry, p: &Path) -> R<()> {
        let target = super::path::normalize(&e.link).map_err(|r| self.refuse(e, format!("hardlink target {:?}: {r}", String::from_utf8_lossy(&e.link))))?;
        if target.as_os_str().is_empty() {
            return Err(self.refuse(e, "hardlink to the root directory"));
        }
        if target == p {
            return Ok(()); // a link to itself: nothing to do
        }
        let tname = cstring(target.file_name().unwrap()).map_err(|x| self.eio(e, x))?;
        let tparent = target.parent().unwrap_or(Path::new(""));
        let not_found = |a: &Self| a.refuse(e, format!("hardlink target {:?} does not exist inside the layer's root", String::from_utf8_lossy(&e.link)));
        let tdir = match self.root.open_dir(tparent) {
            Ok(fd) => fd,
            Err(x) if matches!(x.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                if self.mode == Mode::Snapshot && self.copy_up(e, &target)? {
                    self.root.open_dir(tparent).map_err(|x| self.eio(e, x))?
                } else {
                    return Err(not_found(self));
                }
            }
            Err(x) => return Err(self.eio(e, x)),
        };
        match fsutil::fstatat(tdir.as_raw_fd(), &tname) {
            Ok(st) if fsutil::is_dir(&st) => return Err(self.refuse(e, "hardlink to a directory")),
            Ok(_) => {}
            Err(x) if x.raw_os_error() == Some(libc::ENOENT) => {
                if !(self.mode == Mode::Snapshot && self.copy_up(e, &target)?) {
                    return Err(not_found(self));
                }
            }
            Err(x) => return Err(self.eio(e, x)),
        }
        self.invalidate(p);
        let (dir, name) = self.parent(e, p)?;
        if let Err(x) = fsutil::linkat(tdir.as_raw_fd(), &tname, dir, &name) {
            if x.raw_os_error() != Some(libc::EEXIST) {
                return Err(self.eio(e, x));
            }
            self.clear(e, p, dir, &name)?;
            let (dir, name) = self.parent(e, p)?;
            fsutil::linkat(tdir.as_raw_fd(), &tname, dir, &name).map_err(|x| self.eio(e, x))?;
        }
        Ok(())
    }

    fn node(&mut self, e: &Entry, p: &Path) -> R<()> {
        let kind = match e.kind {
            Kind::Char => libc::S_IFCHR,
            Kind::Block => libc::S_IFBLK,
            _ => libc::S_IFIFO,
        };
        let dev = libc::makedev(e.dev_major, e.dev_minor);
        self.invalidate(p);
        let (dir, name) = self.parent(e, p)?;
        if let Err(x) = fsutil::mknodat(dir, &name, kind | 0o600, dev) {
            if x.raw_os_error() != Some(libc::EEXIST) {
                return Err(self.eio(e, x));
            }
            self.clear(e, p, dir, &name)?;
            let (dir, name) = self.parent(e, p)?;
            fsutil::mknodat(dir, &name, kind | 0o600, dev).map_err(|x| self.eio(e, x))?;
        }
        let (dir, name) = self.parent(e, p)?;
        if self.chown {
            fsutil::fchownat_nofollow(dir, &name, e.uid, e.gid).map_err(|x| self.eio(e, x))?;
        }
        fsutil::fchmodat(dir, &name, e.mode).map_err(|x| self.eio(e, x))?;
        fsutil::utimensat_nofollow(dir, &name, e.mtime, e.mtime_nsec).map_err(|x| self.eio(e, x))
    }

    fn whiteout(&mut self, e: &Entry, p: &Path) -> R<()> {
        if self.created.contains(p) {
            return Ok(()); // whiteouts hide lower layers only
        }
        self.invalidate(p);
        match self.mode {
            Mode::Flat => {
                let parent = p.parent().unwrap_or(Path::new(""));
                let dir = match self.root.open_dir(parent) {
                    Ok(fd) => fd,
                    Err(x) if matches!(x.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(()),
                    Err(x) => return Err(self.eio(e, x)),
                };
                let name = cstring(p.file_name().unwrap()).map_err(|x| self.eio(e, x))?;
                fsutil::remove_all_at(dir.as_raw_fd(), &name).map_err(|x| self.eio(e, x))
            }
            Mode::Snapshot => {
                let (dir, name) = self.parent(e, p)?;
                match fsutil::mknodat(dir, &name, libc::S_IFCHR, 0) {
                    Ok(()) => Ok(()),
                    Err(x) if x.raw_os_error() == Some(libc::EEXIST) => {
                        self.clear(e, p, dir, &name)?;
                        let (dir, name) = self.parent(e, p)?;
                        fsutil::mknodat(dir, &name, libc::S_IFCHR, 0).map_err(|x| self.eio(e, x))
                    }
                    Err(x) => Err(self.eio(e, x)),
                }
            }
        }
    }

    fn opaque(&mut self, e: &Entry, p: &Path) -> R<()> {
        match self.mode {
            Mode::Flat => {
                let dir = match self.root.open_at(p, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
                    Ok(fd) => fd,
                    Err(x) if matches!(x.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(()),
                    Err(x) => return Err(self.eio(e, x)),
                };
                let names = fsutil::read_dir_fd(dir.as_fd()).map_err(|x| self.eio(e, x))?;
                for n in names {
                    let child = p.join(&n);
                    if self.created.contains(&child) {
                        continue;
                    }
                    self.invalidate(&child);
                    let c = cstring(&n).map_err(|x| self.eio(e, x))?;
                    fsutil::remove_all_at(dir.as_raw_fd(), &c).map_err(|x| self.eio(e, x))?;
                }
                Ok(())
            }
            Mode::Snapshot => {
                let fd = self.root.mkdir_all(p, 0o755).map_err(|x| self.eio(e, x))?;
                let dir = fsutil::openat(fd.as_raw_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|x| self.eio(e, x))?;
                fsutil::fsetxattr(dir.as_raw_fd(), OVERLAY_OPAQUE_XATTR, b"y").map_err(|x| self.eio(e, x))
            }
        }
    }

    fn set_meta_fd(&self, e: &Entry, fd: RawFd) -> R<()> {
        if self.chown {
            fsutil::fchown(fd, e.uid, e.gid).map_err(|x| self.eio(e, x))?;
        }
        fsutil::fchmod(fd, e.mode).map_err(|x| self.eio(e, x))?;
        for (k, v) in &e.xattrs {
            // A layer must not steer overlayfs (opaque/redirect/metacopy) through xattrs.
            if k.starts_with(b"trusted.overlay.") || k.starts_with(b"user.overlay.") {
                log::warn!("layer {}: entry {}: ignoring xattr {}", self.layer, e.path_lossy(), String::from_utf8_lossy(k));
                continue;
            }
            let name = match CString::new(k.clone()) {
                Ok(n) => n,
                Err(_) => continue,
            };
            if let Err(x) = fsutil::fsetxattr(fd, &name, v) {
                log::warn!("layer {}: entry {}: xattr {}: {x}", self.layer, e.path_lossy(), String::from_utf8_lossy(k));
            }
        }
        Ok(())
    }

    /// Snapshot mode: a hardlink whose target lives in a lower snapshot. overlayfs would copy
    /// the file up before linking; do the same into this snapshot. Returns whether found.
    fn copy_up(&mut self, e: &Entry, target: &Path) -> R<bool> {
        for lower in self.lowers {
            let parent = target.parent().unwrap_or(Path::new(""));
            let tname = cstring(target.file_name().unwrap()).map_err(|x| self.eio(e, x))?;
            let pdir = match lower.open_dir(parent) {
                Ok(fd) => fd,
                Err(_) => continue,
            };
            match fsutil::fstatat(pdir.as_raw_fd(), &tname) {
                Ok(st) => {
                    let fmt = st.st_mode & libc::S_IFMT;
                    if fmt == libc::S_IFCHR && st.st_rdev == 0 {
                        return Ok(false); // whited out
                    }
                    if fmt != libc::S_IFREG {
                        return Ok(false);
                    }
                    let src = fsutil::openat(pdir.as_raw_fd(), &tname, libc::O_RDONLY | libc::O_NOFOLLOW, 0).map_err(|x| self.eio(e, x))?;
                    let (dir, name) = self.parent(e, target)?;
                    let dst = fsutil::openat(dir, &name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, 0o600).map_err(|x| self.eio(e, x))?;
                    copy_fd(src.as_raw_fd(), dst.as_raw_fd()).map_err(|x| self.eio(e, x))?;
                    if self.chown {
                        fsutil::fchown(dst.as_raw_fd(), st.st_uid, st.st_gid).map_err(|x| self.eio(e, x))?;
                    }
                    fsutil::fchmod(dst.as_raw_fd(), st.st_mode & 0o7777).map_err(|x| self.eio(e, x))?;
                    fsutil::futimens(dst.as_raw_fd(), st.st_mtime, st.st_mtime_nsec as u32).map_err(|x| self.eio(e, x))?;
                    return Ok(true);
                }
                Err(_) => {
                    let opaque = fsutil::openat(pdir.as_raw_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
                        .ok()
                        .and_then(|d| fsutil::fgetxattr(d.as_raw_fd(), OVERLAY_OPAQUE_XATTR).ok())
                        .is_some_and(|v| v == b"y");
                    if opaque {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(false)
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: data is a live slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

fn copy_fd(src: RawFd, dst: RawFd) -> io::Result<()> {
    loop {
        // SAFETY: plain syscall between two fds we hold.
        let n = unsafe { libc::copy_file_range(src, std::ptr::null_mut(), dst, std::ptr::null_mut(), 1 << 30, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(());
        }
    }
}
