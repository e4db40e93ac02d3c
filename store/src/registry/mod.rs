//! OCI distribution: [`client`] speaks HTTP to one registry, [`auth`] finds credentials and
//! answers challenges; `pull` and `push` are `Store` methods built on them.

pub mod auth;
pub mod client;
mod pull;
mod push;

use std::path::PathBuf;

pub use pull::PullOptions;
pub use push::PushOptions;

#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Plain HTTP allowed and TLS certificates not verified.
    pub insecure: bool,
    /// Extra PEM roots.
    pub ca_file: Option<PathBuf>,
    /// Use only this credentials file.
    pub authfile: Option<PathBuf>,
    /// Blobs transferred at once.
    pub jobs: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions { insecure: false, ca_file: None, authfile: None, jobs: 4 }
    }
}
