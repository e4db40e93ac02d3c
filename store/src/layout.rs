//! The store root as an OCI image layout: `oci-layout`, `index.json`, `blobs/`.
//!
//! `index.json` holds one descriptor per tag, named by the `org.opencontainers.image.ref.name`
//! annotation (the full reference, e.g. `docker.io/library/busybox:latest`), so skopeo
//! (`oci:ROOT:REF`) and umoci (`--image ROOT:REF`) read the store directly. Writers serialise
//! on an flock of `.berth.lock`; the index is replaced by rename, so readers never see a
//! half-written one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::content::unique_name;
use crate::error::{Error, IoContext, Result};
use crate::oci::{Descriptor, Index, ANNOTATION_REF_NAME};

pub const LAYOUT_FILE: &str = "oci-layout";
pub const INDEX_FILE: &str = "index.json";
const LOCK_FILE: &str = ".berth.lock";

#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

/// Held while modifying the index or deleting blobs; released on drop.
pub struct LayoutLock {
    _file: File,
}

impl Layout {
    /// Open the layout at `root`, creating an empty one when the directory has none.
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root.join("blobs/sha256")).ctx(root)?;
        let l = Layout { root: root.to_path_buf() };
        let layout = root.join(LAYOUT_FILE);
        if !layout.exists() {
            atomic_write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !root.join(INDEX_FILE).exists() {
            let lock = l.lock()?;
            if !root.join(INDEX_FILE).exists() {
                l.write_index(&lock, &Index::empty())?;
            }
        }
        Ok(l)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn lock(&self) -> Result<LayoutLock> {
        let p = self.root.join(LOCK_FILE);
        let f = OpenOptions::new().create(true).truncate(false).write(true).open(&p).ctx(&p)?;
        loop {
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(LayoutLock { _file: f });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Error::io(p, e));
            }
        }
    }

    pub fn read_index(&self) -> Result<Index> {
        let p = self.root.join(INDEX_FILE);
        let bytes = fs::read(&p).ctx(&p)?;
        let idx: Index = serde_json::from_slice(&bytes).map_err(|e| Error::other(p.display().to_string(), format!("invalid index: {e}")))?;
        Ok(idx)
    }

    pub fn write_index(&self, _lock: &LayoutLock, idx: &Index) -> Result<()> {
        let bytes = serde_json::to_vec(idx).expect("index serialises");
        atomic_write(&self.root.join(INDEX_FILE), &bytes)
    }

    /// Every tagged descriptor as (ref name, descriptor).
    pub fn refs(&self) -> Result<Vec<(String, Descriptor)>> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| d.annotation(ANNOTATION_REF_NAME).map(str::to_owned).map(|n| (n, d)))
            .collect())
    }

    /// Point `name` at `desc` (replacing what it pointed at).
    pub fn set_ref(&self, lock: &LayoutLock, name: &str, desc: &Descriptor) -> Result<()> {
        let mut idx = self.read_index()?;
        idx.manifests.retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(name));
        let mut d = desc.clone();
        d.annotations.get_or_insert_with(Default::default).insert(ANNOTATION_REF_NAME.into(), name.into());
        idx.manifests.push(d);
        self.write_index(lock, &idx)
    }

    /// Remove the tag `name`; returns the descriptor it pointed at.
    pub fn remove_ref(&self, lock: &LayoutLock, name: &str) -> Result<Option<Descriptor>> {
        let mut idx = self.read_index()?;
        let found = idx.manifests.iter().find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(name)).cloned();
        if found.is_some() {
            idx.manifests.retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(name));
            self.write_index(lock, &idx)?;
        }
        Ok(found)
    }
}

/// Write `data` to `path` through a temp file in the same directory, fsync, rename.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(unique_name(".tmp-"));
    let res = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.ctx(path)
}
