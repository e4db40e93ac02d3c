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
    /// Registry → helper name (`docker-credential-<name>`), consulted before everything else.
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    /// The default helper for registries without a `credHelpers` entry.
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
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
/// As docker does, a file's `credHelpers` entry for the registry wins, then its `credsStore`,
/// then its `auths` entry (also used when the helper has nothing for the registry).
pub fn lookup(registry: &str, explicit: Option<&Path>) -> Result<Option<Credentials>> {
    lookup_with(registry, explicit, &|name| PathBuf::from(format!("docker-credential-{name}")))
}

/// `lookup` with the helper program for a helper name chosen by `helper` (tests use scripts).
fn lookup_with(registry: &str, explicit: Option<&Path>, helper: &dyn Fn(&str) -> PathBuf) -> Result<Option<Credentials>> {
    for f in auth_files(explicit) {
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => continue,
            Err(e) => return Err(Error::io(f, e)),
        };
        let parsed: AuthFile = serde_json::from_slice(&bytes).map_err(|e| Error::other(f.display().to_string(), format!("invalid auth file: {e}")))?;
        let named = parsed.cred_helpers.iter().find(|(k, _)| normalise_key(k) == registry).map(|(_, v)| v.clone());
        if let Some(name) = named.or(parsed.creds_store.clone()).filter(|n| !n.is_empty()) {
            if let Some(c) = run_helper(&f, &name, &helper(&name), registry)? {
                return Ok(Some(c));
            }
        }
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
            let token = entry.identitytoken.filter(|t| !t.is_empty());
            // With a credential store docker leaves `auths` entries empty (`{}`): not credentials.
            if user.is_empty() && pass.is_empty() && token.is_none() {
                continue;
            }
            return Ok(Some(Credentials { username: user, password: pass, identity_token: token }));
        }
    }
    Ok(None)
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Run `program get` with the server URL on stdin, as docker does, and read its JSON answer.
/// "credentials not found" (the helpers' standard message) is no credentials, not an error.
fn run_helper(file: &Path, name: &str, program: &Path, registry: &str) -> Result<Option<Credentials>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let what = format!("credential helper docker-credential-{name} for {registry} ({})", file.display());
    if name.contains('/') {
        return Err(Error::other(what, "helper name must not contain '/'"));
    }
    // Docker keys Docker Hub by its v1 index URL; every other registry by its host[:port].
    let server = if registry == crate::reference::DOCKER_HUB { "https://index.docker.io/v1/" } else { registry };
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::other(what.clone(), format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its stdin is judged by its exit status, not EPIPE.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| Error::other(what.clone(), e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let msg = format!("{} {}", stdout.trim(), String::from_utf8_lossy(&out.stderr).trim());
        if msg.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
        return Err(Error::other(what, format!("{}: {msg}", out.status)));
    }
    let a: HelperAnswer = serde_json::from_slice(&out.stdout).map_err(|e| Error::other(what.clone(), format!("invalid answer: {e}")))?;
    if a.username.is_empty() && a.secret.is_empty() {
        return Ok(None);
    }
    // Docker's convention: the user `<token>` means the secret is an identity (refresh) token.
    if a.username == "<token>" {
        return Ok(Some(Credentials { username: String::new(), password: String::new(), identity_token: Some(a.secret) }));
    }
    Ok(Some(Credentials { username: a.username, password: a.secret, identity_token: None }))
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

    #[test]
    fn credential_helpers() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("berth-credhelper-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        // A fake helper: answers for the server URL it reads on stdin, logs it, or says not found.
        let script = d.join("docker-credential-fake");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r url\necho \"$url\" >> {log}\ncase \"$url\" in\n  reg.example:5000) echo '{{\"ServerURL\":\"reg.example:5000\",\"Username\":\"hu\",\"Secret\":\"hs\"}}' ;;\n  https://index.docker.io/v1/) echo '{{\"Username\":\"<token>\",\"Secret\":\"rt\"}}' ;;\n  broken.example) echo boom >&2; exit 1 ;;\n  *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
                log = d.join("log").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let helper = |name: &str| d.join(format!("docker-credential-{name}"));
        let f = d.join("config.json");
        std::fs::write(
            &f,
            r#"{"auths":{"fallback.example":{"auth":"dTpw"},"store.example":{}},"credHelpers":{"reg.example:5000":"fake","https://index.docker.io/v1/":"fake","broken.example":"fake","missing.example":"absent"},"credsStore":"fake"}"#,
        )
        .unwrap();
        let c = lookup_with("reg.example:5000", Some(&f), &helper).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str(), c.identity_token), ("hu", "hs", None));
        let c = lookup_with("docker.io", Some(&f), &helper).unwrap().unwrap();
        assert_eq!(c.identity_token.as_deref(), Some("rt"));
        // credsStore answers "not found": the auths entry is used; an empty `{}` entry is nothing.
        let c = lookup_with("fallback.example", Some(&f), &helper).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(lookup_with("store.example", Some(&f), &helper).unwrap().is_none());
        let e = lookup_with("broken.example", Some(&f), &helper).unwrap_err().to_string();
        assert!(e.contains("docker-credential-fake") && e.contains("broken.example") && e.contains("boom") && !e.contains('\n'), "{e}");
        let e = lookup_with("missing.example", Some(&f), &helper).unwrap_err().to_string();
        assert!(e.contains("docker-credential-absent") && e.contains("cannot run"), "{e}");
        let log = std::fs::read_to_string(d.join("log")).unwrap();
        assert_eq!(log.lines().collect::<Vec<_>>(), ["reg.example:5000", "https://index.docker.io/v1/", "fallback.example", "store.example", "broken.example"]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
