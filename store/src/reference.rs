//! Image references as docker and containerd spell them: `[registry/]name[:tag][@digest]`,
//! normalised so `busybox` means `docker.io/library/busybox:latest`.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

pub const DOCKER_HUB: &str = "docker.io";

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// `host[:port]`, `docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path inside the registry (`library/busybox`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parse and normalise. A reference with neither tag nor digest gets the tag `latest`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidReference { reference: s.chars().take(300).collect(), reason: reason.into() };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > 512 {
            return Err(bad("too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(|_| bad("invalid digest after '@'"))?)),
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(rest[last_slash + i + 1..].to_owned())),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(bad("invalid tag (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')"));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) => {
                (first.to_owned(), path.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        if !valid_registry(&registry) {
            return Err(bad("invalid registry host"));
        }
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" { DOCKER_HUB.to_owned() } else { registry };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') { format!("library/{repository}") } else { repository };
        if repository.is_empty() || !repository.split('/').all(valid_path_component) {
            return Err(bad("invalid repository name (lower-case letters, digits and separators '.', '_', '__', '-')"));
        }
        if repository.len() + registry.len() > 255 {
            return Err(bad("name longer than 255 characters"));
        }
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_owned()) } else { tag };
        Ok(Reference { registry, repository, tag, digest })
    }

    /// `registry/repository`, fully qualified.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short name docker shows: `busybox` for `docker.io/library/busybox`.
    pub fn familiar_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            self.repository.strip_prefix("library/").unwrap_or(&self.repository).to_owned()
        } else {
            self.name()
        }
    }

    /// What to ask the registry's manifest endpoint for: the digest if there is one, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    pub fn with_digest(&self, d: Digest) -> Reference {
        Reference { digest: Some(d), ..self.clone() }
    }

    pub fn is_loopback(&self) -> bool {
        let host = host_of(&self.registry);
        host == "localhost" || host.starts_with("127.") || host == "[::1]" || host == "::1"
    }
}

/// The host part of `host[:port]` (brackets of an IPv6 literal kept).
pub fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.find(']').map_or(registry, |i| &registry[..=i]);
    }
    registry.split(':').next().unwrap_or(registry)
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty() && b.len() <= 128 && (b[0].is_ascii_alphanumeric() || b[0] == b'_') && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = if r.starts_with('[') {
        match r.find(']') {
            Some(i) => (&r[..=i], r[i + 1..].strip_prefix(':')),
            None => return false,
        }
    } else {
        match r.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (r, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.starts_with('[') {
        return host.len() > 2 && host[1..host.len() - 1].bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !l.starts_with('-') && !l.ends_with('-')
        })
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_docker_hub_names() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(Reference::parse("user/app:1.0").unwrap().to_string(), "docker.io/user/app:1.0");
        assert_eq!(Reference::parse("index.docker.io/library/x").unwrap().to_string(), "docker.io/library/x:latest");
    }

    #[test]
    fn registries_with_ports_and_digests() {
        let d = format!("sha256:{}", "0".repeat(64));
        let r = Reference::parse(&format!("127.0.0.1:5000/a/b:v1@{d}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "a/b");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.manifest_ref(), d);
        assert!(r.is_loopback());
        let r = Reference::parse("localhost/x").unwrap();
        assert_eq!(r.registry, "localhost");
        assert_eq!(Reference::parse("localhost:5000/x").unwrap().tag.as_deref(), Some("latest"));
    }

    #[test]
    fn rejects_bad_names() {
        for s in ["", "UPPER", "a//b", "a:", "a:-x", "-a", "a/../b", "a@sha256:xyz", "reg.io:port/x"] {
            assert!(Reference::parse(s).is_err(), "{s} should be rejected");
        }
    }
}
