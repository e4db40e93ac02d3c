//! Loading a bundle: `config.json` parsed with oci-spec, the version and the root checked.
//! Everything here only reads; the semantic checks live in [`crate::plan`].

pub mod default;

use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// The runtime-spec version berth implements (and writes in `spec` and `state`).
pub const OCI_VERSION: &str = "1.2.0";

/// A loaded bundle: its absolute path, the parsed spec, the raw config bytes (kept for
/// `exec`, which needs the container's process defaults after the bundle may have changed),
/// and the absolute rootfs path.
#[derive(Debug)]
pub struct Bundle {
    pub path: PathBuf,
    pub spec: Spec,
    pub raw: Vec<u8>,
    pub rootfs: PathBuf,
}

pub fn load_bundle(bundle: &Path) -> Result<Bundle> {
    let path = std::fs::canonicalize(bundle).map_err(|e| Error::Bundle { path: bundle.to_owned(), reason: e.to_string().to_lowercase() })?;
    let cfg = path.join("config.json");
    let raw = std::fs::read(&cfg).map_err(|e| Error::Bundle { path: path.clone(), reason: format!("config.json: {}", lc(&e.to_string())) })?;
    let spec = parse(&raw)?;
    let root = spec.root().as_ref().ok_or_else(|| Error::Spec("root: missing".into()))?;
    let rootfs = if root.path().is_absolute() { root.path().clone() } else { path.join(root.path()) };
    // `root.path` "." (runtime-tools' bundles) or "./rootfs": the state shows the clean path,
    // as runc's. Only `.` components go; `..` is left for the kernel to resolve.
    let rootfs: PathBuf = rootfs.components().collect();
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Error::Bundle { path, reason: format!("root.path {}: not a directory", rootfs.display()) }),
        Err(e) => return Err(Error::Bundle { path, reason: format!("root.path {}: {}", rootfs.display(), lc(&e.to_string())) }),
    }
    Ok(Bundle { path, spec, raw, rootfs })
}

/// Parse and version-check a config.json.
pub fn parse(raw: &[u8]) -> Result<Spec> {
    let spec: Spec = serde_json::from_slice(raw).map_err(|e| Error::Spec(format!("invalid: {e}")))?;
    check_version(spec.version())?;
    Ok(spec)
}

pub fn check_version(v: &str) -> Result<()> {
    let mut it = v.split('.');
    let major = it.next().unwrap_or("");
    if major != "1" || it.next().and_then(|m| m.parse::<u32>().ok()).is_none() {
        return Err(Error::Spec(format!("unsupported ociVersion {v:?} (berth implements runtime-spec 1.x)")));
    }
    Ok(())
}

fn lc(s: &str) -> String {
    let mut s = s.to_owned();
    if let Some(i) = s.find(" (os error") {
        s.truncate(i);
    }
    s.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version("1.0.2-dev").is_ok());
        assert!(check_version("1.2.0").is_ok());
        assert!(check_version("2.0.0").is_err());
        assert!(check_version("").is_err());
        assert!(check_version("0.9").is_err());
    }

    #[test]
    fn default_spec_parses() {
        for rootless in [false, true] {
            let v = default::default_spec(rootless);
            let spec = parse(&serde_json::to_vec(&v).unwrap()).unwrap();
            assert!(spec.process().is_some());
        }
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(parse(b"{").is_err());
        assert!(parse(br#"{"ociVersion": 5}"#).is_err());
    }
}
