//! [`Store`]: the store root and the image-level operations on it (resolve, list, tag,
//! untag, flat unpack). Pull/push, import/export, bundles, commits and gc live in their own
//! modules as further `impl Store` blocks.

use std::fs;
use std::path::{Path, PathBuf};

use berth_runtime::inroot::InRoot;
use serde::Serialize;

use crate::content::Content;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layout::Layout;
use crate::oci::{self, media, Descriptor, Document, ImageConfig, Manifest, Platform};
use crate::reference::Reference;
use crate::snapshots::Snapshots;
use crate::unpack::{self, Mode};
use crate::Progress;

pub const DEFAULT_ROOT: &str = "/var/lib/berth/store";

pub struct Store {
    root: PathBuf,
    pub content: Content,
    pub layout: Layout,
    pub snapshots: Snapshots,
}

/// An image resolved from the store: its manifest and config, verified against their digests.
#[derive(Clone, Debug)]
pub struct Image {
    /// The tag it was found under (the full reference), if any.
    pub name: Option<String>,
    /// Descriptor of the image manifest.
    pub descriptor: Descriptor,
    pub manifest: Manifest,
    pub config: ImageConfig,
    pub config_bytes: Vec<u8>,
}

impl Image {
    /// The image id docker shows: the config digest.
    pub fn id(&self) -> &Digest {
        &self.manifest.config.digest
    }
    /// How errors name the image: its tag when it has one (what the user typed), else its id.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.id().to_string())
    }
    pub fn diff_ids(&self) -> &[Digest] {
        &self.config.rootfs.diff_ids
    }
    pub fn chain_ids(&self) -> Vec<Digest> {
        crate::digest::chain_ids(self.diff_ids())
    }
    /// Total bytes of config and layers as stored.
    pub fn size(&self) -> u64 {
        self.manifest.config.size + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// One row of `images`.
#[derive(Clone, Debug, Serialize)]
pub struct ImageSummary {
    pub name: String,
    pub repository: String,
    pub tag: String,
    pub digest: Digest,
    pub id: Digest,
    pub size: u64,
    pub created: Option<String>,
}

impl Store {
    /// Open (creating if needed) the store at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        let root = root.as_ref();
        fs::create_dir_all(root).ctx(root)?;
        let root = fs::canonicalize(root).ctx(root)?;
        let layout = Layout::open(&root)?;
        let s = Store { content: Content::new(&root), snapshots: Snapshots::new(&root), layout, root };
        fs::create_dir_all(s.snapshots.dir()).ctx(s.snapshots.dir())?;
        // What an interrupted operation (killed pull, import, unpack) left behind.
        s.content.sweep_stale();
        Ok(s)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Find an image by reference (`busybox`, `reg:5000/a/b:tag`, `name@sha256:…`), by the
    /// exact name it is tagged with, or by (a unique prefix of) its manifest or config digest.
    pub fn resolve(&self, what: &str) -> Result<Image> {
        let (name, desc) = self.find(what)?;
        self.load(name, &desc)
    }

    /// The index entry a reference names.
    pub fn find(&self, what: &str) -> Result<(Option<String>, Descriptor)> {
        let refs = self.layout.refs()?;
        if let Some((n, d)) = refs.iter().find(|(n, _)| n == what) {
            return Ok((Some(n.clone()), d.clone()));
        }
        if let Ok(r) = Reference::parse(what) {
            let full = r.to_string();
            if let Some((n, d)) = refs.iter().find(|(n, _)| *n == full) {
                return Ok((Some(n.clone()), d.clone()));
            }
            if let Some(dg) = &r.digest {
                if let Some((n, d)) = refs.iter().find(|(n, d)| &d.digest == dg && Reference::parse(n).is_ok_and(|x| x.name() == r.name())) {
                    return Ok((Some(n.clone()), d.clone()));
                }
                if let Some((_, d)) = refs.iter().find(|(_, d)| &d.digest == dg) {
                    return Ok((None, d.clone()));
                }
            }
        }
        // By id: manifest digest or config digest, full or a prefix of at least 4 hex chars.
        let hex = what.strip_prefix("sha256:").unwrap_or(what);
        if hex.len() >= 4 && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut hits: Vec<(Option<String>, Descriptor)> = vec![];
            for (n, d) in &refs {
                let by_manifest = d.digest.hex().starts_with(hex);
                let by_config = !by_manifest && self.config_digest(d).is_some_and(|c| c.hex().starts_with(hex));
                if (by_manifest || by_config) && !hits.iter().any(|(_, h)| h.digest == d.digest) {
                    hits.push((Some(n.clone()), d.clone()));
                }
            }
            match hits.len() {
                1 => return Ok(hits.pop().unwrap()),
                0 => {}
                _ => return Err(Error::other(format!("image id {what}"), "ambiguous: matches several images")),
            }
        }
        Err(Error::ImageNotFound { reference: what.to_owned() })
    }

    fn config_digest(&self, d: &Descriptor) -> Option<Digest> {
        if !media::is_manifest(&d.media_type) {
            return None;
        }
        let bytes = self.content.read(d, "manifest").ok()?;
        match oci::parse_document(&bytes, &d.media_type, d.digest.as_str()).ok()? {
            Document::Manifest(m) => Some(m.config.digest),
            _ => None,
        }
    }

    /// Read and verify the manifest (choosing the host platform from an index) and config.
    pub fn load(&self, name: Option<String>, desc: &Descriptor) -> Result<Image> {
        self.load_platform(name, desc, &Platform::host())
    }

    pub fn load_platform(&self, name: Option<String>, desc: &Descriptor, platform: &Platform) -> Result<Image> {
        let mut desc = desc.clone();
        for _ in 0..4 {
            let bytes = self.content.read(&desc, "manifest")?;
            match oci::parse_document(&bytes, &desc.media_type, desc.digest.as_str())? {
                Document::Index(idx) => {
                    desc = select_platform(&idx, platform, desc.digest.as_str())?;
                }
                Document::Manifest(manifest) => {
                    let config_bytes = self.content.read(&manifest.config, "config")?;
                    let config = oci::parse_config(&config_bytes, &manifest.config.digest)?;
                    return Ok(Image { name, descriptor: desc, manifest, config, config_bytes });
                }
            }
        }
        Err(Error::Invalid { what: "index", digest: desc.digest.to_string(), reason: "indexes nested too deeply".into() })
    }

    /// Every tagged image.
    pub fn images(&self) -> Result<Vec<ImageSummary>> {
        let mut out = vec![];
        for (name, desc) in self.layout.refs()? {
            let img = match self.load(Some(name.clone()), &desc) {
                Ok(i) => i,
                Err(e) => {
                    log::warn!("image {name}: {e}");
                    continue;
                }
            };
            let (repository, tag) = match Reference::parse(&name) {
                Ok(r) => (r.familiar_name(), r.tag.clone().unwrap_or_else(|| "<none>".into())),
                Err(_) => (name.clone(), "<none>".into()),
            };
            out.push(ImageSummary { repository, tag, digest: desc.digest.clone(), id: img.id().clone(), size: img.size(), created: img.config.created.clone(), name });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Tag `dst` (a reference) to point at the image `src` resolves to.
    pub fn tag(&self, src: &str, dst: &str) -> Result<()> {
        let (_, desc) = self.find(src)?;
        let r = Reference::parse(dst)?;
        if r.tag.is_none() {
            return Err(Error::InvalidReference { reference: dst.into(), reason: "a tag needs a name with a tag, not only a digest".into() });
        }
        let name = Reference { digest: None, ..r }.to_string();
        let lock = self.layout.lock()?;
        self.layout.set_ref(&lock, &name, &strip_ref_annotations(&desc))
    }

    /// Remove a tag; given an image id, remove every tag of that image. Blobs stay until `gc`.
    pub fn untag(&self, what: &str) -> Result<Vec<String>> {
        let (name, desc) = self.find(what)?;
        let lock = self.layout.lock()?;
        let mut removed = vec![];
        let by_name = name.as_deref() == Some(what) || Reference::parse(what).is_ok_and(|r| Some(r.to_string()) == name);
        if by_name {
            let n = name.unwrap();
            self.layout.remove_ref(&lock, &n)?;
            removed.push(n);
        } else {
            for (n, d) in self.layout.refs()? {
                if d.digest == desc.digest {
                    self.layout.remove_ref(&lock, &n)?;
                    removed.push(n);
                }
            }
        }
        Ok(removed)
    }

    /// `untag` for several references, all or nothing: every one must name an image before
    /// any tag is removed, so `rmi good typo` changes nothing. One that an earlier one already
    /// removed (`rmi NAME ID`) is not an error.
    pub fn untag_all(&self, whats: &[String]) -> Result<Vec<String>> {
        for w in whats {
            self.find(w)?;
        }
        let mut removed = vec![];
        for w in whats {
            match self.untag(w) {
                Ok(v) => removed.extend(v),
                Err(Error::ImageNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Unpack an image into `dest` as one flat directory (whiteouts applied). `dest` must not
    /// exist or be empty; the tree is built next to it and renamed into place only when every
    /// layer verified, so a failure leaves nothing behind.
    pub fn unpack(&self, what: &str, dest: &Path, progress: &dyn Progress) -> Result<Image> {
        let img = self.resolve(what)?;
        unpack_flat(&self.content, &img, dest, progress)?;
        Ok(img)
    }
}

/// Build the flat rootfs of `img` at `dest` (see [`Store::unpack`]).
pub(crate) fn unpack_flat(content: &Content, img: &Image, dest: &Path, progress: &dyn Progress) -> Result<()> {
    if img.diff_ids().len() != img.manifest.layers.len() {
        return Err(Error::Invalid { what: "config", digest: img.id().to_string(), reason: format!("{} diff_ids for {} layers", img.diff_ids().len(), img.manifest.layers.len()) });
    }
    if let Ok(mut rd) = fs::read_dir(dest) {
        if rd.next().is_some() {
            return Err(Error::other(dest.display().to_string(), "destination exists and is not empty"));
        }
    } else if dest.exists() {
        return Err(Error::other(dest.display().to_string(), "destination exists and is not a directory"));
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).ctx(&parent)?;
    let tmp = parent.join(crate::content::unique_name(".berth-unpack-"));
    fs::create_dir(&tmp).ctx(&tmp)?;
    let res = (|| {
        let root = InRoot::open(&tmp).ctx(&tmp)?;
        for (layer, diff_id) in img.manifest.layers.iter().zip(img.diff_ids()) {
            let blob = content.open(&layer.digest)?;
            progress.start(&layer.digest, layer.size, "unpacking");
            let reader = crate::ProgressReader::new(blob, progress, &layer.digest);
            let d = unpack::apply_layer(reader, layer.digest.algorithm(), &root, Mode::Flat, &[], layer.digest.as_str())?;
            unpack::verify(&d, layer, Some(diff_id))?;
            progress.finish(&layer.digest, "unpacked");
        }
        if dest.exists() {
            fs::remove_dir(dest).ctx(dest)?;
        }
        fs::rename(&tmp, dest).ctx(dest)
    })();
    if res.is_err() {
        let _ = crate::fsutil::remove_tree(&tmp);
    }
    res
}

/// Pick the manifest for `want` from an index.
pub fn select_platform(idx: &oci::Index, want: &Platform, what: &str) -> Result<Descriptor> {
    let candidates: Vec<&Descriptor> = idx.manifests.iter().filter(|d| media::is_manifest(&d.media_type) || media::is_index(&d.media_type)).collect();
    if let Some(d) = candidates.iter().find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p))) {
        return Ok((*d).clone());
    }
    // An index without platform fields and a single image (as some tools write) is that image.
    if candidates.len() == 1 && candidates[0].platform.is_none() {
        return Ok(candidates[0].clone());
    }
    let have: Vec<String> = candidates.iter().filter_map(|d| d.platform.as_ref().map(|p| p.to_string())).collect();
    Err(Error::Invalid { what: "index", digest: what.into(), reason: format!("no image for platform {want} (has: {})", if have.is_empty() { "none".into() } else { have.join(", ") }) })
}

/// A descriptor without the tag annotation (before re-tagging it).
pub(crate) fn strip_ref_annotations(d: &Descriptor) -> Descriptor {
    let mut d = d.clone();
    if let Some(a) = &mut d.annotations {
        a.remove(oci::ANNOTATION_REF_NAME);
        if a.is_empty() {
            d.annotations = None;
        }
    }
    d
}
