//! Test images made byte by byte: a raw tar writer (it writes any name, `../` included, and
//! can leave out the end-of-archive blocks) and an OCI image-layout writer whose descriptors
//! can be tampered with, for the store's hostile-input tests.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

pub fn sha256(data: &[u8]) -> String {
    let h = Sha256::digest(data);
    format!("sha256:{}", h.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A ustar archive built entry by entry, names taken verbatim.
#[derive(Default, Clone)]
pub struct TarBuilder {
    buf: Vec<u8>,
}

impl TarBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    #[allow(clippy::too_many_arguments)]
    pub fn entry(mut self, name: &str, typeflag: u8, data: &[u8], link: &str, mode: u32, uid: u32, gid: u32, dev: (u32, u32)) -> Self {
        let mut h = [0u8; 512];
        assert!(name.len() <= 100 && link.len() <= 100, "fixture names must fit ustar fields");
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(format!("{mode:07o}\0").as_bytes());
        h[108..116].copy_from_slice(format!("{uid:07o}\0").as_bytes());
        h[116..124].copy_from_slice(format!("{gid:07o}\0").as_bytes());
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(format!("{:011o}\0", 1_700_000_000u64).as_bytes());
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[329..337].copy_from_slice(format!("{:07o}\0", dev.0).as_bytes());
        h[337..345].copy_from_slice(format!("{:07o}\0", dev.1).as_bytes());
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.resize(self.buf.len() + pad, 0);
        self
    }

    pub fn file(self, name: &str, data: &[u8], mode: u32) -> Self {
        self.entry(name, b'0', data, "", mode, 0, 0, (0, 0))
    }
    pub fn file_owned(self, name: &str, data: &[u8], mode: u32, uid: u32, gid: u32) -> Self {
        self.entry(name, b'0', data, "", mode, uid, gid, (0, 0))
    }
    pub fn dir(self, name: &str, mode: u32) -> Self {
        self.entry(name, b'5', b"", "", mode, 0, 0, (0, 0))
    }
    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name, b'2', b"", target, 0o777, 0, 0, (0, 0))
    }
    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(name, b'1', b"", target, 0o644, 0, 0, (0, 0))
    }
    pub fn fifo(self, name: &str) -> Self {
        self.entry(name, b'6', b"", "", 0o600, 0, 0, (0, 0))
    }
    pub fn chardev(self, name: &str, major: u32, minor: u32) -> Self {
        self.entry(name, b'3', b"", "", 0o666, 0, 0, (major, minor))
    }
    /// The archive with its two zero blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&[0u8; 1024]);
        self.buf
    }
    /// The archive without end-of-archive blocks (as umoci 0.4 writes them).
    pub fn finish_without_end(self) -> Vec<u8> {
        self.buf
    }
}

/// How a fixture image lies about itself.
#[derive(Default, Clone)]
pub struct Tamper {
    /// Layer whose config diff_id is wrong.
    pub wrong_diff_id: Option<usize>,
    /// Layer whose descriptor size is one too large.
    pub wrong_size: Option<usize>,
    /// Layer whose blob bytes differ from the digest its descriptor names (stored under the
    /// descriptor's digest anyway).
    pub wrong_content: Option<usize>,
    /// Layer whose gzip stream is cut short (descriptor matches the cut blob).
    pub truncate_gzip: Option<usize>,
    /// Not a lie: layers stored uncompressed (`tar`) instead of gzip.
    pub uncompressed: Vec<usize>,
    /// Not a lie: layers stored zstd-compressed instead of gzip.
    pub zstd: Vec<usize>,
}

pub struct FixtureImage {
    pub manifest_digest: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    pub config: Vec<u8>,
    /// (digest, blob bytes) of each layer as stored.
    pub layers: Vec<(String, Vec<u8>)>,
    pub diff_ids: Vec<String>,
}

/// Write an OCI image layout at `dir` holding one image tagged `tag`, its layers the given
/// uncompressed tars (gzip-compressed here), with `config` fields merged into the config.
pub fn write_layout(dir: &Path, tag: &str, layers: &[Vec<u8>], config: serde_json::Value, tamper: &Tamper) -> FixtureImage {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |data: &[u8], digest: &str| {
        std::fs::write(dir.join("blobs/sha256").join(&digest[7..]), data).unwrap();
    };
    let mut descs = vec![];
    let mut diff_ids = vec![];
    let mut stored = vec![];
    for (i, tar) in layers.iter().enumerate() {
        let mut diff_id = sha256(tar);
        let (mut blob, media_type) = if tamper.uncompressed.contains(&i) {
            (tar.clone(), "application/vnd.oci.image.layer.v1.tar")
        } else if tamper.zstd.contains(&i) {
            (zstd::encode_all(&tar[..], 3).unwrap(), "application/vnd.oci.image.layer.v1.tar+zstd")
        } else {
            (gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip")
        };
        if tamper.truncate_gzip == Some(i) {
            blob.truncate(blob.len() * 2 / 3);
        }
        let mut digest = sha256(&blob);
        let mut size = blob.len();
        if tamper.wrong_size == Some(i) {
            size += 1;
        }
        if tamper.wrong_content == Some(i) {
            // The descriptor names another blob's digest; the bytes stay ours.
            digest = sha256(b"something else entirely");
        }
        if tamper.wrong_diff_id == Some(i) {
            diff_id = sha256(b"not this layer");
        }
        put(&blob, &digest);
        descs.push(serde_json::json!({"mediaType": media_type, "digest": digest, "size": size}));
        diff_ids.push(diff_id);
        stored.push((digest, blob));
    }
    let mut cfg = serde_json::json!({
        "created": "2026-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| serde_json::json!({"created": "2026-01-01T00:00:00Z", "created_by": "fixture"})).collect::<Vec<_>>(),
    });
    if let serde_json::Value::Object(extra) = config {
        for (k, v) in extra {
            cfg[k] = v;
        }
    }
    let config_bytes = serde_json::to_vec(&cfg).unwrap();
    let config_digest = sha256(&config_bytes);
    put(&config_bytes, &config_digest);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_bytes.len()},
        "layers": descs,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = sha256(&manifest_bytes);
    put(&manifest_bytes, &manifest_digest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_bytes.len(),
                        "annotations": {"org.opencontainers.image.ref.name": tag}}],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    FixtureImage { manifest_digest, manifest: manifest_bytes, config_digest, config: config_bytes, layers: stored, diff_ids }
}

/// A tar of the layout directory `dir` (an OCI archive), made with GNU tar.
pub fn archive_layout(dir: &Path, out: &Path) -> PathBuf {
    let st = std::process::Command::new("tar").arg("-cf").arg(out).arg("-C").arg(dir).arg(".").status().unwrap();
    assert!(st.success());
    out.to_path_buf()
}
