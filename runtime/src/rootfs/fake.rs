//! A recording [`MountSys`] for unit tests: every call is kept, with its arguments, as a
//! [`Call`]; nothing touches the system. Handles are labelled with what they refer to (the
//! path for lookups, `tree:SRC` for a cloned mount, `fs:TYPE` for a new filesystem) so a test
//! reads like the mount sequence. `fail_at(n, errno)` makes call `n` (0-based) fail.

use super::{MountSys, Result};
use crate::inroot::relative;
use crate::sys::{MountAttr, PROC_SUPER_MAGIC};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;

/// A fake handle: what it refers to, and a number (for `userns_fd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeFd {
    pub label: String,
    pub num: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    OpenRoot(String),
    MkdirAll(String),
    Resolve { path: String, nofollow: bool },
    OpenDir(String),
    CreateFile(String),
    Parent { path: String, create: bool },
    OpenWrite(String),
    Unlink(String),
    Symlink { target: String, link: String },
    CreateExcl(String),
    Mknod { path: String, mode: u32, dev: u64 },
    Chown { path: String, uid: u32, gid: u32 },
    Chmod { path: String, mode: u32 },
    IsDir(String),
    FsMagic(String),
    HostIsDir(String),
    HostExists(String),
    ReadHost(String),
    Mount { src: Option<String>, target: String, fstype: Option<String>, flags: libc::c_ulong, data: Option<String> },
    Umount { target: String, flags: i32 },
    OpenTree { src: String, flags: u32 },
    SetAttr { target: String, recursive: bool, attr: MountAttr },
    MoveMount { from: String, to: String },
    Fsopen(String),
    FsconfigString { fs: String, key: String, value: String },
    FsconfigCreate(String),
    Fsmount { fs: String, attr: u64 },
    IdmapUserns { uid_map: String, gid_map: String },
    CopyTree { from: String, to: String },
    Fchdir(String),
    Chdir(String),
    Chroot(String),
    PivotRoot { new_root: String, put_old: String },
    Write { fd: String, data: String },
    Sethostname(String),
    Setdomainname(String),
}

/// The recording fake. Configure what the "system" looks like with the pub fields, then run
/// the executor against it and look at [`Fake::calls`].
#[derive(Default)]
pub struct Fake {
    calls: RefCell<Vec<Call>>,
    next_fd: Cell<i32>,
    /// (call index, errno): that call fails.
    pub fail: Option<(usize, i32)>,
    /// Handle labels `resolve` reports as missing (ENOENT).
    pub missing: HashSet<String>,
    /// Handle labels `is_dir` says are directories.
    pub dirs: HashSet<String>,
    /// Host paths `host_is_dir` says are files (everything else is a directory).
    pub host_files: HashSet<String>,
    /// Host paths that do not exist (`host_exists`).
    pub host_missing: HashSet<String>,
    /// Handle labels that are not on procfs (`fs_magic`).
    pub not_proc: HashSet<String>,
    /// Host file contents for `read_host`; the default is a cgroup v2 host.
    pub host_files_content: HashMap<String, String>,
}

pub const V2_MOUNTINFO: &str = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

impl Fake {
    pub fn new() -> Self {
        let mut f = Fake { next_fd: Cell::new(3), ..Default::default() };
        f.host_files_content.insert("/proc/self/mountinfo".into(), V2_MOUNTINFO.into());
        f.host_files_content.insert("/proc/self/cgroup".into(), "0::/berth/c1\n".into());
        f
    }

    /// Make call `n` (0-based, in [`Fake::calls`] order) fail with `errno`.
    pub fn fail_at(mut self, n: usize, errno: i32) -> Self {
        self.fail = Some((n, errno));
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// Record a call; the error if it is the one asked to fail.
    fn rec(&self, c: Call) -> io::Result<()> {
        let mut calls = self.calls.borrow_mut();
        let n = calls.len();
        calls.push(c);
        match self.fail {
            Some((at, errno)) if at == n => Err(io::Error::from_raw_os_error(errno)),
            _ => Ok(()),
        }
    }

    fn fd(&self, label: String) -> FakeFd {
        let num = self.next_fd.get();
        self.next_fd.set(num + 1);
        FakeFd { label, num }
    }
}

fn s(p: impl AsRef<OsStr>) -> String {
    p.as_ref().to_string_lossy().into_owned()
}

/// `path` resolved inside the handle `root`: its label.
fn join(root: &FakeFd, path: &Path) -> String {
    let rel = relative(path);
    if rel.as_os_str().is_empty() {
        return root.label.clone();
    }
    let base = root.label.trim_end_matches('/');
    format!("{base}/{}", rel.display())
}

fn at(dir: &FakeFd, name: &OsStr) -> String {
    join(dir, Path::new(name))
}

impl MountSys for Fake {
    type Fd = FakeFd;

    fn raw_fd(&self, fd: &FakeFd) -> i32 {
        fd.num
    }

    fn open_root(&self, path: &Path) -> io::Result<FakeFd> {
        self.rec(Call::OpenRoot(s(path)))?;
        Ok(self.fd(s(path)))
    }
    fn mkdir_all(&self, root: &FakeFd, path: &Path, _mode: u32) -> io::Result<FakeFd> {
        let l = join(root, path);
        self.rec(Call::MkdirAll(l.clone()))?;
        Ok(self.fd(l))
    }
    fn resolve(&self, root: &FakeFd, path: &Path, nofollow: bool) -> io::Result<FakeFd> {
        let l = join(root, path);
        self.rec(Call::Resolve { path: l.clone(), nofollow })?;
        if self.missing.contains(&l) {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        Ok(self.fd(l))
    }
    fn open_dir(&self, root: &FakeFd, path: &Path) -> io::Result<FakeFd> {
        let l = join(root, path);
        self.rec(Call::OpenDir(l.clone()))?;
        Ok(self.fd(l))
    }
    fn create_file(&self, root: &FakeFd, path: &Path, _mode: u32) -> io::Result<()> {
        self.rec(Call::CreateFile(join(root, path)))
    }
    fn parent(&self, root: &FakeFd, path: &Path, create: bool) -> io::Result<(FakeFd, OsString)> {
        let l = join(root, path);
        self.rec(Call::Parent { path: l, create })?;
        let rel = relative(path);
        let name = rel.file_name().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?.to_owned();
        Ok((self.fd(join(root, rel.parent().unwrap_or(Path::new("")))), name))
    }
    fn open_write_nofollow(&self, root: &FakeFd, path: &Path) -> io::Result<FakeFd> {
        let l = join(root, path);
        self.rec(Call::OpenWrite(l.clone()))?;
        Ok(self.fd(l))
    }

    fn unlink_at(&self, dir: &FakeFd, name: &OsStr) -> io::Result<()> {
        self.rec(Call::Unlink(at(dir, name)))
    }
    fn symlink_at(&self, target: &OsStr, dir: &FakeFd, name: &OsStr) -> io::Result<()> {
        self.rec(Call::Symlink { target: s(target), link: at(dir, name) })
    }
    fn create_excl_at(&self, dir: &FakeFd, name: &OsStr, _mode: u32) -> io::Result<()> {
        self.rec(Call::CreateExcl(at(dir, name)))
    }
    fn mknod_at(&self, dir: &FakeFd, name: &OsStr, mode: u32, dev: u64) -> io::Result<()> {
        self.rec(Call::Mknod { path: at(dir, name), mode, dev })
    }
    fn chown_at(&self, dir: &FakeFd, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
        self.rec(Call::Chown { path: at(dir, name), uid, gid })
    }
    fn chmod_at(&self, dir: &FakeFd, name: &OsStr, mode: u32) -> io::Result<()> {
        self.rec(Call::Chmod { path: at(dir, name), mode })
    }

    fn is_dir(&self, fd: &FakeFd) -> io::Result<bool> {
        self.rec(Call::IsDir(fd.label.clone()))?;
        Ok(self.dirs.contains(&fd.label))
    }
    fn fs_magic(&self, fd: &FakeFd) -> io::Result<i64> {
        self.rec(Call::FsMagic(fd.label.clone()))?;
        Ok(if self.not_proc.contains(&fd.label) { 0x6969 } else { PROC_SUPER_MAGIC })
    }
    fn host_is_dir(&self, path: &Path) -> io::Result<bool> {
        self.rec(Call::HostIsDir(s(path)))?;
        Ok(!self.host_files.contains(&s(path)))
    }
    fn host_exists(&self, path: &Path) -> bool {
        // Not fallible: a failure asked for here reads as "does not exist".
        self.rec(Call::HostExists(s(path))).is_ok() && !self.host_missing.contains(&s(path))
    }
    fn read_host(&self, path: &Path) -> io::Result<String> {
        self.rec(Call::ReadHost(s(path)))?;
        self.host_files_content.get(&s(path)).cloned().ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }

    fn mount(&self, src: Option<&OsStr>, target: &Path, fstype: Option<&str>, flags: libc::c_ulong, data: Option<&str>) -> io::Result<()> {
        self.rec(Call::Mount { src: src.map(s), target: s(target), fstype: fstype.map(str::to_owned), flags, data: data.map(str::to_owned) })
    }
    fn mount_on(&self, src: Option<&OsStr>, target: &FakeFd, fstype: Option<&str>, flags: libc::c_ulong, data: Option<&str>) -> io::Result<()> {
        self.rec(Call::Mount { src: src.map(s), target: target.label.clone(), fstype: fstype.map(str::to_owned), flags, data: data.map(str::to_owned) })
    }
    fn umount(&self, target: &Path, flags: i32) -> io::Result<()> {
        self.rec(Call::Umount { target: s(target), flags })
    }
    fn open_tree(&self, path: &Path, flags: u32) -> io::Result<FakeFd> {
        self.rec(Call::OpenTree { src: s(path), flags })?;
        Ok(self.fd(format!("tree:{}", path.display())))
    }
    fn open_tree_fd(&self, fd: &FakeFd, flags: u32) -> io::Result<FakeFd> {
        self.rec(Call::OpenTree { src: fd.label.clone(), flags })?;
        Ok(self.fd(format!("tree:{}", fd.label)))
    }
    fn mount_setattr(&self, fd: &FakeFd, recursive: bool, attr: &MountAttr) -> io::Result<()> {
        self.rec(Call::SetAttr { target: fd.label.clone(), recursive, attr: *attr })
    }
    fn move_mount(&self, from: &FakeFd, to: &FakeFd) -> io::Result<()> {
        self.rec(Call::MoveMount { from: from.label.clone(), to: to.label.clone() })
    }
    fn fsopen(&self, fstype: &str) -> io::Result<FakeFd> {
        self.rec(Call::Fsopen(fstype.into()))?;
        Ok(self.fd(format!("fsctx:{fstype}")))
    }
    fn fsconfig_string(&self, fs: &FakeFd, key: &str, value: &str) -> io::Result<()> {
        self.rec(Call::FsconfigString { fs: fs.label.clone(), key: key.into(), value: value.into() })
    }
    fn fsconfig_create(&self, fs: &FakeFd) -> io::Result<()> {
        self.rec(Call::FsconfigCreate(fs.label.clone()))
    }
    fn fsmount(&self, fs: &FakeFd, attr: u64) -> io::Result<FakeFd> {
        self.rec(Call::Fsmount { fs: fs.label.clone(), attr })?;
        Ok(self.fd(format!("fs:{}", fs.label.trim_start_matches("fsctx:"))))
    }
    fn copy_tree(&self, from: &FakeFd, to: &FakeFd) -> io::Result<()> {
        self.rec(Call::CopyTree { from: from.label.clone(), to: to.label.clone() })
    }
    fn idmap_userns(&self, uid_map: &str, gid_map: &str) -> Result<FakeFd> {
        self.rec(Call::IdmapUserns { uid_map: uid_map.into(), gid_map: gid_map.into() }).map_err(|e| super::err("clone user namespace", e))?;
        Ok(self.fd("userns".into()))
    }

    fn fchdir(&self, dir: &FakeFd) -> io::Result<()> {
        self.rec(Call::Fchdir(dir.label.clone()))
    }
    fn chdir(&self, path: &Path) -> io::Result<()> {
        self.rec(Call::Chdir(s(path)))
    }
    fn chroot(&self, path: &Path) -> io::Result<()> {
        self.rec(Call::Chroot(s(path)))
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        self.rec(Call::PivotRoot { new_root: s(new_root), put_old: s(put_old) })
    }

    fn write_all(&self, fd: &FakeFd, data: &[u8]) -> io::Result<()> {
        self.rec(Call::Write { fd: fd.label.clone(), data: String::from_utf8_lossy(data).into_owned() })
    }
    fn sethostname(&self, name: &str) -> io::Result<()> {
        self.rec(Call::Sethostname(name.into()))
    }
    fn setdomainname(&self, name: &str) -> io::Result<()> {
        self.rec(Call::Setdomainname(name.into()))
    }
}

