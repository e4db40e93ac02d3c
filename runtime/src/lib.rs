//! berth-runtime: the OCI runtime library and the `berth` binary.
//!
//! Shared by the `berth` CLI, the containerd shim and the builder.

pub mod cgroups;
pub mod inroot;
pub mod lsm;
pub mod seccomp;
