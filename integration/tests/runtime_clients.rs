//! Real clients drive `berth` as their runc: containerd's runc shim (`ctr run --runc-binary`)
//! against a private containerd, and `buildah run --runtime`. Each test skips (with a note)
//! when its peer is not installed; CI installs both.

use berth_integration::runtime::{stderr, Berth};
use berth_integration::{make_busybox_rootfs, unique_id, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn have(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).stdout(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?} failed: {}\n{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A one-layer busybox OCI image (umoci), written as an OCI layout tar.
fn make_image(tmp: &Path, name: &str) -> PathBuf {
    let layout = tmp.join("layout");
    let image = format!("{}:{name}", layout.display());
    run(Command::new("umoci").args(["init", "--layout"]).arg(&layout));
    run(Command::new("umoci").args(["new", "--image", &image]));
    let unpacked = tmp.join("unpacked");
    run(Command::new("umoci").args(["unpack", "--image", &image]).arg(&unpacked));
    make_busybox_rootfs(&unpacked.join("rootfs"));
    run(Command::new("umoci").args(["repack", "--image", &image]).arg(&unpacked));
    run(Command::new("umoci").args(["config", "--image", &image, "--config.cmd", "/bin/sh", "--config.env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "--config.workingdir", "/"]));
    let tar = tmp.join("image.tar");
    run(Command::new("tar").arg("-C").arg(&layout).arg("-cf").arg(&tar).arg("."));
    tar
}

/// A private containerd (own root, state, sockets; CRI off), stopped on drop with its shims.
struct Containerd {
    child: Child,
    sock: PathBuf,
}

impl Containerd {
    fn start(dir: &Path) -> Containerd {
        let sock = dir.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n[debug]\n  address = \"{dbg}\"\n\
             [metrics]\n  address = \"\"\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            sock = sock.display(),
            dbg = dir.join("debug.sock").display(),
            opt = dir.join("opt").display(),
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let c = Containerd { child, sock };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if c.ctr().arg("version").output().map(|o| o.status.success()).unwrap_or(false) {
                return c;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("containerd did not come up: {}", std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default());
    }

    fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.sock).args(["--namespace", "berth-test"]);
        c
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Shims outlive containerd by design: end the ones started for our socket, by pid.
        let needle = format!("-address {}", self.sock.display());
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                if cmdline.contains("containerd-shim") && cmdline.contains(&needle) {
                    // SAFETY: signalling one process we identified by its exact arguments.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

#[test]
fn containerd_runc_shim_runs_berth() {
    for tool in ["containerd", "ctr", "umoci", "containerd-shim-runc-v2"] {
        if !have(tool) {
            eprintln!("skipping: {tool} not installed (apt-get install containerd umoci)");
            return;
        }
    }
    let b = Berth::new("ctrd");
    let tmp = TempDir::new("ctrd");
    let tar = make_image(tmp.path(), "docker.io/library/berth-busybox:latest");
    let ctrd = Containerd::start(tmp.path());
    run(ctrd.ctr().args(["image", "import"]).arg(&tar));
    let runc_root = tmp.path().join("runc-root");
    let id = unique_id("ctr");
    let out = run(ctrd
        .ctr()
        .args(["run", "--rm", "--runc-binary"])
        .arg(&b.bin)
        .arg("--runc-root")
        .arg(&runc_root)
        .args(["docker.io/library/berth-busybox:latest", &id, "sh", "-c", "echo hello from pid $$; exit 0"]));
    assert_eq!(out.trim(), "hello from pid 1");
    // Exit codes come back through the shim.
    let o = ctrd
        .ctr()
        .args(["run", "--rm", "--runc-binary"])
        .arg(&b.bin)
        .arg("--runc-root")
        .arg(&runc_root)
        .args(["docker.io/library/berth-busybox:latest", &unique_id("ctr"), "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // Nothing left in berth's state root for that namespace.
    let left: Vec<_> = std::fs::read_dir(runc_root.join("berth-test")).map(|r| r.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn buildah_run_with_berth() {
    for tool in ["buildah", "umoci"] {
        if !have(tool) {
            eprintln!("skipping: {tool} not installed (apt-get install buildah umoci)");
            return;
        }
    }
    let b = Berth::new("buildah");
    let tmp = TempDir::new("buildah");
    let tar = make_image(tmp.path(), "docker.io/library/berth-busybox:latest");
    let buildah = |args: &[&str]| {
        let mut c = Command::new("buildah");
        c.arg("--root").arg(tmp.path().join("root")).arg("--runroot").arg(tmp.path().join("runroot")).args(["--storage-driver", "vfs"]).args(args);
        c
    };
    run(&mut buildah(&["pull", "-q", &format!("oci-archive:{}", tar.display())]));
    // buildah's default seccomp profile applies: berth compiles and loads it.
    let ctr = run(&mut buildah(&["from", "--pull-never", "docker.io/library/berth-busybox:latest"])).trim().to_owned();
    let berth = b.bin.to_str().unwrap().to_owned();
    let out = run(&mut buildah(&["run", "--runtime", &berth, "--network", "none", &ctr, "--", "sh", "-c", "echo run-ok; id -u"]));
    assert_eq!(out, "run-ok\n0\n");
    let o = buildah(&["run", "--runtime", &berth, "--network", "none", &ctr, "--", "sh", "-c", "exit 4"]).output().unwrap();
    assert!(!o.status.success());
    run(&mut buildah(&["rm", &ctr]));
    // buildah mounts its layers under our temp root; leave nothing mounted.
    let _ = buildah(&["unshare", "true"]).output();
}
