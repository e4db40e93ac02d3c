//! A tiny in-process HTTP server that answers the distribution API from a fixed table, for
//! registries that lie (wrong manifest digests, wrong blob bytes, short blobs) — things a
//! real registry refuses to store.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct FakeRegistry {
    pub addr: String,
    stop: Arc<AtomicBool>,
    /// Request targets of the token endpoint (bearer mode), in order.
    pub token_requests: Arc<Mutex<Vec<String>>>,
}

/// Bearer-token mode: `/v2/...` wants `Bearer TOKEN`, handed out by `/token` for basic
/// `user:password` (docker's token flow, with the realm on this same server).
#[derive(Clone)]
struct Bearer {
    basic: String,
    token: String,
    realm: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// path (e.g. `/v2/a/b/manifests/v1`) → (content type, body).
pub type Routes = HashMap<String, (String, Vec<u8>)>;

impl FakeRegistry {
    pub fn start(routes: Routes) -> FakeRegistry {
        Self::start_throttled(routes, None)
    }

    /// Like `start`, but bodies larger than 64 KiB trickle out: 64 KiB per `delay`.
    pub fn start_throttled(routes: Routes, delay: Option<std::time::Duration>) -> FakeRegistry {
        Self::start_inner(routes, delay, None)
    }

    /// Like `start`, but every `/v2/` request needs a bearer token that `/token` issues only
    /// to basic auth `user:password`.
    pub fn start_bearer(routes: Routes, user: &str, password: &str) -> FakeRegistry {
        Self::start_inner(routes, None, Some((user.to_owned(), password.to_owned())))
    }

    fn start_inner(routes: Routes, delay: Option<std::time::Duration>, auth: Option<(String, String)>) -> FakeRegistry {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let token_requests = Arc::new(Mutex::new(vec![]));
        let bearer = auth.map(|(u, p)| Bearer {
            basic: format!("Basic {}", crate::store::base64(format!("{u}:{p}").as_bytes())),
            token: format!("tok-{}", crate::unique_id("fake")),
            realm: format!("http://{addr}/token"),
            log: token_requests.clone(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        l.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
            while !s2.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match l.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        let routes = routes.clone();
                        let bearer = bearer.clone();
                        std::thread::spawn(move || serve(s, &routes, delay, bearer.as_ref()));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        FakeRegistry { addr, stop, token_requests }
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(s: std::net::TcpStream, routes: &Routes, delay: Option<std::time::Duration>, bearer: Option<&Bearer>) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut authorization = String::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("authorization") {
                    authorization = v.trim().to_owned();
                }
            }
        }
        let mut extra = String::new();
        let (status, ctype, body): (&str, String, Vec<u8>) = if let Some(b) = bearer.filter(|_| path.starts_with("/token")) {
            b.log.lock().unwrap().push(path.clone());
            if authorization == b.basic {
                ("200 OK", "application/json".into(), format!(r#"{{"token":"{0}","access_token":"{0}"}}"#, b.token).into_bytes())
            } else {
                ("401 Unauthorized", "application/json".into(), br#"{"details":"bad credentials"}"#.to_vec())
            }
        } else if let Some(b) = bearer.filter(|b| authorization != format!("Bearer {}", b.token)) {
            extra = format!("WWW-Authenticate: Bearer realm=\"{}\",service=\"fake-registry\"\r\n", b.realm);
            ("401 Unauthorized", "application/json".into(), br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_vec())
        } else if path == "/v2/" {
            ("200 OK", "application/json".into(), b"{}".to_vec())
        } else if let Some((t, b)) = routes.get(&path) {
            ("200 OK", t.clone(), b.clone())
        } else {
            ("404 Not Found", "application/json".into(), br#"{"errors":[{"code":"NOT_FOUND","message":"not found"}]}"#.to_vec())
        };
        let head = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\n\r\n", body.len());
        if w.write_all(head.as_bytes()).is_err() {
            return;
        }
        if method == "HEAD" {
            continue;
        }
        match delay {
            Some(d) if body.len() > 65536 => {
                for chunk in body.chunks(65536) {
                    if w.write_all(chunk).is_err() {
                        return;
                    }
                    std::thread::sleep(d);
                }
            }
            _ => {
                if w.write_all(&body).is_err() {
                    return;
                }
            }
        }
    }
}
