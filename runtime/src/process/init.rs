//! The container's init, from the moment it is cloned until it execs the user process:
//! cgroup (it enters it itself, or the parent moves it), namespaces, rootfs, pivot_root,
//! kernel settings, credentials, then the wait for `start` and the exec. Runs in a forked
//! copy of the runtime; it never returns, and reports failures to the runtime as one line.

use super::channel::{Channel, Msg};
use super::setup;
use crate::cgroups::SelfJoin;
use crate::plan::Plan;
use crate::rootfs;
use crate::sys;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the init gets from the runtime besides the plan (all fds inherited through clone).
pub struct InitArgs<'a> {
    pub plan: &'a Plan,
    pub chan: &'a Channel,
    /// O_PATH fd of the state dir (for the exec fifo), when `start` uses the fifo.
    pub state_dir: Option<RawFd>,
    /// fds of the runtime the init must close first (the state dir lock).
    pub close: Vec<RawFd>,
    /// Connected console socket to send the pty master to.
    pub console_socket: Option<RawFd>,
    /// Stdio for the container (dup'ed onto 0, 1, 2).
    pub stdio: Option<[RawFd; 3]>,
    /// The cgroup files to enter first thing, before any namespace is joined (None: the
    /// runtime joins us after the namespace stage).
    pub join: Option<SelfJoin>,
}

/// Entry point in the cloned child. Never returns.
pub fn main(a: InitArgs<'_>) -> ! {
    match run(&a) {
        Ok(never) => match never {},
        Err(Failure::Early(msg)) => {
            let _ = a.chan.send(&Msg::Error(msg));
        }
        Err(Failure::Late(msg, fifo)) => match fifo {
            Some(fd) => {
                let _ = sys::write_all(fd.as_raw_fd(), msg.as_bytes());
            }
            None => {
                let _ = a.chan.send(&Msg::Error(msg));
            }
        },
    }
    sys::exit_now(1)
}

enum Failure {
    /// Before `Ready`: the runtime is listening on the channel.
    Early(String),
    /// After `Ready`: report through the fifo (create/start) or the channel (run).
    Late(String, Option<OwnedFd>),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Early(s)
    }
}

enum Never {}

fn run(a: &InitArgs<'_>) -> Result<Never, Failure> {
    let plan = a.plan;
    if let Some(j) = &a.join {
        // Still single-threaded and in the runtime's mount namespace (paths resolve as planned).
        j.join().map_err(|(errno, i)| rootfs::err(format!("join cgroup {}", j.file(i)), std::io::Error::from_raw_os_error(errno)))?;
    }
    early_process_setup(a)?;
    crate::fault::at("clone")?;
    namespaces(a)?;
    crate::fault::at("namespaces")?;

    // The parent joins us to the cgroup (unless we did), writes maps of a new user namespace.
    a.chan.send(&Msg::Waiting).map_err(|e| format!("channel: {e}"))?;
    expect(a.chan, "cgroup join", |m| matches!(m, Msg::Go))?;
    if plan.ns.creates(libc::CLONE_NEWCGROUP) {
        sys::unshare(libc::CLONE_NEWCGROUP).map_err(|e| rootfs::err("unshare cgroup namespace", e))?;
    }
    // oom_score_adj was set by the runtime (parent::set_oom_score_adj).

    // Root filesystem.
    // SAFETY: umask always succeeds; device and directory modes must be exactly as planned.
    unsafe { libc::umask(0) };
    let root = rootfs::prepare(plan)?;
    rootfs::mount_all(plan, &root)?;
    rootfs::devices::create(plan, &root)?;
    root.mkdir_all(&plan.process.cwd, 0o755).map_err(|e| rootfs::err(format!("create cwd {}", plan.process.cwd.display()), e))?;
    crate::fault::at("mounts")?;

    a.chan.send(&Msg::MountsReady).map_err(|e| format!("channel: {e}"))?;
    let state_json = match a.chan.expect("hooks") {
        Ok((Msg::Continue(b), _)) => b,
        Ok((m, _)) => return Err(format!("unexpected message {m:?}").into()),
        Err(e) => return Err(e.into()),
    };
    crate::hooks::run_all(&plan.id, "createContainer", &plan.hooks.create_container, &state_json).map_err(hook_msg)?;
    crate::fault::at("create-container")?;

    // The seccomp notify agent lives on the host: connect before pivot_root.
    let notify_conn = match plan.seccomp.as_ref().filter(|f| f.uses_notify()).and_then(|f| f.listener_path()) {
        Some(path) => Some(crate::seccomp::connect_agent(path).map_err(|e| e.to_string())?),
        None => None,
    };
    rootfs::pivot(plan, &root)?;
    drop(root);
    // sysctl before the read-only paths (/proc/sys is one).
    rootfs::sysctl(plan)?;
    rootfs::finish(plan)?;
    rootfs::set_names(plan)?;
    crate::fault::at("pivot")?;
    if !plan.opts.no_new_keyring {
        crate::lsm::set_keycreate_label(&plan.lsm, true).map_err(|e| e.to_string())?;
        // A private session keyring, so the container cannot see the host's keys. Kernels
        // without keyrings (ENOSYS) or a seccomp'd host (EPERM) just go without.
        // SAFETY: KEYCTL_JOIN_SESSION_KEYRING with a NULL name makes an anonymous keyring.
        unsafe { libc::syscall(libc::SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0usize) };
        crate::lsm::set_keycreate_label(&plan.lsm, false).map_err(|e| e.to_string())?;
    }
    if plan.process.terminal {
        let master = setup::make_pty(plan.process.console_size)?;
        match a.console_socket {
            Some(sock) => super::channel::send_msg(sock, b"/dev/ptmx", Some(master.as_raw_fd())).map_err(|e| rootfs::err("send pty to console socket", e))?,
            None => a.chan.send_with_fd(&Msg::Pty, Some(master.as_raw_fd())).map_err(|e| rootfs::err("send pty", e))?,
        }
        if let Some(sock) = a.console_socket {
            // SAFETY: closing our copy of the console socket.
            unsafe { libc::close(sock) };
        }
    }

    let prepared = setup::finalize(&setup::Finalize {
        process: &plan.process,
        notify: notify_conn.as_ref().map(|c| (c.as_raw_fd(), state_json.as_slice())),
        lsm: Some(&plan.lsm).filter(|l| !l.is_empty()),
        seccomp: plan.seccomp.as_ref(),
        preserve_fds: plan.opts.preserve_fds,
        personality: plan.personality,
        in_userns: plan.ns.has(libc::CLONE_NEWUSER),
    })?;

    crate::fault::at("before-exec")?;
    a.chan.send(&Msg::Ready).map_err(|e| format!("channel: {e}"))?;
    // Outlive `create` only once it has recorded us in state.json: killed before that, it
    // leaves no record of this pid (only `delete --force` of the half-made dir), so we must
    // die with it (the death signal, or the channel's EOF here) rather than wait on the fifo
    // for a start that cannot come.
    match a.chan.recv() {
        Ok(Some((Msg::Committed, _))) => {}
        _ => sys::exit_now(1),
    }
    sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0).map_err(|e| Failure::Late(rootfs::err("pdeathsig", e), None))?;
    // `create` must not exit before this point, or the death signal still set would kill us.
    a.chan.send(&Msg::Detached).map_err(|e| Failure::Late(format!("channel: {e}"), None))?;

    let fifo = match a.state_dir {
        Some(dir) => {
            // Blocks until `berth start` opens the fifo for reading.
            // SAFETY: relative name under the state dir fd.
            let fd = unsafe { libc::openat(dir, c"exec.fifo".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(Failure::Late(rootfs::err("open exec fifo", std::io::Error::last_os_error()), None));
            }
            // SAFETY: closing the O_PATH dir fd we no longer need.
            unsafe { libc::close(dir) };
            // SAFETY: fresh fd.
            Some(unsafe { OwnedFd::from_raw_fd(fd) })
        }
        None => {
            match a.chan.expect("start") {
                Ok((Msg::Start, _)) => {}
                Ok((m, _)) => return Err(Failure::Late(format!("unexpected message {m:?}"), None)),
                Err(e) => return Err(Failure::Late(e, None)),
            }
            None
        }
    };
    let late = |msg: String, fifo: Option<OwnedFd>| Failure::Late(msg, fifo);
    if !plan.hooks.start_container.is_empty() {
        if let Err(e) = crate::hooks::run_all(&plan.id, "startContainer", &plan.hooks.start_container, &state_json) {
            return Err(late(hook_msg(e), fifo));
        }
    }
    let e = prepared.exec();
    Err(late(e, fifo))
}

/// The runtime adds the container id; the init reports only what failed.
fn hook_msg(e: crate::Error) -> String {
    match e {
        crate::Error::Hook { hook, path, reason, .. } => format!("{hook} hook {path}: {reason}"),
        e => e.to_string(),
    }
}

fn expect(chan: &Channel, what: &str, ok: impl Fn(&Msg) -> bool) -> Result<(), String> {
    match chan.expect(what)? {
        (m, _) if ok(&m) => Ok(()),
        (m, _) => Err(format!("unexpected message {m:?} while waiting for {what}")),
    }
}

fn early_process_setup(a: &InitArgs<'_>) -> Result<(), String> {
    for &fd in &a.close {
        // SAFETY: closing fds of the runtime this process must not hold.
        unsafe { libc::close(fd) };
    }
    // The runtime may have blocked signals it forwards; the container starts clean.
    // SAFETY: an empty set is valid.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        // The runtime ignores SIGPIPE; an ignored disposition would survive exec.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Die with the runtime while it is still setting us up.
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0).map_err(|e| rootfs::err("pdeathsig", e))?;
    // Not dumpable while we hold the runtime's and the host's fds (CVE-2016-9962).
    sys::prctl(libc::PR_SET_DUMPABLE, 0, 0).map_err(|e| rootfs::err("set non-dumpable", e))?;
    if let Some(fds) = a.stdio {
        for (i, fd) in fds.iter().enumerate() {
            sys::dup2(*fd, i as RawFd).map_err(|e| rootfs::err(format!("stdio fd {i}"), e))?;
        }
    }
    Ok(())
}

/// Join namespaces by path, create the rest (when clone could not), get uid/gid maps
/// written, and fork into the new pid/time namespace if needed.
fn namespaces(a: &InitArgs<'_>) -> Result<(), String> {
    let plan = a.plan;
    let ns = &plan.ns;
    if ns.needs_fork() {
        for (flag, path) in &ns.join {
            let f = std::fs::File::open(path).map_err(|e| rootfs::err(format!("open {} namespace {}", crate::plan::ns_name(*flag), path.display()), e))?;
            sys::setns(std::os::fd::AsFd::as_fd(&f), *flag).map_err(|e| rootfs::err(format!("join {} namespace {}", crate::plan::ns_name(*flag), path.display()), e))?;
        }
        let flags = ns.new & !libc::CLONE_NEWCGROUP;
        if flags != 0 {
            sys::unshare(flags).map_err(|e| rootfs::err("unshare namespaces", e))?;
        }
    }
    if ns.creates(libc::CLONE_NEWUSER) {
        // /proc/PID of a non-dumpable process belongs to root: an unprivileged runtime (and
        // newuidmap, which checks the owner) could not write our maps. Nothing runs in the
        // container yet, so being dumpable for the caller's own uid exposes nothing.
        sys::prctl(libc::PR_SET_DUMPABLE, 1, 0).map_err(|e| rootfs::err("set dumpable for the id maps", e))?;
        a.chan.send(&Msg::NeedMaps).map_err(|e| format!("channel: {e}"))?;
        expect(a.chan, "uid/gid maps", |m| matches!(m, Msg::MapsDone))?;
        // Become root of the new user namespace (the maps now exist).
        // SAFETY: plain syscalls.
        unsafe {
            if libc::setresgid(0, 0, 0) < 0 || libc::setresuid(0, 0, 0) < 0 {
                return Err(rootfs::err("become root in the user namespace", std::io::Error::last_os_error()));
            }
        }
    }
    if ns.needs_fork() {
        if !plan.time_offsets.is_empty() {
            let text: String = plan.time_offsets.iter().map(|(c, s, n)| format!("{c} {s} {n}\n")).collect();
            // One write per line: the kernel takes one offset per write.
            if ns.creates(libc::CLONE_NEWUSER) {
                // Our own /proc files too must be ours, not host root's, to be opened for
                // writing (becoming root inside may have reset the flag).
                sys::prctl(libc::PR_SET_DUMPABLE, 1, 0).map_err(|e| rootfs::err("set dumpable for timens_offsets", e))?;
            }
            for line in text.lines() {
                std::fs::write("/proc/self/timens_offsets", line).map_err(|e| rootfs::err("write timens_offsets", e))?;
            }
        }
    }
    if ns.creates(libc::CLONE_NEWUSER) {
        sys::prctl(libc::PR_SET_DUMPABLE, 0, 0).map_err(|e| rootfs::err("set non-dumpable", e))?;
    }
    if ns.needs_fork() {
        // The real init: a sibling (CLONE_PARENT), so the runtime, not this process, is its
        // parent; it enters the new pid and time namespaces.
        let pid = sys::clone_fork(libc::CLONE_PARENT as u64).map_err(|e| rootfs::err("fork into the pid namespace", e))?;
        if pid > 0 {
            let _ = a.chan.send(&Msg::Pid(pid));
            sys::exit_now(0);
        }
        sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0).map_err(|e| rootfs::err("pdeathsig", e))?;
    }
    Ok(())
}
