//! Seccomp and LSM settings through the real `berth run`, checked from inside the container.

use berth_integration::seccomp::{notif_recv, notif_send, recv_with_fd};
use berth_integration::{bin, make_busybox_rootfs, unique_id, TempDir};
use serde_json::{json, Value};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DOCKER: &str = include_str!("../../runtime/tests/fixtures/seccomp/docker-default.json");

/// A busybox bundle running `sh -c script` with `linux.seccomp` = `seccomp` (if any); `edit`
/// may change the config further.
fn bundle(dir: &Path, script: &str, seccomp: Option<Value>, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let b = dir.join("bundle");
    make_busybox_rootfs(&b.join("rootfs"));
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID"]);
    let mut config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "-c", script],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs"},
        "hostname": "seccomp",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
        }
    });
    if let Some(s) = seccomp {
        config["linux"]["seccomp"] = s;
    }
    edit(&mut config);
    std::fs::write(b.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    b
}

fn berth_run(dir: &Path, bundle: &Path) -> (String, Output) {
    let id = unique_id("sc");
    let out = Command::new(bin("berth"))
        .arg("--root")
        .arg(dir.join("state"))
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(&id)
        .output()
        .expect("run berth");
    (id, out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Nothing of the container is left in the state dir after a foreground run.
fn assert_no_state(dir: &Path, id: &str) {
    assert!(!dir.join("state").join(id).exists(), "state of {id} left behind");
}

#[test]
fn seccomp_run_docker_profile_from_inside() {
    let tmp = TempDir::new("sc-run-docker");
    let script = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; \
                  mkdir /tmp/made && echo made; \
                  unshare -n true 2>/dev/null && echo unshare-allowed || echo unshare-denied; \
                  mount -t tmpfs none /tmp/made 2>/dev/null && echo mount-allowed || echo mount-denied; \
                  echo done";
    let b = bundle(tmp.path(), script, Some(serde_json::from_str(DOCKER).unwrap()), |_| {});
    let (id, out) = berth_run(tmp.path(), &b);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, ["NoNewPrivs:\t1", "Seccomp:\t2", "made", "unshare-denied", "mount-denied", "done"], "{stdout}");
    assert_no_state(tmp.path(), &id);
}

#[test]
fn seccomp_run_mkdir_blocked_with_errno_ret() {
    let tmp = TempDir::new("sc-run-mkdir");
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]});
    let b = bundle(tmp.path(), "mkdir /tmp/x; echo rc=$?", Some(profile), |_| {});
    let (_, out) = berth_run(tmp.path(), &b);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "rc=1");
    assert!(stderr.contains("Permission denied"), "EACCES from errnoRet 13: {stderr}");
}

#[test]
fn seccomp_run_personality_allowed_only_for_one_value() {
    // setarch/linux32 is not in busybox: uname -m under personality(PER_LINUX32) shows i686.
    let tmp = TempDir::new("sc-run-pers");
    let mut profile: Value = serde_json::from_str(DOCKER).unwrap();
    profile["syscalls"].as_array_mut().unwrap().retain(|r| r["names"] != json!(["personality"]) || r["args"][0]["value"] == json!(0) || r["args"][0]["value"] == json!(4294967295u64));
    let b = bundle(tmp.path(), "linux32 uname -m; echo rc=$?; uname -m", Some(profile), |_| {});
    let (_, out) = berth_run(tmp.path(), &b);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("i686"), "PER_LINUX32 must be refused: {stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("rc=") && l != "rc=0"), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("x86_64") || stdout.contains("aarch64"), "{stdout}");
}

#[test]
fn seccomp_run_loaded_without_no_new_privileges() {
    // noNewPrivileges false: the filter is loaded while CAP_SYS_ADMIN is still held.
    let tmp = TempDir::new("sc-run-nnp");
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]});
    let b = bundle(tmp.path(), "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status", Some(profile), |c| {
        c["process"]["noNewPrivileges"] = json!(false);
    });
    let (_, out) = berth_run(tmp.path(), &b);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["NoNewPrivs:\t0", "Seccomp:\t2"], "{stdout}");
}

#[test]
fn seccomp_run_notify_agent_answers_mkdir() {
    let tmp = TempDir::new("sc-run-notify");
    let sock = tmp.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (body, fd) = recv_with_fd(&conn);
        let fd = fd.expect("listener fd");
        let state: Value = serde_json::from_slice(&body).unwrap();
        // Say "done" without doing anything: the directory must not appear.
        let n = notif_recv(&fd).unwrap();
        notif_send(&fd, n.id, Ok(0)).unwrap();
        (state, n.nr)
    });
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "listenerMetadata": "meta",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]});
    let b = bundle(tmp.path(), "mkdir /tmp/n; echo rc=$?; test -d /tmp/n && echo exists || echo absent", Some(profile), |_| {});
    let (id, out) = berth_run(tmp.path(), &b);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["rc=0", "absent"], "{stdout}");
    let (state, nr) = agent.join().unwrap();
    assert!(nr == libc::SYS_mkdir as i32 || nr == libc::SYS_mkdirat as i32, "{nr}");
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "meta");
    assert_eq!(state["state"]["id"], id);
    assert!(state["pid"].as_i64().unwrap() > 0, "{state}");
}

#[test]
fn seccomp_run_bad_profiles_fail_cleanly() {
    let tmp = TempDir::new("sc-run-bad");
    for (profile, word) in [
        (json!({"defaultAction": "SCMP_ACT_FOO"}), "SCMP_ACT_FOO"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}), "listenerPath"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}), "index 7"),
    ] {
        let d = TempDir::new("sc-run-bad1");
        let b = bundle(d.path(), "true", Some(profile), |_| {});
        let (id, out) = berth_run(tmp.path(), &b);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{word}: {stderr}");
        assert!(stderr.contains(word), "error should name {word}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert_no_state(tmp.path(), &id);
    }
}

#[test]
fn seccomp_run_lsm_behaviour_when_lsms_are_off() {
    let host = berth_runtime::lsm::HostLsm::detect();
    let tmp = TempDir::new("sc-run-lsm");
    if !host.apparmor {
        // An AppArmor profile is ignored where AppArmor is off (as runc).
        let b = bundle(tmp.path(), "echo ran", None, |c| c["process"]["apparmorProfile"] = json!("berth-test"));
        let (_, out) = berth_run(tmp.path(), &b);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "ran");
    }
    if !host.selinux {
        // A SELinux label is an error where SELinux is off (as runc), and leaves nothing.
        let d = TempDir::new("sc-run-lsm2");
        let b = bundle(d.path(), "echo ran", None, |c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0"));
        let (id, out) = berth_run(tmp.path(), &b);
        let stderr = text(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("selinux") && stderr.contains("container_t"), "{stderr}");
        assert!(!text(&out.stdout).contains("ran"));
        assert_no_state(tmp.path(), &id);
    }
}

#[test]
fn seccomp_features_are_truthful() {
    let out = Command::new(bin("berth")).arg("features").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &f["linux"]["seccomp"];
    assert_eq!(s["enabled"], true, "{f}");
    for a in ["SCMP_ACT_NOTIFY", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_ERRNO"] {
        assert!(s["actions"].as_array().unwrap().contains(&json!(a)), "{a}: {s}");
    }
    assert!(s["operators"].as_array().unwrap().contains(&json!("SCMP_CMP_MASKED_EQ")), "{s}");
    assert!(s["archs"].as_array().unwrap().contains(&json!("SCMP_ARCH_X32")), "{s}");
    assert!(s["supportedFlags"].as_array().unwrap().contains(&json!("SECCOMP_FILTER_FLAG_LOG")), "{s}");
    assert_eq!(f["linux"]["apparmor"]["enabled"], true);
    assert_eq!(f["linux"]["selinux"]["enabled"], true);
}

#[test]
fn seccomp_exec_gets_the_container_profile() {
    use berth_integration::runtime::Berth;
    let b = Berth::new("sc-exec");
    let mut bundle = b.bundle(&["sleep", "60"]);
    bundle.spec["linux"]["seccomp"] = serde_json::from_str(DOCKER).unwrap();
    bundle.save();
    let id = unique_id("scx");
    // Detached: the container keeps its stdio, so give it none we would wait on.
    let st = b.cmd(["run", "-d", "-b", bundle.dir.to_str().unwrap(), &id]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().unwrap();
    assert!(st.success(), "run -d failed");
    let out = b.ok(["exec", &id, "sh", "-c", "grep Seccomp: /proc/self/status; unshare -n true 2>/dev/null && echo unshare-allowed || echo unshare-denied"]);
    b.ok(["delete", "--force", &id]);
    b.assert_clean(&id, &bundle, None);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["Seccomp:\t2", "unshare-denied"], "{out}");
}
