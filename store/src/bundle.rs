//! Image → OCI runtime bundle: `config.json` is berth's default spec (`berth spec`, from the
//! runtime crate) with the image config
//! applied (args, env, cwd, user resolved through the image's own passwd/group, exposed
//! ports, labels and stop signal as annotations, volumes as bind mounts), and `rootfs` is
//! either an overlay of the image's shared layer snapshots with a fresh upper dir (mounted
//! here; [`Store::unbundle`] unmounts and removes it) or, with `copy`, a flat private copy.
//!
//! While a bundle exists its snapshots are leased (`leases/<id>.json`), so `gc` keeps them.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use berth_runtime::inroot::InRoot;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layout::atomic_write;
use crate::store::{unpack_flat, Image, Store};
use crate::Progress;

#[derive(Clone, Debug, Default)]
pub struct BundleOptions {
    /// Replaces the image's Cmd (docker's `run IMAGE CMD...`).
    pub args: Option<Vec<String>>,
    /// Replaces the image's Entrypoint (and drops its Cmd unless `args` is given).
    pub entrypoint: Option<Vec<String>>,
    /// Extra `KEY=VALUE` environment, overriding the image's.
    pub env: Vec<String>,
    /// Overrides the image's User.
    pub user: Option<String>,
    /// A flat private copy instead of an overlay mount.
    pub copy: bool,
    /// Give the process a terminal.
    pub terminal: bool,
}

/// A bundle made by [`Store::bundle`].
#[derive(Clone, Debug, Serialize)]
pub struct Bundle {
    pub dir: PathBuf,
    pub image: Digest,
    /// Whether `rootfs` is an overlay mount (to be undone by `unbundle`).
    pub overlay: bool,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Lease {
    pub bundle: PathBuf,
    pub chain_ids: Vec<Digest>,
}

/// Largest overlay option string mount(2) accepts (one page, NUL included).
const MAX_MOUNT_DATA: usize = 4095;

impl Store {
    pub fn bundle(&self, what: &str, dir: &Path, opts: &BundleOptions, progress: &dyn Progress) -> Result<Bundle> {
        let img = self.resolve(what)?;
        self.bundle_image(&img, dir, opts, progress)
    }

    /// [`Store::bundle`] for an image already in hand (e.g. an untagged one from
    /// `put_image` or `load`).
    pub fn bundle_image(&self, img: &Image, dir: &Path, opts: &BundleOptions, progress: &dyn Progress) -> Result<Bundle> {
        if let Ok(mut rd) = fs::read_dir(dir) {
            if rd.next().is_some() {
                return Err(Error::other(dir.display().to_string(), "bundle directory exists and is not empty"));
            }
        }
        fs::create_dir_all(dir).ctx(dir)?;
        let dir = fs::canonicalize(dir).ctx(dir)?;
        let res = self.bundle_into(img, &dir, opts, progress);
        if res.is_err() {
            let _ = self.unbundle(&dir);
        }
        res
    }

    fn bundle_into(&self, img: &Image, dir: &Path, opts: &BundleOptions, progress: &dyn Progress) -> Result<Bundle> {
        let rootfs = dir.join("rootfs");
        let overlay = !opts.copy;
        if opts.copy {
            unpack_flat(&self.content, img, &rootfs, progress)?;
        } else {
            let lowers = self.snapshots.ensure(&self.content, &img.manifest.layers, &img.config, progress)?;
            self.write_lease(dir, &img.chain_ids())?;
            for d in ["upper", "work", "rootfs"] {
                fs::DirBuilder::new().mode(0o755).create(dir.join(d)).ctx(dir.join(d))?;
            }
            let mut lower_list: Vec<String> = lowers.iter().rev().map(|p| p.display().to_string()).collect();
            if lower_list.is_empty() {
                let empty = dir.join("empty");
                fs::create_dir(&empty).ctx(&empty)?;
                lower_list.push(empty.display().to_string());
            }
            for l in &lower_list {
                if l.contains(',') || l.contains(':') {
                    return Err(Error::other(l.clone(), "overlay lower dir path contains ',' or ':'"));
                }
            }
            let data = format!("lowerdir={},upperdir={},workdir={}", lower_list.join(":"), dir.join("upper").display(), dir.join("work").display());
            if data.len() > MAX_MOUNT_DATA {
                return Err(Error::other(rootfs.display().to_string(), format!("{} layers make overlay options of {} bytes, more than mount(2) takes; use --copy", lowers.len(), data.len())));
            }
            mount_overlay(&rootfs, &data)?;
        }
        let spec = spec_for(img, &rootfs, dir, opts)?;
        atomic_write(&dir.join("config.json"), &serde_json::to_vec_pretty(&spec).expect("spec serialises"))?;
        Ok(Bundle { dir: dir.to_path_buf(), image: img.id().clone(), overlay })
    }

    fn lease_path(&self, dir: &Path) -> PathBuf {
        self.root().join("leases").join(format!("{}.json", &Digest::sha256_of(dir.as_os_str().as_encoded_bytes()).hex()[..24]))
    }

    fn write_lease(&self, dir: &Path, chain_ids: &[Digest]) -> Result<()> {
        let p = self.lease_path(dir);
        fs::create_dir_all(p.parent().unwrap()).ctx(p.parent().unwrap())?;
        let l = Lease { bundle: dir.to_path_buf(), chain_ids: chain_ids.to_vec() };
        atomic_write(&p, &serde_json::to_vec(&l).expect("lease serialises"))
    }

    /// Chain ids held by bundles that still exist (stale leases are removed).
    pub(crate) fn leased_chain_ids(&self) -> Result<Vec<Digest>> {
        let dir = self.root().join("leases");
        let mut out = vec![];
        let Ok(rd) = fs::read_dir(&dir) else { return Ok(out) };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(bytes) = fs::read(&p) else { continue };
            match serde_json::from_slice::<Lease>(&bytes) {
                Ok(l) if l.bundle.exists() => out.extend(l.chain_ids),
                _ => {
                    let _ = fs::remove_file(&p);
                }
            }
        }
        Ok(out)
    }

    /// Undo [`Store::bundle`]: unmount the overlay (if any), drop the lease, remove the dir.
    pub fn unbundle(&self, dir: &Path) -> Result<()> {
        let dir = fs::canonicalize(dir).ctx(dir)?;
        let rootfs = dir.join("rootfs");
        if is_mount_point(&rootfs) {
            let c = crate::fsutil::cstring(rootfs.as_os_str()).ctx(&rootfs)?;
            // SAFETY: plain syscall with a NUL-terminated path.
            if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EBUSY) {
                    return Err(Error::other(rootfs.display().to_string(), "overlay is busy (is a container still running from this bundle?)"));
                }
                return Err(Error::io(&rootfs, e));
            }
        }
        let _ = fs::remove_file(self.lease_path(&dir));
        crate::fsutil::remove_tree(&dir).ctx(&dir)
    }
}

fn mount_overlay(target: &Path, data: &str) -> Result<()> {
    let t = crate::fsutil::cstring(target.as_os_str()).ctx(target)?;
    let d = std::ffi::CString::new(data).map_err(|_| Error::other(target.display().to_string(), "NUL in overlay options"))?;
    // SAFETY: all pointers are NUL-terminated strings that live across the call.
    let r = unsafe { libc::mount(c"overlay".as_ptr(), t.as_ptr(), c"overlay".as_ptr(), 0, d.as_ptr().cast()) };
    if r != 0 {
        return Err(Error::other(target.display().to_string(), format!("mounting the overlay: {}", std::io::Error::last_os_error())));
    }
    Ok(())
}

fn is_mount_point(p: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else { return false };
    let want = p.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4).is_some_and(|m| unescape_mountinfo(m) == want))
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// The runtime spec for `img` (see the module docs).
pub fn spec_for(img: &Image, rootfs: &Path, dir: &Path, opts: &BundleOptions) -> Result<Value> {
    let mut spec = berth_runtime::spec::default::default_spec(false);
    let cfg = img.config.config.clone().unwrap_or_default();
    let entrypoint = opts.entrypoint.clone().or(cfg.entrypoint.clone()).unwrap_or_default();
    let cmd = match (&opts.args, &opts.entrypoint) {
        (Some(a), _) => a.clone(),
        (None, Some(_)) => vec![],
        (None, None) => cfg.cmd.clone().unwrap_or_default(),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(Error::other(format!("image {}", img.label()), "no command: the image has neither Entrypoint nor Cmd and none was given"));
    }
    // Environment: the image's, then overrides by key; PATH defaulted like docker.
    let mut env: Vec<String> = cfg.env.clone().unwrap_or_default();
    for e in &opts.env {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    let user_spec = opts.user.clone().or(cfg.user.clone()).unwrap_or_default();
    let root = InRoot::open(rootfs).ctx(rootfs)?;
    let user = resolve_user(&root, &user_spec).map_err(|reason| Error::other(format!("image {} user {user_spec:?}", img.label()), reason))?;
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    if opts.terminal && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let cwd = match cfg.working_dir.as_deref() {
        Some(w) if !w.is_empty() => if w.starts_with('/') { w.to_owned() } else { format!("/{w}") },
        _ => "/".into(),
    };
    let p = &mut spec["process"];
    p["args"] = json!(args);
    p["env"] = json!(env);
    p["cwd"] = json!(cwd);
    p["terminal"] = json!(opts.terminal);
    p["user"] = json!({"uid": user.uid, "gid": user.gid, "additionalGids": user.groups});
    spec["root"] = json!({"path": "rootfs", "readonly": false});
    spec["hostname"] = json!("berth");

    let mut ann: BTreeMap<String, String> = BTreeMap::new();
    if let Some(labels) = &cfg.labels {
        ann.extend(labels.clone());
    }
    ann.insert("org.opencontainers.image.os".into(), img.config.os.clone());
    ann.insert("org.opencontainers.image.architecture".into(), img.config.architecture.clone());
    if let Some(c) = &img.config.created {
        ann.insert("org.opencontainers.image.created".into(), c.clone());
    }
    if let Some(a) = &img.config.author {
        ann.insert("org.opencontainers.image.author".into(), a.clone());
    }
    if let Some(s) = &cfg.stop_signal {
        ann.insert("org.opencontainers.image.stopSignal".into(), s.clone());
    }
    if let Some(ports) = &cfg.exposed_ports {
        if !ports.is_empty() {
            ann.insert("org.opencontainers.image.exposedPorts".into(), ports.keys().cloned().collect::<Vec<_>>().join(","));
        }
    }
    if let Some(n) = &img.name {
        ann.insert("org.opencontainers.image.ref.name".into(), n.clone());
    }
    spec["annotations"] = json!(ann);

    if let Some(vols) = &cfg.volumes {
        let mounts = spec["mounts"].as_array_mut().expect("default spec has mounts");
        for (i, v) in vols.keys().enumerate() {
            if !v.starts_with('/') {
                continue;
            }
            let src = dir.join("volumes").join(i.to_string());
            fs::create_dir_all(&src).ctx(&src)?;
            mounts.push(json!({"destination": v, "type": "bind", "source": src, "options": ["rbind", "rw"]}));
        }
    }
    Ok(spec)
}

pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

/// docker's rules for `User`: `""` is root; `name|uid[:group|gid]`; names looked up in the
/// image's `/etc/passwd` and `/etc/group` (read inside the root, never the host's); a numeric
/// uid absent from passwd is allowed with gid 0 unless given.
pub fn resolve_user(root: &InRoot, spec: &str) -> std::result::Result<ResolvedUser, String> {
    let passwd = read_in_root(root, "/etc/passwd");
    let group = read_in_root(root, "/etc/group");
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users: Vec<Vec<&str>> = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 7).collect();
    let groups: Vec<Vec<&str>> = group.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 4).collect();
    let (uid, mut gid, name, home) = if u.is_empty() {
        let e = users.iter().find(|f| f[2] == "0");
        (0, 0, e.map(|f| f[0].to_owned()).unwrap_or_else(|| "root".into()), e.map(|f| f[5].to_owned()).unwrap_or_else(|| "/root".into()))
    } else if let Ok(n) = u.parse::<u32>() {
        match users.iter().find(|f| f[2] == u) {
            Some(f) => (n, f[3].parse().unwrap_or(0), f[0].to_owned(), f[5].to_owned()),
            None => (n, 0, String::new(), "/".into()),
        }
    } else {
        let f = users.iter().find(|f| f[0] == u).ok_or_else(|| format!("no user {u:?} in the image's /etc/passwd"))?;
        (f[2].parse().map_err(|_| format!("bad uid for {u:?} in /etc/passwd"))?, f[3].parse().unwrap_or(0), u.to_owned(), f[5].to_owned())
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups.iter().find(|f| f[0] == g).ok_or_else(|| format!("no group {g:?} in the image's /etc/group"))?[2].parse().map_err(|_| format!("bad gid for {g:?}"))?,
        };
    }
    let mut extra = vec![];
    if !name.is_empty() && g.is_none() {
        for f in &groups {
            if f[3].split(',').any(|m| m == name) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if n != gid && !extra.contains(&n) {
                        extra.push(n);
                    }
                }
            }
        }
    }
    Ok(ResolvedUser { uid, gid, groups: extra, home: if home.is_empty() { "/".into() } else { home } })
}

fn read_in_root(root: &InRoot, path: &str) -> String {
    let Ok(fd) = root.open_at(Path::new(path), libc::O_RDONLY, 0) else { return String::new() };
    let mut s = String::new();
    let _ = std::fs::File::from(fd).take(4 << 20).read_to_string(&mut s);
    s
}
