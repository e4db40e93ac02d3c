//! The runtime library's error type: one enum, variants by what failed, each carrying the
//! container id or path it is about. Messages are lower-case and one line, as the CLI prints
//! them after `berth: `.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("bundle {path}: {reason}")]
    Bundle { path: PathBuf, reason: String },
    #[error("config.json: {0}")]
    Spec(String),
    #[error("container {id:?}: {reason}")]
    State { id: String, reason: String },
    #[error("container {id:?} is {status}, {reason}")]
    BadStatus { id: String, status: &'static str, reason: &'static str },
    #[error("container {id:?}: {what}: {source}")]
    Sys { id: String, what: String, source: io::Error },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("container {id:?}: {msg}")]
    Init { id: String, msg: String },
    #[error("container {id:?}: {hook} hook {path}: {reason}")]
    Hook { id: String, hook: &'static str, path: String, reason: String },
    #[error("unknown signal {0:?}")]
    Signal(String),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::Error),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::Error),
    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io { what: what.into(), source }
    }
    pub fn sys(id: &str, what: impl Into<String>, source: io::Error) -> Self {
        Error::Sys { id: id.to_owned(), what: what.into(), source }
    }
}

/// Attach "what" context to an io::Result.
pub trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}
