//! Garbage collection and consistency checks.
//!
//! `gc` holds the layout lock (the same lock pulls, imports and commits take to move staged
//! blobs into place and tag them), so it never sees a blob that is about to become
//! reachable; it removes blobs and snapshots no tag reaches (snapshots leased by bundles are
//! kept) and staging dirs whose owner died.

use std::collections::HashSet;
use std::fs;

use serde::Serialize;

use crate::digest::{chain_ids, Digest};
use crate::error::{IoContext, Result};
use crate::oci::{self, media, Descriptor, Document};
use crate::store::Store;

#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    pub blobs_removed: Vec<Digest>,
    pub bytes_freed: u64,
    pub snapshots_removed: Vec<Digest>,
    pub stale_ingests_removed: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct FsckReport {
    pub blobs_checked: usize,
    pub corrupt: Vec<String>,
    pub missing: Vec<String>,
}

impl FsckReport {
    pub fn ok(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty()
    }
}

impl Store {
    /// Blobs reachable from the index, and the chain ids of every reachable image.
    fn reachable(&self, missing: &mut Vec<String>) -> Result<(HashSet<Digest>, HashSet<Digest>)> {
        let mut blobs = HashSet::new();
        let mut chains = HashSet::new();
        let mut todo: Vec<Descriptor> = self.layout.read_index()?.manifests;
        while let Some(d) = todo.pop() {
            if !blobs.insert(d.digest.clone()) {
                continue;
            }
            if !media::is_manifest(&d.media_type) && !media::is_index(&d.media_type) {
                continue;
            }
            let bytes = match self.content.read(&d, "manifest") {
                Ok(b) => b,
                Err(e) => {
                    missing.push(format!("{}: {e}", d.digest));
                    continue;
                }
            };
            match oci::parse_document(&bytes, &d.media_type, d.digest.as_str()) {
                Ok(Document::Index(i)) => todo.extend(i.manifests),
                Ok(Document::Manifest(m)) => {
                    blobs.insert(m.config.digest.clone());
                    blobs.extend(m.layers.iter().map(|l| l.digest.clone()));
                    match self.content.read(&m.config, "config").and_then(|b| oci::parse_config(&b, &m.config.digest)) {
                        Ok(c) => chains.extend(chain_ids(&c.rootfs.diff_ids)),
                        Err(e) => missing.push(format!("{}: {e}", m.config.digest)),
                    }
                    for l in &m.layers {
                        if !self.content.exists(&l.digest) {
                            missing.push(format!("layer {} of {}: missing", l.digest, d.digest));
                        }
                    }
                }
                Err(e) => missing.push(format!("{}: {e}", d.digest)),
            }
        }
        Ok((blobs, chains))
    }

    pub fn gc(&self) -> Result<GcReport> {
        let _lock = self.layout.lock()?;
        let mut report = GcReport::default();
        let mut missing = vec![];
        let (blobs, mut chains) = self.reachable(&mut missing)?;
        chains.extend(self.leased_chain_ids()?);
        for d in self.content.list()? {
            if blobs.contains(&d) {
                continue;
            }
            let p = self.content.path(&d);
            let size = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&p).ctx(&p)?;
            let _ = fs::remove_file(self.root().join("sources").join(d.hex()));
            report.bytes_freed += size;
            report.blobs_removed.push(d);
        }
        for c in self.snapshots.list()? {
            if !chains.contains(&c) {
                self.snapshots.remove(&c)?;
                report.snapshots_removed.push(c);
            }
        }
        // Leftovers of snapshot removals interrupted half-way.
        if let Ok(rd) = fs::read_dir(self.snapshots.dir()) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(".rm-") {
                    let _ = crate::fsutil::remove_tree(&e.path());
                }
            }
        }
        // Staging dirs of dead processes: their flock is free.
        report.stale_ingests_removed = self.content.sweep_stale();
        Ok(report)
    }

    /// Re-hash every blob and check every tagged image's graph is complete.
    pub fn fsck(&self) -> Result<FsckReport> {
        let mut r = FsckReport::default();
        for d in self.content.list()? {
            r.blobs_checked += 1;
            let p = self.content.path(&d);
            let f = fs::File::open(&p).ctx(&p)?;
            let (got, _, _) = crate::digest::HashingReader::new(std::io::BufReader::with_capacity(1 << 20, f), d.algorithm()).drain().ctx(&p)?;
            if got != d {
                r.corrupt.push(format!("blob {d}: content hashes to {got}"));
            }
        }
        let mut missing = vec![];
        self.reachable(&mut missing)?;
        r.missing = missing;
        Ok(r)
    }
}
