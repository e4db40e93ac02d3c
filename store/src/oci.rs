//! The OCI image-spec and Docker schema 2 documents the store reads and writes: descriptors,
//! manifests, indexes and image configs. Parsing is lenient about unknown fields (they are
//! kept in the raw bytes, which are what gets stored and hashed) and strict about what the
//! store relies on: schema version, digests, sizes, media types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_FOREIGN_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// The Accept header for manifest GETs: every manifest and index type the store reads.
    pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

    pub fn is_layer(m: &str) -> bool {
        m.starts_with("application/vnd.oci.image.layer.")
            || m.starts_with("application/vnd.docker.image.rootfs.")
    }
    pub fn is_config(m: &str) -> bool {
        m == OCI_CONFIG || m == DOCKER_CONFIG
    }
    pub fn is_index(m: &str) -> bool {
        m == OCI_INDEX || m == DOCKER_LIST
    }
    pub fn is_manifest(m: &str) -> bool {
        m == OCI_MANIFEST || m == DOCKER_MANIFEST
    }
}

/// Largest manifest, index or config the store reads into memory (distribution's own limit
/// for manifests is 4 MiB).
pub const MAX_DOCUMENT: u64 = 8 << 20;

pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor { media_type: media_type.into(), digest, size, urls: None, annotations: None, platform: None, artifact_type: None }
    }
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Option::is_none")]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`, e.g. `linux/arm64/v8`.
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::other(format!("platform {s:?}"), "expected os/arch[/variant]"));
        }
        Ok(Platform {
            os: parts[0].into(),
            architecture: normalise_arch(parts[1]).into(),
            variant: parts.get(2).map(|v| v.to_string()),
            ..Default::default()
        })
    }

    /// The platform this binary runs on.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform { os: "linux".into(), architecture: arch.into(), variant: if arch == "arm64" { Some("v8".into()) } else { None }, ..Default::default() }
    }

    /// Whether an index entry's platform satisfies this wanted one (variant compared only
    /// when both name one; arm64's `v8` is the default).
    pub fn matches(&self, have: &Platform) -> bool {
        if self.os != have.os || normalise_arch(&self.architecture) != normalise_arch(&have.architecture) {
            return false;
        }
        match (self.variant.as_deref(), have.variant.as_deref()) {
            (Some(a), Some(b)) => a == b,
            (Some("v8"), None) | (None, _) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalise_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Index {
    pub fn empty() -> Self {
        Index { schema_version: 2, media_type: Some(media::OCI_INDEX.into()), manifests: vec![], annotations: None }
    }
}

/// A parsed manifest-endpoint document.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Document {
    Manifest(Manifest),
    Index(Index),
}

/// Parse a manifest or index, given the media type the registry or a descriptor announced
/// (may be empty). Rejects schema 1, unknown top-level types, and layers that are not layers.
pub fn parse_document(bytes: &[u8], announced: &str, what: &str) -> Result<Document> {
    let bad = |reason: String| Error::Invalid { what: "manifest", digest: what.into(), reason };
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(bad(format!("larger than {MAX_DOCUMENT} bytes")));
    }
    let announced = announced.split(';').next().unwrap_or("").trim();
    if announced == media::DOCKER_SCHEMA1 || announced == media::DOCKER_SCHEMA1_SIGNED {
        return Err(bad("docker schema 1 manifests are not supported".into()));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<serde_json::Value>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    match probe.schema_version.as_ref().and_then(|v| v.as_u64()) {
        Some(2) => {}
        Some(1) => return Err(bad("docker schema 1 manifests are not supported".into())),
        _ => return Err(bad("schemaVersion must be 2".into())),
    }
    let inner = probe.media_type.as_deref().unwrap_or("");
    if !inner.is_empty() && !announced.is_empty() && inner != announced && announced != "application/json" && announced != "application/octet-stream" {
        return Err(bad(format!("mediaType {inner:?} does not match the announced {announced:?}")));
    }
    let kind = if !inner.is_empty() { inner } else { announced };
    let is_index = if media::is_index(kind) {
        true
    } else if media::is_manifest(kind) {
        false
    } else if kind.is_empty() || kind == "application/json" || kind == "application/octet-stream" {
        match (probe.manifests.is_some(), probe.config.is_some()) {
            (true, false) => true,
            (false, true) => false,
            _ => return Err(bad("neither a manifest nor an index".into())),
        }
    } else {
        return Err(bad(format!("unsupported media type {kind:?}")));
    };
    if is_index {
        let idx: Index = serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid index: {e}")))?;
        for m in &idx.manifests {
            if !media::is_manifest(&m.media_type) && !media::is_index(&m.media_type) {
                // Artifacts (attestations, signatures) may be listed; they are skipped later.
                log::debug!("index {what}: entry {} has media type {}", m.digest, m.media_type);
            }
        }
        Ok(Document::Index(idx))
    } else {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid manifest: {e}")))?;
        if !media::is_config(&m.config.media_type) {
            return Err(bad(format!("config media type {:?} is not an image config", m.config.media_type)));
        }
        if m.config.size > MAX_DOCUMENT {
            return Err(bad(format!("config {} is {} bytes, more than {MAX_DOCUMENT}", m.config.digest, m.config.size)));
        }
        for l in &m.layers {
            if !media::is_layer(&l.media_type) {
                return Err(bad(format!("layer {} has media type {:?}, not a layer", l.digest, l.media_type)));
            }
        }
        Ok(Document::Manifest(m))
    }
}

/// The image configuration (image-spec config.md; Docker's is the same document).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields this struct does not name, kept when the store writes a config it built.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(rename = "ExposedPorts", default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Entrypoint", default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Volumes", default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "WorkingDir", default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(rename = "Labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "StopSignal", default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

pub fn parse_config(bytes: &[u8], digest: &Digest) -> Result<ImageConfig> {
    let c: ImageConfig = serde_json::from_slice(bytes).map_err(|e| Error::Invalid { what: "config", digest: digest.to_string(), reason: e.to_string() })?;
    if c.rootfs.kind != "layers" {
        return Err(Error::Invalid { what: "config", digest: digest.to_string(), reason: format!("rootfs.type is {:?}, not \"layers\"", c.rootfs.kind) });
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn parses_oci_manifest_and_docker_list() {
        let m = format!(r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[{{"mediaType":"{}","digest":"{}","size":3}}]}}"#, media::OCI_MANIFEST, media::OCI_CONFIG, d('a'), media::OCI_LAYER_GZIP, d('b'));
        match parse_document(m.as_bytes(), "", "x").unwrap() {
            Document::Manifest(m) => assert_eq!(m.layers.len(), 1),
            _ => panic!(),
        }
        let l = format!(r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{}","size":2,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#, media::DOCKER_LIST, media::DOCKER_MANIFEST, d('c'));
        assert!(matches!(parse_document(l.as_bytes(), media::DOCKER_LIST, "x").unwrap(), Document::Index(_)));
    }

    #[test]
    fn rejects_schema1_and_garbage() {
        assert!(parse_document(br#"{"schemaVersion":1}"#, "", "x").is_err());
        assert!(parse_document(b"not json", "", "x").is_err());
        assert!(parse_document(br#"{"schemaVersion":2}"#, "", "x").is_err());
        let bad_digest = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:../../etc","size":1}}"#;
        assert!(parse_document(bad_digest.as_bytes(), "", "x").is_err());
    }

    #[test]
    fn platform_matching() {
        let want = Platform::parse("linux/arm64").unwrap();
        assert!(want.matches(&Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()), ..Default::default() }));
        assert!(!want.matches(&Platform { os: "linux".into(), architecture: "amd64".into(), ..Default::default() }));
    }
}
