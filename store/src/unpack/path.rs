//! Turning a tar entry's name into a root-relative path: pure, so it is unit-tested and
//! fuzzed. Absolute names are taken relative to the root; `.` and empty components are
//! dropped; `..` pops a component and is refused when it would leave the root.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// The normalised relative path (empty for the root itself), or why it is refused.
pub fn normalize(raw: &[u8]) -> Result<PathBuf, &'static str> {
    if raw.contains(&0) {
        return Err("name contains a NUL byte");
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err("path leaves the root through '..'");
                }
            }
            c => parts.push(c),
        }
    }
    let mut p = PathBuf::new();
    for c in parts {
        p.push(OsStr::from_bytes(c));
    }
    Ok(p)
}

/// What an entry name means for the layer format.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// An ordinary path to create.
    Path(PathBuf),
    /// `.wh.NAME`: delete `NAME` (given as the full relative path) from lower layers.
    Whiteout(PathBuf),
    /// `DIR/.wh..wh..opq`: hide everything below `DIR` from lower layers.
    Opaque(PathBuf),
}

pub fn classify(raw: &[u8]) -> Result<Target, &'static str> {
    let p = normalize(raw)?;
    let name = match p.file_name() {
        Some(n) => n.as_bytes(),
        None => return Ok(Target::Path(p)),
    };
    if !name.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        return Ok(Target::Path(p));
    }
    let parent = p.parent().map(PathBuf::from).unwrap_or_default();
    if name == OPAQUE_MARKER.as_bytes() {
        return Ok(Target::Opaque(parent));
    }
    let hidden = &name[WHITEOUT_PREFIX.len()..];
    if hidden.is_empty() || hidden == b"." || hidden == b".." {
        return Err("whiteout names no file ('.wh.', '.wh..' or '.wh...')");
    }
    if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        return Err("whiteout of a whiteout name");
    }
    Ok(Target::Whiteout(parent.join(OsStr::from_bytes(hidden))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_confines() {
        assert_eq!(normalize(b"/etc/passwd").unwrap(), PathBuf::from("etc/passwd"));
        assert_eq!(normalize(b"./a//b/./c/").unwrap(), PathBuf::from("a/b/c"));
        assert_eq!(normalize(b"a/../b").unwrap(), PathBuf::from("b"));
        assert_eq!(normalize(b"./").unwrap(), PathBuf::new());
        assert!(normalize(b"../x").is_err());
        assert!(normalize(b"a/../../x").is_err());
        assert!(normalize(b"/../x").is_err());
    }

    #[test]
    fn whiteouts() {
        assert_eq!(classify(b"a/.wh.b").unwrap(), Target::Whiteout("a/b".into()));
        assert_eq!(classify(b"a/.wh..wh..opq").unwrap(), Target::Opaque("a".into()));
        assert_eq!(classify(b".wh..wh..opq").unwrap(), Target::Opaque("".into()));
        assert!(classify(b"a/.wh..").is_err());
        assert!(classify(b"a/.wh...").is_err());
        assert!(classify(b"../.wh.x").is_err());
        assert_eq!(classify(b"a/b").unwrap(), Target::Path("a/b".into()));
    }
}
