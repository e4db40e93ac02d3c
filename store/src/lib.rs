//! berth-store: a content-addressed store of OCI images and layers.
//!
//! The store's root is an OCI image layout ([`layout`], [`content`]) plus `snapshots/`
//! (one unpacked directory per layer, [`snapshots`]). [`Store`] is the API the CLI, the
//! builder and the shim use: `open`, `resolve`, `pull`/`push` ([`registry`]),
//! `import`/`export` ([`archive`]), `unpack`, `bundle` ([`bundle`]), `commit_layer`/
//! `put_image` ([`commit`]), `tag`, `untag`, `gc`/`fsck` ([`gc`]). Everything that reads
//! untrusted bytes verifies digests while streaming ([`digest`], [`unpack`]) and writes
//! inside a root only through `berth_runtime::inroot::InRoot`.

pub mod archive;
pub mod bundle;
pub mod commit;
pub mod content;
pub mod digest;
pub mod error;
pub mod fsutil;
pub mod gc;
pub mod layout;
pub mod oci;
pub mod reference;
pub mod registry;
pub mod snapshots;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};
pub use oci::{Descriptor, ImageConfig, Manifest, Platform};
pub use reference::Reference;
pub use store::{Image, ImageSummary, Store};

use std::io::{self, Read};

/// Progress reports for long operations (the CLI draws one bar per layer).
pub trait Progress: Sync {
    fn start(&self, _id: &Digest, _total: u64, _what: &str) {}
    fn advance(&self, _id: &Digest, _bytes: u64) {}
    fn finish(&self, _id: &Digest, _what: &str) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Reports bytes read through it as progress of `id`.
pub struct ProgressReader<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
    id: &'a Digest,
    pending: u64,
}

impl<'a, R> ProgressReader<'a, R> {
    pub fn new(inner: R, progress: &'a dyn Progress, id: &'a Digest) -> Self {
        ProgressReader { inner, progress, id, pending: 0 }
    }
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending += n as u64;
        if self.pending >= 256 * 1024 || n == 0 {
            self.progress.advance(self.id, self.pending);
            self.pending = 0;
        }
        Ok(n)
    }
}
