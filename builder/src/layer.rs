//! Layer tars written directly (COPY/ADD, WORKDIR): entries sorted by path, ownership and
//! modes as planned, modification times clamped to `SOURCE_DATE_EPOCH` when set, no user or
//! group names, no access/change times — the same inputs always give the same bytes.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};

/// Where a regular file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A path in a source tree (the context or another stage's root), opened there.
    Tree { tree: usize, path: String },
    Inline(Vec<u8>),
    /// A temporary file the build wrote (an extracted archive member, a download).
    Spill(std::path::PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(Content),
    Symlink(String),
    /// Link to an earlier entry of the same layer (path without leading `/`).
    Hardlink(String),
    Fifo,
    Char(u32, u32),
    Block(u32, u32),
}

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// Without leading `/`, cleaned.
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub size: u64,
    /// Extended attributes written as PAX `SCHILY.xattr.` records (file capabilities).
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Opens file contents for the writer.
pub trait Opener {
    fn open(&self, c: &Content) -> io::Result<Box<dyn Read + '_>>;
}

/// Clamp a time to `SOURCE_DATE_EPOCH`.
pub fn clamp(t: i64, epoch: Option<i64>) -> i64 {
    match epoch {
        Some(e) if t > e => e,
        _ => t.max(0),
    }
}

/// Sort entries by path and drop duplicates (the last one planned for a path wins).
pub fn normalize(mut entries: Vec<LayerEntry>) -> Vec<LayerEntry> {
    // Stable sort keeps plan order among equal paths; keep the last of each run.
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut out: Vec<LayerEntry> = Vec::with_capacity(entries.len());
    for e in entries {
        if out.last().is_some_and(|l| l.path == e.path) {
            out.pop();
        }
        out.push(e);
    }
    out
}

/// Write `entries` (already normalized) as a tar stream; returns the sha256 of the stream
/// (the layer's diff_id) and its length.
pub fn write_tar(entries: &[LayerEntry], opener: &dyn Opener, out: impl Write) -> io::Result<([u8; 32], u64)> {
    let hashing = HashWriter { inner: out, hash: Sha256::new(), len: 0 };
    let mut b = tar::Builder::new(hashing);
    b.mode(tar::HeaderMode::Complete);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode & 0o7777);
        h.set_uid(u64::from(e.uid));
        h.set_gid(u64::from(e.gid));
        h.set_mtime(e.mtime.max(0) as u64);
        h.set_size(0);
        let path = match e.kind {
            EntryKind::Dir => format!("{}/", e.path),
            _ => e.path.clone(),
        };
        if !e.xattrs.is_empty() {
            append_pax(&mut b, &e.xattrs)?;
        }
        match &e.kind {
            EntryKind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, &path, io::empty())?;
            }
            EntryKind::File(c) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(e.size);
                let r = opener.open(c)?;
                // A file that changed size since it was planned would corrupt the stream.
                let mut r = ExactReader { inner: r, left: e.size, path: &e.path };
                b.append_data(&mut h, &path, &mut r)?;
            }
            EntryKind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, &path, t)?;
            }
            EntryKind::Hardlink(t) => {
                h.set_entry_type(tar::EntryType::Link);
                b.append_link(&mut h, &path, t)?;
            }
            EntryKind::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                b.append_data(&mut h, &path, io::empty())?;
            }
            EntryKind::Char(ma, mi) | EntryKind::Block(ma, mi) => {
                h.set_entry_type(if matches!(e.kind, EntryKind::Char(..)) { tar::EntryType::Char } else { tar::EntryType::Block });
                h.set_device_major(*ma)?;
                h.set_device_minor(*mi)?;
                b.append_data(&mut h, &path, io::empty())?;
            }
        }
    }
    let w = b.into_inner()?;
    Ok((w.hash.finalize().into(), w.len))
}

/// A PAX extended header carrying the next entry's xattrs.
fn append_pax<W: Write>(b: &mut tar::Builder<W>, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
    let mut data = Vec::new();
    for (k, v) in xattrs {
        let rest_len = 1 + "SCHILY.xattr.".len() + k.len() + 1 + v.len() + 1;
        // The length prefix counts its own digits.
        let mut len = rest_len + 1;
        while len.to_string().len() + rest_len != len {
            len = len.to_string().len() + rest_len;
        }
        data.extend_from_slice(format!("{len} SCHILY.xattr.{k}=").as_bytes());
        data.extend_from_slice(v);
        data.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.set_path("PaxHeaders/xattrs")?;
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    h.set_cksum();
    b.append(&h, &data[..])
}

struct HashWriter<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct ExactReader<'a, R> {
    inner: R,
    left: u64,
    path: &'a str,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{} shrank while it was copied", self.path)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem;
    impl Opener for Mem {
        fn open(&self, c: &Content) -> io::Result<Box<dyn Read + '_>> {
            match c {
                Content::Inline(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
                _ => Err(io::Error::other("no trees here")),
            }
        }
    }

    fn file(path: &str, data: &str, mtime: i64) -> LayerEntry {
        LayerEntry { path: path.into(), kind: EntryKind::File(Content::Inline(data.as_bytes().to_vec())), mode: 0o644, uid: 0, gid: 0, mtime, size: data.len() as u64, xattrs: vec![] }
    }

    #[test]
    fn sorted_deterministic_and_readable() {
        let dir = LayerEntry { path: "app".into(), kind: EntryKind::Dir, mode: 0o755, uid: 1000, gid: 1000, mtime: 5, size: 0, xattrs: vec![] };
        let long = "d/".repeat(80) + "f";
        let a = normalize(vec![file("app/b", "bb", 7), dir.clone(), file("app/a", "a", 7), file(&long, "x", 1)]);
        let b = normalize(vec![file(&long, "x", 1), file("app/a", "a", 7), dir, file("app/b", "bb", 7)]);
        assert_eq!(a, b);
        let mut t1 = Vec::new();
        let mut t2 = Vec::new();
        let (d1, n1) = write_tar(&a, &Mem, &mut t1).unwrap();
        let (d2, _) = write_tar(&b, &Mem, &mut t2).unwrap();
        assert_eq!(t1, t2);
        assert_eq!(d1, d2);
        assert_eq!(n1, t1.len() as u64);
        let mut ar = tar::Archive::new(&t1[..]);
        let names: Vec<String> = ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["app/", "app/a", "app/b", long.as_str()]);
    }

    #[test]
    fn xattrs_round_trip_as_pax() {
        let mut e = file("bin/ping", "x", 0);
        e.xattrs = vec![("security.capability".into(), vec![1, 0, 0, 2, 0x20])];
        let mut t = Vec::new();
        write_tar(&[e], &Mem, &mut t).unwrap();
        let mut ar = tar::Archive::new(&t[..]);
        let mut entries = ar.entries().unwrap();
        let mut en = entries.next().unwrap().unwrap();
        assert_eq!(en.path().unwrap().to_str(), Some("bin/ping"));
        let ext: Vec<(String, Vec<u8>)> = en.pax_extensions().unwrap().unwrap().map(|x| {
            let x = x.unwrap();
            (x.key().unwrap().to_string(), x.value_bytes().to_vec())
        }).collect();
        assert_eq!(ext, vec![("SCHILY.xattr.security.capability".to_string(), vec![1, 0, 0, 2, 0x20])]);
    }

    #[test]
    fn later_duplicates_win_and_clamp() {
        let n = normalize(vec![file("x", "old", 1), file("x", "new", 2)]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].mtime, 2);
        assert_eq!(clamp(100, Some(50)), 50);
        assert_eq!(clamp(10, Some(50)), 10);
        assert_eq!(clamp(-5, None), 0);
    }

    #[test]
    fn size_change_is_an_error() {
        let mut e = file("x", "abc", 0);
        e.size = 10;
        assert!(write_tar(&[e], &Mem, io::sink()).is_err());
    }
}
