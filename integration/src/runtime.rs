//! Harness for the `berth` runtime tests: a private state root, busybox bundles with a
//! config.json from `berth spec` edited per test, the binary driven as runc's clients drive
//! it, and checks that a container left nothing behind (state dir, mounts, processes).

use crate::{bin, make_busybox_rootfs, unique_id, TempDir};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A private `--root` plus a scratch dir for bundles.
pub struct Berth {
    pub tmp: TempDir,
    pub root: PathBuf,
    pub bin: PathBuf,
}

/// A bundle: `dir/rootfs` (busybox) and `dir/config.json` (`spec`, written by [`Bundle::save`]).
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Value,
}

impl Berth {
    pub fn new(prefix: &str) -> Berth {
        let tmp = TempDir::new(prefix);
        let root = tmp.path().join("state");
        Berth { root, bin: bin("berth"), tmp }
    }

    /// A `berth --root ROOT ARGS...` command (stdin null, output captured).
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args).stdin(Stdio::null());
        c
    }

    /// Run to completion. stdout/stderr go through files, not pipes: a created or detached
    /// container inherits them and would otherwise hold a pipe open after berth exits.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        output_via_files(&mut self.cmd(args), self.tmp.path())
    }

    /// Run and insist on success; returns stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr> + std::fmt::Debug,
    {
        let args: Vec<S> = args.into_iter().collect();
        let desc = format!("{args:?}");
        let o = self.run(args);
        assert!(o.status.success(), "berth {desc} failed: {}\nstdout: {}", stderr(&o), String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run and insist on failure; returns stderr.
    pub fn fails<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr> + std::fmt::Debug,
    {
        let args: Vec<S> = args.into_iter().collect();
        let desc = format!("{args:?}");
        let o = self.run(args);
        assert!(!o.status.success(), "berth {desc} should have failed; stdout: {}", String::from_utf8_lossy(&o.stdout));
        stderr(&o)
    }

    /// A fresh busybox bundle running `args` (terminal off).
    pub fn bundle(&self, args: &[&str]) -> Bundle {
        let dir = self.tmp.path().join(unique_id("bundle"));
        make_busybox_rootfs(&dir.join("rootfs"));
        let o = Command::new(&self.bin).args(["spec", "--bundle"]).arg(&dir).output().expect("berth spec");
        assert!(o.status.success(), "berth spec: {}", stderr(&o));
        let mut spec: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        spec["process"]["terminal"] = json!(false);
        // Tests write into their rootfs; the read-only root has its own test.
        spec["root"]["readonly"] = json!(false);
        spec["process"]["args"] = json!(args);
        let b = Bundle { dir, spec };
        b.save();
        b
    }

    /// `run` a bundle in the foreground; (exit code, stdout, stderr).
    pub fn run_bundle(&self, b: &Bundle) -> (i32, String, String) {
        b.save();
        let id = unique_id("c");
        let o = output_via_files(self.cmd(["run", "-b"]).arg(&b.dir).arg(&id), self.tmp.path());
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), stderr(&o))
    }

    /// Like [`run_bundle`] but the container must exit 0; returns stdout.
    pub fn output(&self, b: &Bundle) -> String {
        let (code, out, err) = self.run_bundle(b);
        assert_eq!(code, 0, "container failed (exit {code}): {err}\nstdout: {out}");
        out
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(["state", id])).expect("state json")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_owned()
    }

    /// Poll `state` until the container is stopped (bounded).
    pub fn wait_stopped(&self, id: &str) {
        for _ in 0..1000 {
            if self.status(id) == "stopped" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} did not stop");
    }

    /// Nothing of container `id` is left: no state dir, no mount of the bundle, no process
    /// whose pid was `pid` (when given).
    pub fn assert_clean(&self, id: &str, bundle: &Bundle, pid: Option<i32>) {
        assert!(!self.root.join(id).exists(), "state dir of {id} left behind");
        // The default cgroup of a container without cgroupsPath is /<id> in each hierarchy.
        for ctrl in ["memory", "pids", "cpu", "devices", "freezer", "unified"] {
            let p = std::path::Path::new("/sys/fs/cgroup").join(ctrl).join(id);
            assert!(!p.exists(), "cgroup {} left behind", p.display());
        }
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = bundle.dir.to_string_lossy();
        assert!(!mi.contains(dir.as_ref()), "a mount of {dir} is left behind");
        if let Some(pid) = pid {
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                // A zombie is dead; reaping it is its parent's (here the host init's) business.
                let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("");
                assert_eq!(state, "Z", "process {pid} still exists: {stat}");
            }
        }
    }
}

impl Bundle {
    pub fn save(&self) {
        std::fs::write(self.dir.join("config.json"), serde_json::to_vec_pretty(&self.spec).unwrap()).unwrap();
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub fn path(&self) -> &Path {
        &self.dir
    }
    /// Set process.args to `sh -c SCRIPT`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.spec["process"]["args"] = json!(["sh", "-c", script]);
        self.save();
        self
    }
}

/// `cmd.output()`, with stdout and stderr captured in files under `dir`.
pub fn output_via_files(cmd: &mut Command, dir: &Path) -> Output {
    let out = dir.join(unique_id("stdout"));
    let err = dir.join(unique_id("stderr"));
    let status = cmd
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .expect("run berth");
    let o = Output { status, stdout: std::fs::read(&out).unwrap_or_default(), stderr: std::fs::read(&err).unwrap_or_default() };
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_file(err);
    o
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value of a `Key:\tvalue` line of /proc/self/status-style text.
pub fn status_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')).map(str::trim))
}
