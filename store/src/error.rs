//! The store's one error type: every variant names the reference, digest or path it is about.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },
    #[error("{what} {expected}: digest mismatch (content hashes to {actual})")]
    DigestMismatch { what: &'static str, expected: Digest, actual: Digest },
    #[error("{what} {digest}: size mismatch (descriptor says {expected} bytes, got {actual})")]
    SizeMismatch { what: &'static str, digest: Digest, expected: u64, actual: u64 },
    #[error("layer {layer}: diff_id mismatch (config says {expected}, uncompressed content hashes to {actual})")]
    DiffIdMismatch { layer: Digest, expected: Digest, actual: Digest },
    #[error("image {reference}: not found in the store")]
    ImageNotFound { reference: String },
    #[error("blob {0}: not found in the store")]
    BlobNotFound(Digest),
    #[error("{what} {digest}: invalid: {reason}")]
    Invalid { what: &'static str, digest: String, reason: String },
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    UnsafeEntry { layer: String, entry: String, reason: String },
    #[error("layer {layer}: {reason}")]
    Layer { layer: String, reason: String },
    #[error("layer {layer}: entry {entry:?}: {source}")]
    EntryIo { layer: String, entry: String, source: io::Error },
    #[error("{url}: {reason}")]
    Registry { url: String, reason: String },
    #[error("registry {registry}: authentication failed: {reason}")]
    Auth { registry: String, reason: String },
    #[error("archive {path}: {reason}")]
    Archive { path: PathBuf, reason: String },
    #[error("{what}: {reason}")]
    Other { what: String, reason: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn other(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Other { what: what.into(), reason: reason.into() }
    }
}

/// `result.ctx(path)?` turns an `io::Error` into [`Error::Io`] naming the path.
pub(crate) trait IoContext<T> {
    fn ctx(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
