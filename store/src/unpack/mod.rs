//! Layer unpacking in one pass: read the blob → hash it (blob digest) → decompress (gzip,
//! zstd or none, sniffed from the magic bytes) → hash again (diff_id) → parse tar → apply
//! each entry confined to the target root. The caller compares the two digests with what the
//! manifest and config promised before it commits anything (see `snapshots` and `Store`).

pub mod apply;
pub mod path;
pub mod tar;

use std::io::{self, BufRead, BufReader, Read};

use berth_runtime::inroot::InRoot;

pub use apply::Mode;

use crate::digest::{Algorithm, Digest, HashingReader};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(magic: &[u8]) -> Self {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// What one pass over a layer blob measured.
#[derive(Clone, Debug)]
pub struct LayerDigests {
    /// Digest and size of the blob as stored (compressed).
    pub digest: Digest,
    pub size: u64,
    /// Digest and size of the uncompressed tar.
    pub diff_id: Digest,
    pub uncompressed: u64,
    pub compression: Compression,
    pub entries: u64,
}

const BUF: usize = 1 << 20;

/// Stream `blob` through both hashes and the decompressor, handing the uncompressed tar
/// stream to `body` (which must consume what it needs; the rest is drained and hashed).
pub fn stream_layer<T>(blob: impl Read, alg: Algorithm, layer: &str, body: impl FnOnce(&mut dyn Read) -> Result<T>) -> Result<(LayerDigests, T)> {
    let lerr = |e: io::Error| Error::Layer { layer: layer.to_owned(), reason: format!("reading: {e}") };
    let mut comp = BufReader::with_capacity(BUF, HashingReader::new(blob, alg));
    let compression = Compression::sniff(comp.fill_buf().map_err(lerr)?);
    let derr = |e: io::Error| Error::Layer {
        layer: layer.to_owned(),
        reason: match compression {
            Compression::Gzip => format!("gzip: {e}"),
            Compression::Zstd => format!("zstd: {e}"),
            Compression::None => e.to_string(),
        },
    };
    let (diff_id, uncompressed, out) = {
        let decoder: Box<dyn Read + '_> = match compression {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(&mut comp)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(&mut comp).map_err(derr)?),
            Compression::None => Box::new(&mut comp),
        };
        let mut plain = BufReader::with_capacity(BUF, HashingReader::new(decoder, Algorithm::Sha256));
        let out = body(&mut plain).map_err(|e| match e {
            // A decompression failure surfaces as an I/O error inside the tar reader.
            Error::Layer { reason, .. } if compression != Compression::None && reason.contains("reading the layer") => derr(io::Error::other(reason)),
            other => other,
        })?;
        io::copy(&mut plain, &mut io::sink()).map_err(derr)?;
        let (d, n, _) = plain.into_inner().finish();
        (d, n, out)
    };
    io::copy(&mut comp, &mut io::sink()).map_err(lerr)?;
    let (digest, size, _) = comp.into_inner().finish();
    Ok((LayerDigests { digest, size, diff_id, uncompressed, compression, entries: 0 }, out))
}

/// Apply a layer blob to `root` in `mode`, returning what was measured. Nothing is checked
/// against expectations here; the caller does that before committing.
pub fn apply_layer(blob: impl Read, alg: Algorithm, root: &InRoot, mode: Mode, lowers: &[InRoot], layer: &str) -> Result<LayerDigests> {
    let (mut d, entries) = stream_layer(blob, alg, layer, |plain| {
        let mut t = tar::TarReader::new(plain);
        let mut a = apply::Applier::new(root, mode, layer, lowers);
        a.apply_all(&mut t)?;
        Ok(a.entries)
    })?;
    d.entries = entries;
    Ok(d)
}

/// Hash a layer blob both ways without extracting it (for verifying diff_ids on pull/import).
pub fn digest_layer(blob: impl Read, alg: Algorithm, layer: &str) -> Result<LayerDigests> {
    Ok(stream_layer(blob, alg, layer, |_| Ok(()))?.0)
}

/// Check measured digests against the descriptor and the config's diff_id.
pub fn verify(d: &LayerDigests, expected: &crate::oci::Descriptor, diff_id: Option<&Digest>) -> Result<()> {
    if d.size != expected.size {
        return Err(Error::SizeMismatch { what: "layer", digest: expected.digest.clone(), expected: expected.size, actual: d.size });
    }
    if d.digest != expected.digest {
        return Err(Error::DigestMismatch { what: "layer", expected: expected.digest.clone(), actual: d.digest.clone() });
    }
    if let Some(want) = diff_id {
        if &d.diff_id != want {
            return Err(Error::DiffIdMismatch { layer: expected.digest.clone(), expected: want.clone(), actual: d.diff_id.clone() });
        }
    }
    Ok(())
}
