//! The build cache on disk, inside the store root (`<store>/build-cache/`): one small JSON
//! record per step key naming the layer it produced, and one per final image naming its
//! config. Records are written to a temp file and renamed, so a crash leaves either the old
//! record or the new one; a record whose blob is gone is treated as a miss.

use crate::cache::Key;
use berth_store::{Descriptor, Digest, Store};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The compressed blob in the store.
    pub layer: Descriptor,
    pub diff_id: Digest,
    /// When the step first ran (its history entry keeps this on later hits).
    pub created: String,
    /// No layer: the step changed nothing (a WORKDIR that existed).
    #[serde(default)]
    pub empty: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config bytes of the image built last time from the same inputs.
    pub config: String,
}

pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn open(store: &Store) -> std::io::Result<Self> {
        let dir = store.root().join("build-cache");
        std::fs::create_dir_all(&dir)?;
        Ok(Records { dir })
    }

    fn path(&self, kind: &str, key: &Key) -> PathBuf {
        self.dir.join(format!("{kind}-{}.json", key.0))
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, kind: &str, key: &Key) -> Option<T> {
        let b = std::fs::read(self.path(kind, key)).ok()?;
        serde_json::from_slice(&b).ok()
    }

    fn put<T: Serialize>(&self, kind: &str, key: &Key, v: &T) -> std::io::Result<()> {
        let p = self.path(kind, key);
        let tmp = self.dir.join(format!(".tmp-{}-{}", std::process::id(), key.0));
        std::fs::write(&tmp, serde_json::to_vec(v).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, &p)
    }

    /// A layer record whose blob and snapshot are still there.
    pub fn layer(&self, store: &Store, key: &Key, parents: &[Digest]) -> Option<LayerRecord> {
        let r: LayerRecord = self.get("layer", key)?;
        if r.empty {
            return Some(r);
        }
        if !store.content.exists(&r.layer.digest) {
            return None;
        }
        let mut chain = parents.to_vec();
        chain.push(r.diff_id.clone());
        let ids = berth_store::digest::chain_ids(&chain);
        if !store.snapshots.exists(ids.last()?) {
            return None;
        }
        Some(r)
    }

    pub fn put_layer(&self, key: &Key, r: &LayerRecord) -> std::io::Result<()> {
        self.put("layer", key, r)
    }

    /// Content digests of a context's files from earlier builds (see `Context::hash_file`).
    pub fn context_hashes(&self, context: &std::path::Path) -> crate::context::HashCache {
        let Ok(b) = std::fs::read(self.hashes_path(context)) else { return Default::default() };
        let list: Vec<((u64, u64, u64, i128, i128), String)> = serde_json::from_slice(&b).unwrap_or_default();
        list.into_iter()
            .filter_map(|(k, hex)| {
                let mut d = [0u8; 32];
                for (i, c) in hex.as_bytes().chunks(2).enumerate().take(32) {
                    d[i] = u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok()?;
                }
                (hex.len() == 64).then_some((k, d))
            })
            .collect()
    }

    pub fn put_context_hashes(&self, context: &std::path::Path, h: &crate::context::HashCache) -> std::io::Result<()> {
        let list: Vec<(&(u64, u64, u64, i128, i128), String)> = h.iter().map(|(k, d)| (k, crate::cache::hex(d))).collect();
        let p = self.hashes_path(context);
        let tmp = p.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec(&list).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, p)
    }

    fn hashes_path(&self, context: &std::path::Path) -> PathBuf {
        let abs = std::fs::canonicalize(context).unwrap_or_else(|_| context.to_path_buf());
        let name = crate::cache::hex(&<sha2::Sha256 as sha2::Digest>::digest(abs.as_os_str().as_encoded_bytes()));
        self.dir.join(format!("context-{name}.json"))
    }

    pub fn image(&self, key: &Key) -> Option<ImageRecord> {
        self.get("image", key)
    }

    pub fn put_image(&self, key: &Key, r: &ImageRecord) -> std::io::Result<()> {
        self.put("image", key, r)
    }
}
