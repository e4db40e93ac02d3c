//! seccomp: the spec's `linux.seccomp` compiled to a classic BPF program, installed last
//! before exec.
//!
//! `compile` is pure and runs in the plan, so a bad profile fails before anything exists;
//! `install` runs in the container's init right before `execve`. A notify listener reaches
//! the seccomp agent (runc's protocol) either from a process that sees `listenerPath`
//! ([`send_listener`]) or, from the init after pivot_root, over a connection made earlier
//! ([`connect_agent`] before the filter, [`send_listener_over`] after it).
//!
//! Our own small compiler (no libseccomp, no seccompiler): [`profile`] checks the profile and
//! resolves it per architecture with runc's rules, [`codegen`] emits a binary search over
//! syscall numbers, [`bpf`] holds the instructions, the kernel's checks and an interpreter the
//! tests run every program through. Semantics, all as runc + libseccomp behave unless noted:
//! - actions: KILL = KILL_THREAD, KILL_PROCESS, TRAP, ERRNO(errnoRet, default EPERM),
//!   TRACE(errnoRet as the tracer's message, default EPERM), ALLOW, LOG, NOTIFY;
//! - architectures: the native one always, plus those listed that can occur on this kernel
//!   (x86_64 host: x86_64, x86, x32; aarch64 host: aarch64, arm); any other architecture's
//!   calls get `SCMP_ACT_KILL` (libseccomp's bad-arch action);
//! - names unknown on an architecture are skipped (debug log); a rule whose action equals the
//!   default is skipped; several comparisons of the same argument in one rule become separate
//!   rules (OR), otherwise a rule's comparisons are ANDed; 64-bit comparisons check both
//!   words, 32-bit ABIs (x86, x32, arm) only the low word;
//! - an argument-free rule decides its syscall (conditional rules for it are dropped); two
//!   rules with identical comparisons and different actions are an error (libseccomp: EEXIST);
//!   when several conditional rules match, the most restrictive action wins (the kernel's
//!   precedence; libseccomp's order there is an artefact of its tree and not guaranteed);
//! - runc's -ENOSYS stub: unless the default action is ALLOW/LOG/TRACE or already
//!   ERRNO(ENOSYS), syscalls numbered above the profile's last known one return ENOSYS.
//! - i386: a rule for a socket or SysV IPC call also filters its multiplexed form,
//!   `socketcall(2)`/`ipc(2)` with argument 0 = the call number (libseccomp's rewrite).
//!
//! Checked against libseccomp itself: `integration/tests/seccomp_vs_libseccomp.rs` runs both
//! programs side by side on the Docker profile and on random profiles.

pub mod bpf;
mod codegen;
pub mod features;
mod notify;
pub mod profile;
mod syscalls;

pub use notify::{connect_agent, container_process_state, container_process_state_json, send_listener, send_listener_over};
pub use profile::ScmpArch;

use oci_spec::runtime::LinuxSeccomp;
use std::os::fd::{FromRawFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp: errnoRet {value} of {what} is out of range (0-65535)")]
    ErrnoOutOfRange { what: String, value: u32 },
    #[error("seccomp: argument index {index} of {what} is out of range (0-5)")]
    ArgIndex { what: String, index: usize },
    #[error("seccomp: SCMP_ACT_NOTIFY cannot be the default action")]
    NotifyDefault,
    #[error("seccomp: SCMP_ACT_NOTIFY cannot be used for the {0} syscall (the runtime needs it to hand over the listener)")]
    NotifyHandover(String),
    #[error("seccomp: SCMP_ACT_NOTIFY is used but listenerPath is not set")]
    NotifyWithoutListener,
    #[error("seccomp: listenerMetadata is set but listenerPath is not")]
    MetadataWithoutListener,
    #[error("seccomp: syscall {syscall:?} has two rules with the same arguments and different actions")]
    ConflictingRules { syscall: String },
    #[error("seccomp: the compiled filter has {0} instructions, over the kernel's limit of 4096")]
    TooLarge(usize),
    #[error("seccomp: loading the filter (flags {flags:#x}): {source}")]
    Install { flags: u32, source: std::io::Error },
    #[error("seccomp: sending the notify listener to {path}: {source}")]
    Listener { path: std::path::PathBuf, source: std::io::Error },
    #[error("seccomp: sending the notify listener to the agent: {0}")]
    ListenerSend(std::io::Error),
}

/// A compiled filter, ready to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompFilter {
    program: Vec<bpf::SockFilter>,
    /// `SECCOMP_FILTER_FLAG_*`, including NEW_LISTENER when notify is used.
    flags: u32,
    notify: bool,
    /// `listenerPath` and `listenerMetadata`, when notify rules exist.
    listener: Option<(std::path::PathBuf, Option<String>)>,
}

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

impl SeccompFilter {
    /// Compile the profile for this host's architectures. Touches nothing.
    pub fn compile(spec: &LinuxSeccomp) -> Result<Self, Error> {
        let profile = profile::normalise(spec)?;
        let program = codegen::generate(&profile);
        if program.len() > bpf::MAX_INSNS {
            return Err(Error::TooLarge(program.len()));
        }
        debug_assert_eq!(bpf::validate(&program), Ok(()));
        Ok(Self { program, flags: profile.flags, notify: profile.notify, listener: profile.listener })
    }

    /// True when some rule uses `SCMP_ACT_NOTIFY` (the init must hand a listener fd back).
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// Where the notify listener goes (`listenerPath`), when the filter has notify rules.
    pub fn listener_path(&self) -> Option<&std::path::Path> {
        self.listener.as_ref().map(|(p, _)| p.as_path())
    }

    /// The message for the agent: runc's container process state with `listenerMetadata`.
    /// `state` is the container's state (host pid of the container process, status
    /// "creating" while `create` runs).
    pub fn agent_message(&self, state: &oci_spec::runtime::State) -> Vec<u8> {
        container_process_state(state, self.listener.as_ref().and_then(|(_, m)| m.as_deref()))
    }

    /// [`Self::agent_message`] from the state as serialised JSON.
    pub fn agent_message_json(&self, state_json: &[u8]) -> Vec<u8> {
        container_process_state_json(state_json, self.listener.as_ref().and_then(|(_, m)| m.as_deref()))
    }

    /// The BPF program (for debugging and tests).
    pub fn program(&self) -> &[bpf::SockFilter] {
        &self.program
    }

    /// `SECCOMP_FILTER_FLAG_*` passed to seccomp(2).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// What the filter returns for a call, computed without loading it.
    pub fn evaluate(&self, data: &bpf::SeccompData) -> u32 {
        bpf::run(&self.program, data).0
    }

    /// Install the filter on the calling thread with seccomp(2). Returns the user-notification
    /// listener fd (close-on-exec) when the filter has notify rules.
    ///
    /// The caller must have set no_new_privs or hold CAP_SYS_ADMIN, and is single-threaded.
    pub fn install(&self) -> Result<Option<OwnedFd>, Error> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `self.program`, alive for the call; SockFilter has the
        // layout of struct sock_filter.
        let r = unsafe {
            libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, self.flags as libc::c_ulong, &prog as *const libc::sock_fprog)
        };
        if r < 0 {
            return Err(Error::Install { flags: self.flags, source: std::io::Error::last_os_error() });
        }
        if self.flags & profile::FLAG_NEW_LISTENER != 0 {
            // SAFETY: with NEW_LISTENER seccomp(2) returns a new fd that we now own.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
