//! What the builder writes: [`Store::commit_layer`] turns an uncompressed layer tar stream
//! into a compressed blob, its diff_id and its snapshot in one pass; [`Store::put_image`]
//! writes a config and manifest for a list of layers and tags it.

use std::fs;
use std::io::{self, Read, Write};

use berth_runtime::inroot::InRoot;

use crate::digest::{chain_ids, Algorithm, Digest, HashingReader, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::oci::{media, Descriptor, ImageConfig, Manifest};
use crate::reference::Reference;
use crate::store::{Image, Store};
use crate::unpack::{apply::Applier, tar::TarReader, Mode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone, Debug)]
pub struct CommittedLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// Chain id of this layer on top of the parents given.
    pub chain_id: Digest,
}

impl Store {
    /// Store a layer given as an uncompressed tar stream, on top of the layers whose diff_ids
    /// are `parents` (bottom first; their snapshots must exist or be buildable). The tar is
    /// read once: compressed and hashed into the blob, hashed for the diff_id, and unpacked
    /// into the new layer's snapshot. The blob is reachable once `put_image` tags an image
    /// that uses it; run them without a `gc` in between.
    pub fn commit_layer(&self, tar: impl Read, compression: LayerCompression, parents: &[Digest]) -> Result<CommittedLayer> {
        let staging = self.content.staging()?;
        let blob_path = staging.temp_path("commit-");
        let file = fs::OpenOptions::new().write(true).create_new(true).open(&blob_path).ctx(&blob_path)?;
        let hashed_out = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file), Algorithm::Sha256);
        let mut enc: Encoder<_> = match compression {
            LayerCompression::None => Encoder::None(hashed_out),
            LayerCompression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(hashed_out, flate2::Compression::new(3))),
            LayerCompression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(hashed_out, 3).ctx(&blob_path)?),
        };
        let snap_tmp = staging.temp_path("snap-");
        let fsdir = snap_tmp.join("fs");
        fs::create_dir_all(&fsdir).ctx(&fsdir)?;
        let root = InRoot::open(&fsdir).ctx(&fsdir)?;
        let parent_chains = chain_ids(parents);
        let lowers: Vec<InRoot> = parent_chains.iter().rev().filter(|c| self.snapshots.exists(c)).map(|c| InRoot::open(&self.snapshots.fs_path(c)).ctx(self.snapshots.fs_path(c))).collect::<Result<_>>()?;
        {
            let tee = TeeWriter { inner: HashingReader::new(tar, Algorithm::Sha256), out: &mut enc };
            let mut t = TarReader::new(io::BufReader::with_capacity(1 << 20, tee));
            let mut a = Applier::new(&root, Mode::Snapshot, "new layer", &lowers);
            a.apply_all(&mut t)?;
            let mut rest = t.into_inner();
            io::copy(&mut rest, &mut io::sink()).ctx(&blob_path)?;
            let tee = rest.into_inner();
            let (diff_id, _, _) = tee.inner.finish();
            let hashed = enc.finish().ctx(&blob_path)?;
            let (digest, size, buf) = hashed.finish();
            let f = buf.into_inner().map_err(|e| Error::io(&blob_path, e.into_error()))?;
            f.sync_data().ctx(&blob_path)?;
            let mt = match compression {
                LayerCompression::None => media::OCI_LAYER,
                LayerCompression::Gzip => media::OCI_LAYER_GZIP,
                LayerCompression::Zstd => media::OCI_LAYER_ZSTD,
            };
            let mut all = parents.to_vec();
            all.push(diff_id.clone());
            let chain_id = chain_ids(&all).pop().unwrap();
            staging.adopt(digest.clone(), blob_path.clone());
            fs::write(snap_tmp.join("diff_id"), diff_id.as_str()).ctx(&snap_tmp)?;
            let lock = self.layout.lock()?;
            staging.commit()?;
            let dest = self.snapshots.dir().join(chain_id.hex());
            if !dest.exists() {
                fs::rename(&snap_tmp, &dest).ctx(&dest)?;
            }
            drop(lock);
            Ok(CommittedLayer { descriptor: Descriptor::new(mt, digest, size), diff_id, chain_id })
        }
    }

    /// Write `config` (its `rootfs.diff_ids` must match `layers`) and a manifest over
    /// `layers` (already in the store), and tag it `tag` when given.
    pub fn put_image(&self, config: &ImageConfig, layers: &[Descriptor], tag: Option<&str>) -> Result<Image> {
        if config.rootfs.diff_ids.len() != layers.len() {
            return Err(Error::other("image config", format!("{} diff_ids for {} layers", config.rootfs.diff_ids.len(), layers.len())));
        }
        for l in layers {
            if !self.content.exists(&l.digest) {
                return Err(Error::BlobNotFound(l.digest.clone()));
            }
        }
        let name = tag.map(|t| Reference::parse(t).map(|r| Reference { digest: None, ..r }.to_string())).transpose()?;
        let staging = self.content.staging()?;
        let config_bytes = serde_json::to_vec(config).expect("config serialises");
        let cd = staging.put_bytes(&config_bytes, None, "config")?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(media::OCI_CONFIG, cd, config_bytes.len() as u64),
            layers: layers.to_vec(),
            subject: None,
            annotations: None,
        };
        let mbytes = serde_json::to_vec(&manifest).expect("manifest serialises");
        let md = staging.put_bytes(&mbytes, None, "manifest")?;
        let desc = Descriptor::new(media::OCI_MANIFEST, md, mbytes.len() as u64);
        let lock = self.layout.lock()?;
        staging.commit()?;
        if let Some(n) = &name {
            self.layout.set_ref(&lock, n, &desc)?;
        }
        Ok(Image { name, descriptor: desc, manifest, config: config.clone(), config_bytes })
    }
}

enum Encoder<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(b),
            Encoder::Gzip(e) => e.write(b),
            Encoder::Zstd(e) => e.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// Everything read through it is also written to `out` (the compressor).
struct TeeWriter<'a, R, W> {
    inner: R,
    out: &'a mut W,
}

impl<R: Read, W: Write> Read for TeeWriter<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}
