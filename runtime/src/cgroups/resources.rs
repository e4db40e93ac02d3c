//! `linux.resources` -> a [`Plan`] of writes (pure, per cgroup version: `v1.rs`, `v2.rs`) ->
//! the executor below, which writes them in order.

use std::io;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::{devices, fs, v1, v2, Cgroup, Error, Mode};

/// One write to a cgroup interface file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupWrite {
    /// The controller owning the file (`memory`, `cpu`, ...): picks the v1 hierarchy.
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    pub if_fails: IfFails,
}

/// What a failed write means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfFails {
    /// The request cannot be honoured: an error.
    Error,
    /// The kernel lacks the file: warn that the setting is not applied, and go on.
    WarnIfMissing,
    /// The kernel lacks the file: nothing was really asked for, go on quietly.
    SkipIfMissing,
    /// Any failure: warn and go on (knobs the kernel has deprecated).
    Warn,
    /// Any failure: go on quietly (device rules when rootless: only root may set them, and the
    /// user namespace already keeps device nodes out of reach).
    Ignore,
    /// The kernel lacks the file: write this instead (BFQ vs. CFQ weight files).
    Instead(Box<CgroupWrite>),
    /// EINVAL: the value depends on the next write (cfs period/quota, rt period/runtime);
    /// write it again once that one is in.
    RetryAfterNext,
}

impl CgroupWrite {
    pub fn new(controller: &'static str, file: impl Into<String>, value: impl Into<String>) -> CgroupWrite {
        CgroupWrite { controller, file: file.into(), value: value.into(), if_fails: IfFails::Error }
    }
    pub fn or(mut self, if_fails: IfFails) -> CgroupWrite {
        self.if_fails = if_fails;
        self
    }
}

/// What applying a `LinuxResources` takes, decided before anything is written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In order, each to the v1 hierarchy of its controller.
    pub v1: Vec<CgroupWrite>,
    /// In order, to the cgroup2 directory.
    pub unified: Vec<CgroupWrite>,
    /// v2 device rules, compiled into an eBPF program and attached to the cgroup2 directory.
    pub device_rules: Option<Vec<devices::Rule>>,
    /// Settings this host cannot honour and that are ignored (said once, as warnings).
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }
}

/// State the plan depends on, read beforehand (only when the request needs it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Current {
    /// v1 `memory.limit_in_bytes` (write order of memory vs. memory+swap depends on it).
    pub memory_limit: Option<u64>,
    /// v2 `memory.current` (`checkBeforeUpdate`).
    pub memory_usage: Option<u64>,
    /// v1 `devices.list` on update (only the difference is written).
    pub devices_list: Option<String>,
}

/// Whether the request is a full spec (create: absent devices mean the default allow-list)
/// or a partial update (absent means unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Create,
    Update,
}

/// Whether `res` asks for any limit (devices aside: a rootless container without a cgroup
/// cannot have device rules either, and runc ignores them there).
pub fn requests_limits(res: &LinuxResources) -> bool {
    let mut stripped = res.clone();
    stripped.set_devices(None);
    if stripped.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return true;
    }
    // Whatever would write something is a limit; `"memory": {}` is not.
    match v1::plan(&stripped, &Current::default(), Intent::Update, &|_| true) {
        Ok(p) => !p.v1.is_empty(),
        Err(_) => true,
    }
}

/// Which controllers live on v1 hierarchies of this cgroup (the rest is on cgroup2).
pub fn on_v1(cg: &Cgroup, controller: &str) -> bool {
    cg.v1.iter().any(|d| d.controllers.split(',').any(|c| c == controller))
}

/// Where a controller's files are for this cgroup on a hybrid host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    V1,
    Unified,
}

fn hybrid_route(cg: &Cgroup, controller: &str) -> Route {
    // v1's blkio is v2's io.
    let v1_name = if controller == "io" { "blkio" } else { controller };
    if on_v1(cg, v1_name) {
        Route::V1
    } else if v2::HYBRID_CAPABLE.contains(&controller) || (controller == "blkio" && !on_v1(cg, "blkio")) {
        Route::Unified
    } else {
        // net_cls, net_prio, devices: v1 concepts; the executor says they are not mounted.
        Route::V1
    }
}

/// Plan `res` for `cg`'s layout.
pub fn plan(cg: &Cgroup, res: &LinuxResources, cur: &Current, intent: Intent) -> Result<Plan, Error> {
    match cg.mode {
        Mode::V1 => {
            if res.unified().as_ref().is_some_and(|u| !u.is_empty()) {
                return Err(Error::Unsupported("linux.resources.unified needs cgroup v2, and this host has only cgroup v1".into()));
            }
            v1::plan(res, cur, intent, &|_| true)
        }
        Mode::V2 => v2::plan(res, cur, intent, &|_| true),
        Mode::Hybrid => {
            // v1 for what v1 has; the cgroup2 mount for the rest (here: hugetlb).
            let mut p = v1::plan(res, cur, intent, &|c| hybrid_route(cg, c) == Route::V1)?;
            let q = v2::plan(res, cur, intent, &|c| c != "net_cls" && hybrid_route(cg, c) == Route::Unified)?;
            p.unified = q.unified;
            p.warnings.extend(q.warnings);
            Ok(p)
        }
    }
}

pub fn apply(cg: &Cgroup, res: &LinuxResources, intent: Intent) -> Result<(), Error> {
    if cg.disabled.get() {
        if requests_limits(res) {
            let path = cg.dirs().next().map(Path::to_path_buf).unwrap_or_default();
            return Err(Error::NotDelegated { path });
        }
        return Ok(());
    }
    let cur = read_current(cg, res, intent)?;
    let mut plan = plan(cg, res, &cur, intent)?;
    let rootless = super::running_rootless();
    if rootless {
        for w in plan.v1.iter_mut().filter(|w| w.controller == "devices") {
            w.if_fails = IfFails::Ignore;
        }
    }
    for w in &plan.warnings {
        log::warn!("{w}");
    }
    execute(&plan.v1, |c| cg.v1.iter().find(|d| d.controllers.split(',').any(|x| x == c)).map(|d| d.path.as_path()))?;
    if let Some(u) = cg.unified.as_deref() {
        if cg.mode == Mode::Hybrid && !plan.unified.is_empty() {
            let mut wanted: Vec<&str> = plan.unified.iter().map(|w| w.controller).filter(|c| *c != "cgroup").collect();
            wanted.sort_unstable();
            wanted.dedup();
            v2::enable_controllers(cg.unified_mount.as_deref(), u, Some(&wanted));
        }
        execute(&plan.unified, |_| Some(u))?;
        if let Some(rules) = &plan.device_rules {
            match devices::bpf::apply(u, rules) {
                Err(e) if rootless => log::debug!("rootless: device rules not applied: {e}"),
                r => r?,
            }
        }
    } else if !plan.unified.is_empty() {
        return Err(Error::Unsupported("these settings need cgroup v2, and this host has no cgroup2 mount".into()));
    }
    Ok(())
}

fn read_current(cg: &Cgroup, res: &LinuxResources, intent: Intent) -> Result<Current, Error> {
    let mut cur = Current::default();
    if intent == Intent::Update && res.devices().is_some() && on_v1(cg, "devices") {
        if let Some(d) = cg.dir("devices") {
            cur.devices_list = fs::read(d, "devices.list").ok();
        }
    }
    let Some(m) = res.memory() else { return Ok(cur) };
    if cg.mode != Mode::V2 && m.limit().is_some() && m.swap().is_some() {
        if let Some(d) = cg.dir("memory") {
            cur.memory_limit = Some(fs::read_u64(d, "memory.limit_in_bytes")?);
        }
    }
    if cg.mode == Mode::V2 && m.check_before_update() == Some(true) && m.limit().is_some() {
        if let Some(u) = cg.unified.as_deref() {
            cur.memory_usage = fs::read_u64(u, "memory.current").ok();
        }
    }
    Ok(cur)
}

/// Write each entry in order to the directory `dir_of` gives for its controller.
pub fn execute<'a>(writes: &[CgroupWrite], dir_of: impl Fn(&str) -> Option<&'a Path>) -> Result<(), Error> {
    let mut deferred: Option<&CgroupWrite> = None;
    for w in writes {
        let Some(dir) = dir_of(w.controller) else {
            match w.if_fails {
                IfFails::Error | IfFails::RetryAfterNext | IfFails::Instead(_) => {
                    return Err(Error::MissingController { controller: w.controller.to_string() })
                }
                IfFails::Ignore => {}
                IfFails::WarnIfMissing | IfFails::Warn => {
                    log::warn!("cgroups: {} is not set: the {} controller is not mounted", w.file, w.controller);
                }
                IfFails::SkipIfMissing => {}
            }
            continue;
        };
        match write_one(dir, w) {
            Ok(()) => {
                if let Some(d) = deferred.take() {
                    fs::write(dir_of(d.controller).unwrap_or(dir), &d.file, &d.value)?;
                }
            }
            Err(e) => {
                let missing = e.kind() == io::ErrorKind::NotFound;
                let path = dir.join(&w.file);
                match &w.if_fails {
                    IfFails::WarnIfMissing if missing => {
                        log::warn!("cgroups: {} is not supported by this kernel: {} = {} not applied", path.display(), w.file, w.value)
                    }
                    IfFails::SkipIfMissing if missing => {}
                    IfFails::Warn => log::warn!("cgroups: {} = {} not applied: {e}", path.display(), w.value),
                    IfFails::Ignore => log::debug!("cgroups: {} = {} not applied: {e}", path.display(), w.value),
                    IfFails::Instead(alt) if missing => match write_one(dir, alt) {
                        Ok(()) => {}
                        Err(e2) if e2.kind() == io::ErrorKind::NotFound => log::warn!(
                            "cgroups: neither {} nor {} exist in {}: {} not applied",
                            w.file,
                            alt.file,
                            dir.display(),
                            w.value
                        ),
                        Err(source) => return Err(Error::Write { path: dir.join(&alt.file), value: alt.value.clone(), source }),
                    },
                    IfFails::RetryAfterNext if e.raw_os_error() == Some(libc::EINVAL) && deferred.is_none() => deferred = Some(w),
                    _ => return Err(explain(dir, w, e)),
                }
            }
        }
    }
    if let Some(d) = deferred {
        let dir = dir_of(d.controller).ok_or_else(|| Error::MissingController { controller: d.controller.into() })?;
        fs::write(dir, &d.file, &d.value)?;
    }
    Ok(())
}

fn write_one(dir: &Path, w: &CgroupWrite) -> io::Result<()> {
    fs::write_raw(&dir.join(&w.file), w.value.as_bytes())
}

/// A missing file on cgroup2 usually means the controller is not enabled for this cgroup.
fn explain(dir: &Path, w: &CgroupWrite, source: io::Error) -> Error {
    let path = dir.join(&w.file);
    if source.kind() == io::ErrorKind::NotFound && w.controller != "cgroup" {
        if let Ok(ctrls) = fs::read(dir, "cgroup.controllers") {
            if !ctrls.split_whitespace().any(|c| c == w.controller) {
                return Error::Unsupported(format!(
                    "cannot set {} = {}: the {} controller is not available in {} (not enabled by its parent, or not delegated)",
                    w.file,
                    w.value,
                    w.controller,
                    dir.display()
                ));
            }
        }
    }
    Error::Write { path, value: w.value.clone(), source }
}
