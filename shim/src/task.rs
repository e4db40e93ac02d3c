//! What the shim knows about its containers: each [`Task`] is one container (its runtime handle,
//! its init [`Process`] and exec'd processes); a process keeps its exit status until Delete and
//! the Wait calls parked on it.

use crate::io::{ProcessIo, StdioSpec};
use berth_proto::task_types::Status;
use berth_proto::Timestamp;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut t = Timestamp::new();
    t.seconds = d.as_secs() as i64;
    t.nanos = d.subsec_nanos() as i32;
    t
}

#[derive(Debug, Clone)]
pub struct Exit {
    pub status: u32,
    pub at: Timestamp,
}

/// A Wait call parked until the process exits: answered on `conn`, stream `stream_id`.
#[derive(Debug, Clone, Copy)]
pub struct Waiter {
    pub conn: u64,
    pub stream_id: u32,
}

pub struct Process {
    /// "" for the container's init.
    pub exec_id: String,
    pub pid: i32,
    pub stdio: StdioSpec,
    pub io: ProcessIo,
    pub started: bool,
    pub exit: Option<Exit>,
    pub waiters: Vec<Waiter>,
    /// An exec's process spec, kept from Exec until Start.
    pub spec: Option<oci_spec::runtime::Process>,
    /// Key of this process in the event loop's tokens (tty fds).
    pub key: u32,
}

impl Process {
    pub fn new(exec_id: &str, stdio: StdioSpec, key: u32) -> Process {
        Process { exec_id: exec_id.to_owned(), pid: 0, stdio, io: ProcessIo::default(), started: false, exit: None, waiters: Vec::new(), spec: None, key }
    }

    pub fn status(&self, paused: bool) -> Status {
        if self.exit.is_some() {
            Status::STOPPED
        } else if !self.started {
            Status::CREATED
        } else if paused {
            Status::PAUSED
        } else {
            Status::RUNNING
        }
    }
}

pub struct Task {
    pub id: String,
    pub bundle: PathBuf,
    pub container: berth_runtime::Container,
    pub init: Process,
    pub execs: BTreeMap<String, Process>,
    /// How many mounts the shim stacked on `bundle/rootfs` (undone on delete).
    pub rootfs_mounts: usize,
    pub paused: bool,
    pub oom: Option<crate::stats::OomWatch>,
}

impl Task {
    pub fn process(&self, exec_id: &str) -> Option<&Process> {
        if exec_id.is_empty() {
            Some(&self.init)
        } else {
            self.execs.get(exec_id)
        }
    }

    pub fn process_mut(&mut self, exec_id: &str) -> Option<&mut Process> {
        if exec_id.is_empty() {
            Some(&mut self.init)
        } else {
            self.execs.get_mut(exec_id)
        }
    }

    /// Every process of the task, init first.
    pub fn processes_mut(&mut self) -> impl Iterator<Item = &mut Process> {
        std::iter::once(&mut self.init).chain(self.execs.values_mut())
    }
}
