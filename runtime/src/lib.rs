//! berth-runtime: a runc-compatible OCI runtime, as a library and the `berth` binary.
//!
//! The library is what the shim and the builder call in-process: [`Runtime`] (a state root)
//! creates and loads [`Container`]s, which start, signal, exec into, pause and delete.
//! Stages, as the code is laid out: [`spec`] loads a bundle, [`plan`] turns the spec into a
//! validated [`plan::Plan`] without touching the system, [`process`] runs it (parent side,
//! container init, exec), [`rootfs`] builds the root filesystem (paths resolved through
//! [`inroot::InRoot`]), [`state`] keeps the `--root` directory, [`hooks`] runs OCI hooks,
//! [`protect`] guards the binary (CVE-2019-5736). [`cgroups`] and [`seccomp`] are the
//! contracts the resource and syscall-filter work implements.
//!
//! The library never reaps children or handles SIGCHLD: a container's init and exec'd
//! processes are children of the caller, which must be single-threaded while calling
//! `create` or `exec` (they fork).

pub mod cgroups;
pub mod error;
#[doc(hidden)]
pub mod fault;
pub mod hooks;
pub mod inroot;
pub mod lsm;
pub mod plan;
pub mod process;
pub mod protect;
pub mod rootfs;
pub mod runtime;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod state;
pub mod sys;
#[cfg(test)]
mod test_rng;

pub use error::{Error, Result};
pub use process::exec::{ExecOptions, ExecProcess};
pub use protect::protect_exe;
pub use runtime::{Console, Container, CreateOptions, Runtime, State, Status};
