//! A streaming tar reader (ustar, GNU long names, PAX) that hands out one header at a time
//! and lets the caller pull the entry's data straight into a file.
//!
//! Written for layers from the wild: it accepts archives whose end-of-archive blocks or whose
//! last entry's padding are missing (umoci 0.4 writes those), refuses sparse files and
//! oversized extension headers, and never interprets a name: paths come out as raw bytes for
//! the caller to confine.

use std::fmt;
use std::io::{self, Read};

/// PAX and GNU long-name headers above this are refused (real ones are a few hundred bytes).
const MAX_EXTENSION: u64 = 1 << 20;
const BLOCK: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: Vec<u8>,
    /// Symlink or hardlink target.
    pub link: Vec<u8>,
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Data bytes that follow (0 for everything but regular files).
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

#[derive(Debug)]
pub enum TarError {
    Io(io::Error),
    /// The archive ended inside a header or an entry's data.
    Truncated(String),
    Invalid(String),
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TarError::Io(e) => write!(f, "reading the layer: {e}"),
            TarError::Truncated(w) => write!(f, "truncated tar: {w}"),
            TarError::Invalid(w) => write!(f, "invalid tar: {w}"),
        }
    }
}

impl std::error::Error for TarError {}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Io(e)
    }
}

#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<(i64, u32)>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

pub struct TarReader<R> {
    r: R,
    remaining: u64,
    padding: u64,
    done: bool,
    entries: u64,
}

impl<R: Read> TarReader<R> {
    pub fn new(r: R) -> Self {
        TarReader { r, remaining: 0, padding: 0, done: false, entries: 0 }
    }

    pub fn into_inner(self) -> R {
        self.r
    }

    /// Data of the current entry; returns 0 at its end. A short archive is an error here.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.remaining.min(usize::MAX as u64) as usize);
        let n = loop {
            match self.r.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(map_eof(e)),
            }
        };
        if n == 0 {
            return Err(TarError::Truncated(format!("{} bytes of entry data missing", self.remaining)));
        }
        self.remaining -= n as u64;
        Ok(n)
    }

    fn skip_rest(&mut self) -> Result<(), TarError> {
        let mut scratch = [0u8; 8192];
        while self.remaining > 0 {
            let n = scratch.len().min(self.remaining as usize);
            let got = self.read_data(&mut scratch[..n])?;
            debug_assert!(got > 0);
        }
        // The padding after the last entry may be missing; the next header read decides.
        let mut pad = [0u8; BLOCK];
        let want = self.padding as usize;
        let got = read_full(&mut self.r, &mut pad[..want])?;
        self.padding = 0;
        if got < want {
            self.done = true;
        }
        Ok(())
    }

    fn read_extension(&mut self, size: u64, what: &str) -> Result<Vec<u8>, TarError> {
        if size > MAX_EXTENSION {
            return Err(TarError::Invalid(format!("{what} header of {size} bytes")));
        }
        let mut buf = vec![0u8; size as usize];
        let got = read_full(&mut self.r, &mut buf)?;
        if got < buf.len() {
            return Err(TarError::Truncated(format!("{what} header")));
        }
        let pad = padding(size) as usize;
        let mut p = [0u8; BLOCK];
        read_full(&mut self.r, &mut p[..pad])?;
        Ok(buf)
    }

    /// The next entry's header, or `None` at the end of the archive.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, TarError> {
        if self.done {
            return Ok(None);
        }
        self.skip_rest()?;
        if self.done {
            return Ok(None);
        }
        let mut pending = Pending::default();
        let mut block = [0u8; BLOCK];
        loop {
            let got = read_full(&mut self.r, &mut block)?;
            if got == 0 {
                self.done = true;
                if pending.path.is_some() || pending.link.is_some() || pending.size.is_some() {
                    return Err(TarError::Truncated("extension header without its entry".into()));
                }
                return Ok(None);
            }
            if got < BLOCK {
                return Err(TarError::Truncated(format!("header of entry {} is {got} bytes", self.entries + 1)));
            }
            if block.iter().all(|&b| b == 0) {
                self.done = true;
                return Ok(None);
            }
            verify_checksum(&block)?;
            let typeflag = block[156];
            let size = parse_number(&block[124..136]).ok_or_else(|| TarError::Invalid("bad size field".into()))?;
            match typeflag {
                b'x' => {
                    let data = self.read_extension(size, "pax")?;
                    parse_pax(&data, &mut pending)?;
                    continue;
                }
                b'g' => {
                    // Global PAX headers carry nothing a layer needs (path defaults, comments).
                    self.read_extension(size, "pax global")?;
                    continue;
                }
                b'L' => {
                    let mut data = self.read_extension(size, "GNU long name")?;
                    trim_nul(&mut data);
                    pending.path = Some(data);
                    continue;
                }
                b'K' => {
                    let mut data = self.read_extension(size, "GNU long link")?;
                    trim_nul(&mut data);
                    pending.link = Some(data);
                    continue;
                }
                _ => {}
            }
            let kind = match typeflag {
                b'0' | 0 | b'7' => Kind::File,
                b'1' => Kind::Hardlink,
                b'2' => Kind::Symlink,
                b'3' => Kind::Char,
                b'4' => Kind::Block,
                b'5' => Kind::Dir,
                b'6' => Kind::Fifo,
                b'S' => return Err(TarError::Invalid(format!("entry {:?}: GNU sparse files are not supported", lossy(&header_name(&block))))),
                other => return Err(TarError::Invalid(format!("entry {:?}: unsupported type {:?}", lossy(&header_name(&block)), other as char))),
            };
            let num = |range: std::ops::Range<usize>, what: &str| parse_number(&block[range]).ok_or_else(|| TarError::Invalid(format!("bad {what} field")));
            let mode = (num(100..108, "mode")? & 0o7777) as u32;
            let uid = num(108..116, "uid")?;
            let gid = num(116..124, "gid")?;
            let mtime = num(136..148, "mtime")?;
            let (dev_major, dev_minor) = if matches!(kind, Kind::Char | Kind::Block) {
                (num(329..337, "devmajor")? as u32, num(337..345, "devminor")? as u32)
            } else {
                (0, 0)
            };
            let size = pending.size.unwrap_or(size);
            let path = pending.path.take().unwrap_or_else(|| header_name(&block));
            let link = pending.link.take().unwrap_or_else(|| cstr(&block[157..257]).to_vec());
            if path.is_empty() {
                return Err(TarError::Invalid("entry with an empty name".into()));
            }
            let data_len = if kind == Kind::File { size } else { 0 };
            let (mtime, mtime_nsec) = pending.mtime.unwrap_or((mtime as i64, 0));
            self.remaining = data_len;
            self.padding = padding(data_len);
            self.entries += 1;
            return Ok(Some(Entry {
                path,
                link,
                kind,
                mode,
                uid: pending.uid.unwrap_or(clamp_id(uid)),
                gid: pending.gid.unwrap_or(clamp_id(gid)),
                size: data_len,
                mtime,
                mtime_nsec,
                dev_major,
                dev_minor,
                xattrs: std::mem::take(&mut pending.xattrs),
            }));
        }
    }
}

fn clamp_id(v: u64) -> u32 {
    v.min(u32::MAX as u64) as u32
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn map_eof(e: io::Error) -> TarError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        TarError::Truncated(e.to_string())
    } else {
        TarError::Io(e)
    }
}

/// Read until `buf` is full or EOF; returns the count.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, TarError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(map_eof(e)),
        }
    }
    Ok(n)
}

fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(i) => &field[..i],
        None => field,
    }
}

fn trim_nul(v: &mut Vec<u8>) {
    while v.last() == Some(&0) {
        v.pop();
    }
}

fn header_name(block: &[u8; BLOCK]) -> Vec<u8> {
    let name = cstr(&block[0..100]);
    // POSIX ustar ("ustar\0" "00") splits long names into prefix + name; old GNU headers
    // ("ustar  \0") use the prefix area for other things.
    if &block[257..263] == b"ustar\0" {
        let prefix = cstr(&block[345..500]);
        if !prefix.is_empty() {
            let mut p = prefix.to_vec();
            p.push(b'/');
            p.extend_from_slice(name);
            return p;
        }
    }
    name.to_vec()
}

fn verify_checksum(block: &[u8; BLOCK]) -> Result<(), TarError> {
    let stored = parse_number(&block[148..156]).ok_or_else(|| TarError::Invalid("bad checksum field".into()))?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += b as u64;
        signed += (b as i8) as i64;
    }
    if stored != unsigned && stored as i64 != signed {
        return Err(TarError::Invalid(format!("header checksum mismatch in {:?}", lossy(&header_name(block)))));
    }
    Ok(())
}

/// Octal (NUL/space padded) or GNU base-256 (high bit set) numeric field.
fn parse_number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] == 0xff {
            return None; // negative
        }
        let mut v: u64 = (field[0] & 0x7f) as u64;
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let s: &[u8] = {
        let start = field.iter().position(|&b| b != b' ' && b != 0).unwrap_or(field.len());
        let rest = &field[start..];
        let end = rest.iter().position(|&b| b == b' ' || b == 0).unwrap_or(rest.len());
        &rest[..end]
    };
    if s.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for &b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

fn parse_pax(mut data: &[u8], p: &mut Pending) -> Result<(), TarError> {
    let bad = |w: &str| TarError::Invalid(format!("pax header: {w}"));
    while !data.is_empty() {
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let sp = data.iter().position(|&b| b == b' ').ok_or_else(|| bad("record without length"))?;
        let len: usize = std::str::from_utf8(&data[..sp]).ok().and_then(|s| s.parse().ok()).ok_or_else(|| bad("bad record length"))?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(bad("record length out of range"));
        }
        let rec = &data[sp + 1..len - 1];
        data = &data[len..];
        let eq = rec.iter().position(|&b| b == b'=').ok_or_else(|| bad("record without '='"))?;
        let (key, value) = (&rec[..eq], &rec[eq + 1..]);
        let num = |v: &[u8]| std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok());
        match key {
            b"path" => p.path = Some(value.to_vec()),
            b"linkpath" => p.link = Some(value.to_vec()),
            b"size" => p.size = Some(num(value).ok_or_else(|| bad("bad size"))?),
            b"uid" => p.uid = Some(clamp_id(num(value).ok_or_else(|| bad("bad uid"))?)),
            b"gid" => p.gid = Some(clamp_id(num(value).ok_or_else(|| bad("bad gid"))?)),
            b"mtime" => p.mtime = parse_pax_time(value),
            k if k.starts_with(b"SCHILY.xattr.") => {
                let name = &k[b"SCHILY.xattr.".len()..];
                if !name.is_empty() {
                    p.xattrs.push((name.to_vec(), value.to_vec()));
                }
            }
            k if k.starts_with(b"GNU.sparse.") => return Err(TarError::Invalid("GNU sparse files are not supported".into())),
            _ => {}
        }
    }
    Ok(())
}

fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nsec: u32 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        nsec += c.to_digit(10)? * 10u32.pow(8 - i as u32);
    }
    Some((secs, if secs < 0 { 0 } else { nsec }))
}

/// Read every entry's header, skipping data; for fuzzing and quick listings.
pub fn list<R: Read>(r: R) -> Result<Vec<Entry>, TarError> {
    let mut t = TarReader::new(r);
    let mut out = vec![];
    while let Some(e) = t.next_entry()? {
        out.push(e);
        if out.len() > 1_000_000 {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, typeflag: u8, size: u64, link: &str) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        let s = format!("{size:011o}");
        h[124..135].copy_from_slice(s.as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| b as u64).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    fn archive(entries: &[(&str, u8, &[u8], &str)], end: bool) -> Vec<u8> {
        let mut v = vec![];
        for (name, t, data, link) in entries {
            v.extend_from_slice(&header(name, *t, data.len() as u64, link));
            v.extend_from_slice(data);
            v.resize(v.len() + padding(data.len() as u64) as usize, 0);
        }
        if end {
            v.extend_from_slice(&[0u8; 1024]);
        }
        v
    }

    #[test]
    fn reads_entries_and_data() {
        let a = archive(&[("a/", b'5', b"", ""), ("a/f", b'0', b"hello", ""), ("a/l", b'2', b"", "f")], true);
        let mut t = TarReader::new(&a[..]);
        let e = t.next_entry().unwrap().unwrap();
        assert_eq!((e.path.as_slice(), e.kind), (&b"a/"[..], Kind::Dir));
        let e = t.next_entry().unwrap().unwrap();
        assert_eq!(e.size, 5);
        let mut buf = [0u8; 16];
        let n = t.read_data(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let e = t.next_entry().unwrap().unwrap();
        assert_eq!((e.kind, e.link.as_slice()), (Kind::Symlink, &b"f"[..]));
        assert!(t.next_entry().unwrap().is_none());
    }

    #[test]
    fn accepts_missing_end_blocks_and_padding() {
        let mut a = archive(&[("f", b'0', b"abc", "")], false);
        assert_eq!(list(&a[..]).unwrap().len(), 1);
        a.truncate(512 + 3); // no padding either
        assert_eq!(list(&a[..]).unwrap().len(), 1);
    }

    #[test]
    fn truncated_data_and_bad_checksum_fail() {
        let a = archive(&[("f", b'0', b"abcdef", "")], true);
        let mut t = TarReader::new(&a[..512 + 2]);
        t.next_entry().unwrap();
        assert!(matches!(t.next_entry(), Err(TarError::Truncated(_))));
        let mut b = a.clone();
        b[0] = b'g';
        assert!(matches!(list(&b[..]), Err(TarError::Invalid(_))));
        assert!(matches!(list(&a[..300]), Err(TarError::Truncated(_))));
    }

    #[test]
    fn pax_overrides_and_xattrs() {
        let rec = |k: &str, v: &str| {
            let body = format!(" {k}={v}\n");
            let mut n = body.len() + 1;
            while n != n.to_string().len() + body.len() {
                n = n.to_string().len() + body.len();
            }
            format!("{n}{body}")
        };
        let pax = format!("{}{}", rec("path", "long/name/here"), rec("SCHILY.xattr.user.k", "v"));
        let a = archive(&[("PaxHeaders/x", b'x', pax.as_bytes(), ""), ("short", b'0', b"", "")], true);
        let e = list(&a[..]).unwrap().remove(0);
        assert_eq!(e.path, b"long/name/here");
        assert_eq!(e.xattrs, vec![(b"user.k".to_vec(), b"v".to_vec())]);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"0000644\0"), Some(0o644));
        assert_eq!(parse_number(b"  755 \0"), Some(0o755));
        assert_eq!(parse_number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(parse_number(b"0009"), None);
    }
}
