//! The library API the CLI, the shim and the builder call: [`Runtime`] (a state root) and
//! [`Container`] (one container in it).

use crate::cgroups::{Cgroup, CgroupRequest};
use crate::error::{Error, Result};
use crate::plan::{Plan, PlanOptions};
use crate::process::channel::{Channel, Msg};
use crate::process::parent::{spawn_init, SpawnArgs};
use crate::state::{Saved, StateDir};
use crate::sys;
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// A state root (`--root`), default `/run/berth`.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

/// How the container's terminal (when `process.terminal` is true) is handed out.
#[derive(Debug, Default)]
pub enum Console {
    /// No terminal wanted (an error if the spec asks for one).
    #[default]
    None,
    /// Send the pty master over this unix socket (runc's `--console-socket`).
    Socket(PathBuf),
    /// Return the pty master in [`Container::pty_master`].
    ReturnMaster,
}

#[derive(Debug, Default)]
pub struct CreateOptions {
    pub pid_file: Option<PathBuf>,
    pub console: Console,
    /// fds to give the container as 0, 1, 2 (default: the caller's own stdio).
    pub stdio: Option<[RawFd; 3]>,
    /// Keep fds 3 .. 3+N open in the container.
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// `run`: start through the init channel instead of the exec fifo; the returned
    /// [`Container`] must then be started with [`Container::start`] before it is dropped.
    pub start_now: bool,
}

/// Status per the runtime-spec (plus runc's `paused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The `state` JSON: the runtime-spec state plus runc's extra fields (containerd reads them).
#[derive(Debug, Clone, Serialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Container {
    pub id: String,
    /// The init's pid (0 while creating).
    pub pid: i32,
    dir: StateDir,
    saved: Option<Saved>,
    chan: Option<Channel>,
    pty: Option<OwnedFd>,
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Runtime { root: root.into(), systemd_cgroup: false }
    }

    pub fn create(&self, id: &str, bundle: &Path, opts: &CreateOptions) -> Result<Container> {
        crate::plan::validate_id(id)?;
        crate::fault::load();
        let b = crate::spec::load_bundle(bundle)?;
        let listen_fds = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse().ok()).unwrap_or(0u32);
        let popts = PlanOptions {
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            preserve_fds: opts.preserve_fds + listen_fds,
            listen_fds,
            use_fifo: !opts.start_now,
            host_lsm: crate::lsm::HostLsm::detect(),
        };
        let plan = Plan::build(id, &b.path, &b.rootfs, &b.spec, popts)?;
        check_hooks(&plan)?;
        match (&opts.console, plan.process.terminal) {
            (Console::None, true) => {
                return Err(Error::Usage("process.terminal is true: a --console-socket is needed to hand out the pty".into()))
            }
            (Console::Socket(_), false) => {
                return Err(Error::Usage("--console-socket given but process.terminal is false".into()))
            }
            _ => {}
        }
        let cgroup = plan_cgroup(id, &plan, self.systemd_cgroup)?;
        let console_sock = match &opts.console {
            Console::Socket(p) => Some(
                std::os::unix::net::UnixStream::connect(p).map_err(|e| Error::io(format!("console socket {}", p.display()), e))?,
            ),
            _ => None,
        };

        // Validation is over: from here on, everything made is undone on failure.
        let dir = StateDir::create(&self.root, id)?;
        let result = self.spawn(&dir, &b, &plan, cgroup.as_ref(), console_sock.as_ref().map(|s| s.as_raw_fd()), opts);
        match result {
            Ok(c) => {
                dir.unlock();
                Ok(c)
            }
            Err(e) => {
                // The init and its children are dead and reaped by now (spawn kills them).
                if let Some(cg) = &cgroup {
                    let _ = destroy_cgroup(cg);
                }
                let _ = dir.remove();
                Err(e)
            }
        }
    }

    fn spawn(&self, dir: &StateDir, b: &crate::spec::Bundle, plan: &Plan, cgroup: Option<&Cgroup>, console: Option<RawFd>, opts: &CreateOptions) -> Result<Container> {
        let id = plan.id.as_str();
        let fault = |step: &str| crate::fault::at(step).map_err(|msg| Error::Init { id: id.to_owned(), msg });
        fault("state-dir")?;
        let annotations: BTreeMap<String, String> = b.spec.annotations().clone().unwrap_or_default().into_iter().collect();
        let state_dir_fd = if plan.opts.use_fifo {
            dir.make_fifo()?;
            let c = sys::cpath(&dir.path).map_err(|e| Error::io(dir.path.display().to_string(), e))?;
            // SAFETY: NUL-terminated path; the fd is closed below.
            let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(Error::io(dir.path.display().to_string(), std::io::Error::last_os_error()));
            }
            // SAFETY: fresh fd, owned here.
            Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
        } else {
            None
        };
        let bundle = b.path.clone();
        let ann = annotations.clone();
        let state_json = move |pid: i32, status: &str| hook_state(id, pid, status, &bundle, &ann);
        let spawned = spawn_init(&SpawnArgs {
            plan,
            cgroup,
            state_dir: state_dir_fd.as_ref().map(|f| f.as_raw_fd()),
            close_in_child: vec![dir.fd.as_raw_fd()],
            console_socket: console,
            stdio: opts.stdio,
            state_json: &state_json,
            // What a `create` killed midway leaves for `delete` to undo.
            record_cgroup: &|cg: &Cgroup| dir.write_creating(&crate::state::Creating { cgroup: Some(cg.clone()) }),
        })
        .map_err(|e| match e {
            // cgroup errors know the file, not the container: name it
            Error::Cgroup(c) => Error::Init { id: id.to_owned(), msg: c.to_string() },
            e => e,
        })?;
        drop(state_dir_fd);
        let start_time = sys::proc_stat(spawned.pid).map(|s| s.1).unwrap_or(0);
        let saved = Saved {
            id: id.to_owned(),
            pid: spawned.pid,
            start_time,
            bundle: b.path.clone(),
            rootfs: b.rootfs.clone(),
            created: crate::state::now_rfc3339(true),
            annotations,
            cgroup: cgroup.cloned(),
            hooks: crate::hooks::Hooks { poststart: plan.hooks.poststart.clone(), poststop: plan.hooks.poststop.clone(), ..Default::default() },
            paused: false,
            // SAFETY: geteuid always succeeds.
            owner: unsafe { libc::geteuid() },
            own_pid_ns: plan.ns.has(libc::CLONE_NEWPID),
            systemd: self.systemd_cgroup,
        };
        let fail_kill = |e: Error| {
            // SAFETY: our child.
            unsafe { libc::kill(spawned.pid, libc::SIGKILL) };
            let _ = sys::waitpid(spawned.pid, 0);
            e
        };
        fault("state-file").map_err(fail_kill)?;
        dir.write_file(crate::state::CONFIG_FILE, &b.raw).map_err(fail_kill)?;
        dir.write(&saved).map_err(fail_kill)?;
        if let Some(pf) = &opts.pid_file {
            write_pid_file(pf, spawned.pid).map_err(fail_kill)?;
        }
        let unpid = |e: Error| {
            if let Some(pf) = &opts.pid_file {
                let _ = std::fs::remove_file(pf);
            }
            fail_kill(e)
        };
        fault("pid-file").map_err(unpid)?;
        // Recorded: release the init from dying with us (process::init waits for this).
        spawned.chan.send(&Msg::Committed).map_err(|e| unpid(Error::sys(id, "init channel", e)))?;
        match spawned.chan.expect("its release") {
            Ok((Msg::Detached, _)) => {}
            Ok((m, _)) => return Err(unpid(Error::Init { id: id.to_owned(), msg: format!("unexpected message {m:?}") })),
            Err(msg) => return Err(unpid(Error::Init { id: id.to_owned(), msg })),
        }
        Ok(Container {
            id: id.to_owned(),
            pid: spawned.pid,
            dir: StateDir { path: dir.path.clone(), fd: dir.fd.try_clone().map_err(|e| Error::sys(id, "dup", e))? },
            saved: Some(saved),
            chan: if plan.opts.use_fifo { None } else { Some(spawned.chan) },
            pty: spawned.pty_master,
        })
    }

    pub fn load(&self, id: &str) -> Result<Container> {
        let dir = StateDir::open(&self.root, id)?;
        let saved = dir.read()?;
        Ok(Container { id: id.to_owned(), pid: saved.as_ref().map_or(0, |s| s.pid), dir, saved, chan: None, pty: None })
    }

    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        for id in crate::state::list_ids(&self.root)? {
            match self.load(&id) {
                Ok(c) => out.push(c),
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

fn hook_state(id: &str, pid: i32, status: &str, bundle: &Path, ann: &BTreeMap<String, String>) -> Vec<u8> {
    let mut v = serde_json::json!({"ociVersion": crate::spec::OCI_VERSION, "id": id, "status": status, "pid": pid, "bundle": bundle});
    if !ann.is_empty() {
        v["annotations"] = serde_json::to_value(ann).unwrap_or_default();
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("pid")));
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::io(format!("pid file {}", path.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("pid file {}", path.display()), e))
}

/// Hooks that run in the runtime's namespace must exist before anything is made.
fn check_hooks(plan: &Plan) -> Result<()> {
    let h = &plan.hooks;
    for (name, list) in [("prestart", &h.prestart), ("createRuntime", &h.create_runtime), ("createContainer", &h.create_container), ("poststart", &h.poststart), ("poststop", &h.poststop)] {
        for k in list {
            if let Err(e) = std::fs::metadata(&k.path) {
                return Err(Error::Hook { id: plan.id.clone(), hook: name, path: k.path.clone(), reason: crate::hooks::lower(&e) });
            }
        }
    }
    Ok(())
}

/// The container's cgroup, or None while the cgroups module is not implemented (then the
/// container runs in the caller's cgroup, with a warning).
fn plan_cgroup(id: &str, plan: &Plan, systemd: bool) -> Result<Option<Cgroup>> {
    let req = CgroupRequest { cgroups_path: plan.cgroups_path.as_deref(), id, systemd };
    match Cgroup::plan(&req) {
        Ok(c) => Ok(Some(c)),
        Err(crate::cgroups::Error::Unimplemented(_)) => {
            if plan.cgroups_path.is_some() || plan.resources.as_ref().is_some_and(has_limits) {
                log::warn!("container {id:?}: cgroups are not implemented yet: not placed in a cgroup, no resource limits applied");
            }
            Ok(None)
        }
        #[allow(unreachable_patterns)]
        Err(e) => Err(e.into()),
    }
}

fn has_limits(r: &oci_spec::runtime::LinuxResources) -> bool {
    r.memory().is_some() || r.cpu().is_some() || r.pids().is_some() || r.block_io().is_some() || r.hugepage_limits().is_some()
}

impl Container {
    pub fn state(&self) -> State {
        let status = self.status();
        let s = self.saved.as_ref();
        State {
            oci_version: crate::spec::OCI_VERSION.into(),
            id: self.id.clone(),
            pid: if status == Status::Stopped { 0 } else { self.pid },
            status: status.as_str(),
            bundle: s.map(|s| s.bundle.clone()).unwrap_or_default(),
            rootfs: s.map(|s| s.rootfs.clone()).unwrap_or_default(),
            created: s.map(|s| s.created.clone()).unwrap_or_default(),
            owner: String::new(),
            annotations: s.map(|s| s.annotations.clone()).unwrap_or_default(),
        }
    }

    pub fn status(&self) -> Status {
        let Some(s) = &self.saved else { return Status::Creating };
        if !alive(s.pid, s.start_time) {
            return Status::Stopped;
        }
        if self.chan.is_some() || self.dir.has_fifo() {
            return Status::Created;
        }
        if s.paused {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The pty master, when created with [`Console::ReturnMaster`].
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty.take()
    }

    pub fn bundle(&self) -> Option<&Path> {
        self.saved.as_ref().map(|s| s.bundle.as_path())
    }

    pub(crate) fn saved(&self) -> Result<&Saved> {
        self.saved.as_ref().ok_or_else(|| Error::BadStatus { id: self.id.clone(), status: "creating", reason: "not created yet" })
    }

    /// Start the user process; returns once it has exec'd (or failed), after poststart hooks.
    pub fn start(&mut self) -> Result<()> {
        let id = self.id.clone();
        if let Some(chan) = self.chan.take() {
            chan.send(&Msg::Start).map_err(|e| Error::sys(&id, "start", e))?;
            // EOF: the init exec'd (its end is close-on-exec); a message: it failed.
            match chan.recv() {
                Ok(None) => {}
                Ok(Some((Msg::Error(e), _))) => return Err(Error::Init { id, msg: e }),
                Ok(Some((m, _))) => return Err(Error::Init { id, msg: format!("unexpected message {m:?}") }),
                Err(e) => return Err(Error::sys(&id, "start", e)),
            }
        } else {
            self.dir.lock(true)?;
            let s = self.saved()?.clone();
            match self.status() {
                Status::Created => {}
                st => return Err(Error::BadStatus { id, status: st.as_str(), reason: "cannot start a container that is not created" }),
            }
            self.wait_exec(&s)?;
        }
        let s = self.saved()?;
        if !s.hooks.poststart.is_empty() {
            let state = hook_state(&id, s.pid, "running", &s.bundle, &s.annotations);
            if let Err(e) = crate::hooks::run_all(&id, "poststart", &s.hooks.poststart, &state) {
                log::warn!("{e}");
            }
        }
        Ok(())
    }

    /// Open the exec fifo: the init's blocked open completes, it runs the startContainer hooks
    /// and execs; its write end closes at exec, which is our EOF. Anything written is an error.
    fn wait_exec(&self, s: &Saved) -> Result<()> {
        let id = &self.id;
        // The pidfd first: the init is blocked opening the fifo until we open it, so it is
        // still there now; once the fifo is open it may exec, exit and be reaped (by a
        // subreaper such as containerd's shim) before we could look it up.
        let pidfd = match sys::pidfd_open(s.pid) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                self.dir.remove_fifo();
                return Err(Error::Init { id: id.clone(), msg: "the container's init exited before start".into() });
            }
            Err(e) => return Err(Error::sys(id, "pidfd_open", e)),
        };
        let fifo_path = self.dir.path.join(crate::state::FIFO);
        let c = sys::cpath(&fifo_path).map_err(|e| Error::io(fifo_path.display().to_string(), e))?;
        // SAFETY: NUL-terminated path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::sys(id, "open exec fifo", std::io::Error::last_os_error()));
        }
        // SAFETY: fresh fd.
        let fifo = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let mut msg = Vec::new();
        let mut seen_writer = false;
        loop {
            let mut fds = [
                libc::pollfd { fd: fifo.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            // SAFETY: two valid pollfds.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::sys(id, "poll", e));
            }
            if fds[0].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
                let mut buf = [0u8; 4096];
                // SAFETY: reading into a local buffer.
                let n = unsafe { libc::read(fifo.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
                if n > 0 {
                    seen_writer = true;
                    msg.extend_from_slice(&buf[..n as usize]);
                    continue;
                }
                if n == 0 && fds[0].revents & libc::POLLHUP != 0 {
                    break; // every writer closed: exec'd, or failed after writing why
                }
            }
            if fds[1].revents != 0 {
                // The init is gone; drain what it may have written.
                let mut buf = [0u8; 4096];
                loop {
                    // SAFETY: as above.
                    let n = unsafe { libc::read(fifo.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
                    if n <= 0 {
                        break;
                    }
                    msg.extend_from_slice(&buf[..n as usize]);
                }
                if msg.is_empty() && !seen_writer && fds[0].revents & libc::POLLHUP == 0 {
                    self.dir.remove_fifo();
                    return Err(Error::Init { id: id.clone(), msg: "the container's init exited before start".into() });
                }
                break;
            }
        }
        self.dir.remove_fifo();
        if !msg.is_empty() {
            return Err(Error::Init { id: id.clone(), msg: String::from_utf8_lossy(&msg).trim().to_owned() });
        }
        Ok(())
    }

    /// Signal the init (or, with `all`, every process of the container).
    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        let s = self.saved()?;
        let st = self.status();
        if st == Status::Stopped {
            return Err(Error::State { id: self.id.clone(), reason: "container not running".into() });
        }
        if all {
            let pids = self.pids()?;
            for p in pids {
                // SAFETY: plain kill; a process that exited meanwhile is fine.
                unsafe { libc::kill(p, signal) };
            }
            return Ok(());
        }
        let pidfd = match sys::pidfd_open(s.pid) {
            Ok(fd) => fd,
            // exited (and reaped) since the status was read
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                return Err(Error::State { id: self.id.clone(), reason: "container not running".into() })
            }
            Err(e) => return Err(Error::sys(&self.id, "pidfd_open", e)),
        };
        if !alive(s.pid, s.start_time) {
            return Err(Error::State { id: self.id.clone(), reason: "container not running".into() });
        }
        sys::pidfd_send_signal(pidfd.as_fd(), signal).map_err(|e| Error::sys(&self.id, format!("signal {signal}"), e))
    }

    /// Every pid of the container: from its cgroup, or (without one) every process in its
    /// pid namespace.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let s = self.saved()?;
        if let Some(cg) = &s.cgroup {
            return Ok(cg.pids()?);
        }
        if !alive(s.pid, s.start_time) {
            return Ok(Vec::new());
        }
        let mut out = vec![s.pid];
        if s.own_pid_ns {
            let want = std::fs::read_link(format!("/proc/{}/ns/pid", s.pid)).ok();
            if let Ok(rd) = std::fs::read_dir("/proc") {
                for e in rd.flatten() {
                    let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
                    if p != s.pid && want.is_some() && std::fs::read_link(format!("/proc/{p}/ns/pid")).ok() == want {
                        out.push(p);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove the container: a stopped or created one always, a running one only with `force`
    /// (then every process is killed first). Poststop hooks run (failures only warn).
    pub fn delete(&mut self, force: bool) -> Result<()> {
        let id = self.id.clone();
        if self.saved.is_none() {
            // Still being created, or its create died: wait out a live create only with force.
            if !self.dir.lock(force)? {
                return Err(Error::BadStatus { id, status: "creating", reason: "cannot delete a container that is being created" });
            }
            self.saved = self.dir.read()?;
            if self.saved.is_none() {
                // A create that died midway (its init died with it): undo its cgroup.
                if let Some(cg) = self.dir.read_creating()?.and_then(|c| c.cgroup) {
                    destroy_cgroup(&cg)?;
                }
                return self.dir.remove();
            }
        } else {
            self.dir.lock(true)?;
        }
        let st = self.status();
        match st {
            Status::Stopped => {}
            Status::Created => self.kill_and_wait()?,
            Status::Running | Status::Paused | Status::Creating => {
                if !force {
                    return Err(Error::BadStatus { id, status: st.as_str(), reason: "cannot delete a container that is not stopped (use --force)" });
                }
                if st == Status::Paused {
                    if let Some(cg) = &self.saved()?.cgroup {
                        let _ = cg.set_frozen(false);
                    }
                }
                self.kill_and_wait()?;
            }
        }
        let s = self.saved()?.clone();
        if !s.hooks.poststop.is_empty() {
            let state = hook_state(&id, s.pid, "stopped", &s.bundle, &s.annotations);
            if let Err(e) = crate::hooks::run_all(&id, "poststop", &s.hooks.poststop, &state) {
                log::warn!("{e}");
            }
        }
        if let Some(cg) = &s.cgroup {
            destroy_cgroup(cg)?;
        }
        self.dir.remove()
    }

    fn kill_and_wait(&self) -> Result<()> {
        let s = self.saved()?;
        let Ok(pidfd) = sys::pidfd_open(s.pid) else { return Ok(()) };
        if !alive(s.pid, s.start_time) {
            return Ok(());
        }
        if s.cgroup.is_some() || !s.own_pid_ns {
            for p in self.pids().unwrap_or_default() {
                // SAFETY: plain kill.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        // Readable once it has exited (a zombie counts: its parent reaps it).
        sys::poll_in(pidfd.as_fd(), 10_000).map_err(|e| Error::sys(&self.id, "wait for exit", e))?;
        Ok(())
    }

    pub fn pause(&mut self) -> Result<()> {
        self.set_paused(true)
    }

    pub fn resume(&mut self) -> Result<()> {
        self.set_paused(false)
    }

    fn set_paused(&mut self, paused: bool) -> Result<()> {
        self.dir.lock(true)?;
        let st = self.status();
        let ok = if paused { st == Status::Running } else { st == Status::Paused };
        if !ok {
            let reason = if paused { "cannot pause a container that is not running" } else { "cannot resume a container that is not paused" };
            return Err(Error::BadStatus { id: self.id.clone(), status: st.as_str(), reason });
        }
        let mut s = self.saved()?.clone();
        let cg = s.cgroup.clone().ok_or_else(|| Error::State { id: self.id.clone(), reason: "no cgroup to freeze (cgroups are not available)".into() })?;
        cg.set_frozen(paused)?;
        s.paused = paused;
        self.dir.write(&s)?;
        self.saved = Some(s);
        Ok(())
    }

    /// Change resource limits; only what `res` sets changes (device rules too).
    pub fn update(&self, res: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let s = self.saved()?;
        let cg = s.cgroup.as_ref().ok_or_else(|| Error::State { id: self.id.clone(), reason: "no cgroup to update (cgroups are not available)".into() })?;
        Ok(cg.update(res)?)
    }

    /// The container's cgroup (None when it has none).
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.saved.as_ref().and_then(|s| s.cgroup.as_ref())
    }

    /// Resource statistics from the container's cgroup.
    pub fn stats(&self) -> Result<crate::cgroups::stats::Stats> {
        let cg = self.cgroup().ok_or_else(|| Error::State { id: self.id.clone(), reason: "no cgroup (no statistics)".into() })?;
        Ok(cg.stats()?)
    }

    /// Is the init still running (not stopped)?
    pub fn is_alive(&self) -> bool {
        self.saved.as_ref().is_some_and(|s| alive(s.pid, s.start_time))
    }

    /// The raw config.json the container was created from.
    pub fn config(&self) -> Result<oci_spec::runtime::Spec> {
        let raw = std::fs::read(self.dir.path.join(crate::state::CONFIG_FILE)).map_err(|e| Error::sys(&self.id, "read config.json", e))?;
        crate::spec::parse(&raw)
    }
}

/// Kill whatever is left in the cgroup (processes outside a private pid namespace may survive
/// the init), then remove it.
fn destroy_cgroup(cg: &Cgroup) -> Result<()> {
    // The killed processes may take a moment to leave the cgroup.
    let mut last = None;
    for _ in 0..100 {
        if let Ok(pids) = cg.pids() {
            for p in pids {
                // SAFETY: plain kill.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        match cg.destroy() {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(last.unwrap().into())
}

/// Is `pid` still the container's init (same start time) and not a zombie?
pub fn alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match sys::proc_stat(pid) {
        Some((state, st)) => st == start_time && state != b'Z' && state != b'X',
        None => false,
    }
}
