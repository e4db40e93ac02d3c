//! A tiny in-process HTTP server that answers the distribution API from a fixed table, for
//! registries that lie (wrong manifest digests, wrong blob bytes, short blobs) — things a
//! real registry refuses to store.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct FakeRegistry {
    pub addr: String,
    stop: Arc<AtomicBool>,
}

/// path (e.g. `/v2/a/b/manifests/v1`) → (content type, body).
pub type Routes = HashMap<String, (String, Vec<u8>)>;

impl FakeRegistry {
    pub fn start(routes: Routes) -> FakeRegistry {
        Self::start_throttled(routes, None)
    }

    /// Like `start`, but bodies larger than 64 KiB trickle out: 64 KiB per `delay`.
    pub fn start_throttled(routes: Routes, delay: Option<std::time::Duration>) -> FakeRegistry {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
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
                        std::thread::spawn(move || serve(s, &routes, delay));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        FakeRegistry { addr, stop }
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(s: std::net::TcpStream, routes: &Routes, delay: Option<std::time::Duration>) {
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
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
                break;
            }
        }
        let (status, ctype, body): (&str, String, Vec<u8>) = if path == "/v2/" {
            ("200 OK", "application/json".into(), b"{}".to_vec())
        } else if let Some((t, b)) = routes.get(&path) {
            ("200 OK", t.clone(), b.clone())
        } else {
            ("404 Not Found", "application/json".into(), br#"{"errors":[{"code":"NOT_FOUND","message":"not found"}]}"#.to_vec())
        };
        let head = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n", body.len());
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
