//! `Store::push`: blobs the registry lacks (checked with HEAD) are mounted from another
//! repository when the store knows where they came from, else uploaded, several at once;
//! then the manifest, byte for byte as stored, so its digest is unchanged.

use std::sync::Mutex;

use super::client::Client;
use super::RegistryOptions;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::Descriptor;
use crate::reference::Reference;
use crate::store::Store;
use crate::Progress;

#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    pub registry: RegistryOptions,
}

impl Store {
    /// Push the image `src` resolves to as `dst` (default: its own name). Returns the
    /// manifest digest.
    pub fn push(&self, src: &str, dst: Option<&str>, opts: &PushOptions, progress: &dyn Progress) -> Result<Digest> {
        let img = self.resolve(src)?;
        let target = match dst {
            Some(d) => Reference::parse(d)?,
            None => Reference::parse(img.name.as_deref().unwrap_or(src))?,
        };
        let client = Client::connect(&target, &opts.registry, "pull,push")?;
        let mut blobs: Vec<Descriptor> = img.manifest.layers.clone();
        blobs.push(img.manifest.config.clone());
        let queue = Mutex::new(blobs);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let workers = opts.registry.jobs.max(1).min(queue.lock().unwrap().len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    if first_error.lock().unwrap().is_some() {
                        return;
                    }
                    let Some(b) = queue.lock().unwrap().pop() else { return };
                    if let Err(e) = self.push_blob(&client, &target, &b, progress) {
                        first_error.lock().unwrap().get_or_insert(e);
                        return;
                    }
                });
            }
        });
        if let Some(e) = first_error.into_inner().unwrap() {
            return Err(e);
        }
        let bytes = self.content.read(&img.descriptor, "manifest")?;
        let reference = match (&target.tag, &target.digest) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => d.to_string(),
            (None, None) => "latest".into(),
        };
        client.put_manifest(&target.repository, &reference, &bytes, &img.descriptor.media_type)?;
        self.record_source(&img.descriptor.digest, &target);
        for l in img.manifest.layers.iter().chain(std::iter::once(&img.manifest.config)) {
            self.record_source(&l.digest, &target);
        }
        Ok(img.descriptor.digest.clone())
    }

    fn push_blob(&self, client: &Client, target: &Reference, b: &Descriptor, progress: &dyn Progress) -> Result<()> {
        progress.start(&b.digest, b.size, "checking");
        if client.has_blob(&target.repository, &b.digest)? {
            progress.finish(&b.digest, "exists");
            // Logged (info) so scripts and tests can see which blobs moved and how.
            log::info!("push {target}: blob {}: exists", b.digest);
            return Ok(());
        }
        if let Some(src) = self.source_of(&b.digest) {
            if let Ok(sr) = Reference::parse(&src) {
                if sr.registry == target.registry && sr.repository != target.repository && client.mount_blob(&target.repository, &b.digest, &sr.repository)? {
                    progress.finish(&b.digest, "mounted");
                    log::info!("push {target}: blob {}: mounted from {}", b.digest, sr.repository);
                    return Ok(());
                }
            }
        }
        progress.start(&b.digest, b.size, "pushing");
        let f = self.content.open(&b.digest)?;
        client.upload_blob(&target.repository, &b.digest, &f)?;
        progress.advance(&b.digest, b.size);
        progress.finish(&b.digest, "pushed");
        log::info!("push {target}: blob {}: pushed", b.digest);
        Ok(())
    }
}
