//! Blobs by digest under `blobs/<alg>/<hex>`.
//!
//! Nothing is ever written at a blob's final name: an operation gets a [`Staging`] directory
//! under `ingest/`, writes and verifies each blob there (size, digest, fsync), and only when
//! the whole operation succeeded renames every staged blob into place (under the layout lock,
//! together with the index update). Dropping a `Staging` removes everything it held, so a
//! failed pull or import leaves the store as it was. A killed process leaves a staging dir
//! whose lock nobody holds; `gc` removes those.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::digest::{Algorithm, Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::oci::{Descriptor, MAX_DOCUMENT};

#[derive(Clone, Debug)]
pub struct Content {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl Content {
    pub fn new(root: &Path) -> Self {
        Content { blobs: root.join("blobs"), ingest: root.join("ingest") }
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.algorithm().name()).join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).exists()
    }

    pub fn open(&self, d: &Digest) -> Result<File> {
        let p = self.path(d);
        File::open(&p).map_err(|e| if e.kind() == io::ErrorKind::NotFound { Error::BlobNotFound(d.clone()) } else { Error::io(p, e) })
    }

    /// Read a small blob (manifest, config) and check it against its descriptor.
    pub fn read(&self, desc: &Descriptor, what: &'static str) -> Result<Vec<u8>> {
        read_verified(self.open(&desc.digest)?, desc, what)
    }

    /// Every blob digest present (names that are not valid digests are skipped).
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = vec![];
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.blobs.join(alg.name());
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(dir, e)),
            };
            for e in rd {
                let e = e.ctx(&dir)?;
                if let Some(name) = e.file_name().to_str() {
                    if let Ok(d) = Digest::parse(&format!("{}:{name}", alg.name())) {
                        out.push(d);
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn staging(&self) -> Result<Staging> {
        Staging::new(self.clone())
    }

    /// Remove staging directories left by processes that died (their lock is free), and
    /// half-created ones older than a minute. Returns how many were removed.
    pub fn sweep_stale(&self) -> usize {
        let Ok(rd) = fs::read_dir(&self.ingest) else { return 0 };
        let mut n = 0;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stale = if name.starts_with("op-") {
                match File::open(e.path().join("lock")) {
                    // SAFETY: flock on an fd we own; released when `f` drops.
                    Ok(f) => (unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) == 0,
                    Err(_) => true,
                }
            } else {
                e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age.as_secs() > 60)
            };
            if stale && crate::fsutil::remove_tree(&e.path()).is_ok() {
                n += 1;
            }
        }
        n
    }
}

/// Read all of `r` (at most the descriptor's size + 1) and verify size and digest.
pub fn read_verified(mut r: impl Read, desc: &Descriptor, what: &'static str) -> Result<Vec<u8>> {
    if desc.size > MAX_DOCUMENT {
        return Err(Error::Invalid { what, digest: desc.digest.to_string(), reason: format!("{} bytes is more than the {MAX_DOCUMENT} allowed", desc.size) });
    }
    let mut buf = Vec::with_capacity(desc.size as usize);
    (&mut r).take(desc.size + 1).read_to_end(&mut buf).map_err(|e| Error::Other { what: format!("{what} {}", desc.digest), reason: e.to_string() })?;
    verify_bytes(&buf, desc, what)?;
    Ok(buf)
}

pub fn verify_bytes(buf: &[u8], desc: &Descriptor, what: &'static str) -> Result<()> {
    if buf.len() as u64 != desc.size {
        return Err(Error::SizeMismatch { what, digest: desc.digest.clone(), expected: desc.size, actual: buf.len() as u64 });
    }
    let mut h = crate::digest::Hasher::new(desc.digest.algorithm());
    h.update(buf);
    let actual = h.finish();
    if actual != desc.digest {
        return Err(Error::DigestMismatch { what, expected: desc.digest.clone(), actual });
    }
    Ok(())
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call, for temp files and dirs.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}{}-{}-{nanos:x}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// One operation's private ingest directory (see the module docs).
pub struct Staging {
    content: Content,
    dir: PathBuf,
    _lock: File,
    staged: Mutex<Vec<(Digest, PathBuf)>>,
}

impl Staging {
    fn new(content: Content) -> Result<Self> {
        fs::create_dir_all(&content.ingest).ctx(&content.ingest)?;
        // Built under a temporary name and locked before it is renamed to `op-*`, so a
        // sweeper never sees an `op-*` directory whose lock is free while its owner lives.
        let name = unique_name("");
        let tmp = content.ingest.join(format!(".new-{name}"));
        fs::create_dir(&tmp).ctx(&tmp)?;
        let lock_path = tmp.join("lock");
        let lock = File::create(&lock_path).ctx(&lock_path)?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            let _ = fs::remove_dir_all(&tmp);
            return Err(Error::io(lock_path, e));
        }
        let dir = content.ingest.join(format!("op-{name}"));
        if let Err(e) = fs::rename(&tmp, &dir) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(Error::io(dir, e));
        }
        Ok(Staging { content, dir, _lock: lock, staged: Mutex::new(vec![]) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh temp path inside the staging dir (for snapshots' or archives' scratch use).
    pub fn temp_path(&self, prefix: &str) -> PathBuf {
        self.dir.join(unique_name(prefix))
    }

    /// Start writing a blob whose digest will be computed as it is written.
    pub fn writer(&self) -> Result<BlobWriter<'_>> {
        let path = self.temp_path("blob-");
        let file = OpenOptions::new().write(true).create_new(true).open(&path).ctx(&path)?;
        Ok(BlobWriter { staging: self, path, inner: HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file), Algorithm::Sha256) })
    }

    /// Stage bytes already in memory, checked against `expected` when given.
    pub fn put_bytes(&self, data: &[u8], expected: Option<&Descriptor>, what: &'static str) -> Result<Digest> {
        if let Some(desc) = expected {
            verify_bytes(data, desc, what)?;
            if self.has(&desc.digest) {
                return Ok(desc.digest.clone());
            }
        }
        let mut w = self.writer()?;
        w.write_all(data).ctx(&w.path)?;
        let (d, _) = w.finish(expected, what)?;
        Ok(d)
    }

    /// Record a file this operation wrote and verified itself as the blob `digest`.
    pub fn adopt(&self, digest: Digest, path: PathBuf) {
        self.staged.lock().unwrap().push((digest, path));
    }

    /// Whether the blob is already in the store or staged by this operation.
    pub fn has(&self, d: &Digest) -> bool {
        self.content.exists(d) || self.staged.lock().unwrap().iter().any(|(s, _)| s == d)
    }

    /// Where to read a blob: staged copy first, then the store.
    pub fn path_of(&self, d: &Digest) -> PathBuf {
        if let Some((_, p)) = self.staged.lock().unwrap().iter().find(|(s, _)| s == d) {
            return p.clone();
        }
        self.content.path(d)
    }

    pub fn open(&self, d: &Digest) -> Result<File> {
        let p = self.path_of(d);
        File::open(&p).map_err(|e| if e.kind() == io::ErrorKind::NotFound { Error::BlobNotFound(d.clone()) } else { Error::io(p, e) })
    }

    pub fn read(&self, desc: &Descriptor, what: &'static str) -> Result<Vec<u8>> {
        read_verified(self.open(&desc.digest)?, desc, what)
    }

    pub fn staged(&self) -> Vec<Digest> {
        self.staged.lock().unwrap().iter().map(|(d, _)| d.clone()).collect()
    }

    /// Move every staged blob to its final name. The caller holds the layout lock, so `gc`
    /// cannot run between this and the index update that makes the blobs reachable.
    pub fn commit(&self) -> Result<()> {
        let staged = std::mem::take(&mut *self.staged.lock().unwrap());
        let mut dirs = std::collections::BTreeSet::new();
        for (d, p) in staged {
            let dest = self.content.path(&d);
            let parent = dest.parent().expect("blob path has a parent").to_path_buf();
            if dirs.insert(parent.clone()) {
                fs::create_dir_all(&parent).ctx(&parent)?;
            }
            if dest.exists() {
                continue;
            }
            fs::rename(&p, &dest).ctx(&dest)?;
        }
        for d in dirs {
            if let Ok(f) = File::open(&d) {
                let _ = f.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A blob being written into a staging dir; hashed and counted as it goes.
pub struct BlobWriter<'a> {
    staging: &'a Staging,
    path: PathBuf,
    inner: HashingWriter<io::BufWriter<File>>,
}

impl BlobWriter<'_> {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flush, check against `expected` (size and digest), fsync and stage.
    pub fn finish(self, expected: Option<&Descriptor>, what: &'static str) -> Result<(Digest, u64)> {
        let (digest, size, buf) = self.inner.finish();
        let file = buf.into_inner().map_err(|e| Error::io(&self.path, e.into_error()))?;
        if let Some(desc) = expected {
            if size != desc.size {
                let _ = fs::remove_file(&self.path);
                return Err(Error::SizeMismatch { what, digest: desc.digest.clone(), expected: desc.size, actual: size });
            }
            let actual = if desc.digest.algorithm() == Algorithm::Sha256 { digest.clone() } else { rehash(&self.path, desc.digest.algorithm())? };
            if actual != desc.digest {
                let _ = fs::remove_file(&self.path);
                return Err(Error::DigestMismatch { what, expected: desc.digest.clone(), actual });
            }
        }
        file.sync_data().ctx(&self.path)?;
        let d = expected.map(|e| e.digest.clone()).unwrap_or(digest);
        self.staging.adopt(d.clone(), self.path);
        Ok((d, size))
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn rehash(path: &Path, alg: Algorithm) -> Result<Digest> {
    let f = File::open(path).ctx(path)?;
    let (d, _, _) = crate::digest::HashingReader::new(io::BufReader::with_capacity(1 << 20, f), alg).drain().ctx(path)?;
    Ok(d)
}
