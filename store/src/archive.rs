//! Moving images in and out as files: OCI image-layout archives (a tar of `oci-layout`,
//! `index.json`, `blobs/`), OCI layout directories, and `docker save` archives
//! (`manifest.json` + `<id>/layer.tar`), both ways.
//!
//! Import streams the archive once, staging every blob under its verified digest; then it
//! checks each image's graph (manifest, config, every layer's digest, size and diff_id) and
//! only then commits blobs and tags together. A bad archive changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::content::{unique_name, Staging};
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, IoContext, Result};
use crate::oci::{self, media, Descriptor, Document, Index, Manifest, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
use crate::reference::Reference;
use crate::store::{select_platform, strip_ref_annotations, Store};
use crate::unpack::{self, tar::Kind, tar::TarReader, Compression};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    Oci,
    Docker,
}

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Repository for entries named only by a tag (OCI `ref.name` = `latest`); default
    /// `localhost/<file name>`.
    pub name: Option<String>,
}

/// `docker save`'s manifest.json entry.
#[derive(Debug, Serialize, Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// What an archive held, before anything is committed.
#[derive(Default)]
struct Scanned {
    index: Option<Vec<u8>>,
    docker_manifest: Option<Vec<u8>>,
    /// Non-blob files (docker-save layers and configs) by archive path → staged digest.
    files: HashMap<String, Digest>,
    /// Symlinks inside the archive (docker save dedups layers this way): path → target path.
    links: HashMap<String, String>,
}

impl Store {
    /// Import an OCI archive, an OCI layout directory or a docker-save archive (optionally
    /// gzip-compressed). Returns the tags created.
    pub fn import(&self, path: &Path, opts: &ImportOptions) -> Result<Vec<(String, Descriptor)>> {
        let staging = self.content.staging()?;
        let scanned = if path.is_dir() { self.scan_layout_dir(path, &staging)? } else { scan_archive(path, &staging)? };
        let default_repo = opts.name.clone().unwrap_or_else(|| default_repo(path));
        let aerr = |reason: String| Error::Archive { path: path.to_path_buf(), reason };
        let mut tags: Vec<(String, Descriptor)> = vec![];
        if let Some(idx) = &scanned.index {
            let idx: Index = serde_json::from_slice(idx).map_err(|e| aerr(format!("index.json: {e}")))?;
            for d in &idx.manifests {
                let name = d.annotation(ANNOTATION_CONTAINERD_NAME).or(d.annotation(ANNOTATION_REF_NAME));
                let name = match name {
                    Some(n) => tag_name(n, &default_repo)?,
                    None => {
                        log::warn!("archive {}: manifest {} has no name; skipped", path.display(), d.digest);
                        continue;
                    }
                };
                self.verify_graph(&staging, d)?;
                tags.push((name, strip_ref_annotations(d)));
            }
        } else if let Some(m) = &scanned.docker_manifest {
            let entries: Vec<DockerEntry> = serde_json::from_slice(m).map_err(|e| aerr(format!("manifest.json: {e}")))?;
            for entry in entries {
                let desc = self.docker_entry_to_oci(&staging, &scanned, &entry, path)?;
                self.verify_graph(&staging, &desc)?;
                for t in entry.repo_tags.unwrap_or_default() {
                    tags.push((Reference::parse(&t)?.to_string(), desc.clone()));
                }
            }
        } else {
            return Err(aerr("neither index.json nor manifest.json found: not an OCI or docker-save archive".into()));
        }
        if tags.is_empty() {
            return Err(aerr("no named image in the archive".into()));
        }
        let lock = self.layout.lock()?;
        staging.commit()?;
        for (n, d) in &tags {
            self.layout.set_ref(&lock, n, d)?;
        }
        Ok(tags)
    }

    fn scan_layout_dir(&self, dir: &Path, staging: &Staging) -> Result<Scanned> {
        let idx_path = dir.join("index.json");
        let bytes = fs::read(&idx_path).ctx(&idx_path)?;
        let idx: Index = serde_json::from_slice(&bytes).map_err(|e| Error::Archive { path: idx_path.clone(), reason: e.to_string() })?;
        // Copy every blob reachable from the index, verifying as we go.
        let mut todo: Vec<Descriptor> = idx.manifests.clone();
        while let Some(d) = todo.pop() {
            if staging.has(&d.digest) {
                continue;
            }
            let p = dir.join("blobs").join(d.digest.algorithm().name()).join(d.digest.hex());
            let f = File::open(&p).ctx(&p)?;
            let what = if media::is_layer(&d.media_type) { "layer" } else if media::is_config(&d.media_type) { "config" } else { "manifest" };
            let mut w = staging.writer()?;
            io::copy(&mut BufReader::with_capacity(1 << 20, f), &mut w).ctx(&p)?;
            w.finish(Some(&d), what)?;
            if media::is_manifest(&d.media_type) || media::is_index(&d.media_type) {
                let bytes = staging.read(&d, "manifest")?;
                match oci::parse_document(&bytes, &d.media_type, d.digest.as_str())? {
                    Document::Index(i) => todo.extend(i.manifests.into_iter().filter(|m| dir.join("blobs").join(m.digest.algorithm().name()).join(m.digest.hex()).exists())),
                    Document::Manifest(m) => {
                        todo.push(m.config);
                        todo.extend(m.layers);
                    }
                }
            }
        }
        Ok(Scanned { index: Some(bytes), ..Default::default() })
    }

    /// Check a tagged descriptor's whole graph (for the host platform when it is an index):
    /// every blob present and verified, and every layer's diff_id as the config says.
    fn verify_graph(&self, staging: &Staging, d: &Descriptor) -> Result<()> {
        let bytes = staging.read(d, "manifest")?;
        match oci::parse_document(&bytes, &d.media_type, d.digest.as_str())? {
            Document::Index(idx) => {
                let m = select_platform(&idx, &crate::Platform::host(), d.digest.as_str())?;
                self.verify_graph(staging, &m)
            }
            Document::Manifest(m) => {
                let cfg_bytes = staging.read(&m.config, "config")?;
                let cfg = oci::parse_config(&cfg_bytes, &m.config.digest)?;
                if cfg.rootfs.diff_ids.len() != m.layers.len() {
                    return Err(Error::Invalid { what: "config", digest: m.config.digest.to_string(), reason: format!("{} diff_ids for {} layers", cfg.rootfs.diff_ids.len(), m.layers.len()) });
                }
                for (l, diff_id) in m.layers.iter().zip(&cfg.rootfs.diff_ids) {
                    let f = staging.open(&l.digest)?;
                    let got = unpack::digest_layer(f, l.digest.algorithm(), l.digest.as_str())?;
                    unpack::verify(&got, l, Some(diff_id))?;
                }
                Ok(())
            }
        }
    }

    fn docker_entry_to_oci(&self, staging: &Staging, s: &Scanned, e: &DockerEntry, path: &Path) -> Result<Descriptor> {
        let find = |p: &str| -> Result<Digest> {
            let mut p = clean(p);
            for _ in 0..8 {
                if let Some(d) = s.files.get(&p) {
                    return Ok(d.clone());
                }
                match s.links.get(&p) {
                    Some(t) => p = t.clone(),
                    None => break,
                }
            }
            Err(Error::Archive { path: path.to_path_buf(), reason: format!("manifest.json names {p:?}, which the archive does not contain") })
        };
        let cfg_digest = find(&e.config)?;
        let cfg_size = fs::metadata(staging.path_of(&cfg_digest)).ctx(staging.path_of(&cfg_digest))?.len();
        let mut layers = vec![];
        for l in &e.layers {
            let d = find(l)?;
            let p = staging.path_of(&d);
            let size = fs::metadata(&p).ctx(&p)?.len();
            let mut magic = [0u8; 4];
            let n = File::open(&p).ctx(&p)?.read(&mut magic).ctx(&p)?;
            let mt = match Compression::sniff(&magic[..n]) {
                Compression::None => media::OCI_LAYER,
                Compression::Gzip => media::OCI_LAYER_GZIP,
                Compression::Zstd => media::OCI_LAYER_ZSTD,
            };
            layers.push(Descriptor::new(mt, d, size));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(media::OCI_CONFIG, cfg_digest, cfg_size),
            layers,
            subject: None,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
        let d = staging.put_bytes(&bytes, None, "manifest")?;
        Ok(Descriptor::new(media::OCI_MANIFEST, d, bytes.len() as u64))
    }

    /// Write the images `refs` resolve to into an archive at `path` (via a temp file renamed
    /// into place).
    pub fn export(&self, refs: &[String], path: &Path, format: ArchiveFormat) -> Result<()> {
        let images = refs.iter().map(|r| self.resolve(r)).collect::<Result<Vec<_>>>()?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = dir.join(unique_name(".berth-export-"));
        let res = (|| {
            // Named after the destination: the temp file is an implementation detail.
            let f = File::create(&tmp).ctx(path)?;
            let mut w = ArchiveWriter { b: tar::Builder::new(io::BufWriter::with_capacity(1 << 20, f)), path: tmp.clone(), dirs: Default::default() };
            match format {
                ArchiveFormat::Oci => self.write_oci(&mut w, &images, refs)?,
                ArchiveFormat::Docker => self.write_docker(&mut w, &images, refs)?,
            }
            let inner = w.b.into_inner().ctx(&tmp)?;
            let f = inner.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
            f.sync_all().ctx(&tmp)?;
            fs::rename(&tmp, path).ctx(path)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    fn write_oci(&self, w: &mut ArchiveWriter, images: &[crate::Image], refs: &[String]) -> Result<()> {
        w.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let mut idx = Index::empty();
        let mut written = std::collections::HashSet::new();
        for (img, asked) in images.iter().zip(refs) {
            for d in std::iter::once(&img.descriptor).chain(std::iter::once(&img.manifest.config)).chain(img.manifest.layers.iter()) {
                if written.insert(d.digest.clone()) {
                    w.blob(&self.content.path(&d.digest), &d.digest)?;
                }
            }
            let mut d = strip_ref_annotations(&img.descriptor);
            let name = img.name.clone().unwrap_or_else(|| asked.clone());
            let a = d.annotations.get_or_insert_with(BTreeMap::new);
            a.insert(ANNOTATION_REF_NAME.into(), name.clone());
            a.insert(ANNOTATION_CONTAINERD_NAME.into(), name);
            idx.manifests.push(d);
        }
        w.bytes("index.json", &serde_json::to_vec(&idx).expect("index serialises"))
    }

    fn write_docker(&self, w: &mut ArchiveWriter, images: &[crate::Image], refs: &[String]) -> Result<()> {
        let mut entries = vec![];
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut written = std::collections::HashSet::new();
        for (img, asked) in images.iter().zip(refs) {
            let cfg_name = format!("{}.json", img.id().hex());
            if written.insert(cfg_name.clone()) {
                w.bytes(&cfg_name, &img.config_bytes)?;
            }
            let mut layer_paths = vec![];
            for (l, diff_id) in img.manifest.layers.iter().zip(img.diff_ids()) {
                let lp = format!("{}/layer.tar", diff_id.hex());
                if written.insert(lp.clone()) {
                    self.write_uncompressed_layer(w, l, diff_id, &lp)?;
                    w.bytes(&format!("{}/VERSION", diff_id.hex()), b"1.0")?;
                }
                layer_paths.push(lp);
            }
            let name = img.name.clone().unwrap_or_else(|| asked.clone());
            let tags = match Reference::parse(&name) {
                Ok(r) if r.tag.is_some() => {
                    let short = format!("{}:{}", r.familiar_name(), r.tag.as_deref().unwrap());
                    let top = img.chain_ids().last().map(|c| c.hex().to_owned()).unwrap_or_default();
                    repositories.entry(r.familiar_name()).or_default().insert(r.tag.clone().unwrap(), top);
                    Some(vec![short])
                }
                _ => None,
            };
            entries.push(DockerEntry { config: cfg_name, repo_tags: tags, layers: layer_paths });
        }
        w.bytes("manifest.json", &serde_json::to_vec(&entries).expect("serialises"))?;
        w.bytes("repositories", &serde_json::to_vec(&repositories).expect("serialises"))
    }

    /// docker-save layers are uncompressed tars; decompress (verifying) to a temp file first,
    /// since a tar header needs the size up front.
    fn write_uncompressed_layer(&self, w: &mut ArchiveWriter, l: &Descriptor, diff_id: &Digest, name: &str) -> Result<()> {
        let staging = self.content.staging()?;
        let tmp = staging.temp_path("layer-");
        let mut out = io::BufWriter::with_capacity(1 << 20, File::create(&tmp).ctx(&tmp)?);
        let blob = self.content.open(&l.digest)?;
        let (d, ()) = unpack::stream_layer(blob, l.digest.algorithm(), l.digest.as_str(), |plain| {
            io::copy(plain, &mut out).map(|_| ()).map_err(|e| Error::io(&tmp, e))
        })?;
        unpack::verify(&d, l, Some(diff_id))?;
        out.flush().ctx(&tmp)?;
        drop(out);
        w.file(&tmp, name)
    }
}

struct ArchiveWriter {
    b: tar::Builder<io::BufWriter<File>>,
    path: PathBuf,
    dirs: std::collections::HashSet<String>,
}

impl ArchiveWriter {
    fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(mode);
        h.set_entry_type(kind);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn ensure_dirs(&mut self, name: &str) -> Result<()> {
        let mut acc = String::new();
        let parts: Vec<&str> = name.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            acc.push_str(p);
            acc.push('/');
            if self.dirs.insert(acc.clone()) {
                let mut h = Self::header(0, 0o755, tar::EntryType::Directory);
                self.b.append_data(&mut h, &acc, io::empty()).ctx(&self.path)?;
            }
        }
        Ok(())
    }

    fn bytes(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.ensure_dirs(name)?;
        let mut h = Self::header(data.len() as u64, 0o644, tar::EntryType::Regular);
        self.b.append_data(&mut h, name, data).ctx(&self.path)
    }

    fn file(&mut self, src: &Path, name: &str) -> Result<()> {
        self.ensure_dirs(name)?;
        let f = File::open(src).ctx(src)?;
        let size = f.metadata().ctx(src)?.len();
        let mut h = Self::header(size, 0o644, tar::EntryType::Regular);
        self.b.append_data(&mut h, name, BufReader::with_capacity(1 << 20, f)).ctx(&self.path)
    }

    fn blob(&mut self, src: &Path, d: &Digest) -> Result<()> {
        self.file(src, &format!("blobs/{}/{}", d.algorithm().name(), d.hex()))
    }
}

fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = vec![];
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn default_repo(path: &Path) -> String {
    let stem = path.file_name().and_then(|s| s.to_str()).unwrap_or("image");
    let stem = stem.split('.').next().unwrap_or("image");
    let mut s: String = stem.chars().map(|c| c.to_ascii_lowercase()).map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    s = s.trim_matches('-').to_owned();
    if s.is_empty() {
        s = "image".into();
    }
    format!("localhost/{s}")
}

/// The store tag for an archive's name annotation: a full reference as is, a bare tag under
/// `repo`.
fn tag_name(n: &str, repo: &str) -> Result<String> {
    if n.contains('/') || n.contains(':') || n.contains('@') {
        return Ok(Reference::parse(n)?.to_string());
    }
    Ok(Reference::parse(&format!("{repo}:{n}"))?.to_string())
}

/// Stream an archive file once: blobs go to staging (their names verified), the small
/// metadata files into memory.
fn scan_archive(path: &Path, staging: &Staging) -> Result<Scanned> {
    let aerr = |reason: String| Error::Archive { path: path.to_path_buf(), reason };
    let f = File::open(path).ctx(path)?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let gz = Compression::sniff(r.fill_buf().ctx(path)?);
    let inner: Box<dyn Read> = match gz {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r).ctx(path)?),
        Compression::None => Box::new(r),
    };
    let mut t = TarReader::new(inner);
    let mut s = Scanned::default();
    while let Some(e) = t.next_entry().map_err(|e| aerr(e.to_string()))? {
        let name = clean(&String::from_utf8_lossy(&e.path));
        match e.kind {
            Kind::Symlink | Kind::Hardlink => {
                let target = String::from_utf8_lossy(&e.link).into_owned();
                let resolved = if e.kind == Kind::Symlink {
                    let base = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    clean(&format!("{base}/{target}"))
                } else {
                    clean(&target)
                };
                s.links.insert(name, resolved);
                continue;
            }
            Kind::File => {}
            _ => continue,
        }
        match name.as_str() {
            "index.json" | "manifest.json" | "oci-layout" | "repositories" => {
                let mut buf = vec![];
                read_entry(&mut t, &mut buf, oci::MAX_DOCUMENT).map_err(|r| aerr(format!("{name}: {r}")))?;
                match name.as_str() {
                    "index.json" => s.index = Some(buf),
                    "manifest.json" => s.docker_manifest = Some(buf),
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        let blob_digest = name.strip_prefix("blobs/").and_then(|b| b.split_once('/')).and_then(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}")).ok());
        let mut w = staging.writer()?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = t.read_data(&mut buf).map_err(|x| aerr(format!("{name}: {x}")))?;
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).ctx(w.path().to_path_buf())?;
        }
        match blob_digest {
            Some(d) => {
                let desc = Descriptor::new("", d.clone(), e.size);
                let (got, _) = w.finish(Some(&desc), "blob")?;
                s.files.insert(name, got);
            }
            None => {
                let (got, _) = w.finish(None, "file")?;
                if got.algorithm() == Algorithm::Sha256 {
                    s.files.insert(name, got);
                }
            }
        }
    }
    Ok(s)
}

fn read_entry<R: Read>(t: &mut TarReader<R>, out: &mut Vec<u8>, max: u64) -> std::result::Result<(), String> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = t.read_data(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        if out.len() as u64 + n as u64 > max {
            return Err(format!("larger than {max} bytes"));
        }
        out.extend_from_slice(&buf[..n]);
    }
}
