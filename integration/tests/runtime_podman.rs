//! podman (Debian's, through conmon) with `--runtime berth`: the way a podman user would swap
//! berth in for runc. Each test has its own podman storage, run and tmp dirs (vfs storage, no
//! network, cgroupfs manager), so tests run in parallel and leave nothing behind.
//!
//! podman asks for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576 by default; raising a hard limit
//! needs CAP_SYS_RESOURCE, which some hosts (this CI's VM) do not give even to root, so the
//! containers.conf written here keeps both within the current hard limits — as runc needs too.

use berth_integration::runtime::stderr;
use berth_integration::{bin, make_busybox_rootfs, unique_id, TempDir};
use std::path::PathBuf;
use std::process::{Command, Stdio};

struct Podman {
    tmp: TempDir,
    image: String,
}

fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit into a local struct.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut r) }, 0);
    r.rlim_max
}

impl Podman {
    /// None (and a note on stderr) when podman is not installed.
    fn new() -> Option<Podman> {
        let have = Command::new("sh").args(["-c", "command -v podman && command -v conmon"]).stdout(Stdio::null()).status();
        if !have.map(|s| s.success()).unwrap_or(false) {
            eprintln!("skipping: podman/conmon not installed (apt-get install podman)");
            return None;
        }
        let tmp = TempDir::new("podman");
        let nofile = hard_limit(libc::RLIMIT_NOFILE).min(1024);
        let nproc = hard_limit(libc::RLIMIT_NPROC).min(4096);
        std::fs::write(
            tmp.path().join("containers.conf"),
            format!("[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n"),
        )
        .unwrap();
        let rootfs = tmp.path().join("rootfs");
        make_busybox_rootfs(&rootfs);
        let tar = tmp.path().join("rootfs.tar");
        let o = Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").output().unwrap();
        assert!(o.status.success(), "tar: {}", stderr(&o));
        let p = Podman { tmp, image: format!("localhost/{}:1", unique_id("bb")) };
        p.ok(&["import", tar.to_str().unwrap(), &p.image]);
        Some(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let d = |n: &str| -> PathBuf { self.tmp.path().join(n) };
        let mut c = Command::new("timeout");
        c.args(["120", "podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .arg("--root")
            .arg(d("storage"))
            .arg("--runroot")
            .arg(d("run"))
            .arg("--tmpdir")
            .arg(d("libpod"))
            .arg("--runtime")
            .arg(bin("berth"))
            .args(args)
            .env("CONTAINERS_CONF", d("containers.conf"))
            .stdin(Stdio::null());
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "podman {args:?} failed ({}): {}\n{out}", o.status, stderr(&o));
        out
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "-f", "-a", "-t", "0"]).output();
        let _ = self.cmd(&["rmi", "-a", "-f"]).output();
    }
}

#[test]
fn podman_run_foreground_exit_code_volumes_and_tmpfs() {
    let Some(p) = Podman::new() else { return };
    let vol = p.tmp.path().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("f"), "from the host\n").unwrap();
    let volume = format!("{}:/vol", vol.display());
    let out = p.ok(&[
        "run", "--rm", "--network", "none", "-v", &volume, "--tmpfs", "/etc", &p.image,
        "sh", "-c", "echo hello from pid $$; cat /vol/f; grep -c ^root: /etc/passwd; echo x > /vol/g",
    ]);
    // podman's --tmpfs is a tmpcopyup mount: /etc keeps the image's passwd
    assert_eq!(out.lines().collect::<Vec<_>>(), ["hello from pid 1", "from the host", "1"], "{out}");
    assert_eq!(std::fs::read_to_string(vol.join("g")).unwrap(), "x\n");
    let o = p.cmd(&["run", "--rm", "--network", "none", &p.image, "sh", "-c", "exit 7"]).output().unwrap();
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
}

#[test]
fn podman_detached_exec_top_pause_stop_rm() {
    let Some(p) = Podman::new() else { return };
    let name = unique_id("pm");
    p.ok(&["run", "-d", "--network", "none", "--name", &name, &p.image, "sleep", "300"]);
    assert_eq!(p.ok(&["exec", &name, "sh", "-c", "echo exec in $(hostname)"]).trim(), format!("exec in {}", p.ok(&["inspect", "-f", "{{.Config.Hostname}}", &name]).trim()));
    assert!(p.ok(&["top", &name]).contains("sleep 300"));
    p.ok(&["pause", &name]);
    assert_eq!(p.ok(&["inspect", "-f", "{{.State.Status}}", &name]).trim(), "paused");
    p.ok(&["unpause", &name]);
    assert_eq!(p.ok(&["inspect", "-f", "{{.State.Status}}", &name]).trim(), "running");
    p.ok(&["stop", "-t", "1", &name]);
    assert_eq!(p.ok(&["inspect", "-f", "{{.State.Status}}", &name]).trim(), "exited");
    p.ok(&["rm", &name]);
    assert!(p.cmd(&["inspect", &name]).output().map(|o| !o.status.success()).unwrap());
}
