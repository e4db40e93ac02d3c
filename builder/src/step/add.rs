//! What ADD adds to COPY: local tar archives (plain, gzip, zstd) extracted into the
//! destination, and files fetched over HTTP(S) (optionally checked against `--checksum`).
//! Archive entries never leave the destination: names are cleaned, absolute names taken
//! relative to it, and a `..` that would climb out of it is an error naming the entry.

use crate::context::glob::clean;
use crate::layer::{clamp, Content, EntryKind, LayerEntry};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    Tar,
    Gzip,
    Zstd,
    /// Compressed in a way this build does not decompress (bzip2, xz).
    Unsupported(&'static str),
}

/// What kind of archive the first bytes of a file announce, if any.
pub fn sniff(head: &[u8]) -> Option<Archive> {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(Archive::Gzip);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some(Archive::Zstd);
    }
    if head.starts_with(b"BZh") {
        return Some(Archive::Unsupported("bzip2"));
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Some(Archive::Unsupported("xz"));
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Some(Archive::Tar);
    }
    None
}

/// Is the (decompressed) stream a tar? Checked on its first block.
fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

static SPILLS: AtomicU64 = AtomicU64::new(0);

fn spill_path(dir: &Path) -> PathBuf {
    dir.join(format!("spill-{}-{}", std::process::id(), SPILLS.fetch_add(1, Ordering::Relaxed)))
}

/// Open the decompressed stream of an archive.
fn decoder(kind: Archive, f: File) -> io::Result<Box<dyn Read>> {
    Ok(match kind {
        Archive::Tar => Box::new(io::BufReader::new(f)),
        Archive::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(f))),
        Archive::Zstd => Box::new(zstd::stream::read::Decoder::new(f)?),
        Archive::Unsupported(_) => return Err(io::Error::other("unsupported compression")),
    })
}

/// If `f` is a tar archive (maybe compressed), its entries placed under `dest` (a cleaned
/// absolute directory); `None` when it is not an archive (it is then copied as a file).
pub fn extract(open: &dyn Fn() -> io::Result<File>, what: &str, dest: &str, spill: &Path, epoch: Option<i64>) -> Result<Option<Vec<LayerEntry>>, String> {
    let mut head = vec![0u8; 512];
    let n = read_full(&mut open().map_err(|e| format!("{what}: {e}"))?, &mut head).map_err(|e| format!("{what}: {e}"))?;
    head.truncate(n);
    let Some(kind) = sniff(&head) else { return Ok(None) };
    if let Archive::Unsupported(c) = kind {
        return Err(format!("{what}: {c}-compressed archives are not supported by ADD here; decompress it first"));
    }
    // A compressed file that does not hold a tar is copied as it is, like docker does.
    let mut probe = vec![0u8; 512];
    let pn = read_full(&mut decoder(kind, open().map_err(|e| format!("{what}: {e}"))?).map_err(|e| format!("{what}: {e}"))?, &mut probe).unwrap_or(0);
    if !is_tar(&probe[..pn]) {
        return Ok(None);
    }
    let mut ar = tar::Archive::new(decoder(kind, open().map_err(|e| format!("{what}: {e}"))?).map_err(|e| format!("{what}: {e}"))?);
    let mut out = Vec::new();
    let base = dest.trim_end_matches('/');
    let place = |name: &str| -> Result<String, String> {
        let c = clean(&format!("/{name}"));
        // clean() of a rooted path cannot climb above "/": `..` that would is dropped. Refuse
        // it explicitly so a hostile archive is reported, not silently rewritten.
        let raw = clean(name.trim_start_matches('/'));
        if raw == ".." || raw.starts_with("../") {
            return Err(format!("{what}: entry {name:?} points outside the destination"));
        }
        Ok(format!("{base}{c}").trim_start_matches('/').trim_end_matches('/').to_string())
    };
    for e in ar.entries().map_err(|e| format!("{what}: {e}"))? {
        let mut e = e.map_err(|e| format!("{what}: {e}"))?;
        let h = e.header().clone();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let path = place(&name)?;
        if path.is_empty() || path == base.trim_start_matches('/') && h.entry_type().is_dir() {
            continue;
        }
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
        let mtime = clamp(h.mtime().unwrap_or(0) as i64, epoch);
        let link = || e.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let (kind, size) = match h.entry_type() {
            tar::EntryType::Directory => (EntryKind::Dir, 0),
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let p = spill_path(spill);
                let mut f = File::create(&p).map_err(|x| format!("{}: {x}", p.display()))?;
                let n = io::copy(&mut e, &mut f).map_err(|x| format!("{what}: entry {name:?}: {x}"))?;
                (EntryKind::File(Content::Spill(p)), n)
            }
            tar::EntryType::Symlink => (EntryKind::Symlink(link()), 0),
            tar::EntryType::Link => (EntryKind::Hardlink(place(&link())?), 0),
            tar::EntryType::Fifo => (EntryKind::Fifo, 0),
            tar::EntryType::Char => (EntryKind::Char(h.device_major().ok().flatten().unwrap_or(0), h.device_minor().ok().flatten().unwrap_or(0)), 0),
            tar::EntryType::Block => (EntryKind::Block(h.device_major().ok().flatten().unwrap_or(0), h.device_minor().ok().flatten().unwrap_or(0)), 0),
            // PAX/GNU metadata entries are consumed by the reader; anything else is skipped.
            _ => continue,
        };
        out.push(LayerEntry { path, kind, mode, uid, gid, mtime, size, xattrs: Vec::new() });
    }
    Ok(Some(out))
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A file fetched for `ADD URL`.
#[derive(Debug, Clone)]
pub struct Download {
    pub path: PathBuf,
    /// The file name the destination gets when it is a directory.
    pub name: String,
    pub size: u64,
    pub mtime: i64,
    pub digest: [u8; 32],
}

/// Fetch `url` into the spill directory, verifying `checksum` (`sha256:...`) when given.
pub fn download(url: &str, spill: &Path, checksum: Option<&str>) -> Result<Download, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}"));
    }
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .unwrap_or(0);
    let disposition = resp.headers().get("content-disposition").and_then(|v| v.to_str().ok()).and_then(|d| {
        d.split(';').find_map(|p| p.trim().strip_prefix("filename=").map(|f| f.trim_matches('"').to_string()))
    });
    let path = spill_path(spill);
    let mut f = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut body = resp.body_mut().as_reader();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = body.read(&mut buf).map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        io::Write::write_all(&mut f, &buf[..n]).map_err(|e| format!("{}: {e}", path.display()))?;
        size += n as u64;
    }
    let digest: [u8; 32] = h.finalize().into();
    if let Some(c) = checksum {
        let want = c.strip_prefix("sha256:").ok_or_else(|| format!("{url}: only sha256 checksums can be verified"))?;
        let got = crate::cache::hex(&digest);
        if want != got {
            let _ = std::fs::remove_file(&path);
            return Err(format!("{url}: digest mismatch: expected sha256:{want}, got sha256:{got}"));
        }
    }
    let from_url = url.split(['?', '#']).next().unwrap_or(url).trim_end_matches('/').rsplit('/').next().unwrap_or("").to_string();
    let name = disposition.filter(|n| !n.is_empty() && !n.contains('/')).unwrap_or(if from_url.is_empty() || from_url.contains(':') { "index.html".into() } else { from_url });
    Ok(Download { path, name, size, mtime, digest })
}

/// RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 {
        return None;
    }
    let day: i64 = parts[1].parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| *m == parts[2])? as i64 + 1;
    let year: i64 = parts[3].parse().ok()?;
    let t: Vec<i64> = parts[4].split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    if t.len() != 3 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + t[0] * 3600 + t[1] * 60 + t[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("garbage"), None);
    }

    fn tar_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (n, d) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(0o640);
            h.set_mtime(100);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the name bytes raw for the hostile case.
            let name = h.as_old_mut().name.as_mut();
            name[..n.len()].copy_from_slice(n.as_bytes());
            h.set_cksum();
            b.append(&h, *d).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn dir() -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!("berth-build-add-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn extracts_plain_and_gzip_and_refuses_escapes() {
        let d = dir();
        let t = tar_with(&[("a/b.txt", b"hello"), ("/abs.txt", b"x")]);
        for (name, bytes) in [("plain.tar", t.clone()), ("gz.tar.gz", {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut e, &t).unwrap();
            e.finish().unwrap()
        })] {
            let p = d.join(name);
            std::fs::write(&p, &bytes).unwrap();
            let es = extract(&|| File::open(&p), name, "/dest/", &d, Some(50)).unwrap().unwrap();
            let paths: Vec<&str> = es.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(paths, vec!["dest/a/b.txt", "dest/abs.txt"]);
            assert_eq!((es[0].mode, es[0].mtime, es[0].size), (0o640, 50, 5));
        }
        let p = d.join("evil.tar");
        std::fs::write(&p, tar_with(&[("../../etc/passwd", b"pwned")])).unwrap();
        let e = extract(&|| File::open(&p), "evil.tar", "/dest/", &d, None).unwrap_err();
        assert!(e.contains("points outside the destination"), "{e}");
        let p = d.join("not-an-archive.txt");
        std::fs::write(&p, "just text").unwrap();
        assert!(extract(&|| File::open(&p), "x", "/dest/", &d, None).unwrap().is_none());
        let p = d.join("x.bz2");
        std::fs::write(&p, b"BZh91AY").unwrap();
        assert!(extract(&|| File::open(&p), "x.bz2", "/dest/", &d, None).unwrap_err().contains("bzip2"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
