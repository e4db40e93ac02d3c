//! Reading and writing cgroupfs interface files, with errors that name the file.
//!
//! Writes never create files: on cgroupfs a missing file means a missing controller, and the
//! fake trees of the unit tests must behave the same way.

use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Error;

pub fn write_raw(path: &Path, value: &[u8]) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).custom_flags(libc::O_CLOEXEC).open(path)?;
    // One write(2): cgroupfs parses each write as a whole value.
    let n = f.write(value)?;
    if n != value.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
    }
    #[cfg(test)]
    super::fake::after_write(path);
    Ok(())
}

pub fn write(dir: &Path, file: &str, value: &str) -> Result<(), Error> {
    let path = dir.join(file);
    write_raw(&path, value.as_bytes()).map_err(|source| Error::Write { path, value: value.to_string(), source })
}

pub fn read_raw(path: &Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut s = String::with_capacity(64);
    f.read_to_string(&mut s)?;
    Ok(s)
}

pub fn read(dir: &Path, file: &str) -> Result<String, Error> {
    let path = dir.join(file);
    read_raw(&path).map_err(|source| Error::Read { path, source })
}

/// A single number (`max` and `-1`-style unlimited values read as `u64::MAX`).
pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" || s == "-1" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

pub fn read_u64(dir: &Path, file: &str) -> Result<u64, Error> {
    let path = dir.join(file);
    let s = read_raw(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
    parse_u64(&s).ok_or_else(|| Error::Read {
        path,
        source: io::Error::new(io::ErrorKind::InvalidData, format!("not a number: {:?}", s.trim())),
    })
}

/// Every pid listed in `cgroup.procs` of `dir` and of the cgroups below it.
pub fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<(), Error> {
    let procs = dir.join("cgroup.procs");
    match read_raw(&procs) {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()), // removed meanwhile
        Err(source) => return Err(Error::Read { path: procs, source }),
    }
    for sub in subdirs(dir)? {
        procs_recursive(&sub, out)?;
    }
    Ok(())
}

/// The child cgroups of `dir` (a vanished `dir` has none).
pub fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Read { path: dir.to_path_buf(), source }),
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(e.path());
        }
    }
    Ok(out)
}

/// Format a number without going through `format!` on the hot path.
pub fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut b = [0u8; 20];
        assert_eq!(itoa(0, &mut b), b"0");
        assert_eq!(itoa(1234567, &mut b), b"1234567");
        assert_eq!(itoa(u64::MAX, &mut b), b"18446744073709551615");
        assert_eq!(parse_u64("max\n"), Some(u64::MAX));
        assert_eq!(parse_u64(" 42\n"), Some(42));
        assert_eq!(parse_u64("x"), None);
    }
}
