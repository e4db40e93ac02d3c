//! seccomp: the spec's `linux.seccomp` compiled to a BPF program, installed last before exec.
//!
//! CONTRACT (to be implemented by the seccomp work; the rest of the runtime calls only this):
//! `compile` is pure and runs in the plan, so a bad profile fails before anything exists;
//! `install` runs in the container's init right before `execve`.

use oci_spec::runtime::LinuxSeccomp;
use std::os::fd::OwnedFd;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp: {0}")]
    Unimplemented(&'static str),
}

/// A compiled filter, ready to install.
#[derive(Debug, Clone)]
pub struct SeccompFilter {}

impl SeccompFilter {
    /// Compile the profile for this host's architectures. Touches nothing.
    pub fn compile(_spec: &LinuxSeccomp) -> Result<Self, Error> {
        Err(Error::Unimplemented("compile"))
    }
    /// True when some rule uses `SCMP_ACT_NOTIFY` (the init must hand a listener fd back).
    pub fn uses_notify(&self) -> bool {
        false
    }
    /// Install the filter on the calling process. Returns the user-notification listener fd
    /// when the filter has notify rules.
    pub fn install(&self) -> Result<Option<OwnedFd>, Error> {
        Err(Error::Unimplemented("install"))
    }
}

/// Hand a notify listener fd and the container state to the agent at `listenerPath`, as runc
/// does (SCM_RIGHTS over a unix socket, the state JSON as the message body).
pub fn send_listener(_listener_path: &std::path::Path, _listener: &OwnedFd, _state_json: &[u8]) -> Result<(), Error> {
    Err(Error::Unimplemented("send_listener"))
}
