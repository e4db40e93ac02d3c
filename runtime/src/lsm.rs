//! Linux security modules: the AppArmor profile and the SELinux labels of a container.
//!
//! [`plan`] is pure: from the spec's `process.apparmorProfile`, `process.selinuxLabel`,
//! `linux.mountLabel` and the host's facts ([`HostLsm::detect`]) it decides what to apply,
//! exactly as runc does when an LSM is off: an AppArmor profile is ignored when AppArmor is
//! disabled; a SELinux process label is an error when SELinux is disabled (a mount label is
//! then ignored). The init applies the plan right before `execve` ([`apply_before_exec`]):
//! both attributes take effect at the exec, so nothing between apply and exec is confined.
//! Mount labels become a `context="…"` mount option ([`mount_data`]), runc's rule for which
//! filesystems get one; [`set_keycreate_label`] labels the session keyring the init creates.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("selinux label {0:?} is specified in config, but selinux is disabled or not supported")]
    SelinuxDisabled(String),
    #[error("lsm: invalid {what} {value:?}: {why}")]
    Invalid { what: &'static str, value: String, why: &'static str },
    #[error("lsm: writing {path}: {source}")]
    Write { path: &'static str, source: io::Error },
    #[error("lsm: {0} is not on procfs")]
    NotProcfs(&'static str),
}

/// Which LSMs are enabled on this host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostLsm {
    pub apparmor: bool,
    pub selinux: bool,
}

impl HostLsm {
    /// runc's checks: AppArmor when securityfs shows it and the module parameter says `Y`;
    /// SELinux when selinuxfs is mounted and our own context is not the kernel's placeholder.
    pub fn detect() -> Self {
        let apparmor = std::path::Path::new("/sys/kernel/security/apparmor").exists()
            && std::fs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|b| b.first() == Some(&b'Y'));
        // selinuxfs lives at /sys/fs/selinux; only when that directory exists is the (costly,
        // on the hot path of every create) mount table worth a look.
        let selinuxfs = std::path::Path::new("/sys/fs/selinux/enforce").exists()
            || std::path::Path::new("/sys/fs/selinux").is_dir() && std::fs::read_to_string("/proc/self/mountinfo")
                .is_ok_and(|m| m.lines().any(|l| l.split(" - ").nth(1).is_some_and(|t| t.starts_with("selinuxfs "))));
        let selinux = selinuxfs
            && std::fs::read("/proc/self/attr/current").is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                let c = c.trim_end_matches(['\0', '\n']);
                !c.is_empty() && c != "kernel"
            });
        Self { apparmor, selinux }
    }
}

/// What the init applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LsmPlan {
    /// Written as `exec <profile>` to the AppArmor exec attribute.
    pub apparmor_profile: Option<String>,
    /// Written to the SELinux exec attribute (and keycreate).
    pub selinux_process_label: Option<String>,
    /// Added as `context="<label>"` to the data of labelled mounts.
    pub selinux_mount_label: Option<String>,
}

impl LsmPlan {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn checked(what: &'static str, value: Option<&str>) -> Result<Option<String>, Error> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if v.contains(['\0', '\n']) => {
            Err(Error::Invalid { what, value: v.to_string(), why: "contains a NUL or newline" })
        }
        Some(v) if what == "selinux mount label" && v.contains('"') => {
            Err(Error::Invalid { what, value: v.to_string(), why: "contains a double quote" })
        }
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// Decide what to apply. Pure.
pub fn plan(
    apparmor_profile: Option<&str>,
    selinux_label: Option<&str>,
    mount_label: Option<&str>,
    host: HostLsm,
) -> Result<LsmPlan, Error> {
    let apparmor_profile = checked("apparmor profile", apparmor_profile)?;
    let selinux_process_label = checked("selinux label", selinux_label)?;
    let selinux_mount_label = checked("selinux mount label", mount_label)?;
    if let Some(label) = &selinux_process_label {
        if !host.selinux {
            return Err(Error::SelinuxDisabled(label.clone()));
        }
    }
    if apparmor_profile.is_some() && !host.apparmor {
        log::debug!("apparmor is not enabled on this host: profile {apparmor_profile:?} ignored");
    }
    Ok(LsmPlan {
        apparmor_profile: apparmor_profile.filter(|_| host.apparmor),
        selinux_process_label,
        selinux_mount_label: selinux_mount_label.filter(|_| host.selinux),
    })
}

/// [`plan`] for a container's process (`berth create`) or an exec'd one (the spec's mount
/// label still applies to nothing there, but is checked the same way).
pub fn plan_for(process: Option<&oci_spec::runtime::Process>, mount_label: Option<&str>, host: HostLsm) -> Result<LsmPlan, Error> {
    plan(
        process.and_then(|p| p.apparmor_profile().as_deref()),
        process.and_then(|p| p.selinux_label().as_deref()),
        mount_label,
        host,
    )
}

/// runc's rule: every mount gets the mount label except proc, sysfs, mqueue, cgroups and
/// binds (bind mounts keep the labels of what they show).
pub fn mount_label_applies(fstype: &str, is_bind: bool) -> bool {
    !is_bind && !matches!(fstype, "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2" | "bind")
}

/// Mount data with the plan's mount label added where it applies.
pub fn mount_data(plan: &LsmPlan, fstype: &str, is_bind: bool, data: &str) -> String {
    match &plan.selinux_mount_label {
        Some(label) if mount_label_applies(fstype, is_bind) => {
            if data.is_empty() {
                format!("context=\"{label}\"")
            } else {
                format!("{data},context=\"{label}\"")
            }
        }
        _ => data.to_string(),
    }
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Write `value` in one write(2) to the first of `paths` that exists, after checking it is
/// really on procfs (a container could have mounted something else over /proc).
fn write_attr(paths: &[&'static str], value: &str) -> Result<(), Error> {
    let mut last = None;
    for &path in paths {
        let c = std::ffi::CString::new(path).expect("static path");
        // SAFETY: plain open of a NUL-terminated path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOENT) {
                last = Some((path, e));
                continue;
            }
            return Err(Error::Write { path, source: e });
        }
        // SAFETY: fd was just opened and is ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: fstatfs into a zeroed local.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } != 0 || st.f_type as i64 != PROC_SUPER_MAGIC {
            return Err(Error::NotProcfs(path));
        }
        // SAFETY: writing a live buffer.
        let n = unsafe { libc::write(fd.as_raw_fd(), value.as_ptr().cast(), value.len()) };
        if n < 0 {
            return Err(Error::Write { path, source: io::Error::last_os_error() });
        }
        if n as usize != value.len() {
            return Err(Error::Write { path, source: io::Error::new(io::ErrorKind::WriteZero, "short write") });
        }
        return Ok(());
    }
    let (path, source) = last.expect("at least one path");
    Err(Error::Write { path, source })
}

/// In the init, right before `execve` (after the container's /proc is mounted): switch to the
/// AppArmor profile and the SELinux label at the exec.
pub fn apply_before_exec(plan: &LsmPlan) -> Result<(), Error> {
    if let Some(profile) = &plan.apparmor_profile {
        write_attr(&["/proc/thread-self/attr/apparmor/exec", "/proc/self/attr/exec"], &format!("exec {profile}"))?;
    }
    if let Some(label) = &plan.selinux_process_label {
        write_attr(&["/proc/thread-self/attr/exec", "/proc/self/attr/exec"], label)?;
    }
    Ok(())
}

/// Label the keyrings created from now on with the process label (`on`), or reset that
/// (`!on`); runc does this around joining the session keyring. A no-op without a label.
pub fn set_keycreate_label(plan: &LsmPlan, on: bool) -> Result<(), Error> {
    match &plan.selinux_process_label {
        None => Ok(()),
        Some(label) => write_attr(&["/proc/thread-self/attr/keycreate", "/proc/self/attr/keycreate"], if on { label } else { "" }),
    }
}

/// For `berth features`: both are compiled in (the spec's meaning of `enabled`), whether or
/// not this host runs them.
pub fn apparmor_features() -> oci_spec::runtime::Apparmor {
    let mut a = oci_spec::runtime::Apparmor::default();
    a.set_enabled(Some(true));
    a
}

pub fn selinux_features() -> oci_spec::runtime::Selinux {
    let mut s = oci_spec::runtime::Selinux::default();
    s.set_enabled(Some(true));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: HostLsm = HostLsm { apparmor: false, selinux: false };
    const BOTH: HostLsm = HostLsm { apparmor: true, selinux: true };

    #[test]
    fn apparmor_profile_ignored_when_apparmor_is_off() {
        let p = plan(Some("docker-default"), None, None, NONE).unwrap();
        assert!(p.is_empty());
        let p = plan(Some("docker-default"), None, None, HostLsm { apparmor: true, selinux: false }).unwrap();
        assert_eq!(p.apparmor_profile.as_deref(), Some("docker-default"));
    }

    #[test]
    fn selinux_label_is_an_error_when_selinux_is_off() {
        let e = plan(None, Some("system_u:system_r:container_t:s0"), None, NONE).unwrap_err();
        assert!(e.to_string().contains("selinux is disabled"), "{e}");
        assert!(e.to_string().contains("container_t"), "{e}");
        // The mount label alone is not an error (runc ignores it), just not applied.
        assert!(plan(None, None, Some("system_u:object_r:container_file_t:s0"), NONE).unwrap().is_empty());
        let p = plan(None, Some("l"), Some("m"), BOTH).unwrap();
        assert_eq!((p.selinux_process_label.as_deref(), p.selinux_mount_label.as_deref()), (Some("l"), Some("m")));
    }

    #[test]
    fn hostile_values_are_refused() {
        assert!(plan(Some("a\nchangeprofile unconfined"), None, None, BOTH).is_err());
        assert!(plan(None, Some("a\0b"), None, BOTH).is_err());
        let e = plan(None, None, Some("x\",nosuid"), BOTH).unwrap_err();
        assert!(e.to_string().contains("mount label"), "{e}");
        assert!(plan(Some(""), Some(""), Some(""), NONE).unwrap().is_empty());
    }

    #[test]
    fn mount_label_goes_on_the_right_mounts() {
        let p = plan(None, None, Some("system_u:object_r:container_file_t:s0:c1,c2"), BOTH).unwrap();
        assert_eq!(mount_data(&p, "tmpfs", false, "mode=755"), "mode=755,context=\"system_u:object_r:container_file_t:s0:c1,c2\"");
        assert_eq!(mount_data(&p, "devpts", false, ""), "context=\"system_u:object_r:container_file_t:s0:c1,c2\"");
        for fs in ["proc", "sysfs", "mqueue", "cgroup", "cgroup2"] {
            assert_eq!(mount_data(&p, fs, false, "ro"), "ro");
        }
        assert_eq!(mount_data(&p, "ext4", true, ""), "");
        assert_eq!(mount_data(&LsmPlan::default(), "tmpfs", false, "size=1m"), "size=1m");
    }

    #[test]
    fn plan_for_reads_the_process() {
        let proc: oci_spec::runtime::Process =
            serde_json::from_str(r#"{"cwd":"/","args":["sh"],"apparmorProfile":"p","user":{"uid":0,"gid":0}}"#).unwrap();
        assert_eq!(plan_for(Some(&proc), None, BOTH).unwrap().apparmor_profile.as_deref(), Some("p"));
        assert!(plan_for(None, None, BOTH).unwrap().is_empty());
    }

    #[test]
    fn detect_matches_this_host() {
        let h = HostLsm::detect();
        assert_eq!(h.apparmor, std::fs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|b| b.starts_with(b"Y")) && std::path::Path::new("/sys/kernel/security/apparmor").exists());
        if !std::path::Path::new("/sys/fs/selinux").exists() {
            assert!(!h.selinux);
        }
    }

    #[test]
    fn apply_reports_the_attribute_it_could_not_write() {
        // Only where no LSM runs: elsewhere this would really change the test's exec label.
        if HostLsm::detect() != NONE {
            return;
        }
        let plan = LsmPlan { apparmor_profile: Some("berth-test".into()), ..Default::default() };
        let e = apply_before_exec(&plan).unwrap_err().to_string();
        assert!(e.contains("/attr/") && e.contains("exec"), "{e}");
        assert!(apply_before_exec(&LsmPlan::default()).is_ok());
        assert!(set_keycreate_label(&LsmPlan::default(), true).is_ok());
    }
}
