//! The CVEs runc has had, each as a test: mount destinations through symlinks, fd leaks and
//! the cwd check, overwriting the runtime binary through /proc/self/exe.

use berth_integration::runtime::Berth;
use berth_integration::unique_id;
use serde_json::json;

#[test]
fn symlinked_mount_destinations_stay_inside_rootfs() {
    let b = Berth::new("symlink");
    let mut bundle = b.bundle(&[]);
    let root = bundle.rootfs();
    std::os::unix::fs::symlink("/", root.join("to-root")).unwrap();
    std::os::unix::fs::symlink("../..", root.join("up-up")).unwrap();
    std::os::unix::fs::symlink("/../../../tmp/escape-target", root.join("abs-escape")).unwrap();
    let canary = b.tmp.path().join("canary");
    std::fs::create_dir_all(&canary).unwrap();
    let mounts = bundle.spec["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/to-root/landed1", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/up-up/landed2", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/abs-escape", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/up-up", "type": "bind", "source": canary, "options": ["bind"]}));
    bundle.sh("grep -E 'landed|escape|up-up' /proc/self/mountinfo | cut -d' ' -f5 | sort");
    let out = b.output(&bundle);
    let points: Vec<&str> = out.lines().collect();
    // Every destination resolved inside the rootfs: "/" and "../.." are the rootfs itself.
    assert!(points.contains(&"/landed1"), "{out}");
    assert!(points.contains(&"/landed2"), "{out}");
    assert!(points.contains(&"/tmp/escape-target"), "{out}");
    assert!(!std::path::Path::new("/landed1").exists());
    assert!(!std::path::Path::new("/tmp/escape-target").exists());
    assert!(root.join("landed1").is_dir() && root.join("tmp/escape-target").is_dir());
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains("landed"), "a container mount reached the host");
}

#[test]
fn proc_symlink_is_not_followed_out() {
    // A rootfs whose /proc is a symlink to a host directory: proc must land inside.
    let b = Berth::new("procsym");
    let bundle = b.bundle(&["sh", "-c", "grep ' /host-proc ' /proc/self/mountinfo | wc -l; grep -c ' proc ' /proc/self/mountinfo"]);
    let root = bundle.rootfs();
    std::fs::remove_dir(root.join("proc")).unwrap();
    std::fs::create_dir_all(root.join("host-proc")).unwrap();
    std::os::unix::fs::symlink("/host-proc", root.join("proc")).unwrap();
    let (code, out, err) = b.run_bundle(&bundle);
    // Either it works with proc inside the rootfs, or it fails cleanly; never a host write.
    if code == 0 {
        assert!(out.lines().next().unwrap().trim() != "", "{out}");
    } else {
        assert!(!err.is_empty());
    }
}

#[test]
fn no_fd_leaks_and_cwd_inside() {
    let b = Berth::new("fdleak");
    let mut bundle = b.bundle(&[]);
    bundle.sh("for f in /proc/self/fd/*; do echo \"$f -> $(readlink $f)\"; done; pwd");
    let out = b.output(&bundle);
    let fds: Vec<&str> = out.lines().filter(|l| l.starts_with("/proc/self/fd/")).collect();
    // 0, 1, 2 and the shell's own glob dir fd at most.
    for l in &fds {
        let n: i32 = l["/proc/self/fd/".len()..].split(' ').next().unwrap().parse().unwrap();
        if n <= 2 {
            continue; // the caller's stdio (here: the test's capture files)
        }
        assert!(fds.len() <= 4, "leaked fd: {l}\n{out}");
        assert!(!l.contains("berth-it-") && !l.contains("socket:") && !l.contains("exec.fifo") && !l.contains("state"), "leaked fd: {l}");
    }
    assert_eq!(out.lines().last().unwrap(), "/");
}

#[test]
fn cwd_outside_the_container_is_refused() {
    // CVE-2024-21626: a cwd reached through a leaked fd resolves outside the root. With no
    // fd leaked, /proc/self/fd/N as cwd does not exist inside the container: a clean error.
    let b = Berth::new("cwd");
    let mut bundle = b.bundle(&["true"]);
    bundle.spec["process"]["cwd"] = json!("/proc/self/fd/7");
    let (code, _, err) = b.run_bundle(&bundle);
    assert_ne!(code, 0);
    assert!(err.contains("cwd") || err.contains("chdir"), "{err}");
}

#[test]
fn runtime_binary_cannot_be_overwritten() {
    // CVE-2019-5736: the entrypoint is a script whose interpreter is /proc/self/exe, so the
    // container's first process is the runtime binary itself; then a process in the
    // container tries to open that binary for writing through /proc/<pid>/exe.
    let b = Berth::new("exe");
    let before = std::fs::read(&b.bin).unwrap();
    let mut bundle = b.bundle(&[]);
    std::fs::write(bundle.rootfs().join("evil"), "#!/proc/self/exe\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bundle.rootfs().join("evil"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Entrypoint through the runtime binary (it fails, being called as "evil").
    bundle.spec["process"]["args"] = json!(["/evil"]);
    let _ = b.run_bundle(&bundle);
    // A container process reaching the runtime: the init of a created container is berth
    // until start; pid 1 is visible in the container's /proc.
    let attacker = b.bundle(&["true"]);
    let id = unique_id("victim");
    b.ok(["create", "-b", attacker.dir.to_str().unwrap(), &id]);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    let target = std::fs::read_link(&exe).unwrap();
    let r = std::fs::OpenOptions::new().write(true).open(&exe);
    let err = r.expect_err("the runtime binary was opened for writing");
    let code = err.raw_os_error();
    assert!(code == Some(libc::EROFS) || code == Some(libc::ETXTBSY), "{err} ({target:?})");
    b.ok(["delete", "--force", &id]);
    assert_eq!(std::fs::read(&b.bin).unwrap(), before, "berth binary changed");
}
