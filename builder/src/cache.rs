//! Step cache keys.
//!
//! A layer step's key is the sha256 of: the key of what it builds on (the base image's
//! manifest digest, or the previous layer step of the stage), the step resolved in full
//! (argv, env, user, workdir, mounts for RUN; sources, destination, ownership, mode for
//! COPY — see [`crate::dispatch::Step`]), and a digest of what it reads (context file
//! contents and the metadata that will be written, or the key of the stage it copies
//! from). Modification times of context files are not part of the key (a fresh checkout
//! reuses the cache); they are clamped when `SOURCE_DATE_EPOCH` is set.

use crate::dispatch::Step;
use sha2::{Digest, Sha256};

/// A cache key: 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Key(pub String);

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Version of the key recipe: bump to invalidate every cache entry when it changes.
const RECIPE: &str = "berth-build cache v1";

/// The key of a stage's starting point.
pub fn base_key(base: &str) -> Key {
    let mut h = Sha256::new();
    h.update(RECIPE);
    h.update(b"\0base\0");
    h.update(base.as_bytes());
    Key(hex(&h.finalize()))
}

/// The key of a step on top of `parent`, reading inputs summarised by `inputs`.
pub fn step_key(parent: &Key, step: &Step, inputs: &[u8; 32], platform: &str) -> Key {
    let mut h = Sha256::new();
    h.update(RECIPE);
    h.update(b"\0parent\0");
    h.update(parent.0.as_bytes());
    h.update(b"\0platform\0");
    h.update(platform.as_bytes());
    h.update(b"\0step\0");
    // serde_json of the step is canonical: struct fields in declaration order, no maps.
    h.update(serde_json::to_vec(step).unwrap_or_default());
    h.update(b"\0inputs\0");
    h.update(inputs);
    Key(hex(&h.finalize()))
}

/// Accumulates a digest of the entries a step reads, in the order it reads them.
#[derive(Default)]
pub struct InputHasher(Sha256);

impl InputHasher {
    pub fn new() -> Self {
        InputHasher(Sha256::new())
    }
    /// One record: fields separated so that no two different records hash alike.
    pub fn record(&mut self, fields: &[&[u8]]) {
        for f in fields {
            self.0.update((f.len() as u64).to_le_bytes());
            self.0.update(f);
        }
        self.0.update(b"\n");
    }
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

pub fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{Network, RunStep};

    fn run(argv: &[&str], env: &[&str]) -> Step {
        Step::Run(RunStep {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
            proxy_env: vec!["http_proxy=x".into()],
            user: String::new(),
            workdir: "/".into(),
            mounts: vec![],
            network: Network::Default,
            insecure: false,
            files: vec![],
        })
    }

    #[test]
    fn keys_change_with_every_input() {
        let p = base_key("sha256:abc");
        let k = step_key(&p, &run(&["sh", "-c", "make"], &["A=1"]), &[0; 32], "linux/amd64");
        assert_eq!(k, step_key(&p, &run(&["sh", "-c", "make"], &["A=1"]), &[0; 32], "linux/amd64"));
        assert_ne!(k, step_key(&base_key("sha256:abd"), &run(&["sh", "-c", "make"], &["A=1"]), &[0; 32], "linux/amd64"));
        assert_ne!(k, step_key(&p, &run(&["sh", "-c", "make all"], &["A=1"]), &[0; 32], "linux/amd64"));
        assert_ne!(k, step_key(&p, &run(&["sh", "-c", "make"], &["A=2"]), &[0; 32], "linux/amd64"));
        assert_ne!(k, step_key(&p, &run(&["sh", "-c", "make"], &["A=1"]), &[1; 32], "linux/amd64"));
        assert_ne!(k, step_key(&p, &run(&["sh", "-c", "make"], &["A=1"]), &[0; 32], "linux/arm64"));
        assert_eq!(k.0.len(), 64);
    }

    #[test]
    fn proxies_do_not_change_the_key() {
        let p = base_key("x");
        let mut a = run(&["true"], &[]);
        let b = a.clone();
        if let Step::Run(r) = &mut a {
            r.proxy_env = vec!["http_proxy=other".into()];
        }
        assert_eq!(step_key(&p, &a, &[0; 32], "p"), step_key(&p, &b, &[0; 32], "p"));
    }

    #[test]
    fn records_are_unambiguous() {
        let mut a = InputHasher::new();
        a.record(&[b"ab", b"c"]);
        let mut b = InputHasher::new();
        b.record(&[b"a", b"bc"]);
        assert_ne!(a.finish(), b.finish());
    }
}
