//! A private containerd for tests: its own root, state, sockets and config under a temp dir
//! (CRI off unless asked for), a containerd namespace unique to the test, and a busybox OCI
//! image written here (an OCI image layout, one uncompressed layer) and imported with
//! `ctr image import`. Dropping it removes tasks, stops containerd and the shims it started
//! (by pid), and removes what they leave: mounts, the namespace's cgroup parents, sockets.

use crate::{make_busybox_rootfs, unique_id, TempDir};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Containerd {
    pub dir: TempDir,
    pub sock: PathBuf,
    /// containerd namespace the test uses (unique: its cgroup parent and runtime root too).
    pub ns: String,
    child: Option<Child>,
    config: PathBuf,
    path_prepend: Option<PathBuf>,
}

/// What to add to containerd's config (e.g. the CRI plugin's settings).
#[derive(Default)]
pub struct Options {
    /// Keep the CRI plugin enabled.
    pub cri: bool,
    /// Appended to config.toml verbatim.
    pub extra_config: String,
    /// Put first on containerd's PATH (where it finds `containerd-shim-<name>-v2` binaries).
    pub path_prepend: Option<PathBuf>,
}

/// The tools these tests need; a clear panic when one is missing.
pub fn require_tools() {
    for t in ["containerd", "ctr", "tar"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
            .unwrap_or(false);
        assert!(found, "{t} not found: apt-get install containerd");
    }
}

impl Containerd {
    pub fn start() -> Containerd {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Containerd {
        require_tools();
        let dir = TempDir::new("ctrd");
        let d = dir.path().to_path_buf();
        for s in ["root", "state", "opt"] {
            std::fs::create_dir_all(d.join(s)).unwrap();
        }
        let sock = d.join("containerd.sock");
        let disabled = if opts.cri { "" } else { "\"io.containerd.grpc.v1.cri\"" };
        let config = d.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [{disabled}]\n\
                 [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
                 [debug]\n  address = \"{debug}\"\n  level = \"debug\"\n[metrics]\n  address = \"\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n{extra}\n",
                root = d.join("root").display(),
                state = d.join("state").display(),
                sock = sock.display(),
                debug = d.join("debug.sock").display(),
                opt = d.join("opt").display(),
                extra = opts.extra_config,
            ),
        )
        .unwrap();
        let mut c = Containerd { dir, sock, ns: unique_id("bt").replace('-', "_"), child: None, config, path_prepend: opts.path_prepend };
        c.launch();
        c
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("containerd.log")).unwrap();
        let mut cmd = Command::new("containerd");
        if let Some(p) = &self.path_prepend {
            let path = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{path}", p.display()));
        }
        let child = cmd
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.ctr(&["version"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("containerd did not come up:\n{}", self.log());
    }

    /// Stop containerd (SIGTERM, then SIGKILL) and start it again on the same state.
    pub fn restart(&mut self) {
        self.stop_daemon();
        self.launch();
    }

    fn stop_daemon(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: our child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr -a SOCK -n NS args...`
    pub fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a").arg(&self.sock).arg("-n").arg(&self.ns).args(args);
        c.stdin(Stdio::null());
        c
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_cmd(args).output().expect("run ctr")
    }

    /// Run ctr, require success, return stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let o = self.ctr(args);
        assert!(o.status.success(), "ctr {args:?} failed ({}):\n{}\n{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Build and import the busybox test image (Cmd /bin/sh); returns its reference.
    pub fn import_busybox(&self) -> String {
        self.import_image("berth-busybox", &[], &["/bin/sh"], &self.ns.clone())
    }

    /// Build a busybox image with `entrypoint`/`cmd`, import it into namespace `ns`.
    pub fn import_image(&self, name: &str, entrypoint: &[&str], cmd: &[&str], ns: &str) -> String {
        let reference = format!("docker.io/library/{name}:latest");
        let tar = self.dir.path().join(format!("{name}.tar"));
        write_image_tar(&tar, &reference, entrypoint, cmd, &self.dir.path().join(format!("{name}-build")));
        let o = Command::new("ctr").arg("-a").arg(&self.sock).arg("-n").arg(ns).args(["image", "import"]).arg(&tar).output().unwrap();
        assert!(o.status.success(), "ctr image import: {}", String::from_utf8_lossy(&o.stderr));
        reference
    }

    /// Task ids and statuses as `ctr task ls` shows them.
    pub fn tasks(&self) -> Vec<(String, String)> {
        self.ctr_ok(&["task", "ls"])
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 3).then(|| (f[0].to_owned(), f[2].to_owned()))
            })
            .collect()
    }

    /// Pids of shims started for this containerd (matched on `-address <our socket>`).
    pub fn shim_pids(&self) -> Vec<i32> {
        let needle = format!("-address\0{}\0", self.sock.display());
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains("containerd-shim") && cmd.contains(&needle) && !cmd.ends_with("\0start\0") && !cmd.ends_with("\0delete\0") {
                out.push(pid);
            }
        }
        out
    }

    /// The bundle directory containerd made for task `id`.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.dir.path().join("state/io.containerd.runtime.v2.task").join(&self.ns).join(id)
    }

    /// Mount points under our temp dir (leaks show up here).
    pub fn mounts(&self) -> Vec<String> {
        let prefix = self.dir.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
            .filter(|m| m.starts_with(&prefix))
            .collect()
    }

    /// cgroup directories left for container `id` under our namespace's parent.
    pub fn cgroups_of(&self, id: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for c in rd.flatten() {
                let p = c.path().join(&self.ns).join(id);
                if p.exists() {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Wait until `f` holds (polling), or panic with `what` and containerd's log tail.
    pub fn wait_for(&self, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        panic!("timed out waiting for {what}; containerd log tail:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let keep = std::env::var_os("BERTH_KEEP_TMP").is_some();
        // Every namespace (CRI uses k8s.io): kill and delete tasks, delete containers.
        let namespaces = if self.child.is_some() && !keep { self.namespaces() } else { Vec::new() };
        for ns in &namespaces {
            for id in self.list_in(ns, &["task", "ls", "-q"]) {
                let _ = self.ctr_in(ns, &["task", "kill", "-a", "-s", "SIGKILL", &id]);
                let _ = self.ctr_in(ns, &["task", "delete", "-f", &id]);
            }
            for id in self.list_in(ns, &["container", "ls", "-q"]) {
                let _ = self.ctr_in(ns, &["container", "delete", &id]);
            }
        }
        self.stop_daemon();
        // Shims outlive containerd by design: end ours by pid, and remove their sockets.
        let addresses: Vec<String> = glob_addresses(&self.dir.path().join("state/io.containerd.runtime.v2.task"));
        for pid in self.shim_pids() {
            // SAFETY: plain kill of a process we started (matched on our private socket).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for a in addresses {
            let _ = std::fs::remove_file(a.trim_start_matches("unix://"));
        }
        // Safety net: containers berth still knows about whose bundle is under our temp dir
        // (a shim killed before containerd could clean up): kill them, drop their state.
        let prefix = self.dir.path().to_string_lossy().into_owned();
        for ns in std::fs::read_dir("/run/containerd/berth").into_iter().flatten().flatten() {
            for c in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                let Ok(raw) = std::fs::read(c.path().join("state.json")) else { continue };
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&raw) else { continue };
                if !v["bundle"].as_str().is_some_and(|b| b.starts_with(&prefix)) {
                    continue;
                }
                if let Some(pid) = v["pid"].as_i64().filter(|p| *p > 0) {
                    // SAFETY: the init of a container our test created (its bundle is ours).
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
                let _ = std::fs::remove_dir_all(c.path());
            }
        }
        for d in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let _ = std::fs::remove_dir(d.path().join(&self.ns));
        }
        let _ = std::fs::remove_dir_all(Path::new("/run/containerd/berth").join(&self.ns));
    }
}

impl Containerd {
    fn ctr_in(&self, ns: &str, args: &[&str]) -> Option<Output> {
        Command::new("ctr").arg("-a").arg(&self.sock).arg("-n").arg(ns).args(args).stdin(Stdio::null()).output().ok()
    }

    fn list_in(&self, ns: &str, args: &[&str]) -> Vec<String> {
        self.ctr_in(ns, args).map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect()).unwrap_or_default()
    }

    fn namespaces(&self) -> Vec<String> {
        let mut v = self.list_in("default", &["namespaces", "ls", "-q"]);
        if !v.contains(&self.ns) {
            v.push(self.ns.clone());
        }
        v
    }
}

fn glob_addresses(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for ns in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for b in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
            if let Ok(a) = std::fs::read_to_string(b.path().join("address")) {
                out.push(a);
            }
        }
    }
    out
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// Write an OCI image layout holding a one-layer busybox image, as a tar `ctr image import`
/// reads; `reference` becomes the image name (org.opencontainers.image.ref.name).
pub fn write_image_tar(out: &Path, reference: &str, entrypoint: &[&str], cmd: &[&str], work: &Path) {
    let _ = std::fs::remove_dir_all(work);
    let rootfs = work.join("rootfs");
    let layout = work.join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    make_busybox_rootfs(&rootfs);
    let layer_path = work.join("layer.tar");
    let st = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer_path)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success(), "tar the layer");
    let layer = std::fs::read(&layer_path).unwrap();
    let blob = |bytes: &[u8]| -> (String, usize) {
        let d = sha256_hex(bytes);
        std::fs::write(layout.join("blobs/sha256").join(&d), bytes).unwrap();
        (format!("sha256:{d}"), bytes.len())
    };
    let (layer_digest, layer_size) = blob(&layer);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let mut cfg = serde_json::json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "WorkingDir": "/",
    });
    if !entrypoint.is_empty() {
        cfg["Entrypoint"] = serde_json::json!(entrypoint);
    }
    if !cmd.is_empty() {
        cfg["Cmd"] = serde_json::json!(cmd);
    }
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let (config_digest, config_size) = blob(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
    });
    let (manifest_digest, manifest_size) = blob(&serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": reference},
        }],
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let st = Command::new("tar").arg("-C").arg(&layout).arg("-cf").arg(out).arg(".").status().unwrap();
    assert!(st.success(), "tar the image layout");
    let _ = std::fs::remove_dir_all(work);
}
