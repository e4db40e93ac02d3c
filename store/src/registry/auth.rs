//! Registry credentials and challenges: `auths` entries from the files docker and skopeo
//! read, `WWW-Authenticate` parsing, and bearer-token requests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// A refresh token (docker's `identitytoken`), exchanged through OAuth2 for access tokens.
    pub identity_token: Option<String>,
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Files searched for credentials, in the order skopeo/podman then docker use them.
pub fn auth_files(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut v = vec![];
    if let Some(p) = env("REGISTRY_AUTH_FILE") {
        v.push(p);
    }
    if let Some(d) = env("XDG_RUNTIME_DIR") {
        v.push(d.join("containers/auth.json"));
    }
    let home = env("HOME");
    if let Some(h) = &home {
        v.push(h.join(".config/containers/auth.json"));
    }
    if let Some(d) = env("DOCKER_CONFIG") {
        v.push(d.join("config.json"));
    }
    if let Some(h) = &home {
        v.push(h.join(".docker/config.json"));
    }
    v
}

/// `https://index.docker.io/v1/` → `docker.io`, `http://host:5000/v2/` → `host:5000`.
fn normalise_key(k: &str) -> String {
    let k = k.strip_prefix("https://").or_else(|| k.strip_prefix("http://")).unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => crate::reference::DOCKER_HUB.into(),
        h => h.to_owned(),
    }
}

/// Credentials for `registry` (as a reference spells it), from the first file that has any.
pub fn lookup(registry: &str, explicit: Option<&Path>) -> Result<Option<Credentials>> {
    for f in auth_files(explicit) {
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => continue,
            Err(e) => return Err(Error::io(f, e)),
        };
        let parsed: AuthFile = serde_json::from_slice(&bytes).map_err(|e| Error::other(f.display().to_string(), format!("invalid auth file: {e}")))?;
        for (key, entry) in parsed.auths {
            if normalise_key(&key) != registry {
                continue;
            }
            let (mut user, mut pass) = (entry.username.unwrap_or_default(), entry.password.unwrap_or_default());
            if let Some(a) = entry.auth.filter(|a| !a.is_empty()) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .map_err(|e| Error::other(f.display().to_string(), format!("auths.{key}.auth: {e}")))?;
                let s = String::from_utf8_lossy(&raw).into_owned();
                let (u, p) = s.split_once(':').ok_or_else(|| Error::other(f.display().to_string(), format!("auths.{key}.auth is not user:password")))?;
                user = u.to_owned();
                pass = p.to_owned();
            }
            return Ok(Some(Credentials { username: user, password: pass, identity_token: entry.identitytoken.filter(|t| !t.is_empty()) }));
        }
    }
    Ok(None)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

/// Parse a `WWW-Authenticate` header value.
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer { realm: params.get("realm")?.clone(), service: params.get("service").cloned() }),
        _ => None,
    }
}

fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = s[ks..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                v.push(b[i] as char);
                i += 1;
            }
            i += 1;
            v
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            s[vs..i].trim().to_owned()
        };
        out.insert(key, value);
    }
    out
}

/// Percent-encode a query value.
pub fn urlencode(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#).unwrap();
        assert_eq!(c, Challenge::Bearer { realm: "https://auth.example/token".into(), service: Some("registry.example".into()) });
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
    }

    #[test]
    fn reads_docker_config() {
        let d = std::env::temp_dir().join(format!("berth-auth-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("config.json");
        std::fs::write(&f, r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"127.0.0.1:5000":{"username":"a","password":"b"}}}"#).unwrap();
        let c = lookup("docker.io", Some(&f)).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("user", "pass"));
        let c = lookup("127.0.0.1:5000", Some(&f)).unwrap().unwrap();
        assert_eq!(c.username, "a");
        assert!(lookup("other", Some(&f)).unwrap().is_none());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
