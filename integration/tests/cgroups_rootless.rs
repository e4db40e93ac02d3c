//! Rootless: without a delegated (writable) cgroup the container runs in the caller's cgroup
//! when no limits are asked for, and limits are a clear error; with a delegated one, limits
//! work. The unprivileged side runs as `nobody` in a re-executed copy of this test binary.

use std::os::unix::process::CommandExt;
use std::path::Path;

use berth_integration::cgroups::*;

const CHILD_ENV: &str = "BERTH_CG_ROOTLESS_CHILD";

fn as_nobody(test: &str, path: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("CHILD-OK"), "unprivileged side failed:\n{text}");
}

#[test]
fn rootless_without_delegation_runs_without_a_cgroup() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        let cg = Cgroup::plan(&CgroupRequest { cgroups_path: Some(&path), id: "x", systemd: false }).unwrap();
        cg.create().unwrap();
        assert!(cg.disabled.get(), "nothing is writable, so no cgroup");
        assert!(cg.created.is_empty());
        // no limits: fine (the spec's device rules alone are not limits)
        cg.apply(&resources(r#"{"devices": [{"allow": false, "access": "rwm"}], "memory": {}}"#)).unwrap();
        cg.add_process(std::process::id() as i32).unwrap();
        let e = cg.apply(&resources(r#"{"memory": {"limit": 1048576}}"#)).unwrap_err();
        assert!(e.to_string().contains("not writable"), "{e}");
        cg.destroy().unwrap();
        println!("CHILD-OK");
        return;
    }
    let path = unique_path("rl");
    as_nobody("rootless_without_delegation_runs_without_a_cgroup", &path);
    let top = path.rsplit_once('/').unwrap().0.trim_start_matches('/').to_string();
    for h in &host().v1 {
        assert!(!h.mountpoint.join(&top).exists(), "a directory was left in {}", h.controllers);
    }
}

#[test]
fn rootless_with_a_delegated_cgroup_gets_limits() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        let cg = Cgroup::plan(&CgroupRequest { cgroups_path: Some(&path), id: "x", systemd: false }).unwrap();
        cg.create().unwrap();
        assert!(!cg.disabled.get());
        cg.apply(&resources(r#"{"pids": {"limit": 7}}"#)).unwrap();
        assert_eq!(read(cg.dir("pids").unwrap().join("pids.max")), "7");
        cg.destroy().unwrap();
        println!("CHILD-OK");
        return;
    }
    // root delegates a parent directory to nobody in every hierarchy (as systemd's Delegate=
    // or a user-namespace manager would)
    let parent = unique_path("deleg");
    let t = TestCgroup::create(&parent);
    for d in t.cg.dirs() {
        chown_nobody(d);
        for f in ["tasks", "cgroup.procs", "cgroup.subtree_control"] {
            if d.join(f).exists() {
                chown_nobody(&d.join(f));
            }
        }
    }
    as_nobody("rootless_with_a_delegated_cgroup_gets_limits", &format!("{parent}/c"));
    t.destroy_and_check();
}

fn chown_nobody(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: valid path.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0, "chown {}", p.display());
}
