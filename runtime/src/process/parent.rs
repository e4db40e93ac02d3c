//! The runtime's side of `create`: make the init's cgroup (the init enters it itself), clone
//! the init with its namespaces, write its uid/gid maps, run the runtime-namespace hooks, and
//! wait until it is ready.
//! On any failure the init is killed and reaped before the error is returned, so nothing
//! it made (namespaces, mounts) outlives the failed create.

use super::channel::{Channel, Msg};
use super::init::{self, InitArgs};
use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::sys;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

pub struct SpawnArgs<'a> {
    pub plan: &'a Plan,
    pub cgroup: Option<&'a Cgroup>,
    /// O_PATH fd of the state dir (fifo mode).
    pub state_dir: Option<RawFd>,
    pub close_in_child: Vec<RawFd>,
    pub console_socket: Option<RawFd>,
    pub stdio: Option<[RawFd; 3]>,
    /// Builds the state JSON the hooks get, for a pid.
    pub state_json: &'a dyn Fn(i32, &str) -> Vec<u8>,
    /// Records the cgroup once its directories exist (before the init joins it).
    pub record_cgroup: &'a dyn Fn(&Cgroup) -> Result<()>,
}

pub struct Spawned {
    pub pid: i32,
    /// Kept open for `run` (Start over the channel) and closed otherwise.
    pub chan: Channel,
    pub pty_master: Option<OwnedFd>,
}

pub fn spawn_init(a: &SpawnArgs<'_>) -> Result<Spawned> {
    let plan = a.plan;
    let id = plan.id.as_str();
    let (parent, child) = Channel::pair().map_err(|e| Error::sys(id, "socketpair", e))?;
    let flags = if plan.ns.needs_fork() { 0 } else { plan.ns.new & !(libc::CLONE_NEWCGROUP | libc::CLONE_NEWTIME) };
    // The init enters its cgroup itself (cgroups::join: no global lock, no RCU grace period
    // per container), so the cgroup is made and limited before the clone. systemd starts its
    // unit with the pid instead: then the parent joins it after the namespace stage.
    let early = a.cgroup.filter(|cg| cg.self_join(false).is_some());
    if let Some(cg) = early {
        cg.create()?;
        (a.record_cgroup)(cg)?;
        if let Some(res) = &plan.resources {
            cg.apply(res)?;
        }
    }
    let (cloned, join) = super::clone_self_joining(flags as u64, early)?;
    let pid = cloned.map_err(|e| Error::sys(id, "clone the container's init", e))?;
    if pid == 0 {
        init::main(InitArgs {
            plan,
            chan: &child,
            state_dir: a.state_dir,
            close: [&a.close_in_child[..], &[parent.as_raw_fd()]].concat(),
            console_socket: a.console_socket,
            stdio: a.stdio,
            join,
        });
    }
    drop(child);
    let mut s = Session { id, pid, intermediate: None, done: false };
    let r = drive(a, &parent, &mut s, early.is_none());
    match r {
        Ok(pty_master) => {
            s.done = true;
            Ok(Spawned { pid: s.pid, chan: parent, pty_master })
        }
        Err(e) => Err(e),
    }
}

/// Cleans up the child(ren) unless the spawn succeeded.
struct Session<'a> {
    id: &'a str,
    pid: i32,
    intermediate: Option<i32>,
    done: bool,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        for p in [Some(self.pid), self.intermediate].into_iter().flatten() {
            // SAFETY: our own children.
            unsafe { libc::kill(p, libc::SIGKILL) };
            let _ = sys::waitpid(p, 0);
        }
    }
}

fn drive(a: &SpawnArgs<'_>, chan: &Channel, s: &mut Session<'_>, parent_joins: bool) -> Result<Option<OwnedFd>> {
    let plan = a.plan;
    let id = s.id;
    let fail = |msg: String| Error::Init { id: id.to_owned(), msg };
    // Namespace stage. With the extra fork, the real init's Waiting may overtake the
    // intermediate's Pid: wait for both.
    let mut waiting = false;
    let mut have_pid = !plan.ns.needs_fork();
    while !(waiting && have_pid) {
        let (m, _) = chan.expect("namespaces").map_err(fail)?;
        match m {
            Msg::NeedMaps => {
                // The child is dumpable only now: its /proc files are ours to write.
                set_oom_score_adj(s.pid, plan).map_err(fail)?;
                super::idmap::write_maps(s.pid, &plan.uid_map, &plan.gid_map).map_err(fail)?;
                chan.send(&Msg::MapsDone).map_err(|e| Error::sys(id, "init channel", e))?;
            }
            Msg::Pid(p) => {
                // The intermediate child forked the real init and exits.
                s.intermediate = Some(s.pid);
                s.pid = p;
                let _ = sys::waitpid(s.intermediate.unwrap(), 0);
                s.intermediate = None;
                have_pid = true;
            }
            Msg::Waiting => waiting = true,
            m => return Err(fail(format!("unexpected message {m:?}"))),
        }
    }
    if !plan.ns.creates(libc::CLONE_NEWUSER) {
        set_oom_score_adj(s.pid, plan).map_err(fail)?;
    }
    if let Some(cg) = a.cgroup.filter(|_| parent_joins) {
        cg.create()?;
        (a.record_cgroup)(cg)?;
        if let Some(res) = &plan.resources {
            cg.apply(res)?;
        }
        cg.add_process(s.pid)?;
    }
    crate::fault::at("cgroup").map_err(fail)?;
    chan.send(&Msg::Go).map_err(|e| Error::sys(id, "init channel", e))?;

    // Mounts done: the runtime-namespace hooks.
    match chan.expect("mounts").map_err(fail)? {
        (Msg::MountsReady, _) => {}
        (m, _) => return Err(fail(format!("unexpected message {m:?}"))),
    }
    let state = (a.state_json)(s.pid, "creating");
    crate::hooks::run_all(id, "prestart", &plan.hooks.prestart, &state)?;
    crate::hooks::run_all(id, "createRuntime", &plan.hooks.create_runtime, &state)?;
    crate::fault::at("create-runtime").map_err(fail)?;
    let hook_state = if plan.hooks.create_container.is_empty() && plan.hooks.start_container.is_empty() && !plan.seccomp.as_ref().is_some_and(|f| f.uses_notify()) {
        Vec::new()
    } else {
        state
    };
    chan.send(&Msg::Continue(hook_state)).map_err(|e| Error::sys(id, "init channel", e))?;

    let mut pty = None;
    loop {
        match chan.expect("the container to be ready").map_err(fail)? {
            (Msg::Pty, fd) => pty = fd,
            (Msg::Ready, _) => break,
            (m, _) => return Err(fail(format!("unexpected message {m:?}"))),
        }
    }
    Ok(pty)
}

/// Written by the runtime, not the init: lowering the value needs CAP_SYS_RESOURCE on the
/// host, which an init in its own user namespace never has (runc does it before the clone).
/// Inherited by the real init when there is an intermediate fork.
fn set_oom_score_adj(pid: i32, plan: &Plan) -> std::result::Result<(), String> {
    let Some(adj) = plan.oom_score_adj else { return Ok(()) };
    std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string()).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied { " (below the current value needs CAP_SYS_RESOURCE on the host)" } else { "" };
        format!("oom_score_adj {adj}: {}{hint}", crate::hooks::lower(&e))
    })
}

/// Keep an fd number from being reused while the init is set up.
pub fn raw(fd: &OwnedFd) -> RawFd {
    fd.as_raw_fd()
}
