//! Control groups: where a container's processes live and what they may use.
//!
//! CONTRACT (to be implemented by the cgroups work; the rest of the runtime calls only this):
//! the runtime plans a [`Cgroup`] from the spec's `cgroupsPath` without touching the system,
//! creates it, applies `linux.resources`, moves the container's init into it, and removes it on
//! delete. A `Cgroup` is stored in `state.json`, so later verbs reopen it without re-deriving.

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

/// What the runtime asks for.
#[derive(Debug, Clone)]
pub struct CgroupRequest<'a> {
    /// `linux.cgroupsPath` from the spec, if any.
    pub cgroups_path: Option<&'a str>,
    /// The container id (default path and systemd unit names derive from it).
    pub id: &'a str,
    /// `--systemd-cgroup` was given.
    pub systemd: bool,
}

/// A container's cgroup on this host (v1: one directory per controller; v2: one directory).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroups: {0}")]
    Unimplemented(&'static str),
}

impl Cgroup {
    /// Decide where the cgroup lives, from the request and the host's layout. Touches nothing.
    pub fn plan(_req: &CgroupRequest<'_>) -> Result<Cgroup, Error> {
        Err(Error::Unimplemented("plan"))
    }
    /// Create the cgroup directories (and missing parents).
    pub fn create(&self) -> Result<(), Error> {
        Err(Error::Unimplemented("create"))
    }
    /// Write `linux.resources` (create and `update`).
    pub fn apply(&self, _res: &LinuxResources) -> Result<(), Error> {
        Err(Error::Unimplemented("apply"))
    }
    /// Move a process (the container's init, or an exec'd process) into the cgroup.
    pub fn add_process(&self, _pid: i32) -> Result<(), Error> {
        Err(Error::Unimplemented("add_process"))
    }
    /// Every pid in the cgroup (for `ps`, `kill --all`, `delete --force`).
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        Err(Error::Unimplemented("pids"))
    }
    /// Freeze (`pause`) or thaw (`resume`) every process in the cgroup.
    pub fn set_frozen(&self, _frozen: bool) -> Result<(), Error> {
        Err(Error::Unimplemented("set_frozen"))
    }
    /// Remove the cgroup directories; the caller has made sure no process is left.
    pub fn destroy(&self) -> Result<(), Error> {
        Err(Error::Unimplemented("destroy"))
    }
}
