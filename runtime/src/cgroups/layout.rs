//! Where this host mounts its cgroup hierarchies (v1, v2 unified, or the hybrid of both) and
//! which cgroup the calling process is in.
//!
//! Both are read once per process (`/proc/self/mountinfo`, `/proc/self/cgroup`) and cached:
//! layout detection runs on every container start, and a long-lived caller (the shim) asks many
//! times.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::Error;

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only v1 hierarchies (one mount per controller or controller group).
    V1,
    /// v1 controllers plus a cgroup2 mount (usually `/sys/fs/cgroup/unified`) that tracks
    /// processes and holds whatever controllers v1 does not.
    Hybrid,
    /// One cgroup2 hierarchy with every controller.
    V2,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1: the controllers as the mount options list them (`cpu,cpuacct`, `name=systemd`);
    /// empty for the cgroup2 mount.
    pub controllers: String,
    pub mountpoint: PathBuf,
    /// The cgroup shown at the mountpoint: `/` normally, something deeper inside a cgroup
    /// namespace or for a bind mount of a sub-tree.
    pub root: String,
}

impl Hierarchy {
    /// Whether this v1 hierarchy carries `controller` (`cpu`, `memory`, `name=systemd`).
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.split(',').any(|c| c == controller)
    }
}

/// The host's cgroup mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub mode: Mode,
    /// v1 hierarchies, in mountinfo order, one per distinct controller set.
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 mount (v2 hosts and hybrid hosts).
    pub unified: Option<Hierarchy>,
}

/// v1 controllers the kernel can mount; mount options that are not one of these (or
/// `name=...`) are ordinary options (`rw`, `xattr`, `release_agent=...`).
const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio", "blkio",
    "perf_event", "hugetlb", "pids", "rdma", "misc", "debug",
];

impl Layout {
    /// The layout of the host this process sees, read once.
    pub fn host() -> Result<&'static Layout, Error> {
        static HOST: OnceLock<Result<Layout, Error>> = OnceLock::new();
        HOST.get_or_init(|| {
            let path = "/proc/self/mountinfo";
            let text = std::fs::read_to_string(path)
                .map_err(|source| Error::Read { path: path.into(), source })?;
            Layout::from_mountinfo(&text)
        })
        .as_ref()
        .map_err(Error::clone_detached)
    }

    /// Parse `/proc/self/mountinfo` text.
    pub fn from_mountinfo(text: &str) -> Result<Layout, Error> {
        let mut v1: Vec<Hierarchy> = Vec::new();
        let mut unified: Option<Hierarchy> = None;
        for line in text.lines() {
            // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
            let Some((pre, post)) = line.split_once(" - ") else { continue };
            let mut post_fields = post.split(' ');
            let fstype = post_fields.next().unwrap_or("");
            if fstype != "cgroup" && fstype != "cgroup2" {
                continue;
            }
            let super_opts = post_fields.nth(1).unwrap_or("");
            let mut pre_fields = pre.split(' ');
            let (Some(root), Some(mountpoint)) = (pre_fields.nth(3), pre_fields.next()) else {
                continue;
            };
            let root = unescape(root);
            let mountpoint = PathBuf::from(unescape(mountpoint));
            if fstype == "cgroup2" {
                // Several cgroup2 mounts (bind mounts): prefer the conventional places.
                let conventional = mountpoint == Path::new("/sys/fs/cgroup")
                    || mountpoint == Path::new("/sys/fs/cgroup/unified");
                if unified.is_none() || conventional {
                    unified = Some(Hierarchy { controllers: String::new(), mountpoint, root });
                }
                continue;
            }
            let controllers: Vec<&str> = super_opts
                .split(',')
                .filter(|o| o.starts_with("name=") || V1_CONTROLLERS.contains(o))
                .collect();
            if controllers.is_empty() {
                continue;
            }
            let controllers = controllers.join(",");
            if v1.iter().any(|h| h.controllers == controllers) {
                continue; // a bind mount of a hierarchy we already have
            }
            v1.push(Hierarchy { controllers, mountpoint, root });
        }
        let has_v1_controller = v1.iter().any(|h| h.controllers.split(',').any(|c| !c.starts_with("name=")));
        let mode = match (has_v1_controller, &unified) {
            (true, Some(_)) => Mode::Hybrid,
            (true, None) => Mode::V1,
            (false, Some(_)) => Mode::V2,
            (false, None) => return Err(Error::NoCgroupMount),
        };
        if mode == Mode::V2 {
            // Named v1 hierarchies next to a v2 tree are someone else's (old systemd); ignore.
            v1.clear();
        }
        Ok(Layout { mode, v1, unified })
    }

    /// The v1 hierarchy that carries `controller`.
    pub fn v1_hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }
}

/// The calling process's own cgroups, from `/proc/self/cgroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnCgroups {
    /// (controllers as listed, e.g. `cpu,cpuacct`, path)
    pub v1: Vec<(String, String)>,
    /// The `0::` line.
    pub unified: Option<String>,
}

impl OwnCgroups {
    /// This process's cgroups, read once (only relative `cgroupsPath`s need them).
    pub fn current() -> Result<&'static OwnCgroups, Error> {
        static OWN: OnceLock<Result<OwnCgroups, Error>> = OnceLock::new();
        OWN.get_or_init(|| {
            let path = "/proc/self/cgroup";
            let text = std::fs::read_to_string(path)
                .map_err(|source| Error::Read { path: path.into(), source })?;
            Ok(OwnCgroups::parse(&text))
        })
        .as_ref()
        .map_err(Error::clone_detached)
    }

    pub fn parse(text: &str) -> OwnCgroups {
        let mut own = OwnCgroups::default();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            if ctrls.is_empty() {
                own.unified = Some(path.to_string());
            } else {
                own.v1.push((ctrls.to_string(), path.to_string()));
            }
        }
        own
    }

    /// The cgroup of the v1 hierarchy that carries `controller`.
    pub fn v1_path(&self, controller: &str) -> Option<&str> {
        self.v1
            .iter()
            .find(|(c, _)| c.split(',').any(|x| x == controller))
            .map(|(_, p)| p.as_str())
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_host() {
        let l = Layout::from_mountinfo(HYBRID).unwrap();
        assert_eq!(l.mode, Mode::Hybrid);
        assert_eq!(l.v1.len(), 9);
        assert_eq!(l.v1_hierarchy("memory").unwrap().mountpoint, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(l.v1_hierarchy("name=systemd").unwrap().mountpoint, Path::new("/sys/fs/cgroup/systemd"));
        assert!(l.v1_hierarchy("hugetlb").is_none());
        assert_eq!(l.unified.as_ref().unwrap().mountpoint, Path::new("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn v2_host() {
        let l = Layout::from_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
        )
        .unwrap();
        assert_eq!(l.mode, Mode::V2);
        assert!(l.v1.is_empty());
        assert_eq!(l.unified.unwrap().mountpoint, Path::new("/sys/fs/cgroup"));
    }

    #[test]
    fn v1_host_with_comounted_controllers_and_options() {
        let l = Layout::from_mountinfo(
            "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n\
             26 24 0:23 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n\
             27 24 0:24 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n\
             28 24 0:24 /docker/abc /mnt/mem\\040x ro - cgroup cgroup rw,memory\n",
        )
        .unwrap();
        assert_eq!(l.mode, Mode::V1);
        assert_eq!(l.v1.len(), 3);
        let cpu = l.v1_hierarchy("cpuacct").unwrap();
        assert_eq!(cpu.controllers, "cpu,cpuacct");
        assert_eq!(cpu.mountpoint, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(l.v1_hierarchy("name=systemd").unwrap().controllers, "name=systemd");
        assert_eq!(l.v1_hierarchy("memory").unwrap().root, "/docker/abc");
    }

    #[test]
    fn no_cgroups_is_an_error() {
        assert!(matches!(
            Layout::from_mountinfo("22 1 0:5 / /proc rw - proc proc rw\n"),
            Err(Error::NoCgroupMount)
        ));
    }

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn own_cgroups() {
        let own = OwnCgroups::parse("4:memory:/process_api/x\n2:cpu,cpuacct:/a\n0::/user.slice\n");
        assert_eq!(own.v1_path("memory"), Some("/process_api/x"));
        assert_eq!(own.v1_path("cpuacct"), Some("/a"));
        assert_eq!(own.unified.as_deref(), Some("/user.slice"));
    }
}
