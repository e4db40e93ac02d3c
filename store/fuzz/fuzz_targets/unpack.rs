//! Whole-layer application (snapshot and flat modes) of arbitrary bytes into a fresh
//! directory: never panic, and never create anything outside it (checked with a sentinel
//! sibling directory that must stay empty).
#![no_main]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_runtime::inroot::InRoot;
use berth_store::digest::Algorithm;
use berth_store::unpack::{apply_layer, Mode};
use libfuzzer_sys::fuzz_target;

static N: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("berth-fuzz-unpack-{}", std::process::id()));
    let n = N.fetch_add(1, Ordering::Relaxed);
    let top: PathBuf = base.join(n.to_string());
    let root = top.join("root");
    let sentinel = top.join("sentinel");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&sentinel).unwrap();
    let r = InRoot::open(&root).unwrap();
    let mode = if data.first().is_some_and(|b| b & 1 == 1) { Mode::Snapshot } else { Mode::Flat };
    let _ = apply_layer(data, Algorithm::Sha256, &r, mode, &[], "fuzz");
    assert_eq!(std::fs::read_dir(&sentinel).unwrap().count(), 0, "wrote outside the root");
    let top_entries: Vec<_> = std::fs::read_dir(&top).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(top_entries.len(), 2, "created {top_entries:?} next to the root");
    let _ = std::fs::remove_dir_all(&top);
});
