//! The `containerd.task.v2.Task` service: each RPC a short function over the shim's tasks,
//! calling the berth runtime library in-process. Handlers run to completion on the event loop's
//! one thread; Wait is the only call answered later (when the process exits, from `on_exit`).

use crate::events::Publisher;
use crate::io::{self, StdioSpec};
use crate::stats;
use crate::task::{now, Exit, Process, Task, Waiter};
use crate::ttrpc::{decode, RpcError, RpcResult};
use berth_proto::names::{code, topic, type_url};
use berth_proto::protobuf::{Message, MessageField};
use berth_proto::shim::*;
use berth_proto::task_events::*;
use berth_proto::task_types::ProcessInfo;
use berth_proto::{runc_options, Any, Empty};
use berth_runtime::{Console, CreateOptions, ExecOptions, Runtime};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where containers' runtime state lives unless the runtime options name a root
/// (containerd's runc shim uses /run/containerd/runc/<namespace> the same way).
pub const DEFAULT_RUNTIME_ROOT: &str = "/run/containerd/berth";
/// File in the bundle recording the runtime root, for `delete` after the server died.
pub const ROOT_FILE: &str = "berth-runtime-root";

pub struct Service {
    pub namespace: String,
    pub tasks: BTreeMap<String, Task>,
    /// pid -> (task id, exec id) for every process whose exit we wait for.
    pids: HashMap<i32, (String, String)>,
    pub publisher: Publisher,
    /// Deferred answers (Wait): (connection token, stream id, ttrpc Response bytes).
    pub outbox: Vec<(u64, u32, Vec<u8>)>,
    /// Set by Shutdown: the server exits once answers are flushed.
    pub shutdown: bool,
    /// A process gained or lost terminal fds: the server re-registers them.
    pub io_changed: bool,
    next_key: u32,
}

/// Map the runtime library's errors onto the gRPC codes containerd's errdefs understands.
fn rt_err(e: berth_runtime::Error) -> RpcError {
    use berth_runtime::Error as E;
    let c = match &e {
        E::NotFound(_) => code::NOT_FOUND,
        E::Exists(_) => code::ALREADY_EXISTS,
        E::InvalidId { .. } | E::Bundle { .. } | E::Spec(_) | E::Signal(_) | E::Usage(_) => code::INVALID_ARGUMENT,
        E::BadStatus { .. } | E::State { .. } => code::FAILED_PRECONDITION,
        _ => code::UNKNOWN,
    };
    RpcError::new(c, e.to_string())
}

fn ok<M: Message>(m: &M) -> RpcResult<Vec<u8>> {
    m.write_to_bytes().map_err(|e| RpcError::internal(e.to_string()))
}

fn empty() -> RpcResult<Vec<u8>> {
    ok(&Empty::new())
}

impl Service {
    pub fn new(namespace: &str, ttrpc_address: &str) -> Service {
        Service {
            namespace: namespace.to_owned(),
            tasks: BTreeMap::new(),
            pids: HashMap::new(),
            publisher: Publisher::new(ttrpc_address, namespace),
            outbox: Vec::new(),
            shutdown: false,
            io_changed: false,
            next_key: 1,
        }
    }

    /// Dispatch one request. `None`: the answer comes later (a parked Wait).
    pub fn handle(&mut self, method: &str, payload: &[u8], conn: u64, stream_id: u32) -> Option<RpcResult<Vec<u8>>> {
        log::debug!("rpc {method}");
        Some(match method {
            "State" => decode(payload).and_then(|r| self.state(r)),
            "Create" => decode(payload).and_then(|r| self.create(r)),
            "Start" => decode(payload).and_then(|r| self.start(r)),
            "Delete" => decode(payload).and_then(|r| self.delete(r)),
            "Pids" => decode(payload).and_then(|r| self.pids(r)),
            "Pause" => decode(payload).and_then(|r: PauseRequest| self.pause(&r.id, true)),
            "Resume" => decode(payload).and_then(|r: ResumeRequest| self.pause(&r.id, false)),
            "Checkpoint" => Err(RpcError::new(code::UNIMPLEMENTED, "checkpoint is not supported by berth yet (no CRIU support)")),
            "Kill" => decode(payload).and_then(|r| self.kill(r)),
            "Exec" => decode(payload).and_then(|r| self.exec(r)),
            "ResizePty" => decode(payload).and_then(|r| self.resize_pty(r)),
            "CloseIO" => decode(payload).and_then(|r| self.close_io(r)),
            "Update" => decode(payload).and_then(|r| self.update(r)),
            "Wait" => match decode(payload).and_then(|r| self.wait(r, Waiter { conn, stream_id })) {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => return None,
                Err(e) => Err(e),
            },
            "Stats" => decode(payload).and_then(|r| self.stats(r)),
            "Connect" => decode(payload).and_then(|r| self.connect(r)),
            "Shutdown" => decode(payload).and_then(|r| self.shutdown(r)),
            other => Err(RpcError::new(code::UNIMPLEMENTED, format!("method {other} is not part of containerd.task.v2.Task"))),
        })
    }

    fn task(&self, id: &str) -> RpcResult<&Task> {
        self.tasks.get(id).ok_or_else(|| RpcError::not_found(format!("container {id:?} not found in this shim")))
    }

    fn task_mut(&mut self, id: &str) -> RpcResult<&mut Task> {
        self.tasks.get_mut(id).ok_or_else(|| RpcError::not_found(format!("container {id:?} not found in this shim")))
    }

    fn process<'a>(t: &'a Task, exec_id: &str) -> RpcResult<&'a Process> {
        t.process(exec_id).ok_or_else(|| RpcError::not_found(format!("process {exec_id:?} of container {:?} not found", t.id)))
    }

    fn key(&mut self) -> u32 {
        self.next_key += 1;
        self.next_key
    }

    fn create(&mut self, r: CreateTaskRequest) -> RpcResult<Vec<u8>> {
        if self.tasks.contains_key(&r.id) {
            return Err(RpcError::exists(format!("container {:?} already exists in this shim", r.id)));
        }
        if !r.checkpoint.is_empty() {
            return Err(RpcError::new(code::UNIMPLEMENTED, "restoring from a checkpoint is not supported by berth yet"));
        }
        let opts = match r.options.as_ref() {
            Some(a) if a.type_url.ends_with(type_url::RUNC_OPTIONS) => runc_options::Options::parse_from_bytes(&a.value)
                .map_err(|e| RpcError::invalid(format!("runtime options: {e}")))?,
            _ => runc_options::Options::new(),
        };
        let bundle = PathBuf::from(&r.bundle);
        let root = runtime_root(&opts.root, &self.namespace);
        std::fs::create_dir_all(&root).map_err(|e| RpcError::internal(format!("create runtime root {}: {e}", root.display())))?;
        let _ = std::fs::write(bundle.join(ROOT_FILE), root.as_os_str().as_encoded_bytes());
        let rootfs = bundle.join("rootfs");
        let mounted = crate::mount::mount_rootfs(&r.rootfs, &rootfs).map_err(RpcError::internal)?;
        let undo = |e: RpcError| {
            if mounted > 0 {
                crate::mount::unmount_all(&rootfs);
            }
            e
        };
        let stdio = StdioSpec { stdin: r.stdin.clone(), stdout: r.stdout.clone(), stderr: r.stderr.clone(), terminal: r.terminal };
        let (child, pio) = io::prepare(&stdio, &r.id, &self.namespace).map_err(|e| undo(RpcError::internal(e)))?;
        let mut runtime = Runtime::new(&root);
        runtime.systemd_cgroup = opts.systemd_cgroup;
        let copts = CreateOptions {
            console: Console::ReturnMaster,
            stdio: child.as_ref().map(|c| c.raw()),
            no_pivot: opts.no_pivot_root,
            no_new_keyring: opts.no_new_keyring,
            ..Default::default()
        };
        let mut container = runtime.create(&r.id, &bundle, &copts).map_err(|e| undo(rt_err(e)))?;
        drop(child);
        let key = self.key();
        let mut init = Process::new("", stdio, key);
        init.pid = container.pid;
        init.io = pio;
        attach_pty(&mut init, container.take_pty_master());
        self.io_changed |= init.io.tty.is_some();
        let oom = stats::OomWatch::new(init.pid);
        self.pids.insert(init.pid, (r.id.clone(), String::new()));
        let pid = init.pid as u32;
        self.tasks.insert(
            r.id.clone(),
            Task { id: r.id.clone(), bundle: bundle.clone(), container, init, execs: BTreeMap::new(), rootfs_mounts: mounted, paused: false, oom },
        );
        if self.tasks[&r.id].oom.is_some() {
            self.io_changed = true;
        }
        let mut ev = TaskCreate::new();
        ev.container_id = r.id.clone();
        ev.bundle = r.bundle.clone();
        ev.rootfs = r.rootfs.clone();
        let mut tio = TaskIO::new();
        tio.stdin = r.stdin;
        tio.stdout = r.stdout;
        tio.stderr = r.stderr;
        tio.terminal = r.terminal;
        ev.io = MessageField::some(tio);
        ev.checkpoint = r.checkpoint;
        ev.pid = pid;
        self.publisher.publish(topic::TASK_CREATE, type_url::TASK_CREATE, &ev);
        let mut resp = CreateTaskResponse::new();
        resp.pid = pid;
        ok(&resp)
    }

    fn start(&mut self, r: StartRequest) -> RpcResult<Vec<u8>> {
        let ns = self.namespace.clone();
        let key = self.key();
        let t = self.tasks.get_mut(&r.id).ok_or_else(|| RpcError::not_found(format!("container {:?} not found in this shim", r.id)))?;
        if r.exec_id.is_empty() {
            if t.init.started {
                return Err(RpcError::precondition(format!("container {:?} is already started", r.id)));
            }
            t.container.start().map_err(rt_err)?;
            t.init.started = true;
            let mut ev = TaskStart::new();
            ev.container_id = r.id.clone();
            ev.pid = t.init.pid as u32;
            let pid = ev.pid;
            self.publisher.publish(topic::TASK_START, type_url::TASK_START, &ev);
            let mut resp = StartResponse::new();
            resp.pid = pid;
            return ok(&resp);
        }
        if t.init.exit.is_some() {
            return Err(RpcError::precondition(format!("container {:?} has stopped: cannot start exec {:?}", r.id, r.exec_id)));
        }
        let p = t.execs.get_mut(&r.exec_id).ok_or_else(|| RpcError::not_found(format!("exec {:?} of container {:?} not found", r.exec_id, r.id)))?;
        if p.started {
            return Err(RpcError::precondition(format!("exec {:?} is already started", r.exec_id)));
        }
        let spec = p.spec.take().ok_or_else(|| RpcError::precondition("exec has no process spec"))?;
        let (child, pio) = io::prepare(&p.stdio, &r.id, &ns).map_err(RpcError::internal)?;
        let eopts = ExecOptions { console: Console::ReturnMaster, stdio: child.as_ref().map(|c| c.raw()), ..Default::default() };
        let proc = t.container.exec(&spec, &eopts).map_err(rt_err)?;
        drop(child);
        p.pid = proc.pid;
        p.io = pio;
        p.key = key;
        p.started = true;
        attach_pty(p, proc.pty_master);
        self.io_changed |= p.io.tty.is_some();
        self.pids.insert(proc.pid, (r.id.clone(), r.exec_id.clone()));
        let mut ev = TaskExecStarted::new();
        ev.container_id = r.id.clone();
        ev.exec_id = r.exec_id.clone();
        ev.pid = proc.pid as u32;
        self.publisher.publish(topic::TASK_EXEC_STARTED, type_url::TASK_EXEC_STARTED, &ev);
        let mut resp = StartResponse::new();
        resp.pid = proc.pid as u32;
        ok(&resp)
    }

    fn delete(&mut self, r: DeleteRequest) -> RpcResult<Vec<u8>> {
        let t = self.task_mut(&r.id)?;
        let (pid, exit) = if r.exec_id.is_empty() {
            if t.init.started && t.init.exit.is_none() {
                return Err(RpcError::precondition(format!("container {:?} is running: kill it before deleting", r.id)));
            }
            // Kills a created-but-never-started init; removes cgroup and runtime state.
            t.container.delete(true).map_err(rt_err)?;
            if t.init.exit.is_none() {
                let status = crate::sys::reap_pid(t.init.pid).unwrap_or(128 + libc::SIGKILL as u32);
                t.init.exit = Some(Exit { status, at: now() });
                t.init.io.on_exit();
            }
            let mut t = self.tasks.remove(&r.id).expect("task present");
            if t.rootfs_mounts > 0 {
                crate::mount::unmount_all(&t.bundle.join("rootfs"));
            }
            for p in t.processes_mut() {
                self.pids.remove(&p.pid);
            }
            self.io_changed = true;
            (t.init.pid, t.init.exit.clone().expect("exit set above"))
        } else {
            let p = t.execs.get(&r.exec_id).ok_or_else(|| RpcError::not_found(format!("exec {:?} of container {:?} not found", r.exec_id, r.id)))?;
            if p.started && p.exit.is_none() {
                return Err(RpcError::precondition(format!("exec {:?} of container {:?} is running", r.exec_id, r.id)));
            }
            let p = t.execs.remove(&r.exec_id).expect("exec present");
            self.pids.remove(&p.pid);
            self.io_changed = true;
            (p.pid, p.exit.unwrap_or(Exit { status: 0, at: now() }))
        };
        let mut ev = TaskDelete::new();
        ev.container_id = r.id.clone();
        ev.pid = pid as u32;
        ev.exit_status = exit.status;
        ev.exited_at = MessageField::some(exit.at.clone());
        ev.id = r.exec_id.clone();
        self.publisher.publish(topic::TASK_DELETE, type_url::TASK_DELETE, &ev);
        let mut resp = DeleteResponse::new();
        resp.pid = pid as u32;
        resp.exit_status = exit.status;
        resp.exited_at = MessageField::some(exit.at);
        ok(&resp)
    }

    fn pids(&mut self, r: PidsRequest) -> RpcResult<Vec<u8>> {
        let t = self.task(&r.id)?;
        let mut list: Vec<i32> = t.container.pids().unwrap_or_default();
        if list.is_empty() {
            // no cgroup to list: the processes the shim started
            list = std::iter::once(&t.init).chain(t.execs.values()).filter(|p| p.pid > 0 && p.exit.is_none()).map(|p| p.pid).collect();
        }
        let mut resp = PidsResponse::new();
        for pid in list {
            let mut info = ProcessInfo::new();
            info.pid = pid as u32;
            if let Some(p) = t.execs.values().find(|p| p.pid == pid) {
                let mut d = runc_options::ProcessDetails::new();
                d.exec_id = p.exec_id.clone();
                let mut a = Any::new();
                a.type_url = type_url::RUNC_PROCESS_DETAILS.into();
                a.value = d.write_to_bytes().unwrap_or_default();
                info.info = MessageField::some(a);
            }
            resp.processes.push(info);
        }
        ok(&resp)
    }

    fn pause(&mut self, id: &str, pause: bool) -> RpcResult<Vec<u8>> {
        let t = self.task_mut(id)?;
        if pause {
            t.container.pause().map_err(rt_err)?;
        } else {
            t.container.resume().map_err(rt_err)?;
        }
        t.paused = pause;
        if pause {
            let mut ev = TaskPaused::new();
            ev.container_id = id.to_owned();
            self.publisher.publish(topic::TASK_PAUSED, type_url::TASK_PAUSED, &ev);
        } else {
            let mut ev = TaskResumed::new();
            ev.container_id = id.to_owned();
            self.publisher.publish(topic::TASK_RESUMED, type_url::TASK_RESUMED, &ev);
        }
        empty()
    }

    fn kill(&mut self, r: KillRequest) -> RpcResult<Vec<u8>> {
        let t = self.task(&r.id)?;
        let p = Self::process(t, &r.exec_id)?;
        let sig = r.signal as i32;
        if r.exec_id.is_empty() {
            if p.exit.is_some() && !r.all {
                return Err(RpcError::not_found(format!("container {:?}: process already finished", r.id)));
            }
            match t.container.kill(sig, r.all) {
                Ok(()) => {}
                Err(e) if p.exit.is_some() => log::debug!("kill --all after exit: {e}"),
                Err(e) => return Err(rt_err(e)),
            }
        } else {
            if p.exit.is_some() || !p.started {
                return Err(RpcError::not_found(format!("exec {:?}: process already finished", r.exec_id)));
            }
            crate::sys::kill(p.pid, sig).map_err(|e| RpcError::internal(format!("kill exec {:?} (pid {}): {e}", r.exec_id, p.pid)))?;
        }
        empty()
    }

    fn exec(&mut self, r: ExecProcessRequest) -> RpcResult<Vec<u8>> {
        let t = self.task(&r.id)?;
        if t.process(&r.exec_id).is_some() || r.exec_id.is_empty() {
            return Err(RpcError::exists(format!("exec {:?} already exists in container {:?}", r.exec_id, r.id)));
        }
        if t.init.exit.is_some() {
            return Err(RpcError::precondition(format!("container {:?} has stopped: cannot exec", r.id)));
        }
        let spec = r.spec.as_ref().ok_or_else(|| RpcError::invalid("exec without a process spec"))?;
        let process: oci_spec::runtime::Process =
            serde_json::from_slice(&spec.value).map_err(|e| RpcError::invalid(format!("exec {:?}: process spec: {e}", r.exec_id)))?;
        let key = self.key();
        let stdio = StdioSpec { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal };
        let mut p = Process::new(&r.exec_id, stdio, key);
        p.spec = Some(process);
        self.task_mut(&r.id)?.execs.insert(r.exec_id.clone(), p);
        let mut ev = TaskExecAdded::new();
        ev.container_id = r.id;
        ev.exec_id = r.exec_id;
        self.publisher.publish(topic::TASK_EXEC_ADDED, type_url::TASK_EXEC_ADDED, &ev);
        empty()
    }

    fn resize_pty(&mut self, r: ResizePtyRequest) -> RpcResult<Vec<u8>> {
        let t = self.task(&r.id)?;
        let p = Self::process(t, &r.exec_id)?;
        if p.exit.is_some() {
            return Err(RpcError::internal("cannot resize a stopped container"));
        }
        let Some(tty) = p.io.tty.as_ref() else {
            return Err(RpcError::precondition(format!("process {:?} of container {:?} has no terminal", r.exec_id, r.id)));
        };
        crate::sys::resize_pty(tty.master.as_raw_fd(), r.width as u16, r.height as u16).map_err(|e| RpcError::internal(format!("resize pty: {e}")))?;
        empty()
    }

    fn close_io(&mut self, r: CloseIORequest) -> RpcResult<Vec<u8>> {
        let t = self.task_mut(&r.id)?;
        let id = t.id.clone();
        let p = t.process_mut(&r.exec_id).ok_or_else(|| RpcError::not_found(format!("process {:?} of container {id:?} not found", r.exec_id)))?;
        if r.stdin {
            p.io.close_stdin();
            self.io_changed = true;
        }
        empty()
    }

    fn update(&mut self, r: UpdateTaskRequest) -> RpcResult<Vec<u8>> {
        let t = self.task(&r.id)?;
        let any = r.resources.as_ref().ok_or_else(|| RpcError::invalid("update without resources"))?;
        let res: oci_spec::runtime::LinuxResources =
            serde_json::from_slice(&any.value).map_err(|e| RpcError::invalid(format!("update {:?}: resources: {e}", r.id)))?;
        t.container.update(&res).map_err(rt_err)?;
        empty()
    }

    fn wait(&mut self, r: WaitRequest, w: Waiter) -> RpcResult<Option<Vec<u8>>> {
        let t = self.task_mut(&r.id)?;
        let id = t.id.clone();
        let p = t.process_mut(&r.exec_id).ok_or_else(|| RpcError::not_found(format!("process {:?} of container {id:?} not found", r.exec_id)))?;
        match &p.exit {
            Some(e) => ok(&wait_response(e)).map(Some),
            None => {
                p.waiters.push(w);
                Ok(None)
            }
        }
    }

    fn stats(&mut self, r: StatsRequest) -> RpcResult<Vec<u8>> {
        let t = self.task(&r.id)?;
        if t.init.exit.is_some() {
            return Err(RpcError::not_found(format!("container {:?} has stopped: no stats", r.id)));
        }
        let any = stats::metrics(t.init.pid).map_err(RpcError::internal)?;
        let mut resp = StatsResponse::new();
        resp.stats = MessageField::some(any);
        ok(&resp)
    }

    fn connect(&mut self, r: ConnectRequest) -> RpcResult<Vec<u8>> {
        let mut resp = ConnectResponse::new();
        resp.shim_pid = std::process::id();
        resp.task_pid = self.tasks.get(&r.id).map_or(0, |t| t.init.pid as u32);
        resp.version = env!("CARGO_PKG_VERSION").into();
        ok(&resp)
    }

    fn shutdown(&mut self, r: ShutdownRequest) -> RpcResult<Vec<u8>> {
        // A pod's shim serves several containers: stay while any is left (unless told `now`).
        if r.now || self.tasks.is_empty() {
            self.shutdown = true;
        }
        empty()
    }

    fn state(&mut self, r: StateRequest) -> RpcResult<Vec<u8>> {
        let t = self.task(&r.id)?;
        let p = Self::process(t, &r.exec_id)?;
        let mut s = StateResponse::new();
        s.id = if r.exec_id.is_empty() { r.id.clone() } else { r.exec_id.clone() };
        s.bundle = t.bundle.to_string_lossy().into_owned();
        s.pid = p.pid as u32;
        s.status = p.status(t.paused).into();
        s.stdin = p.stdio.stdin.clone();
        s.stdout = p.stdio.stdout.clone();
        s.stderr = p.stdio.stderr.clone();
        s.terminal = p.stdio.terminal;
        if let Some(e) = &p.exit {
            s.exit_status = e.status;
            s.exited_at = MessageField::some(e.at.clone());
        }
        s.exec_id = r.exec_id;
        ok(&s)
    }

    /// A child was reaped. Records the exit, closes its stdio, answers its Waits, publishes
    /// TaskExit. Unknown pids (a container's orphans re-parented to us) are just reaped.
    pub fn on_exit(&mut self, pid: i32, status: u32) {
        let Some((id, exec_id)) = self.pids.get(&pid).cloned() else { return };
        let Some(t) = self.tasks.get_mut(&id) else { return };
        let Some(p) = t.process_mut(&exec_id) else { return };
        if p.pid != pid || p.exit.is_some() {
            return;
        }
        let exit = Exit { status, at: now() };
        p.exit = Some(exit.clone());
        p.io.on_exit();
        self.io_changed = true;
        let bytes = crate::ttrpc::response_bytes(ok(&wait_response(&exit)));
        for w in p.waiters.drain(..) {
            self.outbox.push((w.conn, w.stream_id, bytes.clone()));
        }
        let mut ev = TaskExit::new();
        ev.container_id = id.clone();
        ev.id = if exec_id.is_empty() { id.clone() } else { exec_id };
        ev.pid = pid as u32;
        ev.exit_status = status;
        ev.exited_at = MessageField::some(exit.at);
        self.publisher.publish(topic::TASK_EXIT, type_url::TASK_EXIT, &ev);
    }

    /// The memory cgroup of `id` reported an OOM kill.
    pub fn on_oom(&mut self, id: &str) {
        let mut ev = TaskOOM::new();
        ev.container_id = id.to_owned();
        self.publisher.publish(topic::TASK_OOM, type_url::TASK_OOM, &ev);
    }

    /// A connection went away: drop the Waits parked on it.
    pub fn forget_conn(&mut self, conn: u64) {
        for t in self.tasks.values_mut() {
            for p in t.processes_mut() {
                p.waiters.retain(|w| w.conn != conn);
            }
        }
    }
}

fn wait_response(e: &Exit) -> WaitResponse {
    let mut w = WaitResponse::new();
    w.exit_status = e.status;
    w.exited_at = MessageField::some(e.at.clone());
    w
}

fn attach_pty(p: &mut Process, master: Option<std::os::fd::OwnedFd>) {
    match (master, p.io.tty.as_mut()) {
        (Some(m), Some(tty)) => {
            let _ = crate::sys::set_nonblocking(m.as_raw_fd(), true);
            tty.master = m;
        }
        (Some(_), None) => log::warn!("process {:?}: the runtime made a terminal nobody asked for", p.exec_id),
        (None, Some(_)) => {
            log::warn!("process {:?}: a terminal was asked for but the runtime returned none", p.exec_id);
            p.io.tty = None;
        }
        (None, None) => {}
    }
}

/// `<root>/<namespace>`, root from the runtime options or [`DEFAULT_RUNTIME_ROOT`].
pub fn runtime_root(opt_root: &str, namespace: &str) -> PathBuf {
    let base = if opt_root.is_empty() { Path::new(DEFAULT_RUNTIME_ROOT) } else { Path::new(opt_root) };
    base.join(namespace)
}
