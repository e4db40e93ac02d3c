//! `linux.cgroupsPath` as runc reads it.
//!
//! - absolute (`/default/web`): under the root of each hierarchy;
//! - relative (`web`, and the default when the spec has none: the container id): under the
//!   cgroup of the runtime itself (on a pure v2 host, under its parent, because the runtime's
//!   own cgroup holds processes and so cannot delegate controllers);
//! - with `--systemd-cgroup`: `slice:prefix:name` naming a transient unit.
//!
//! Paths are cleaned lexically first (runc's `CleanPath`): `..` cannot climb out.

use super::Error;

/// Where the container's cgroup goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Cleaned, starts with `/`, never `/` alone.
    Absolute(String),
    /// Cleaned, no leading `/`, never empty.
    Relative(String),
    /// A systemd transient unit `unit` in `slice` (both validated).
    Systemd { slice: String, unit: String },
}

/// The scope prefix when `--systemd-cgroup` is given and the spec has no `cgroupsPath`.
pub const DEFAULT_SCOPE_PREFIX: &str = "berth";
pub const DEFAULT_SLICE: &str = "system.slice";

pub fn placement(cgroups_path: Option<&str>, id: &str, systemd: bool) -> Result<Placement, Error> {
    let given = cgroups_path.filter(|p| !p.is_empty());
    if systemd {
        let (slice, prefix, name) = match given {
            None => (DEFAULT_SLICE, DEFAULT_SCOPE_PREFIX, id),
            Some(p) => {
                let parts: Vec<&str> = p.split(':').collect();
                if parts.len() != 3 {
                    return Err(invalid(p, "with --systemd-cgroup it must be \"slice:prefix:name\""));
                }
                (if parts[0].is_empty() { DEFAULT_SLICE } else { parts[0] }, parts[1], parts[2])
            }
        };
        let shown = given.unwrap_or(id);
        expand_slice(slice).map_err(|r| invalid(shown, &r))?;
        let unit = if name.ends_with(".slice") {
            name.to_string()
        } else if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        if name.is_empty() || !unit.bytes().all(unit_name_byte) {
            return Err(invalid(shown, "the unit name may hold only letters, digits and \":_.\\-@\""));
        }
        return Ok(Placement::Systemd { slice: slice.to_string(), unit });
    }
    let raw = given.unwrap_or(id);
    let cleaned = clean(raw);
    if cleaned.is_empty() {
        return Err(invalid(raw, "it names no cgroup"));
    }
    if cleaned == "/" {
        return Err(invalid(raw, "it resolves to the root cgroup, which a container cannot own"));
    }
    Ok(if cleaned.starts_with('/') { Placement::Absolute(cleaned) } else { Placement::Relative(cleaned) })
}

fn invalid(path: &str, reason: &str) -> Error {
    Error::InvalidPath { path: path.to_string(), reason: reason.to_string() }
}

fn unit_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b":_.\\-@".contains(&b)
}

/// Lexical cleaning: collapse `//`, `.`, and `..` (which never climbs above the start, so a
/// relative path stays below the runtime's cgroup and an absolute one below the root).
pub fn clean(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// systemd's slice naming: `a-b-c.slice` lives at `/a.slice/a-b.slice/a-b-c.slice`.
pub fn expand_slice(slice: &str) -> Result<String, String> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(format!("slice {slice:?} must end in \".slice\""));
    };
    if stem.is_empty() || slice.contains('/') {
        return Err(format!("invalid slice name {slice:?}"));
    }
    if stem == "-" {
        return Ok(String::from("/"));
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for component in stem.split('-') {
        if component.is_empty() {
            return Err(format!("invalid slice name {slice:?} (empty component)"));
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(component);
        path.push_str(".slice");
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_id_relative_to_our_cgroup() {
        assert_eq!(placement(None, "web", false).unwrap(), Placement::Relative("web".into()));
        assert_eq!(placement(Some(""), "web", false).unwrap(), Placement::Relative("web".into()));
    }

    #[test]
    fn absolute_and_relative_are_cleaned() {
        assert_eq!(placement(Some("/default/web"), "x", false).unwrap(), Placement::Absolute("/default/web".into()));
        assert_eq!(placement(Some("/../../etc//x/."), "x", false).unwrap(), Placement::Absolute("/etc/x".into()));
        assert_eq!(placement(Some("../../a/b"), "x", false).unwrap(), Placement::Relative("a/b".into()));
        assert!(placement(Some("/.."), "x", false).is_err());
        assert!(placement(Some(".."), "x", false).is_err());
    }

    #[test]
    fn systemd_forms() {
        assert_eq!(
            placement(Some("system.slice:docker:abc"), "x", true).unwrap(),
            Placement::Systemd { slice: "system.slice".into(), unit: "docker-abc.scope".into() }
        );
        assert_eq!(
            placement(None, "web", true).unwrap(),
            Placement::Systemd { slice: "system.slice".into(), unit: "berth-web.scope".into() }
        );
        assert_eq!(
            placement(Some(":pfx:n"), "x", true).unwrap(),
            Placement::Systemd { slice: "system.slice".into(), unit: "pfx-n.scope".into() }
        );
        assert_eq!(
            placement(Some("machine.slice::my.slice"), "x", true).unwrap(),
            Placement::Systemd { slice: "machine.slice".into(), unit: "my.slice".into() }
        );
        assert!(placement(Some("/default/web"), "x", true).is_err());
        assert!(placement(Some("bad:p:n"), "x", true).is_err());
        assert!(placement(Some("system.slice:p:a/b"), "x", true).is_err());
    }

    #[test]
    fn slices_expand() {
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(expand_slice("a-b-c.slice").unwrap(), "/a.slice/a-b.slice/a-b-c.slice");
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        assert!(expand_slice("a--b.slice").is_err());
        assert!(expand_slice("x").is_err());
    }
}
