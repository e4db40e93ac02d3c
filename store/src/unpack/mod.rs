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
///
/// Reading, hashing and decompressing run on their own thread, feeding `body` through a
/// small queue of large buffers, so decompression and file creation overlap.
pub fn stream_layer<T: Send>(blob: impl Read + Send, alg: Algorithm, layer: &str, body: impl FnOnce(&mut dyn Read) -> Result<T> + Send) -> Result<(LayerDigests, T)> {
    let abort = std::sync::atomic::AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::result::Result<Vec<u8>, String>>(QUEUE);
    let (ret_tx, ret_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let producer = s.spawn(|| decompress_into(blob, alg, layer, tx, ret_rx, &abort));
        let mut reader = ChannelReader { rx, current: Vec::new(), pos: 0, recycle: ret_tx, failed: None };
        let out = body(&mut reader);
        if out.is_err() {
            abort.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        drop(reader);
        let digests = producer.join().expect("decompressor thread panicked");
        let out = out?;
        Ok((digests?, out))
    })
}

const QUEUE: usize = 4;
const CHUNK: usize = 1 << 20;

/// The producer half of [`stream_layer`].
fn decompress_into(
    blob: impl Read,
    alg: Algorithm,
    layer: &str,
    tx: std::sync::mpsc::SyncSender<std::result::Result<Vec<u8>, String>>,
    recycled: std::sync::mpsc::Receiver<Vec<u8>>,
    abort: &std::sync::atomic::AtomicBool,
) -> Result<LayerDigests> {
    let lerr = |e: io::Error| Error::Layer { layer: layer.to_owned(), reason: format!("reading: {e}") };
    let mut comp = BufReader::with_capacity(BUF, HashingReader::new(blob, alg));
    let compression = match comp.fill_buf() {
        Ok(magic) => Compression::sniff(magic),
        Err(e) => {
            let _ = tx.send(Err(format!("reading: {e}")));
            return Err(lerr(e));
        }
    };
    let derr = |e: io::Error| Error::Layer { layer: layer.to_owned(), reason: e.to_string() };
    let (diff_id, uncompressed) = {
        let decoder: Box<dyn Read + '_> = match compression {
            Compression::Gzip => Box::new(Labelled { inner: flate2::bufread::MultiGzDecoder::new(&mut comp), label: "gzip" }),
            Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(&mut comp) {
                Ok(d) => Box::new(Labelled { inner: d, label: "zstd" }),
                Err(e) => {
                    let _ = tx.send(Err(format!("zstd: {e}")));
                    return Err(derr(e));
                }
            },
            Compression::None => Box::new(&mut comp),
        };
        let mut plain = HashingReader::new(decoder, Algorithm::Sha256);
        let mut receiver_gone = false;
        loop {
            if abort.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Error::Layer { layer: layer.to_owned(), reason: "aborted".into() });
            }
            let mut buf = recycled.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
            buf.resize(CHUNK, 0);
            let mut filled = 0;
            // Fill whole chunks: fewer hand-offs, and the consumer sees large reads.
            let res = loop {
                match plain.read(&mut buf[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == buf.len() {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            if let Err(e) = res {
                let _ = tx.send(Err(e.to_string()));
                return Err(derr(e));
            }
            if filled == 0 {
                break;
            }
            buf.truncate(filled);
            if !receiver_gone && tx.send(Ok(buf)).is_err() {
                receiver_gone = true; // the consumer is done; keep hashing to the end
            }
        }
        let (d, n, _) = plain.finish();
        (d, n)
    };
    drop(tx);
    io::copy(&mut comp, &mut io::sink()).map_err(lerr)?;
    let (digest, size, _) = comp.into_inner().finish();
    Ok(LayerDigests { digest, size, diff_id, uncompressed, compression, entries: 0 })
}

/// The consumer half: reads the producer's chunks as one stream.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<std::result::Result<Vec<u8>, String>>,
    current: Vec<u8>,
    pos: usize,
    recycle: std::sync::mpsc::Sender<Vec<u8>>,
    failed: Option<String>,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = &self.failed {
            return Err(io::Error::other(f.clone()));
        }
        while self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let old = std::mem::replace(&mut self.current, chunk);
                    let _ = self.recycle.send(old);
                    self.pos = 0;
                }
                Ok(Err(msg)) => {
                    self.failed = Some(msg.clone());
                    return Err(io::Error::other(msg));
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Names the decompressor in its errors (and keeps a truncated stream from reading as a
/// short tar).
struct Labelled<R> {
    inner: R,
    label: &'static str,
}

impl<R: Read> Read for Labelled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| io::Error::other(format!("{}: {e}", self.label)))
    }
}

/// Apply a layer blob to `root` in `mode`, returning what was measured. Nothing is checked
/// against expectations here; the caller does that before committing.
pub fn apply_layer(blob: impl Read + Send, alg: Algorithm, root: &InRoot, mode: Mode, lowers: &[InRoot], layer: &str) -> Result<LayerDigests> {
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
pub fn digest_layer(blob: impl Read + Send, alg: Algorithm, layer: &str) -> Result<LayerDigests> {
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
