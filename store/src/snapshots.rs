//! Unpacked layers for overlayfs: one read-only directory per layer, keyed by chain id
//! (`snapshots/<chain-id hex>/fs`), so every image sharing a layer stack shares its snapshots.
//!
//! A snapshot is built in a private staging directory (whiteouts as 0/0 character devices,
//! opaque directories marked with `trusted.overlay.opaque=y`), checked against the layer's
//! digest, size and diff_id, and only then renamed to its final name: a snapshot that exists
//! is complete. Two processes building the same one both succeed; the second rename loses
//! and its copy is discarded.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use berth_runtime::inroot::InRoot;

use crate::content::{Content, Staging};
use crate::digest::{chain_ids, Digest};
use crate::error::{Error, IoContext, Result};
use crate::oci::{Descriptor, ImageConfig};
use crate::unpack::{self, Mode};

#[derive(Clone, Debug)]
pub struct Snapshots {
    dir: PathBuf,
}

impl Snapshots {
    pub fn new(root: &Path) -> Self {
        Snapshots { dir: root.join("snapshots") }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory holding a snapshot's files.
    pub fn fs_path(&self, chain: &Digest) -> PathBuf {
        self.dir.join(chain.hex()).join("fs")
    }

    pub fn exists(&self, chain: &Digest) -> bool {
        self.fs_path(chain).is_dir()
    }

    /// Chain ids of every complete snapshot.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        let mut out = vec![];
        for e in rd {
            let e = e.ctx(&self.dir)?;
            if let Some(n) = e.file_name().to_str() {
                if let Ok(d) = Digest::parse(&format!("sha256:{n}")) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    pub fn remove(&self, chain: &Digest) -> Result<()> {
        let p = self.dir.join(chain.hex());
        // Rename first so a half-deleted snapshot is never seen under its name.
        let doomed = self.dir.join(crate::content::unique_name(".rm-"));
        match fs::rename(&p, &doomed) {
            Ok(()) => crate::fsutil::remove_tree(&doomed).ctx(&doomed),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    /// Make sure every layer of the image has its snapshot; returns their `fs` dirs,
    /// bottom layer first.
    pub fn ensure(&self, content: &Content, layers: &[Descriptor], config: &ImageConfig, progress: &dyn crate::Progress) -> Result<Vec<PathBuf>> {
        let staging = content.staging()?;
        let prepared = self.prepare(&staging, layers, config, progress)?;
        let lock = crate::layout::Layout::open(self.dir.parent().expect("snapshots live in the store root"))?;
        let _l = lock.lock()?;
        self.commit(&prepared)
    }

    /// Build the missing snapshots of an image inside `staging` (blobs are read through it,
    /// so staged blobs of a pull in progress work too), verifying each layer's digest, size
    /// and diff_id. Nothing is visible until [`Snapshots::commit`].
    pub fn prepare(&self, staging: &Staging, layers: &[Descriptor], config: &ImageConfig, progress: &dyn crate::Progress) -> Result<Vec<Prepared>> {
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != layers.len() {
            return Err(Error::other("image config", format!("{} diff_ids for {} layers", diff_ids.len(), layers.len())));
        }
        fs::create_dir_all(&self.dir).ctx(&self.dir)?;
        let chains = chain_ids(diff_ids);
        let mut out: Vec<Prepared> = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            let chain = &chains[i];
            let built = if self.exists(chain) { None } else { Some(self.build(staging, layer, &diff_ids[i], &out, progress)?) };
            out.push(Prepared { chain: chain.clone(), built });
        }
        Ok(out)
    }

    /// Rename prepared snapshots into place (the caller holds the layout lock); returns every
    /// layer's `fs` dir, bottom first. A snapshot someone else finished first is kept.
    pub fn commit(&self, prepared: &[Prepared]) -> Result<Vec<PathBuf>> {
        for p in prepared {
            if let Some(tmp) = &p.built {
                let dest = self.dir.join(p.chain.hex());
                match fs::rename(tmp, &dest) {
                    Ok(()) => {}
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {}
                    Err(e) => return Err(Error::io(dest, e)),
                }
            }
        }
        Ok(prepared.iter().map(|p| self.fs_path(&p.chain)).collect())
    }

    fn build(&self, staging: &Staging, layer: &Descriptor, diff_id: &Digest, below: &[Prepared], progress: &dyn crate::Progress) -> Result<PathBuf> {
        let tmp = staging.temp_path("snap-");
        let fsdir = tmp.join("fs");
        fs::create_dir_all(&fsdir).ctx(&fsdir)?;
        let root = InRoot::open(&fsdir).ctx(&fsdir)?;
        let lowers: Vec<InRoot> = below
            .iter()
            .rev()
            .map(|p| {
                let d = p.built.as_ref().map(|t| t.join("fs")).unwrap_or_else(|| self.fs_path(&p.chain));
                InRoot::open(&d).ctx(&d)
            })
            .collect::<Result<_>>()?;
        let blob = staging.open(&layer.digest)?;
        progress.start(&layer.digest, layer.size, "unpacking");
        let reader = crate::ProgressReader::new(blob, progress, &layer.digest);
        let d = unpack::apply_layer(reader, layer.digest.algorithm(), &root, Mode::Snapshot, &lowers, layer.digest.as_str())?;
        unpack::verify(&d, layer, Some(diff_id))?;
        fs::write(tmp.join("diff_id"), diff_id.as_str()).ctx(&tmp)?;
        progress.finish(&layer.digest, "unpacked");
        Ok(tmp)
    }
}

/// A layer's snapshot: already present (`built` is None) or built in staging.
pub struct Prepared {
    pub chain: Digest,
    pub built: Option<PathBuf>,
}
