//! Control groups: where a container's processes live and what they may use.
//!
//! The runtime plans a [`Cgroup`] from the spec's `cgroupsPath` and the host's [`Layout`]
//! (v1, v2, or hybrid) without touching the system, creates it, applies `linux.resources`,
//! moves the container's init into it, and removes it on delete. A `Cgroup` is stored in
//! `state.json`, so later verbs (`update`, `pause`, `events`, `ps`, `delete`) reopen it without
//! re-deriving anything.
//!
//! Resources go through a pure step first (`linux.resources` -> a list of [`CgroupWrite`]s, see
//! `v1.rs` and `v2.rs`), then a small executor writes them in order (`resources.rs`). Devices
//! are v1 allow/deny lists or, on v2, an eBPF program (`devices/`). Stats in runc's
//! `events --stats` shape are in `stats.rs`, OOM notification in `oom.rs`, runc's `update`
//! flags in `update.rs`, the systemd driver in `systemd/`.

pub mod devices;
pub mod events;
#[cfg(test)]
mod fake;
mod freezer;
mod fs;
mod join;
pub mod layout;
pub mod oom;
pub mod path;
pub mod record;
mod resources;
pub mod stats;
pub mod systemd;
pub mod update;
pub mod v1;
pub mod v2;

use std::io;
use std::path::{Path, PathBuf};

pub use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use join::SelfJoin;
pub use layout::{Layout, Mode, OwnCgroups};
pub use path::Placement;
pub use resources::{CgroupWrite, Current, IfFails, Intent, Plan};

/// What the runtime asks for.
#[derive(Debug, Clone)]
pub struct CgroupRequest<'a> {
    /// `linux.cgroupsPath` from the spec, if any.
    pub cgroups_path: Option<&'a str>,
    /// The container id (default path and systemd unit names derive from it).
    pub id: &'a str,
    /// `--systemd-cgroup` was given.
    pub systemd: bool,
}

/// A container's cgroup on this host (v1: one directory per hierarchy; v2: one directory;
/// hybrid: both).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {
    /// The host's layout when this cgroup was planned.
    pub mode: Mode,
    /// v1: the container's directory in each mounted hierarchy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub v1: Vec<V1Dir>,
    /// The container's directory on the cgroup2 hierarchy: every controller on a v2 host; on a
    /// hybrid host, process tracking plus the controllers v1 lacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified: Option<PathBuf>,
    /// Where the cgroup2 hierarchy is mounted (controllers are handed down from there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified_mount: Option<PathBuf>,
    /// The systemd unit holding the container (`--systemd-cgroup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<SystemdUnit>,
    /// Directories `create` made, parents before children. `destroy` removes exactly these,
    /// so pre-existing parents (containerd's namespace directory) and a pre-existing leaf that
    /// the container merely joined stay.
    #[serde(default, skip_serializing_if = "record::Created::is_empty")]
    pub created: record::Created,
    /// Rootless without a writable (delegated) cgroup: nothing was created, the container runs
    /// in the caller's cgroup, and resource limits are refused.
    #[serde(default, skip_serializing_if = "record::Flag::is_unset")]
    pub disabled: record::Flag,
}

/// The container's directory in one v1 hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct V1Dir {
    /// The hierarchy's controllers as mounted: `memory`, `cpu,cpuacct`, `name=systemd`.
    pub controllers: String,
    pub path: PathBuf,
}

/// A transient systemd unit (`--systemd-cgroup`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SystemdUnit {
    pub slice: String,
    pub unit: String,
    /// The unit was started (with the container's init in it).
    #[serde(default, skip_serializing_if = "record::Flag::is_unset")]
    pub started: record::Flag,
    #[serde(skip)]
    pub pending: record::Pending,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroups: no cgroup filesystem is mounted (no cgroup or cgroup2 entry in /proc/self/mountinfo)")]
    NoCgroupMount,
    #[error("cgroups: the {controller} controller is not mounted on this host")]
    MissingController { controller: String },
    #[error("cgroups: invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("cgroups: read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cgroups: write {value:?} to {}: {source}", path.display())]
    Write { path: PathBuf, value: String, source: io::Error },
    #[error("cgroups: create {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("cgroups: remove {}: {source}", path.display())]
    Remove { path: PathBuf, source: io::Error },
    #[error("cgroups: remove {}: still busy after {waited_ms} ms (processes left: {pids:?})", path.display())]
    Busy { path: PathBuf, waited_ms: u64, pids: Vec<i32> },
    #[error("cgroups: freeze {}: {reason}", path.display())]
    Freeze { path: PathBuf, reason: String },
    #[error("cgroups: {what}: {reason}")]
    InvalidResource { what: String, reason: String },
    #[error("cgroups: {0}")]
    Unsupported(String),
    #[error("cgroups: resource limits were requested but {} is not writable by this user (rootless without a delegated cgroup)", path.display())]
    NotDelegated { path: PathBuf },
    #[error("cgroups: the container has no cgroup of its own (rootless without a delegated cgroup)")]
    Disabled,
    #[error("cgroups: systemd: {0}")]
    Systemd(String),
    /// From the first contract; never returned any more (callers that still match on it
    /// keep compiling).
    #[doc(hidden)]
    #[error("cgroups: {0} is not implemented")]
    Unimplemented(&'static str),
}

impl Error {
    /// A copy of a cached error (the host layout is detected once; `io::Error` is not `Clone`).
    fn clone_detached(&self) -> Error {
        let io = |e: &io::Error| io::Error::new(e.kind(), e.to_string());
        match self {
            Error::Read { path, source } => Error::Read { path: path.clone(), source: io(source) },
            Error::NoCgroupMount => Error::NoCgroupMount,
            other => Error::Unsupported(other.to_string()),
        }
    }

    fn is_permission(&self) -> bool {
        let e = match self {
            Error::Create { source, .. } | Error::Write { source, .. } => source,
            _ => return false,
        };
        matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS))
    }
}

impl Cgroup {
    /// Decide where the cgroup lives, from the request and the host's layout. Touches nothing
    /// (reads the cached mount table, and `/proc/self/cgroup` for a relative path).
    pub fn plan(req: &CgroupRequest<'_>) -> Result<Cgroup, Error> {
        if req.systemd {
            if let Some(reason) = systemd::unavailable_reason() {
                return Err(Error::Systemd(reason));
            }
        }
        Self::plan_on(req, Layout::host()?, OwnCgroups::current)
    }

    /// [`Cgroup::plan`] against a given layout (tests: a fake tree; `own` is called only for a
    /// relative path).
    pub fn plan_on<'o>(
        req: &CgroupRequest<'_>,
        layout: &Layout,
        own: impl FnOnce() -> Result<&'o OwnCgroups, Error>,
    ) -> Result<Cgroup, Error> {
        let placement = path::placement(req.cgroups_path, req.id, req.systemd)?;
        let mut cg = Cgroup {
            mode: layout.mode,
            v1: Vec::new(),
            unified: None,
            unified_mount: layout.unified.as_ref().map(|u| u.mountpoint.clone()),
            systemd: None,
            created: Default::default(),
            disabled: Default::default(),
        };
        if layout.mode != Mode::V2 && layout.v1_hierarchy("devices").is_none() {
            // Without the devices controller a container could open any device node.
            return Err(Error::MissingController { controller: "devices".into() });
        }
        match placement {
            Placement::Absolute(inner) => {
                for h in &layout.v1 {
                    cg.v1.push(V1Dir { controllers: h.controllers.clone(), path: join(&h.mountpoint, &inner) });
                }
                cg.unified = layout.unified.as_ref().map(|u| join(&u.mountpoint, &inner));
            }
            Placement::Relative(inner) => {
                let own = own()?;
                for h in &layout.v1 {
                    let first = h.controllers.split(',').next().unwrap_or_default();
                    let mine = own.v1_path(first).ok_or_else(|| Error::MissingController { controller: h.controllers.clone() })?;
                    let base = join(&h.mountpoint, strip_root(mine, &h.root));
                    cg.v1.push(V1Dir { controllers: h.controllers.clone(), path: join(&base, &inner) });
                }
                if let Some(u) = &layout.unified {
                    let mine = own.unified.as_deref().unwrap_or("/");
                    let mut base = strip_root(mine, &u.root).to_string();
                    if layout.mode == Mode::V2 {
                        // Our own cgroup holds processes, so it cannot hand controllers to a
                        // child (no internal processes on v2): go next to it instead.
                        base = parent_of(&base);
                    }
                    cg.unified = Some(join(&join(&u.mountpoint, &base), &inner));
                }
            }
            Placement::Systemd { slice, unit } => {
                let slice_path = path::expand_slice(&slice).map_err(|reason| Error::InvalidPath { path: slice.clone(), reason })?;
                let inner = format!("{}/{}", slice_path.trim_end_matches('/'), unit);
                for h in &layout.v1 {
                    cg.v1.push(V1Dir { controllers: h.controllers.clone(), path: join(&h.mountpoint, &inner) });
                }
                cg.unified = layout.unified.as_ref().map(|u| join(&u.mountpoint, &inner));
                cg.systemd = Some(SystemdUnit { slice, unit, started: Default::default(), pending: Default::default() });
            }
        }
        Ok(cg)
    }

    /// The directory holding `controller`'s files (`memory`, `cpu`, `hugetlb`, ...).
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        if let Some(d) = self.v1.iter().find(|d| d.controllers.split(',').any(|c| c == controller)) {
            return Some(&d.path);
        }
        // v2: everything is in one directory. Hybrid: whatever v1 lacks may be on cgroup2.
        self.unified.as_deref()
    }

    /// Every directory the container's processes are in (one per hierarchy).
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.v1.iter().map(|d| d.path.as_path()).chain(self.unified.as_deref())
    }

    /// Create the cgroup directories (and missing parents), remembering which ones it made.
    /// Rootless without a writable cgroup: creates nothing and marks the cgroup disabled.
    pub fn create(&self) -> Result<(), Error> {
        if self.systemd.is_some() {
            // systemd makes the unit's cgroup when the unit starts, with the init in it.
            return match systemd::unavailable_reason() {
                Some(r) => Err(Error::Systemd(r)),
                None => Ok(()),
            };
        }
        let mut created = Vec::new();
        match self.create_dirs(&mut created) {
            Ok(()) => {
                self.created.set(created);
                Ok(())
            }
            Err(e) => {
                remove_created(&created);
                if e.is_permission() && running_rootless() {
                    log::debug!("cgroups: {e}; running without a cgroup of our own (rootless)");
                    self.disabled.set();
                    return Ok(());
                }
                Err(e)
            }
        }
    }

    fn create_dirs(&self, created: &mut Vec<PathBuf>) -> Result<(), Error> {
        for d in &self.v1 {
            let first_new = created.len();
            mkdir_p(&d.path, created)?;
            if created.len() > first_new && d.controllers.split(',').any(|c| c == "cpuset") {
                // A new v1 cpuset is empty, and no task can join an empty cpuset.
                v1::inherit_cpuset(&d.path)?;
            }
        }
        if let Some(u) = &self.unified {
            mkdir_p(u, created)?;
            if self.mode == Mode::V2 {
                v2::enable_controllers(self.unified_mount.as_deref(), u, None);
            }
        }
        Ok(())
    }

    /// Write `linux.resources` (create and `update`).
    /// A missing `devices` list means runc's default allow-list (everything else denied).
    pub fn apply(&self, res: &LinuxResources) -> Result<(), Error> {
        if let Some(sd) = &self.systemd {
            if !sd.started.get() {
                sd.pending.put(res.clone());
                return Ok(());
            }
            self.set_unit_properties(sd, res, resources::Intent::Create)?;
        }
        resources::apply(self, res, resources::Intent::Create)
    }

    /// Change limits of a running container (`berth update`): only what `res` sets changes
    /// (a missing `devices` list leaves the device rules alone).
    pub fn update(&self, res: &LinuxResources) -> Result<(), Error> {
        if let Some(sd) = &self.systemd {
            self.set_unit_properties(sd, res, resources::Intent::Update)?;
        }
        resources::apply(self, res, resources::Intent::Update)
    }

    fn set_unit_properties(&self, sd: &SystemdUnit, res: &LinuxResources, intent: resources::Intent) -> Result<(), Error> {
        let props = systemd::resource_properties(res, self.mode, intent)?;
        systemd::Systemd::connect()?.set_properties(&sd.unit, props)
    }

    /// systemd: start the unit with `pid` in it and the resources given so far, then join
    /// (and make) the directories of hierarchies systemd does not manage.
    fn start_unit(&self, sd: &SystemdUnit, pid: i32) -> Result<(), Error> {
        let pending = sd.pending.take();
        let mut props = systemd::unit_properties(&sd.unit, &sd.slice, &sd.unit, Some(pid as u32), self.mode);
        if let Some(r) = &pending {
            props.extend(systemd::resource_properties(r, self.mode, resources::Intent::Create)?);
        }
        let mut bus = systemd::Systemd::connect()?;
        bus.start_unit(&sd.unit, props)?;
        sd.started.set();
        let mut created = Vec::new();
        let r = self.create_dirs(&mut created);
        self.created.set(created);
        r?;
        if let Some(r) = &pending {
            resources::apply(self, r, resources::Intent::Create)?;
        }
        Ok(())
    }

    /// Move a process (the container's init, or an exec'd process) into the cgroup.
    pub fn add_process(&self, pid: i32) -> Result<(), Error> {
        if self.disabled.get() {
            return Ok(());
        }
        if let Some(sd) = &self.systemd {
            if !sd.started.get() {
                self.start_unit(sd, pid)?;
            }
        }
        let mut buf = [0u8; 20];
        let value = fs::itoa(pid as u64, &mut buf);
        for dir in self.dirs() {
            let path = dir.join("cgroup.procs");
            fs::write_raw(&path, value).map_err(|source| Error::Write {
                path,
                value: pid.to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// Every pid in the cgroup and the cgroups below it (for `ps`, `kill --all`,
    /// `delete --force`).
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        if self.disabled.get() {
            return Err(Error::Disabled);
        }
        // v2: the one directory. v1 and hybrid: the freezer's, which `pause` acts on (every
        // v1 hierarchy tracks every process the same way).
        let v1_dir = self
            .v1
            .iter()
            .find(|d| d.controllers.split(',').any(|c| c == "freezer"))
            .or_else(|| self.v1.first())
            .map(|d| d.path.as_path());
        let dir = match self.mode {
            Mode::V2 => self.unified.as_deref(),
            _ => v1_dir.or(self.unified.as_deref()),
        }
        .ok_or(Error::NoCgroupMount)?;
        let mut pids = Vec::new();
        fs::procs_recursive(dir, &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Send `signal` to every process in the cgroup (`kill --all`, `delete --force`). SIGKILL
    /// on cgroup2 is one atomic `cgroup.kill` (no process can fork away meanwhile); a frozen
    /// v1 cgroup is thawed after the signal so the processes can act on it.
    pub fn kill_all(&self, signal: i32) -> Result<(), Error> {
        if self.disabled.get() {
            return Err(Error::Disabled);
        }
        if signal == libc::SIGKILL && self.mode == Mode::V2 {
            if let Some(u) = &self.unified {
                match fs::write_raw(&u.join("cgroup.kill"), b"1") {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {} // before Linux 5.14
                    Err(source) => return Err(Error::Write { path: u.join("cgroup.kill"), value: "1".into(), source }),
                }
            }
        }
        for pid in self.pids()? {
            // SAFETY: plain kill(2); a pid that exited meanwhile gives ESRCH, which is fine.
            unsafe { libc::kill(pid, signal) };
        }
        if self.is_frozen().unwrap_or(false) && (signal == libc::SIGKILL || signal == libc::SIGTERM) {
            self.set_frozen(false)?;
        }
        Ok(())
    }

    /// Freeze (`pause`) or thaw (`resume`) every process in the cgroup; returns once the
    /// kernel reports the new state.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), Error> {
        if self.disabled.get() {
            return Err(Error::Disabled);
        }
        if let Some(d) = self.v1.iter().find(|d| d.controllers.split(',').any(|c| c == "freezer")) {
            return freezer::set_v1(&d.path, frozen);
        }
        match &self.unified {
            Some(u) => freezer::set_v2(u, frozen),
            None => Err(Error::MissingController { controller: "freezer".into() }),
        }
    }

    /// Whether the cgroup is frozen (`paused` in the container's state).
    pub fn is_frozen(&self) -> Result<bool, Error> {
        if self.disabled.get() {
            return Ok(false);
        }
        if let Some(d) = self.v1.iter().find(|d| d.controllers.split(',').any(|c| c == "freezer")) {
            return freezer::is_frozen_v1(&d.path);
        }
        match &self.unified {
            Some(u) => freezer::is_frozen_v2(u),
            None => Ok(false),
        }
    }

    /// Remove the cgroup directories this cgroup created (with any sub-cgroups the container
    /// made inside them); the caller has made sure no process is left. Tasks that are still
    /// exiting keep a directory busy for a moment: that is waited for, briefly.
    pub fn destroy(&self) -> Result<(), Error> {
        let mut first_err = None;
        if let Some(sd) = self.systemd.as_ref().filter(|sd| sd.started.get()) {
            if let Err(e) = systemd::Systemd::connect().and_then(|mut b| b.stop_unit(&sd.unit)) {
                first_err = Some(e);
            }
        }
        // Deepest first: leaves (and what the container made below them), then the parents we
        // made, which may be shared with other containers by now (left alone when not empty).
        let created = self.created.get();
        for dir in created.iter().rev() {
            let leaf = !created.iter().any(|c| c != dir && c.starts_with(dir));
            let r = if leaf { remove_tree(dir) } else { remove_shared_parent(dir) };
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn join(base: &Path, inner: &str) -> PathBuf {
    let inner = inner.trim_start_matches('/');
    if inner.is_empty() {
        base.to_path_buf()
    } else {
        base.join(inner)
    }
}

/// `cgroup` as seen below a mount whose root is `root` (a cgroup namespace or a bind mount of
/// a sub-tree shows only part of the hierarchy).
fn strip_root<'a>(cgroup: &'a str, root: &str) -> &'a str {
    if root == "/" {
        return cgroup;
    }
    match cgroup.strip_prefix(root) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => cgroup,
    }
}

fn parent_of(p: &str) -> String {
    match p.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].into(),
    }
}

/// `mkdir -p` that records each directory it made, parents first.
fn mkdir_p(path: &Path, created: &mut Vec<PathBuf>) -> Result<(), Error> {
    // A parent can vanish between our mkdir of it and of its child when another container
    // that made it is being deleted: try again a few times.
    let mut attempts = 0;
    loop {
        match mkdir(path) {
            Ok(()) => {
                created.push(path.to_path_buf());
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                attempts += 1;
                let parent = path.parent().ok_or_else(|| Error::Create { path: path.into(), source: e })?;
                mkdir_p(parent, created)?;
            }
            Err(source) => return Err(Error::Create { path: path.into(), source }),
        }
    }
}

fn rmdir(path: &Path) -> io::Result<()> {
    #[cfg(test)]
    fake::before_rmdir(path);
    std::fs::remove_dir(path)
}

fn mkdir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o755).create(path)?;
    #[cfg(test)]
    fake::after_mkdir(path);
    Ok(())
}

/// Undo a failed `create`: best effort, deepest first.
fn remove_created(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = rmdir(d);
    }
}

/// How long `destroy` waits for exiting tasks to leave a cgroup.
const BUSY_WAIT_MS: u64 = 2000;

/// Remove `dir` and every cgroup below it, deepest first.
fn remove_tree(dir: &Path) -> Result<(), Error> {
    for sub in fs::subdirs(dir)? {
        remove_tree(&sub)?;
    }
    let start = std::time::Instant::now();
    let mut pause_us = 100u64;
    loop {
        match rmdir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                let waited = start.elapsed().as_millis() as u64;
                let mut pids = Vec::new();
                let _ = fs::procs_recursive(dir, &mut pids);
                if waited >= BUSY_WAIT_MS {
                    return Err(Error::Busy { path: dir.into(), waited_ms: waited, pids });
                }
                // Exiting tasks: wait for each to be gone (pidfd readable at exit), else a
                // short doubling pause for the kernel to finish unlinking them.
                let left = BUSY_WAIT_MS - waited;
                if !pids.is_empty() && wait_pids_exit(&pids, left) {
                    continue;
                }
                std::thread::sleep(std::time::Duration::from_micros(pause_us.min(left * 1000)));
                pause_us = (pause_us * 2).min(20_000);
            }
            Err(source) => return Err(Error::Remove { path: dir.into(), source }),
        }
    }
}

/// A parent we created: remove it when no other cgroup has appeared in it meanwhile.
fn remove_shared_parent(dir: &Path) -> Result<(), Error> {
    match rmdir(dir) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EBUSY) | Some(libc::ENOTEMPTY)) => Ok(()),
        Err(source) => Err(Error::Remove { path: dir.into(), source }),
    }
}

/// Wait (up to `timeout_ms`) until every pid has exited, through pidfds. False when pidfds are
/// unavailable or a pid did not exit in time.
fn wait_pids_exit(pids: &[i32], timeout_ms: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
    for &pid in pids {
        // SAFETY: plain syscall; the fd is closed below.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        if fd < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
                continue; // already gone
            }
            return false;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now()).as_millis() as i32;
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left.max(1)) };
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        if n <= 0 {
            return false;
        }
    }
    true
}

/// Rootless: not root, or root only inside a user namespace.
pub fn running_rootless() -> bool {
    // SAFETY: no arguments, cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return true;
    }
    static IN_USERNS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN_USERNS.get_or_init(|| match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(m) => m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    })
}


#[cfg(test)]
mod tests;
