//! `exec`: a new process inside a running container. The caller enters the container's pid
//! (and time) namespace for its children only and clones the process directly, so it is the
//! caller's child with no intermediate fork; the child joins the other namespaces (user
//! first; it entered the cgroup itself before), then finishes set-up and execs.

use super::channel::{Channel, Msg};
use super::setup;
use crate::error::{Error, Result};
use crate::plan::process::ProcessPlan;
use crate::runtime::{Console, Container, Status};
use crate::seccomp::SeccompFilter;
use crate::sys;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct ExecOptions {
    pub console: Console,
    pub stdio: Option<[RawFd; 3]>,
    pub preserve_fds: u32,
    pub pid_file: Option<PathBuf>,
}

/// A started exec process (a child of the caller).
#[derive(Debug)]
pub struct ExecProcess {
    pub pid: i32,
    pub pty_master: Option<OwnedFd>,
}

/// Namespaces in the order they are joined: user first (it grants the rights for the others),
/// mount last among those the child joins.
const NS: [(&str, i32); 8] = [
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
    ("pid", libc::CLONE_NEWPID),
    ("time", libc::CLONE_NEWTIME),
];

impl Container {
    pub fn exec(&self, process: &oci_spec::runtime::Process, opts: &ExecOptions) -> Result<ExecProcess> {
        let id = self.id.as_str();
        let saved = self.saved()?.clone();
        match self.status() {
            Status::Running | Status::Created => {}
            st => return Err(Error::BadStatus { id: id.to_owned(), status: st.as_str(), reason: "cannot exec in a container that is not running" }),
        }
        let popts = crate::plan::PlanOptions { preserve_fds: opts.preserve_fds, ..Default::default() };
        let plan = crate::plan::process::plan_process(process, &popts)?;
        match (&opts.console, plan.terminal) {
            (Console::None, true) => return Err(Error::Usage("a terminal was asked for: a --console-socket is needed to hand out the pty".into())),
            (Console::Socket(_), false) => return Err(Error::Usage("--console-socket given but no terminal was asked for".into())),
            _ => {}
        }
        let config = self.config()?;
        let linux = config.linux().clone().unwrap_or_default();
        let seccomp = match linux.seccomp() {
            Some(s) => Some(SeccompFilter::compile(s)?),
            None => None,
        };
        let lsm = crate::lsm::plan_for(Some(process), None, crate::lsm::HostLsm::detect()).map_err(|e| Error::Spec(e.to_string()))?;
        // The notify agent is on the host: connect before the child enters the container.
        let notify_conn = match seccomp.as_ref().filter(|f| f.uses_notify()).and_then(|f| f.listener_path()) {
            Some(p) => Some(crate::seccomp::connect_agent(p)?),
            None => None,
        };
        let state_json = serde_json::to_vec(&serde_json::json!({
            "ociVersion": crate::spec::OCI_VERSION, "id": id, "status": "running", "pid": saved.pid, "bundle": saved.bundle,
        }))
        .unwrap_or_default();

        // The namespaces that differ from ours are the container's.
        let mut join: Vec<(i32, OwnedFd)> = Vec::new();
        let (mut pid_ns, mut time_ns) = (None, None);
        for (name, flag) in NS {
            let theirs = format!("/proc/{}/ns/{name}", saved.pid);
            let (Ok(a), Ok(b)) = (std::fs::read_link(&theirs), std::fs::read_link(format!("/proc/self/ns/{name}"))) else { continue };
            if a == b {
                continue;
            }
            let f = std::fs::File::open(&theirs).map_err(|e| Error::sys(id, format!("open {theirs}"), e))?;
            match flag {
                libc::CLONE_NEWPID => pid_ns = Some(OwnedFd::from(f)),
                libc::CLONE_NEWTIME => time_ns = Some(OwnedFd::from(f)),
                _ => join.push((flag, OwnedFd::from(f))),
            }
        }
        if !crate::runtime::alive(saved.pid, saved.start_time) {
            return Err(Error::BadStatus { id: id.to_owned(), status: "stopped", reason: "cannot exec in a container that is not running" });
        }
        let in_userns = join.iter().any(|(f, _)| *f == libc::CLONE_NEWUSER);
        let console_sock = match &opts.console {
            Console::Socket(p) => Some(std::os::unix::net::UnixStream::connect(p).map_err(|e| Error::io(format!("console socket {}", p.display()), e))?),
            _ => None,
        };
        let (parent, child) = Channel::pair().map_err(|e| Error::sys(id, "socketpair", e))?;

        // Enter the pid/time namespaces for our next child only, clone, and come back. That
        // needs CAP_SYS_ADMIN in our own user namespace: unprivileged, the child enters them
        // once inside the container's user namespace and forks the real process (a sibling).
        // SAFETY: geteuid always succeeds.
        let two_step = in_userns && unsafe { libc::geteuid() } != 0;
        let later: Vec<(i32, OwnedFd)> = if two_step {
            [(libc::CLONE_NEWPID, pid_ns.take()), (libc::CLONE_NEWTIME, time_ns.take())]
                .into_iter()
                .filter_map(|(f, ns)| ns.map(|ns| (f, ns)))
                .collect()
        } else {
            Vec::new()
        };
        let restore: Vec<(OwnedFd, i32)> = [(pid_ns.as_ref(), "pid_for_children", libc::CLONE_NEWPID), (time_ns.as_ref(), "time_for_children", libc::CLONE_NEWTIME)]
            .into_iter()
            .filter(|(ns, _, _)| ns.is_some())
            .map(|(_, name, flag)| std::fs::File::open(format!("/proc/self/ns/{name}")).map(|f| (OwnedFd::from(f), flag)))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::sys(id, "open own namespaces", e))?;
        for (ns, flag) in [(pid_ns.as_ref(), libc::CLONE_NEWPID), (time_ns.as_ref(), libc::CLONE_NEWTIME)] {
            if let Some(ns) = ns {
                sys::setns(ns.as_fd(), flag).map_err(|e| Error::sys(id, format!("enter {} namespace", crate::plan::ns_name(flag)), e))?;
            }
        }
        // As the init: the child enters the cgroup itself; otherwise (systemd) the parent moves it.
        let (cloned, cgroup_join) = super::clone_self_joining(0, saved.cgroup.as_ref())?;
        let parent_joins = cgroup_join.is_none();
        if let Ok(0) = cloned {
            drop(parent);
            let msg = match child_main(&child, cgroup_join.as_ref(), &join, &later, &plan, seccomp.as_ref(), notify_conn.as_ref().map(|c| (c.as_raw_fd(), state_json.as_slice())), &lsm, in_userns, console_sock.as_ref().map(|s| s.as_raw_fd()), opts) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = child.send(&Msg::Error(msg));
            sys::exit_now(127);
        }
        for (fd, flag) in &restore {
            let _ = sys::setns(fd.as_fd(), *flag);
        }
        let mut pid = cloned.map_err(|e| Error::sys(id, "clone", e))?;
        drop(child);
        drop(console_sock);
        if !later.is_empty() {
            let first = pid;
            let r = parent.recv();
            let _ = sys::waitpid(first, 0);
            match r {
                Ok(Some((Msg::Pid(p), _))) => pid = p,
                Ok(Some((Msg::Error(e), _))) => return Err(Error::Init { id: id.to_owned(), msg: e }),
                Ok(Some((m, _))) => return Err(Error::Init { id: id.to_owned(), msg: format!("unexpected message {m:?}") }),
                Ok(None) => return Err(Error::Init { id: id.to_owned(), msg: "the exec helper exited early".into() }),
                Err(e) => return Err(Error::sys(id, "exec channel", e)),
            }
        }
        let kill = |e: Error| {
            // SAFETY: our child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = sys::waitpid(pid, 0);
            e
        };
        if let Some(cg) = saved.cgroup.as_ref().filter(|_| parent_joins) {
            cg.add_process(pid).map_err(|e| kill(e.into()))?;
        }
        parent.send(&Msg::Go).map_err(|e| kill(Error::sys(id, "exec channel", e)))?;
        let mut pty = None;
        loop {
            match parent.recv() {
                Ok(None) => break, // exec'd
                Ok(Some((Msg::Pty, fd))) => pty = fd,
                Ok(Some((Msg::Error(e), _))) => return Err(kill(Error::Init { id: id.to_owned(), msg: e })),
                Ok(Some((m, _))) => return Err(kill(Error::Init { id: id.to_owned(), msg: format!("unexpected message {m:?}") })),
                Err(e) => return Err(kill(Error::sys(id, "exec channel", e))),
            }
        }
        if let Some(pf) = &opts.pid_file {
            let tmp = pf.with_file_name(format!(".{}.tmp", pf.file_name().and_then(|n| n.to_str()).unwrap_or("pid")));
            std::fs::write(&tmp, pid.to_string()).and_then(|_| std::fs::rename(&tmp, pf)).map_err(|e| Error::io(format!("pid file {}", pf.display()), e))?;
        }
        Ok(ExecProcess { pid, pty_master: pty })
    }
}

enum Never {}

#[allow(clippy::too_many_arguments)]
fn child_main(
    chan: &Channel,
    cgroup_join: Option<&crate::cgroups::SelfJoin>,
    join: &[(i32, OwnedFd)],
    later: &[(i32, OwnedFd)],
    plan: &ProcessPlan,
    seccomp: Option<&SeccompFilter>,
    notify: Option<(RawFd, &[u8])>,
    lsm: &crate::lsm::LsmPlan,
    in_userns: bool,
    console: Option<RawFd>,
    opts: &ExecOptions,
) -> std::result::Result<Never, String> {
    let e = |what: &str, err: std::io::Error| crate::rootfs::err(what, err);
    if let Some(j) = cgroup_join {
        // Before entering the container's mount namespace: the paths are the host's.
        j.join().map_err(|(errno, i)| e(&format!("join cgroup {}", j.file(i)), std::io::Error::from_raw_os_error(errno)))?;
    }
    // SAFETY: an empty signal set is valid.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        // The runtime ignores SIGPIPE; an ignored disposition would survive exec.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0).map_err(|x| e("pdeathsig", x))?;
    sys::prctl(libc::PR_SET_DUMPABLE, 0, 0).map_err(|x| e("set non-dumpable", x))?;
    if let Some(fds) = opts.stdio {
        for (i, fd) in fds.iter().enumerate() {
            sys::dup2(*fd, i as RawFd).map_err(|x| e("stdio", x))?;
        }
    }
    for (flag, fd) in join {
        sys::setns(fd.as_fd(), *flag).map_err(|x| e(&format!("join {} namespace", crate::plan::ns_name(*flag)), x))?;
    }
    if !later.is_empty() {
        for (flag, fd) in later {
            sys::setns(fd.as_fd(), *flag).map_err(|x| e(&format!("enter {} namespace", crate::plan::ns_name(*flag)), x))?;
        }
        // The real process: the runtime's child (CLONE_PARENT), in the pid/time namespaces.
        let pid = sys::clone_fork(libc::CLONE_PARENT as u64).map_err(|x| e("fork into the pid namespace", x))?;
        if pid > 0 {
            let _ = chan.send(&Msg::Pid(pid));
            sys::exit_now(0);
        }
        sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0).map_err(|x| e("pdeathsig", x))?;
    }
    match chan.expect("cgroup join")? {
        (Msg::Go, _) => {}
        (m, _) => return Err(format!("unexpected message {m:?}")),
    }
    if plan.terminal {
        let master = setup::make_pty(plan.console_size)?;
        match console {
            Some(sock) => super::channel::send_msg(sock, b"/dev/ptmx", Some(master.as_raw_fd())).map_err(|x| e("send pty to console socket", x))?,
            None => chan.send_with_fd(&Msg::Pty, Some(master.as_raw_fd())).map_err(|x| e("send pty", x))?,
        }
    }
    let prepared = setup::finalize(&setup::Finalize {
        process: plan,
        notify,
        lsm: Some(lsm).filter(|l| !l.is_empty()),
        seccomp,
        preserve_fds: opts.preserve_fds,
        personality: None,
        in_userns,
    })?;
    sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0).map_err(|x| e("pdeathsig", x))?;
    Err(prepared.exec())
}
