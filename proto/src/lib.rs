//! berth-proto: containerd's shim v2 protocol as Rust types, generated at build time from the
//! `.proto` files in `protos/` (written to match containerd 1.6's published API field by field).
//!
//! Main modules: [`shim`] (the `containerd.task.v2.Task` service messages), [`task_events`]
//! (`containerd.events.Task*`), [`events`] (the `Forward` envelope the shim sends containerd),
//! [`ttrpc`] (the ttrpc wire envelope and status), [`cgroups_v1`]/[`cgroups_v2`] (Stats
//! payloads), [`mount`], [`task_types`], [`runc_options`]; [`frame`] is the ttrpc framing and
//! [`names`] the topics, type URLs and status codes containerd matches on.
//!
//! ttrpc-codegen also writes the ttrpc crate's service stubs (`*_ttrpc.rs`) into `OUT_DIR`; they
//! are not compiled: the shim serves and calls these services with its own single-threaded
//! dispatcher (the ttrpc crate's server runs a thread per connection), so only messages are used.

#[allow(clippy::all, unused, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/mod.rs"));
}

pub use generated::*;
pub use protobuf;
pub use protobuf::well_known_types::{any::Any, empty::Empty, timestamp::Timestamp};

pub mod frame;
pub mod names;
