//! Spec -> Plan: everything the container's set-up needs, decided and validated before any
//! syscall. Pure (no I/O), so every bad config fails here, before anything exists to clean
//! up, and the whole step is unit-tested without root.

pub mod caps;
pub mod config;
pub mod mounts;
pub mod process;

use crate::error::{Error, Result};
use crate::hooks::{HookPlan, Hooks};
use crate::seccomp::SeccompFilter;
use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, LinuxResources, Spec};
use std::path::{Path, PathBuf};

pub use config::plan_config;
pub use mounts::{MountKind, MountPlan};
pub use process::ProcessPlan;

/// Options of `create`/`run` that change the plan (not the spec).
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Extra fds (3, 4, ...) the container keeps: `--preserve-fds` plus `LISTEN_FDS`.
    pub preserve_fds: u32,
    /// `LISTEN_FDS` from the caller's environment (socket activation), added to the env.
    pub listen_fds: u32,
    /// Create/run: the user process waits for `start` on the exec fifo (false for `run`).
    pub use_fifo: bool,
    /// Which LSMs the host has (detected by the caller; the plan stays pure).
    pub host_lsm: crate::lsm::HostLsm,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub root_readonly: bool,
    pub rootfs_propagation: Option<libc::c_ulong>,
    pub ns: Namespaces,
    pub uid_map: String,
    pub gid_map: String,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<MountPlan>,
    /// Create the default /dev nodes and links (not when /dev is bind-mounted from the host).
    pub default_devices: bool,
    pub devices: Vec<DevicePlan>,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    /// (path under /proc/sys, value)
    pub sysctl: Vec<(PathBuf, String)>,
    pub process: ProcessPlan,
    pub seccomp: Option<SeccompFilter>,
    /// AppArmor / SELinux to apply (what the host supports, as runc decides).
    pub lsm: crate::lsm::LsmPlan,
    pub hooks: Hooks,
    pub cgroups_path: Option<String>,
    pub resources: Option<LinuxResources>,
    /// (clock name as /proc/self/timens_offsets spells it, seconds, nanoseconds)
    pub time_offsets: Vec<(&'static str, i64, u32)>,
    pub personality: Option<libc::c_ulong>,
    pub oom_score_adj: Option<i32>,
    pub opts: PlanOptions,
}

/// The namespaces: which to create, which to join by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// CLONE_NEW* of every namespace to create (cgroup and time included).
    pub new: i32,
    /// (CLONE_NEW* type, path) to join, user namespace first.
    pub join: Vec<(i32, PathBuf)>,
}

impl Namespaces {
    pub fn creates(&self, flag: i32) -> bool {
        self.new & flag != 0
    }
    pub fn has(&self, flag: i32) -> bool {
        self.creates(flag) || self.join.iter().any(|(f, _)| *f == flag)
    }
    /// The init can be clone()d with every namespace directly (it becomes pid 1) unless a
    /// namespace is joined by path, or a time namespace needs its offsets written before any
    /// process enters it: then the init unshares and forks once more.
    pub fn needs_fork(&self) -> bool {
        !self.join.is_empty() || self.creates(libc::CLONE_NEWTIME)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePlan {
    pub path: PathBuf,
    /// S_IFCHR / S_IFBLK / S_IFIFO
    pub kind: u32,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

pub const DEFAULT_DEVICES: [(&str, u64, u64); 6] =
    [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)];

fn ns_flag(t: LinuxNamespaceType) -> i32 {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

pub fn ns_name(flag: i32) -> &'static str {
    match flag {
        libc::CLONE_NEWNS => "mnt",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUSER => "user",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWNET => "net",
        libc::CLONE_NEWTIME => "time",
        _ => "?",
    }
}

/// Validate a container id: what runc accepts (letters, digits, `_+-.`), not `.`/`..`, ≤ 1024.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |reason| Err(Error::InvalidId { id: id.to_owned(), reason });
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return bad("not a valid name");
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b)) {
        return bad("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

impl Plan {
    pub fn build(id: &str, bundle: &Path, rootfs: &Path, spec: &Spec, opts: PlanOptions) -> Result<Plan> {
        validate_id(id)?;
        crate::spec::check_version(spec.version())?;
        let linux = spec.linux().clone().unwrap_or_default();
        let spec_err = |s: String| Error::Spec(s);

        // Namespaces.
        let mut ns = Namespaces::default();
        let mut seen = 0;
        for n in linux.namespaces().iter().flatten() {
            let f = ns_flag(n.typ());
            if seen & f != 0 {
                return Err(spec_err(format!("linux.namespaces: {} namespace listed twice", ns_name(f))));
            }
            seen |= f;
            match n.path() {
                Some(p) if !p.as_os_str().is_empty() => {
                    if !p.is_absolute() {
                        return Err(spec_err(format!("linux.namespaces: {} path {} is not absolute", ns_name(f), p.display())));
                    }
                    ns.join.push((f, p.clone()));
                }
                _ => ns.new |= f,
            }
        }
        ns.join.sort_by_key(|(f, _)| *f != libc::CLONE_NEWUSER);
        if !ns.has(libc::CLONE_NEWNS) {
            return Err(spec_err("linux.namespaces: a mount namespace is required".into()));
        }
        if ns.join.iter().any(|(f, _)| *f == libc::CLONE_NEWNS) {
            return Err(spec_err("linux.namespaces: joining an existing mount namespace is not supported (the rootfs needs a new one)".into()));
        }

        // User namespace and id maps.
        let uid_maps = linux.uid_mappings().clone().unwrap_or_default();
        let gid_maps = linux.gid_mappings().clone().unwrap_or_default();
        if ns.creates(libc::CLONE_NEWUSER) {
            if uid_maps.is_empty() || gid_maps.is_empty() {
                return Err(spec_err("linux: a new user namespace needs uidMappings and gidMappings".into()));
            }
        } else if !uid_maps.is_empty() || !gid_maps.is_empty() {
            if !ns.has(libc::CLONE_NEWUSER) {
                return Err(spec_err("linux: uidMappings/gidMappings given without a user namespace".into()));
            }
        }
        let uid_map = mounts::id_map_lines(&uid_maps);
        let gid_map = mounts::id_map_lines(&gid_maps);

        // Hostname, domainname.
        let hostname = spec.hostname().clone().filter(|h| !h.is_empty());
        let domainname = spec.domainname().clone().filter(|h| !h.is_empty());
        if (hostname.is_some() || domainname.is_some()) && !ns.has(libc::CLONE_NEWUTS) {
            return Err(spec_err("hostname/domainname: unable to set without a private UTS namespace".into()));
        }

        // Process.
        let proc_spec = spec.process().as_ref().ok_or_else(|| spec_err("process: missing".into()))?;
        let process = process::plan_process(proc_spec, &opts)?;
        if ns.creates(libc::CLONE_NEWUSER) {
            let inside = |maps: &[oci_spec::runtime::LinuxIdMapping], id: u32| {
                maps.iter().any(|m| id >= m.container_id() && (id as u64) < m.container_id() as u64 + m.size() as u64)
            };
            if !inside(&uid_maps, process.uid) {
                return Err(spec_err(format!("process.user: uid {} is not mapped in the container's user namespace", process.uid)));
            }
            if !inside(&gid_maps, process.gid) {
                return Err(spec_err(format!("process.user: gid {} is not mapped in the container's user namespace", process.gid)));
            }
        }

        // Mounts.
        let mut mount_plans = Vec::new();
        for m in spec.mounts().iter().flatten() {
            mount_plans.push(mounts::plan_mount(m, bundle)?);
        }
        let dev_is_bind = mount_plans
            .iter()
            .any(|m| crate::inroot::relative(&m.dest) == Path::new("dev") && matches!(m.kind, MountKind::Bind { .. }));

        // Devices.
        let mut devices = Vec::new();
        for d in linux.devices().iter().flatten() {
            let p = d.path();
            if !p.starts_with("/dev/") || p.components().any(|c| c == std::path::Component::ParentDir) {
                return Err(spec_err(format!("linux.devices: {} is not under /dev", p.display())));
            }
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
                LinuxDeviceType::B => libc::S_IFBLK,
                LinuxDeviceType::P => libc::S_IFIFO,
                LinuxDeviceType::A => return Err(spec_err(format!("linux.devices: {}: type \"a\" is only valid in cgroup rules", p.display()))),
            };
            if kind != libc::S_IFIFO && (d.major() < 0 || d.minor() < 0) {
                return Err(spec_err(format!("linux.devices: {}: negative major/minor", p.display())));
            }
            devices.push(DevicePlan {
                path: p.clone(),
                kind,
                major: d.major().max(0) as u64,
                minor: d.minor().max(0) as u64,
                mode: d.file_mode().unwrap_or(0o666) & 0o7777,
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            });
        }

        // sysctl.
        let mut sysctl = Vec::new();
        let mut keys: Vec<_> = linux.sysctl().iter().flatten().collect();
        keys.sort();
        for (k, v) in keys {
            sysctl.push((check_sysctl(k, &ns)?, v.clone()));
        }

        // Time namespace offsets.
        let mut time_offsets = Vec::new();
        if let Some(offs) = linux.time_offsets() {
            if !ns.creates(libc::CLONE_NEWTIME) {
                return Err(spec_err("linux.timeOffsets: given without a new time namespace".into()));
            }
            let mut clocks: Vec<_> = offs.iter().collect();
            clocks.sort_by(|a, b| a.0.cmp(b.0));
            for (clock, o) in clocks {
                let name = match clock.as_str() {
                    "monotonic" => "monotonic",
                    "boottime" => "boottime",
                    other => return Err(spec_err(format!("linux.timeOffsets: unknown clock {other:?}"))),
                };
                time_offsets.push((name, o.secs().unwrap_or(0), o.nanosecs().unwrap_or(0)));
            }
        }

        let rootfs_propagation = match linux.rootfs_propagation().as_deref() {
            None | Some("") => None,
            Some(p) => Some(mounts::propagation(p).ok_or_else(|| spec_err(format!("linux.rootfsPropagation: unknown value {p:?}")))?),
        };

        let personality = match linux.personality() {
            None => None,
            Some(p) => Some(match p.domain() {
                oci_spec::runtime::LinuxPersonalityDomain::PerLinux => 0,
                oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 0x0008,
            }),
        };

        let seccomp = match linux.seccomp() {
            None => None,
            Some(s) => Some(SeccompFilter::compile(s)?),
        };

        let hooks = Hooks::from_spec(spec.hooks().as_ref())?;

        let clean_paths = |list: &Option<Vec<String>>, what: &str| -> Result<Vec<PathBuf>> {
            list.iter()
                .flatten()
                .map(|p| {
                    if !p.starts_with('/') {
                        return Err(Error::Spec(format!("linux.{what}: {p:?} is not absolute")));
                    }
                    Ok(PathBuf::from(p))
                })
                .collect()
        };

        Ok(Plan {
            id: id.to_owned(),
            bundle: bundle.to_owned(),
            rootfs: rootfs.to_owned(),
            root_readonly: spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false),
            rootfs_propagation,
            ns,
            uid_map,
            gid_map,
            hostname,
            domainname,
            mounts: mount_plans,
            default_devices: !dev_is_bind,
            devices,
            masked_paths: clean_paths(linux.masked_paths(), "maskedPaths")?,
            readonly_paths: clean_paths(linux.readonly_paths(), "readonlyPaths")?,
            sysctl,
            oom_score_adj: proc_spec.oom_score_adj(),
            process,
            seccomp,
            lsm: crate::lsm::plan_for(Some(proc_spec), linux.mount_label().as_deref(), opts.host_lsm).map_err(|e| Error::Spec(e.to_string()))?,
            hooks,
            cgroups_path: linux.cgroups_path().as_ref().map(|p| p.to_string_lossy().into_owned()),
            resources: linux.resources().clone(),
            time_offsets,
            personality,
            opts,
        })
    }
}

/// Check a sysctl key belongs to a namespace the container has, and map it to its
/// /proc/sys path (what runc allows).
fn check_sysctl(key: &str, ns: &Namespaces) -> Result<PathBuf> {
    let err = |why: &str| Err(Error::Spec(format!("linux.sysctl: {key:?}: {why}")));
    // `a.b.c` or `a/b/c` (the slash form allows dots inside a component, e.g. `eth0.100`).
    let sep = if key.contains('/') { '/' } else { '.' };
    if key.is_empty() || key.split(sep).any(|c| c.is_empty() || c == ".." || c == ".") {
        return err("not a valid sysctl name");
    }
    let path: PathBuf = key.split(sep).collect();
    let dotted = key.replace('/', ".");
    const IPC: [&str; 8] = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    let ok = if IPC.contains(&dotted.as_str()) || dotted.starts_with("fs.mqueue.") {
        ns.has(libc::CLONE_NEWIPC) || return err("requires a private IPC namespace")
    } else if dotted.starts_with("net.") {
        ns.has(libc::CLONE_NEWNET) || return err("requires a private network namespace")
    } else if dotted == "kernel.hostname" || dotted == "kernel.domainname" {
        ns.has(libc::CLONE_NEWUTS) || return err("requires a private UTS namespace")
    } else {
        false
    };
    if !ok {
        return err("not in a separate kernel namespace (not allowed in a container)");
    }
    Ok(path)
}

/// Find a hook list by name (for the executor's messages).
pub fn hook_list<'a>(hooks: &'a Hooks, name: &str) -> &'a [HookPlan] {
    hooks.get(name)
}

#[cfg(test)]
mod tests;
