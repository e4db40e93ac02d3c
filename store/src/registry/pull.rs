//! `Store::pull`: manifest (digest checked against the reference), platform selection, then
//! config and layers fetched in parallel. Each layer streams once from the socket through
//! the blob hash into its staging file; nothing is committed unless every digest and size
//! matches. With `unpack`, each layer is then unpacked into its snapshot (diff_id checked)
//! before the blobs, snapshots and tag are committed together.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::client::Client;
use super::RegistryOptions;
use crate::content::Staging;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::oci::{self, media, Descriptor, Document, Platform};
use crate::reference::Reference;
use crate::store::{select_platform, Image, Store};
use crate::Progress;

#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    pub registry: RegistryOptions,
    /// Platform to choose from a multi-platform index (default: the host's).
    pub platform: Option<Platform>,
    /// Also unpack every layer into its snapshot (checking each diff_id) before anything is
    /// committed, as `ctr pull` does; without it diff_ids are checked when a layer is first
    /// unpacked.
    pub unpack: bool,
}

impl Store {
    /// Pull `reference` into the store and tag it. Returns the image.
    pub fn pull(&self, reference: &str, opts: &PullOptions, progress: &dyn Progress) -> Result<Image> {
        let r = Reference::parse(reference)?;
        let client = Client::connect(&r, &opts.registry, "pull")?;
        let staging = self.content.staging()?;
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);

        let (bytes, announced) = client.get_manifest(&r.repository, &r.manifest_ref())?;
        let alg = r.digest.as_ref().map(|d| d.algorithm()).unwrap_or(crate::digest::Algorithm::Sha256);
        let mut h = crate::digest::Hasher::new(alg);
        h.update(&bytes);
        let digest = h.finish();
        if let Some(want) = &r.digest {
            if &digest != want {
                return Err(Error::DigestMismatch { what: "manifest", expected: want.clone(), actual: digest });
            }
        }
        let mut desc = match oci::parse_document(&bytes, &announced, &r.to_string())? {
            Document::Index(idx) => {
                let d = select_platform(&idx, &platform, &r.to_string())?;
                let (b, mt) = client.get_manifest(&r.repository, d.digest.as_str())?;
                crate::content::verify_bytes(&b, &d, "manifest")?;
                staging.put_bytes(&b, Some(&d), "manifest")?;
                Descriptor { media_type: if d.media_type.is_empty() { mt } else { d.media_type.clone() }, ..d }
            }
            Document::Manifest(m) => {
                let mt = m.media_type.clone().unwrap_or_else(|| announced.split(';').next().unwrap_or(media::OCI_MANIFEST).trim().to_owned());
                let d = Descriptor::new(&mt, digest, bytes.len() as u64);
                staging.put_bytes(&bytes, Some(&d), "manifest")?;
                d
            }
        };
        desc.platform = None;
        let manifest = match oci::parse_document(&staging.read(&desc, "manifest")?, &desc.media_type, desc.digest.as_str())? {
            Document::Manifest(m) => m,
            Document::Index(_) => return Err(Error::Invalid { what: "manifest", digest: desc.digest.to_string(), reason: "an index inside an index".into() }),
        };

        // Config first (small): the diff_ids it lists are what the layers are checked against.
        let config_bytes = if staging.has(&manifest.config.digest) {
            staging.read(&manifest.config, "config")?
        } else {
            let mut r = client.get_blob(&r.repository, &manifest.config.digest)?;
            let b = crate::content::read_verified(&mut r, &manifest.config, "config")?;
            staging.put_bytes(&b, Some(&manifest.config), "config")?;
            b
        };
        let config = oci::parse_config(&config_bytes, &manifest.config.digest)?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::Invalid { what: "config", digest: manifest.config.digest.to_string(), reason: format!("{} diff_ids for {} layers", config.rootfs.diff_ids.len(), manifest.layers.len()) });
        }

        let todo: Vec<(Descriptor, Digest)> = manifest
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .filter(|(l, _)| !staging.has(&l.digest))
            .map(|(l, d)| (l.clone(), d.clone()))
            .collect();
        fetch_layers(&client, &r.repository, &staging, todo, opts.registry.jobs, progress)?;

        let prepared = if opts.unpack { self.snapshots.prepare(&staging, &manifest.layers, &config, progress)? } else { vec![] };
        let name = match (&r.tag, &r.digest) {
            (Some(_), _) => Reference { digest: None, ..r.clone() }.to_string(),
            (None, _) => r.to_string(),
        };
        let lock = self.layout.lock()?;
        staging.commit()?;
        self.snapshots.commit(&prepared)?;
        self.layout.set_ref(&lock, &name, &desc)?;
        drop(lock);
        // The config too: it is a blob like the layers and can be mounted the same way.
        for l in manifest.layers.iter().chain(std::iter::once(&manifest.config)) {
            self.record_source(&l.digest, &r);
        }
        Ok(Image { name: Some(name), descriptor: desc, manifest, config, config_bytes })
    }

    /// Remember which repository a blob came from, for cross-repository mounts on push.
    pub(crate) fn record_source(&self, d: &Digest, r: &Reference) {
        let dir = self.root().join("sources");
        let _ = std::fs::create_dir_all(&dir);
        // A hint, not data: written by rename (never torn) but not fsynced.
        let tmp = dir.join(crate::content::unique_name(".tmp-"));
        if std::fs::write(&tmp, r.name().as_bytes()).is_ok() && std::fs::rename(&tmp, dir.join(d.hex())).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    pub(crate) fn source_of(&self, d: &Digest) -> Option<String> {
        std::fs::read_to_string(self.root().join("sources").join(d.hex())).ok()
    }
}

/// Layers above this size are fetched as several ranges at once (a single HTTP stream from a
/// registry is often slower than the disk and the hash).
const PART: u64 = 16 << 20;

enum Task {
    Whole(usize),
    Part(usize, u64, u64),
}

/// A layer fetched in ranges: parts are written at their offsets; the last one to finish
/// hashes the whole file and stages it.
struct PartedLayer {
    path: std::path::PathBuf,
    file: std::fs::File,
    left: std::sync::atomic::AtomicUsize,
    /// The registry ignored a range request; the layer is being fetched whole instead.
    fallback: AtomicBool,
}

fn fetch_layers(client: &Client, repo: &str, staging: &Staging, mut todo: Vec<(Descriptor, Digest)>, jobs: usize, progress: &dyn Progress) -> Result<()> {
    if todo.is_empty() {
        return Ok(());
    }
    // Longest first, so the big layers start at once and the small ones fill the gaps.
    todo.sort_by_key(|l| std::cmp::Reverse(l.0.size));
    let mut tasks = std::collections::VecDeque::new();
    let mut parted: Vec<Option<PartedLayer>> = Vec::with_capacity(todo.len());
    for (i, (layer, _)) in todo.iter().enumerate() {
        if jobs > 1 && layer.size > 2 * PART {
            let path = staging.temp_path("layer-");
            let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).ctx(&path)?;
            file.set_len(layer.size).ctx(&path)?;
            let n = layer.size.div_ceil(PART);
            for k in 0..n {
                tasks.push_back(Task::Part(i, k * PART, ((k + 1) * PART).min(layer.size) - 1));
            }
            progress.start(&layer.digest, layer.size, "pulling");
            parted.push(Some(PartedLayer { path, file, left: std::sync::atomic::AtomicUsize::new(n as usize), fallback: AtomicBool::new(false) }));
        } else {
            tasks.push_back(Task::Whole(i));
            parted.push(None);
        }
    }
    let queue = Mutex::new(tasks);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let workers = jobs.min(queue.lock().unwrap().len()).max(1);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let Some(task) = queue.lock().unwrap().pop_front() else { return };
                let res = match task {
                    Task::Whole(i) => fetch_layer(client, repo, staging, &todo[i].0, &failed, progress),
                    Task::Part(i, start, end) => {
                        let p = parted[i].as_ref().expect("parted layer");
                        if p.fallback.load(Ordering::Relaxed) {
                            continue;
                        }
                        match fetch_part(client, repo, &todo[i].0, p, start, end, &failed, progress) {
                            Ok(true) => {
                                if p.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                                    finish_parted(staging, &todo[i].0, p, progress)
                                } else {
                                    Ok(())
                                }
                            }
                            Ok(false) => {
                                if !p.fallback.swap(true, Ordering::AcqRel) {
                                    queue.lock().unwrap().push_back(Task::Whole(i));
                                }
                                Ok(())
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                if let Err(e) = res {
                    failed.store(true, Ordering::Relaxed);
                    first_error.lock().unwrap().get_or_insert(e);
                    return;
                }
            });
        }
    });
    match first_error.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Fetch bytes `start..=end` into their place; false when the registry ignores ranges.
#[allow(clippy::too_many_arguments)]
fn fetch_part(client: &Client, repo: &str, layer: &Descriptor, p: &PartedLayer, start: u64, end: u64, cancel: &AtomicBool, progress: &dyn Progress) -> Result<bool> {
    use std::os::unix::fs::FileExt;
    let Some(mut body) = client.get_blob_range(repo, &layer.digest, start, end)? else { return Ok(false) };
    let want = end - start + 1;
    let mut off = start;
    let mut buf = vec![0u8; 1 << 20];
    let rerr = |e: io::Error| Error::Registry { url: format!("blob {}", layer.digest), reason: e.to_string() };
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::other(format!("blob {}", layer.digest), "cancelled: another layer failed"));
        }
        let n = match body.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(rerr(e)),
        };
        if n == 0 {
            break;
        }
        if off + n as u64 > end + 1 {
            return Err(Error::SizeMismatch { what: "layer", digest: layer.digest.clone(), expected: layer.size, actual: off + n as u64 });
        }
        p.file.write_all_at(&buf[..n], off).ctx(&p.path)?;
        off += n as u64;
        progress.advance(&layer.digest, n as u64);
    }
    if off - start != want {
        return Err(Error::SizeMismatch { what: "layer", digest: layer.digest.clone(), expected: layer.size, actual: off });
    }
    start_writeback(&p.file, start, want);
    Ok(true)
}

/// All parts are in: hash the file (from the page cache), check it, fsync and stage it.
fn finish_parted(staging: &Staging, layer: &Descriptor, p: &PartedLayer, progress: &dyn Progress) -> Result<()> {
    let f = std::fs::File::open(&p.path).ctx(&p.path)?;
    let (digest, size, _) = crate::digest::HashingReader::new(f, layer.digest.algorithm()).drain().ctx(&p.path)?;
    if size != layer.size {
        return Err(Error::SizeMismatch { what: "layer", digest: layer.digest.clone(), expected: layer.size, actual: size });
    }
    if digest != layer.digest {
        return Err(Error::DigestMismatch { what: "layer", expected: layer.digest.clone(), actual: digest });
    }
    p.file.sync_data().ctx(&p.path)?;
    staging.adopt(layer.digest.clone(), p.path.clone());
    progress.finish(&layer.digest, "done");
    Ok(())
}

fn fetch_layer(client: &Client, repo: &str, staging: &Staging, layer: &Descriptor, cancel: &AtomicBool, progress: &dyn Progress) -> Result<()> {
    let body = client.get_blob(repo, &layer.digest)?;
    progress.start(&layer.digest, layer.size, "pulling");
    let path = staging.temp_path("layer-");
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).ctx(&path)?;
    let mut tee = Tee { inner: crate::ProgressReader::new(body.take(layer.size + 1), progress, &layer.digest), out: io::BufWriter::with_capacity(1 << 20, file), cancel, err: None, count: 0, limit: layer.size, flushed_to: 0 };
    let res = crate::digest::HashingReader::new(&mut tee, layer.digest.algorithm()).drain().map(|(d, n, _)| (d, n)).map_err(|e| Error::Registry { url: format!("blob {}", layer.digest), reason: e.to_string() });
    if let Some(e) = tee.err.take() {
        return Err(Error::io(&path, e));
    }
    if res.is_err() {
        // A blob of the wrong length usually breaks decompression first; name the real cause.
        let _ = io::copy(&mut tee, &mut io::sink());
        if tee.count != layer.size {
            return Err(Error::SizeMismatch { what: "layer", digest: layer.digest.clone(), expected: layer.size, actual: tee.count });
        }
    }
    let (digest, size) = res?;
    if size != layer.size {
        return Err(Error::SizeMismatch { what: "layer", digest: layer.digest.clone(), expected: layer.size, actual: size });
    }
    if digest != layer.digest {
        return Err(Error::DigestMismatch { what: "layer", expected: layer.digest.clone(), actual: digest });
    }
    let file = tee.out.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
    file.sync_data().ctx(&path)?;
    staging.adopt(layer.digest.clone(), path);
    progress.finish(&layer.digest, "done");
    Ok(())
}

/// Copies everything read through it into `out` (the staging file).
struct Tee<'a, R> {
    inner: R,
    out: io::BufWriter<std::fs::File>,
    cancel: &'a AtomicBool,
    err: Option<io::Error>,
    count: u64,
    limit: u64,
    flushed_to: u64,
}

const WRITEBACK_STEP: u64 = 8 << 20;

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: queue a range for writeback without waiting.
fn start_writeback(f: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return;
    }
    // SAFETY: plain syscall on an fd we hold; failure only loses the optimisation.
    unsafe { libc::sync_file_range(f.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE) };
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("cancelled: another layer failed"));
        }
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::other(format!("more than the {} bytes the descriptor says", self.limit)));
        }
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let msg = e.to_string();
            self.err = Some(e);
            return Err(io::Error::other(msg));
        }
        // Start writeback as the blob arrives, so the fsync before commit has little left.
        if self.count - self.flushed_to >= WRITEBACK_STEP {
            let f = self.out.get_ref();
            start_writeback(f, self.flushed_to, self.count - self.flushed_to - self.out.buffer().len() as u64);
            self.flushed_to = self.count - self.out.buffer().len() as u64;
        }
        Ok(n)
    }
}
