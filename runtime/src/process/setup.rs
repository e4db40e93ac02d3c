//! The last steps before exec, shared by the container's init and `exec`: pty, rlimits,
//! scheduling, the close-on-exec sweep, credentials, capabilities, cwd (verified), seccomp,
//! the `$PATH` lookup, and the exec itself.

use crate::plan::caps;
use crate::plan::process::ProcessPlan;
use crate::rootfs::err;
use crate::seccomp::SeccompFilter;
use crate::sys;
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, String>;

/// Open a pty in the current mount namespace (`/dev/ptmx`), make its other end our
/// controlling terminal and stdio, and return the master.
pub fn make_pty(size: Option<(u16, u16)>) -> Result<OwnedFd> {
    // SAFETY: plain syscalls; every fd is checked and owned below.
    unsafe {
        let m = libc::open(c"/dev/ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if m < 0 {
            return Err(err("open /dev/ptmx", io::Error::last_os_error()));
        }
        let master = OwnedFd::from_raw_fd(m);
        let unlock: libc::c_int = 0;
        if libc::ioctl(m, libc::TIOCSPTLCK, &unlock) < 0 {
            return Err(err("unlock pty", io::Error::last_os_error()));
        }
        // TIOCGPTPEER opens the peer through the master, never by a path the container controls.
        let s = libc::ioctl(m, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if s < 0 {
            return Err(err("open pty peer", io::Error::last_os_error()));
        }
        let slave = OwnedFd::from_raw_fd(s);
        if let Some((rows, cols)) = size {
            let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
            libc::ioctl(m, libc::TIOCSWINSZ, &ws);
        }
        libc::setsid();
        if libc::ioctl(s, libc::TIOCSCTTY, 0) < 0 {
            return Err(err("set controlling terminal", io::Error::last_os_error()));
        }
        for i in 0..3 {
            sys::dup2(s, i).map_err(|e| err("pty stdio", e))?;
        }
        drop(slave);
        Ok(master)
    }
}

pub struct Finalize<'a> {
    pub process: &'a ProcessPlan,
    /// Connection to the seccomp notify agent (made before pivot_root / setns), and the
    /// container state JSON for its message.
    pub notify: Option<(RawFd, &'a [u8])>,
    /// AppArmor / SELinux, applied right before execve.
    pub lsm: Option<&'a crate::lsm::LsmPlan>,
    pub seccomp: Option<&'a SeccompFilter>,
    pub preserve_fds: u32,
    pub personality: Option<libc::c_ulong>,
    pub in_userns: bool,
}

/// Everything ready for `execve`, with the seccomp filter still to load when it must come last.
pub struct Prepared<'a> {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    seccomp_late: Option<&'a SeccompFilter>,
    notify: Option<(RawFd, &'a [u8])>,
    lsm: Option<&'a crate::lsm::LsmPlan>,
}

pub fn finalize<'a>(f: &Finalize<'a>) -> Result<Prepared<'a>> {
    let p = f.process;
    for &(res, soft, hard) in &p.rlimits {
        let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
        // SAFETY: valid rlimit struct.
        if unsafe { libc::setrlimit(res as _, &lim) } < 0 {
            let e = io::Error::last_os_error();
            // Rootless, the hard limit can only go down: say so instead of a bare EPERM.
            let hint = if e.raw_os_error() == Some(libc::EPERM) { " above the current hard limit needs CAP_SYS_RESOURCE on the host" } else { "" };
            return Err(err(format!("setrlimit {res} ({soft}/{hard}){hint}"), e));
        }
    }
    if let Some(pers) = f.personality {
        // SAFETY: plain syscall.
        if unsafe { libc::personality(pers) } < 0 {
            return Err(err("personality", io::Error::last_os_error()));
        }
    }
    if let Some(attr) = &p.scheduler {
        // SAFETY: attr is a valid sched_attr with its size set.
        if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const _, 0) } < 0 {
            return Err(err("sched_setattr", io::Error::last_os_error()));
        }
    }
    if let Some(prio) = p.io_priority {
        // SAFETY: IOPRIO_WHO_PROCESS (1), this process (0).
        if unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, prio) } < 0 {
            return Err(err("ioprio_set", io::Error::last_os_error()));
        }
    }
    let mut env = p.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(p.uid)));
    }

    // No fd of the runtime survives exec: only stdio and the preserved ones.
    let first = 3 + f.preserve_fds;
    sys::close_range_cloexec(first).map_err(|e| err("mark fds close-on-exec", e))?;
    for fd in 3..first {
        sys::set_cloexec(fd as RawFd, false).map_err(|e| err(format!("preserved fd {fd}"), e))?;
    }

    // Credentials and capabilities.
    let last = sys::last_cap();
    for cap in 0..=last {
        if p.caps.bounding & (1u64 << cap) == 0 {
            if let Err(e) = sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0) {
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(err(format!("drop {} from the bounding set", caps::NAMES.get(cap as usize).unwrap_or(&"?")), e));
                }
            }
        }
    }
    sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0).map_err(|e| err("keep caps", e))?;
    set_user(p, f.in_userns)?;
    sys::prctl(libc::PR_SET_KEEPCAPS, 0, 0).map_err(|e| err("clear keep caps", e))?;
    // What we may still raise: our permitted set (the host may withhold some capabilities).
    let all: u64 = sys::capget().map_err(|e| err("capget", e))?.1;

    // chdir as the user, then make sure we really are inside the container (CVE-2024-21626:
    // a leaked fd of the host as cwd shows as "(unreachable)...").
    let cwd = sys::cpath(&p.cwd).map_err(|e| err("cwd", e))?;
    // SAFETY: NUL-terminated path.
    if unsafe { libc::chdir(cwd.as_ptr()) } < 0 {
        let e = io::Error::last_os_error();
        // A non-root user may lack search permission where root had it: retry with our caps.
        sys::capset(all, all, 0).map_err(|e| err("capset", e))?;
        // SAFETY: as above.
        if unsafe { libc::chdir(cwd.as_ptr()) } < 0 {
            return Err(err(format!("chdir to cwd {:?}", p.cwd.display()), e));
        }
    }
    match std::env::current_dir() {
        Ok(d) if d.is_absolute() => {}
        Ok(d) => return Err(format!("cwd {:?} is outside the container's root", d.display())),
        Err(e) => return Err(err("getcwd (cwd outside the container?)", e)),
    }

    let path = lookup(&p.args[0], &env)?;
    let mut seccomp_late = None;
    if let Some(filter) = f.seccomp {
        if p.no_new_privileges {
            seccomp_late = Some(filter);
        } else {
            // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it now, while
            // we still hold it, just before dropping to the final capability sets.
            sys::capset(all, all, 0).map_err(|e| err("capset", e))?;
            install_seccomp(filter, f.notify)?;
        }
    }
    sys::capset(p.caps.effective, p.caps.permitted, p.caps.inheritable).map_err(|e| err("capset", e))?;
    for cap in 0..=last.min(63) {
        // The kernel only raises an ambient capability that is also permitted and inheritable;
        // like runc, a spec listing others (its own default does) is not an error.
        let bit = 1u64 << cap;
        if p.caps.ambient & bit != 0 && p.caps.permitted & bit != 0 && p.caps.inheritable & bit != 0 {
            sys::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, cap as libc::c_ulong)
                .map_err(|e| err(format!("raise ambient {}", caps::NAMES.get(cap as usize).unwrap_or(&"?")), e))?;
        }
    }
    if p.no_new_privileges {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map_err(|e| err("no_new_privs", e))?;
    }
    // SAFETY: always succeeds.
    unsafe { libc::umask(p.umask.unwrap_or(0o022) as libc::mode_t) };

    let cs = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    Ok(Prepared {
        path: CString::new(path.as_os_str().as_bytes()).map_err(|_| "path contains a NUL byte".to_string())?,
        argv: p.args.iter().map(|a| cs(a)).collect::<Result<_>>()?,
        envp: env.iter().map(|e| cs(e)).collect::<Result<_>>()?,
        seccomp_late,
        notify: f.notify,
        lsm: f.lsm,
    })
}

fn set_user(p: &ProcessPlan, in_userns: bool) -> Result<()> {
    // SAFETY: plain syscalls with valid pointers.
    unsafe {
        let gids: Vec<libc::gid_t> = p.additional_gids.clone();
        if libc::setgroups(gids.len(), gids.as_ptr()) < 0 {
            let e = io::Error::last_os_error();
            // setgroups is denied in some user namespaces; only fatal when groups were asked for.
            if !(in_userns && gids.is_empty() && e.raw_os_error() == Some(libc::EPERM)) {
                return Err(err(format!("setgroups {:?}", p.additional_gids), e));
            }
        }
        if libc::setresgid(p.gid, p.gid, p.gid) < 0 {
            return Err(err(format!("setgid {}", p.gid), io::Error::last_os_error()));
        }
        if libc::setresuid(p.uid, p.uid, p.uid) < 0 {
            return Err(err(format!("setuid {}", p.uid), io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// The home directory of `uid` from the container's /etc/passwd, or "/".
fn home_of(uid: u32) -> String {
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else { return "/".into() };
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid) && !f[5].is_empty() {
            return f[5].to_owned();
        }
    }
    "/".into()
}

/// `$PATH` lookup as execvp does it, with the container's environment.
pub fn lookup(name: &str, env: &[String]) -> Result<PathBuf> {
    let executable = |p: &Path| {
        let Ok(c) = sys::cpath(p) else { return false };
        // SAFETY: NUL-terminated path.
        std::fs::metadata(p).map(|m| m.is_file()).unwrap_or(false) && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return match std::fs::metadata(&p) {
            Ok(_) => Ok(p),
            Err(e) => Err(err(format!("exec: {name:?}"), e)),
        };
    }
    let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(name);
        if executable(&cand) {
            return Ok(cand);
        }
    }
    Err(format!("exec: {name:?}: executable file not found in $PATH"))
}

fn install_seccomp(filter: &SeccompFilter, notify: Option<(RawFd, &[u8])>) -> Result<()> {
    let fd = filter.install().map_err(|e| e.to_string())?;
    if let Some(fd) = fd {
        let Some((conn, state)) = notify else { return Err("seccomp: notify rules need linux.seccomp.listenerPath".into()) };
        let st: oci_spec::runtime::State = serde_json::from_slice(state).map_err(|e| format!("seccomp: container state: {e}"))?;
        let msg = filter.agent_message(&st);
        // SAFETY: the connection fd stays open for the whole init.
        let conn = unsafe { std::os::fd::BorrowedFd::borrow_raw(conn) };
        crate::seccomp::send_listener_over(conn, &fd, &msg).map_err(|e| e.to_string())?;
    }
    Ok(())
}

impl Prepared<'_> {
    /// Load a late seccomp filter and exec. Returns only on failure, with the message.
    pub fn exec(self) -> String {
        if let Some(lsm) = self.lsm {
            if let Err(e) = crate::lsm::apply_before_exec(lsm) {
                return e.to_string();
            }
        }
        if let Some(f) = self.seccomp_late {
            if let Err(e) = install_seccomp(f, self.notify) {
                return e;
            }
        }
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.envp.iter().map(|a| a.as_ptr()).collect();
        envp.push(std::ptr::null());
        // SAFETY: NULL-terminated arrays of NUL-terminated strings that outlive the call.
        unsafe { libc::execve(self.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        err(format!("exec {:?}", self.path.to_string_lossy()), io::Error::last_os_error())
    }
}
