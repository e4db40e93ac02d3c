//! An OCI distribution client for one registry: endpoint discovery (HTTPS, or plain HTTP
//! for `--insecure` and loopback registries), authentication (anonymous, basic, bearer) and
//! the handful of endpoints pull and push need. Blocking I/O; callers run several in threads.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http::Response;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::Body;

use super::auth::{self, Challenge, Credentials};
use super::RegistryOptions;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::media;
use crate::reference::Reference;

pub struct Client {
    agent: ureq::Agent,
    /// `https://host:port` or `http://host:port`.
    base: String,
    registry: String,
    creds: Option<Credentials>,
    challenge: Mutex<Option<Challenge>>,
    token: Mutex<Option<String>>,
    scopes: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Post,
    Put,
}

enum Payload<'a> {
    None,
    Bytes(&'a [u8]),
    File(&'a File),
}

const SYSTEM_ROOTS: &[&str] = &["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

fn load_roots(ca_file: Option<&Path>) -> Result<Vec<Certificate<'static>>> {
    let mut certs = vec![];
    let mut files: Vec<std::path::PathBuf> = std::env::var_os("SSL_CERT_FILE").map(Into::into).into_iter().collect();
    files.extend(SYSTEM_ROOTS.iter().map(Into::into));
    if let Some(f) = files.iter().find(|f| f.exists()) {
        if let Ok(bytes) = std::fs::read(f) {
            certs.extend(ureq::tls::parse_pem(&bytes).filter_map(|i| match i {
                Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
                _ => None,
            }));
        }
    }
    if let Some(ca) = ca_file {
        let bytes = std::fs::read(ca).map_err(|e| Error::other(format!("CA file {}", ca.display()), e.to_string()))?;
        let before = certs.len();
        certs.extend(ureq::tls::parse_pem(&bytes).filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
            _ => None,
        }));
        if certs.len() == before {
            return Err(Error::other(ca.display().to_string(), "no PEM certificate in the CA file"));
        }
    }
    Ok(certs)
}

fn agent(opts: &RegistryOptions, verify: bool) -> Result<ureq::Agent> {
    let tls = TlsConfig::builder().root_certs(RootCerts::Specific(Arc::new(load_roots(opts.ca_file.as_deref())?))).disable_verification(!verify).build();
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .max_redirects(10)
        .max_idle_connections_per_host(16)
        .user_agent("berth-store/0.1")
        .build()
        .into())
}

impl Client {
    /// Connect to the registry of `r` and learn how it wants to be spoken to.
    pub fn connect(r: &Reference, opts: &RegistryOptions, actions: &str) -> Result<Client> {
        let host = if r.registry == crate::reference::DOCKER_HUB { "registry-1.docker.io".to_owned() } else { r.registry.clone() };
        let creds = auth::lookup(&r.registry, opts.authfile.as_deref())?;
        let scopes = vec![format!("repository:{}:{actions}", r.repository)];
        let may_http = opts.insecure || r.is_loopback();
        let verified = agent(opts, !opts.insecure)?;
        let https = format!("https://{host}/v2/");
        let http = format!("http://{host}/v2/");
        // A plain-HTTP answer counts only when it is a registry's (200 or 401): an HTTPS
        // server answers plain HTTP with 400, and then the HTTPS error is the one to report.
        let try_http = |last_err: &mut String| -> Option<Client> {
            match verified.get(&http).call() {
                Ok(resp) if matches!(resp.status().as_u16(), 200 | 401) => Some(Client::from_ping(verified.clone(), format!("http://{host}"), r, creds.clone(), scopes.clone(), &resp)),
                Ok(resp) => {
                    log::debug!("{http}: HTTP {}", resp.status());
                    None
                }
                Err(e) => {
                    *last_err = format!("{last_err}; plain HTTP: {e}");
                    None
                }
            }
        };
        let mut last_err = String::new();
        // Loopback registries without a CA file given are usually plain HTTP (docker's view
        // of localhost): ask that first and save a TLS handshake.
        let http_first = r.is_loopback() && opts.ca_file.is_none();
        if http_first {
            if let Some(c) = try_http(&mut last_err) {
                return Ok(c);
            }
        }
        match verified.get(&https).call() {
            Ok(resp) => return Ok(Client::from_ping(verified.clone(), format!("https://{host}"), r, creds.clone(), scopes.clone(), &resp)),
            Err(e) => last_err = if last_err.is_empty() { e.to_string() } else { format!("{e}{last_err}") },
        }
        if may_http && !http_first {
            if let Some(c) = try_http(&mut last_err) {
                return Ok(c);
            }
        }
        Err(Error::Registry { url: https, reason: format!("cannot connect: {last_err}{}", if may_http { "" } else { " (plain HTTP is only tried with --insecure or for loopback registries)" }) })
    }

    fn from_ping(agent: ureq::Agent, base: String, r: &Reference, creds: Option<Credentials>, scopes: Vec<String>, resp: &Response<Body>) -> Client {
        let challenge = if resp.status().as_u16() == 401 { resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).and_then(auth::parse_challenge) } else { None };
        log::debug!("registry {}: {base}, challenge {challenge:?}", r.registry);
        Client { agent, base, registry: r.registry.clone(), creds, challenge: Mutex::new(challenge), token: Mutex::new(None), scopes }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn auth_header(&self) -> Option<String> {
        if let Some(t) = self.token.lock().unwrap().as_ref() {
            return Some(format!("Bearer {t}"));
        }
        match &*self.challenge.lock().unwrap() {
            Some(Challenge::Basic) => self.creds.as_ref().map(|c| c.basic_header()),
            _ => None,
        }
    }

    /// Get a bearer token for our scopes from the challenge's realm.
    fn fetch_token(&self, ch: &Challenge) -> Result<()> {
        let Challenge::Bearer { realm, service } = ch else { return Ok(()) };
        if !(realm.starts_with("https://") || realm.starts_with("http://")) {
            return Err(Error::Auth { registry: self.registry.clone(), reason: format!("token realm {realm:?} is not an http(s) URL") });
        }
        let mut q = vec![];
        if let Some(s) = service {
            q.push(format!("service={}", auth::urlencode(s)));
        }
        for s in &self.scopes {
            q.push(format!("scope={}", auth::urlencode(s)));
        }
        let resp = if let Some(rt) = self.creds.as_ref().and_then(|c| c.identity_token.as_ref()) {
            let mut form = format!("grant_type=refresh_token&refresh_token={}&client_id=berth-store", auth::urlencode(rt));
            for p in &q {
                form.push('&');
                form.push_str(p);
            }
            self.agent.post(realm).header("Content-Type", "application/x-www-form-urlencoded").send(form.as_bytes())
        } else {
            let url = if q.is_empty() { realm.clone() } else { format!("{realm}{}{}", if realm.contains('?') { "&" } else { "?" }, q.join("&")) };
            let mut req = self.agent.get(&url);
            if let Some(c) = &self.creds {
                req = req.header("Authorization", c.basic_header());
            }
            req.call()
        };
        let mut resp = resp.map_err(|e| Error::Auth { registry: self.registry.clone(), reason: format!("token request to {realm}: {e}") })?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(Error::Auth { registry: self.registry.clone(), reason: format!("token request to {realm}: HTTP {status}{}", if self.creds.is_none() { " (no credentials configured)" } else { "" }) });
        }
        let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(|e| Error::Auth { registry: self.registry.clone(), reason: e.to_string() })?;
        #[derive(serde::Deserialize)]
        struct Tok {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Tok = serde_json::from_slice(&body).map_err(|e| Error::Auth { registry: self.registry.clone(), reason: format!("token response: {e}") })?;
        let tok = t.token.or(t.access_token).filter(|t| !t.is_empty()).ok_or_else(|| Error::Auth { registry: self.registry.clone(), reason: "token response has no token".into() })?;
        *self.token.lock().unwrap() = Some(tok);
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{path}", self.base)
        }
    }

    /// Send a request, authenticating and retrying once on 401.
    fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], payload: Payload<'_>) -> Result<Response<Body>> {
        let url = self.url(path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let auth = self.auth_header();
            let mut hs: Vec<(&str, String)> = headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
            if let Some(a) = &auth {
                hs.push(("Authorization", a.clone()));
            }
            let res = match method {
                Method::Get | Method::Head => {
                    let mut rb = if method == Method::Get { self.agent.get(&url) } else { self.agent.head(&url) };
                    for (k, v) in &hs {
                        rb = rb.header(*k, v.as_str());
                    }
                    rb.call()
                }
                Method::Post | Method::Put => {
                    let mut rb = if method == Method::Post { self.agent.post(&url) } else { self.agent.put(&url) };
                    for (k, v) in &hs {
                        rb = rb.header(*k, v.as_str());
                    }
                    match &payload {
                        Payload::None => rb.send_empty(),
                        Payload::Bytes(b) => rb.send(*b),
                        Payload::File(f) => rb.send(*f),
                    }
                }
            };
            let resp = res.map_err(|e| Error::Registry { url: url.clone(), reason: e.to_string() })?;
            if resp.status().as_u16() == 401 && attempt == 1 {
                if let Payload::File(mut f) = payload {
                    use std::io::Seek;
                    f.seek(std::io::SeekFrom::Start(0)).map_err(|e| Error::Registry { url: url.clone(), reason: e.to_string() })?;
                }
                let ch = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).and_then(auth::parse_challenge);
                match ch {
                    Some(c @ Challenge::Bearer { .. }) => {
                        self.fetch_token(&c)?;
                        *self.challenge.lock().unwrap() = Some(c);
                        continue;
                    }
                    Some(Challenge::Basic) if self.creds.is_some() => {
                        *self.challenge.lock().unwrap() = Some(Challenge::Basic);
                        continue;
                    }
                    _ => {}
                }
            }
            if resp.status().as_u16() == 401 {
                return Err(Error::Auth { registry: self.registry.clone(), reason: format!("{url}: unauthorized{}", if self.creds.is_none() { " (no credentials for this registry in the auth files)" } else { " (credentials rejected)" }) });
            }
            return Ok(resp);
        }
    }

    fn error(url: &str, mut resp: Response<Body>) -> Error {
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(64 * 1024).read_to_string().unwrap_or_default();
        let detail = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        Error::Registry { url: url.to_owned(), reason: format!("HTTP {status}{}{}", if detail.is_empty() { "" } else { ": " }, detail.trim()) }
    }

    /// GET a manifest or index: (bytes, announced media type).
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<(Vec<u8>, String)> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let mut resp = self.send(Method::Get, &path, &[("Accept", media::ACCEPT_MANIFESTS)], Payload::None)?;
        if resp.status().as_u16() != 200 {
            return Err(Client::error(&self.url(&path), resp));
        }
        let mt = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = resp
            .body_mut()
            .with_config()
            .limit(crate::oci::MAX_DOCUMENT)
            .read_to_vec()
            .map_err(|e| Error::Registry { url: self.url(&path), reason: e.to_string() })?;
        Ok((body, mt))
    }

    /// Stream a blob.
    pub fn get_blob(&self, repo: &str, d: &Digest) -> Result<impl Read + Send + 'static> {
        let path = format!("/v2/{repo}/blobs/{d}");
        let resp = self.send(Method::Get, &path, &[], Payload::None)?;
        if resp.status().as_u16() != 200 {
            return Err(Client::error(&self.url(&path), resp));
        }
        Ok(resp.into_body().into_reader())
    }

    /// Stream bytes `start..=end` of a blob; `None` when the registry ignores ranges.
    pub fn get_blob_range(&self, repo: &str, d: &Digest, start: u64, end: u64) -> Result<Option<impl Read + Send + 'static>> {
        let path = format!("/v2/{repo}/blobs/{d}");
        let range = format!("bytes={start}-{end}");
        let resp = self.send(Method::Get, &path, &[("Range", range.as_str())], Payload::None)?;
        match resp.status().as_u16() {
            206 => Ok(Some(resp.into_body().into_reader())),
            200 => Ok(None),
            _ => Err(Client::error(&self.url(&path), resp)),
        }
    }

    pub fn has_blob(&self, repo: &str, d: &Digest) -> Result<bool> {
        let path = format!("/v2/{repo}/blobs/{d}");
        let resp = self.send(Method::Head, &path, &[], Payload::None)?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(Client::error(&self.url(&path), resp)),
        }
    }

    /// Try a cross-repository mount; true when the registry linked the blob.
    pub fn mount_blob(&self, repo: &str, d: &Digest, from: &str) -> Result<bool> {
        let path = format!("/v2/{repo}/blobs/uploads/?mount={}&from={}", auth::urlencode(d.as_str()), auth::urlencode(from));
        let resp = self.send(Method::Post, &path, &[("Content-Length", "0")], Payload::None)?;
        Ok(resp.status().as_u16() == 201)
    }

    /// Monolithic upload: POST for a session, PUT the whole blob with its digest.
    pub fn upload_blob(&self, repo: &str, d: &Digest, file: &File) -> Result<()> {
        let path = format!("/v2/{repo}/blobs/uploads/");
        let resp = self.send(Method::Post, &path, &[], Payload::None)?;
        if resp.status().as_u16() != 202 {
            return Err(Client::error(&self.url(&path), resp));
        }
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Registry { url: self.url(&path), reason: "upload started without a Location".into() })?
            .to_owned();
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = format!("{loc}{sep}digest={}", auth::urlencode(d.as_str()));
        let resp = self.send(Method::Put, &put, &[("Content-Type", "application/octet-stream")], Payload::File(file))?;
        if resp.status().as_u16() != 201 {
            return Err(Client::error(&self.url(&put), resp));
        }
        Ok(())
    }

    pub fn put_manifest(&self, repo: &str, reference: &str, bytes: &[u8], media_type: &str) -> Result<Option<String>> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self.send(Method::Put, &path, &[("Content-Type", media_type)], Payload::Bytes(bytes))?;
        if resp.status().as_u16() != 201 {
            return Err(Client::error(&self.url(&path), resp));
        }
        Ok(resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_owned))
    }
}
