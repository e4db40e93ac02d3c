//! A read-only view of the file system a step builds on (a merged rootfs, or nothing for
//! `FROM scratch`): where COPY's destination really is (symlinks in it followed inside the
//! root), what already exists there, and `/etc/passwd` / `/etc/group` for `--chown`.

use berth_runtime::inroot::{proc_fd_path, InRoot};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Metadata of an existing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub is_dir: bool,
    pub is_symlink: bool,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
}

pub trait RootView {
    /// `path` (absolute, slash) with every existing component's symlinks resolved inside the
    /// root; components that do not exist are appended as written.
    fn realpath(&self, path: &str) -> String;
    /// Metadata of `path` itself (not following a final symlink).
    fn lstat(&self, path: &str) -> Option<Meta>;
    /// Contents of a regular file (following symlinks inside the root).
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

/// `FROM scratch`: nothing exists.
pub struct EmptyView;

impl RootView for EmptyView {
    fn realpath(&self, path: &str) -> String {
        crate::context::glob::clean(&format!("/{path}"))
    }
    fn lstat(&self, _: &str) -> Option<Meta> {
        None
    }
    fn read(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
}

/// A directory holding a root file system.
pub struct DirView {
    root: PathBuf,
    inroot: InRoot,
}

impl DirView {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let root = std::fs::canonicalize(root)?;
        Ok(DirView { inroot: InRoot::open(&root)?, root })
    }
}

impl RootView for DirView {
    fn realpath(&self, path: &str) -> String {
        let clean = crate::context::glob::clean(&format!("/{path}"));
        let comps: Vec<&str> = clean.split('/').filter(|c| !c.is_empty()).collect();
        // The longest prefix that exists, resolved by the kernel inside the root.
        for n in (0..=comps.len()).rev() {
            let prefix = format!("/{}", comps[..n].join("/"));
            if let Ok(fd) = self.inroot.resolve(Path::new(&prefix), false) {
                let Ok(real) = std::fs::read_link(proc_fd_path(fd.as_fd())) else { continue };
                let Ok(rel) = real.strip_prefix(&self.root) else { continue };
                let mut out = format!("/{}", rel.to_string_lossy());
                for c in &comps[n..] {
                    if !out.ends_with('/') {
                        out.push('/');
                    }
                    out.push_str(c);
                }
                return crate::context::glob::clean(&out);
            }
        }
        clean
    }

    fn lstat(&self, path: &str) -> Option<Meta> {
        let fd = self.inroot.resolve(Path::new(path), true).ok()?;
        let st = crate::context::fstat(&fd).ok()?;
        let fmt = st.st_mode & libc::S_IFMT;
        Some(Meta {
            is_dir: fmt == libc::S_IFDIR,
            is_symlink: fmt == libc::S_IFLNK,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            mtime: st.st_mtime,
        })
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let fd = self.inroot.open_at(Path::new(path), libc::O_RDONLY, 0).ok()?;
        let mut v = Vec::new();
        std::fs::File::from(fd).take(16 << 20).read_to_end(&mut v).ok()?;
        Some(v)
    }
}

/// `user[:group]` (names or numbers) to ids, names looked up in the view's `/etc/passwd`
/// and `/etc/group`. A user without a group gets the same number as gid, as docker does.
pub fn resolve_owner(spec: &str, view: &dyn RootView) -> Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, what: &str| -> Result<u32, String> {
        if let Ok(n) = name.parse::<u32>() {
            return Ok(n);
        }
        let text = view.read(file).ok_or_else(|| format!("unable to find {what} {name}: no {file} in the image"))?;
        for line in String::from_utf8_lossy(&text).lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 3 && f[0] == name {
                return f[2].parse().map_err(|_| format!("invalid {what} id for {name} in {file}"));
            }
        }
        Err(format!("unable to find {what} {name}: no matching entries in {} file", if what == "user" { "passwd" } else { "group" }))
    };
    if user.is_empty() {
        return Err(format!("invalid chown {spec:?}: empty user"));
    }
    let uid = lookup("/etc/passwd", user, "user")?;
    let gid = match group {
        None => uid,
        Some("") => return Err(format!("invalid chown {spec:?}: empty group")),
        Some(g) => lookup("/etc/group", g, "group")?,
    };
    Ok((uid, gid))
}

/// A USER value (`name`, `uid`, `name:group`) to ids the way the runtime resolves it: without
/// a group, the user's primary group from `/etc/passwd` (0 when the uid has no entry).
pub fn resolve_user(spec: &str, view: &dyn RootView) -> Result<(u32, u32), String> {
    if spec.contains(':') {
        return resolve_owner(spec, view);
    }
    let passwd = view.read("/etc/passwd").map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && (f[0] == spec || f[2] == spec) {
            let uid = f[2].parse().map_err(|_| format!("invalid user id for {spec} in /etc/passwd"))?;
            let gid = f[3].parse().map_err(|_| format!("invalid group id for {spec} in /etc/passwd"))?;
            return Ok((uid, gid));
        }
    }
    match spec.parse::<u32>() {
        Ok(uid) => Ok((uid, 0)),
        Err(_) => Err(format!("unable to find user {spec}: no matching entries in passwd file")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn realpath_follows_symlinks_inside() {
        let top = std::env::temp_dir().join(format!("berth-build-view-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&top);
        std::fs::create_dir_all(top.join("usr/bin")).unwrap();
        std::fs::create_dir_all(top.join("etc")).unwrap();
        symlink("usr/bin", top.join("bin")).unwrap();
        symlink("/../../..", top.join("escape")).unwrap();
        std::fs::write(top.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n").unwrap();
        std::fs::write(top.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let v = DirView::open(&top).unwrap();
        assert_eq!(v.realpath("/bin/x"), "/usr/bin/x");
        assert_eq!(v.realpath("/escape/new/dir"), "/new/dir");
        assert_eq!(v.realpath("/"), "/");
        assert!(v.lstat("/bin").unwrap().is_symlink);
        assert!(v.lstat("/usr/bin").unwrap().is_dir);
        assert_eq!(resolve_owner("app", &v).unwrap(), (1000, 1000));
        assert_eq!(resolve_owner("app:staff", &v).unwrap(), (1000, 50));
        assert_eq!(resolve_owner("12:34", &v).unwrap(), (12, 34));
        assert!(resolve_owner("nobody", &v).unwrap_err().contains("no matching entries in passwd file"));
        assert!(resolve_owner("app:nogroup", &v).unwrap_err().contains("no matching entries in group file"));
        assert!(resolve_owner("app", &EmptyView).unwrap_err().contains("no /etc/passwd"));
        assert_eq!(resolve_owner("5", &EmptyView).unwrap(), (5, 5));
        assert_eq!(resolve_user("app", &v).unwrap(), (1000, 1001));
        assert_eq!(resolve_user("1000", &v).unwrap(), (1000, 1001));
        assert_eq!(resolve_user("77", &v).unwrap(), (77, 0));
        assert_eq!(resolve_user("app:staff", &v).unwrap(), (1000, 50));
        let _ = std::fs::remove_dir_all(&top);
    }
}
