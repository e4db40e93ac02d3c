//! Harness for the builder's tests: write a build context, run `berth-build` with a private
//! store root, read what it said.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Write `files` (path, content) under `dir` (parents created).
pub fn write_context(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = dir.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, c).unwrap();
    }
}

/// A build run: `berth-build --root <tmp>/store --progress plain ARGS...`.
pub struct BuildRun {
    pub output: Output,
}

impl BuildRun {
    pub fn ok(&self) -> bool {
        self.output.status.success()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
}

pub fn store_root(tmp: &Path) -> PathBuf {
    tmp.join("store")
}

pub fn berth_build(tmp: &Path, args: &[&str]) -> BuildRun {
    let output = Command::new(crate::bin("berth-build"))
        .arg("--root")
        .arg(store_root(tmp))
        .arg("--progress")
        .arg("plain")
        .args(args)
        .env_remove("BERTH_STORE_ROOT")
        .output()
        .expect("run berth-build");
    BuildRun { output }
}

/// A busybox image (`make_busybox_rootfs`, one layer) imported into the store at `root` as
/// `localhost/busybox:latest`. Returns the reference.
pub fn import_busybox(tmp: &Path, root: &Path) -> String {
    let rootfs = tmp.join("busybox-rootfs");
    crate::make_busybox_rootfs(&rootfs);
    let out = Command::new("tar")
        .args(["--sort=name", "--numeric-owner", "--owner=0", "--group=0", "--mtime=@1700000000", "-cf", "-", "-C"])
        .arg(&rootfs)
        .arg(".")
        .output()
        .expect("tar");
    assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
    let layout = tmp.join("busybox-layout");
    crate::image_fixture::write_layout(&layout, "latest", &[out.stdout], serde_json::json!({}), &Default::default());
    crate::store::store_ok(root, &["import", "--name", "localhost/busybox", layout.to_str().unwrap()]);
    "localhost/busybox:latest".to_string()
}

/// `berth-store inspect REF` as JSON (the `Config` key holds the image config).
pub fn inspect(root: &Path, reference: &str) -> serde_json::Value {
    let out = crate::store::store_ok(root, &["inspect", reference]);
    serde_json::from_str(&out).expect("inspect JSON")
}

/// `berth-store unpack REF DIR`, returning a listing `path mode uid:gid [size|->target]`.
pub fn unpack_listing(root: &Path, reference: &str, dir: &Path) -> Vec<String> {
    crate::store::store_ok(root, &["unpack", reference, dir.to_str().unwrap()]);
    let out = Command::new("find").arg(".").arg("-printf").arg("%p %y %m %U:%G %s %l\n").current_dir(dir).output().unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            // Directory sizes depend on the file system; drop them.
            let f: Vec<&str> = l.split(' ').collect();
            if f[1] == "d" { format!("{} {} {} {}", f[0], f[1], f[2], f[3]) } else { l.trim_end().to_string() }
        })
        .collect();
    v.sort();
    v
}

/// The image id (config digest) a successful build printed on stdout.
pub fn built_id(r: &BuildRun) -> String {
    assert!(r.ok(), "build failed: {}", r.stderr());
    r.stdout().trim().to_string()
}

/// Run an image's default command: `berth-store bundle --copy` then `berth run`
/// (`$BERTH_TEST_RUNTIME` to use another runtime), returning (exit code, stdout+stderr).
pub fn run_image(tmp: &Path, root: &Path, reference: &str) -> (i32, String) {
    let bundle = tmp.join(format!("bundle-{}", crate::unique_id("b")));
    crate::store::store_ok(root, &["bundle", "--copy", reference, bundle.to_str().unwrap()]);
    let runtime = std::env::var_os("BERTH_TEST_RUNTIME").map(std::path::PathBuf::from).unwrap_or_else(|| crate::bin("berth"));
    let state = tmp.join("runtime-state");
    let out = Command::new(runtime)
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(crate::unique_id("build-run"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the OCI runtime");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let _ = crate::store::store(root, &["unbundle", bundle.to_str().unwrap()]);
    (out.status.code().unwrap_or(-1), text)
}

/// Copy a fixture directory from `integration/fixtures/build/NAME` to `dest`.
pub fn fixture(name: &str, dest: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/build").join(name);
    let st = Command::new("cp").arg("-a").arg(&src).arg(dest).status().unwrap();
    assert!(st.success());
}
