//! What opencontainers/runtime-tools' `validation/` suite checks, driven as it drives a runtime
//! (create/start/state/kill/delete by id, `--bundle`, `--pid-file`, bundles whose `root.path`
//! is "."), for the behaviours the other runtime_*.rs files do not already pin down.

use berth_integration::runtime::{Berth, Bundle};
use berth_integration::unique_id;
use serde_json::{json, Value};
use std::path::Path;

fn dir(bundle: &Bundle) -> &str {
    bundle.dir.to_str().unwrap()
}

fn wait_for(p: &Path) {
    for _ in 0..300 {
        if p.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} never appeared", p.display());
}

#[test]
fn every_verb_needs_an_id() {
    let b = Berth::new("cfnoid");
    let bundle = b.bundle(&["true"]);
    for verb in ["state", "start", "kill", "delete"] {
        let e = b.fails([verb]);
        assert!(e.contains("a container id is required"), "{verb}: {e}");
    }
    let e = b.fails(["create", "--bundle", dir(&bundle)]);
    assert!(e.contains("a container id is required"), "{e}");
}

#[test]
fn kill_created_then_stopped_has_no_effect() {
    let b = Berth::new("cfkill");
    let bundle = b.bundle(&["true"]);
    let id = unique_id("k");
    b.ok(["create", "--bundle", dir(&bundle), &id]);
    // KILL of a created container reaches its init: it is stopped without ever running.
    b.ok(["kill", &id, "KILL"]);
    b.wait_stopped(&id);
    let before = b.state(&id);
    // Neither created nor running: an error and no effect on the container.
    let e = b.fails(["kill", &id, "KILL"]);
    assert!(e.contains("not running"), "{e}");
    assert_eq!(b.state(&id), before);
    let e = b.fails(["start", &id]);
    assert!(e.contains("not created"), "{e}");
    assert_eq!(b.state(&id), before);
    b.ok(["delete", &id]);
    b.assert_clean(&id, &bundle, None);
}

#[test]
fn signals_by_bare_name_reach_the_process() {
    let b = Berth::new("cfsig");
    for sig in ["TERM", "USR1", "USR2"] {
        let mut bundle = b.bundle(&[]);
        bundle.sh(&format!("trap 'touch /{sig}' {sig}; sleep 10 & wait $!"));
        let id = unique_id("s");
        b.ok(["create", "--bundle", dir(&bundle), &id]);
        b.ok(["start", &id]);
        // The trap is set once sh waits; give it a moment before signalling.
        std::thread::sleep(std::time::Duration::from_millis(200));
        b.ok(["kill", &id, sig]);
        wait_for(&bundle.rootfs().join(sig));
        b.ok(["delete", "--force", &id]);
    }
}

#[test]
fn hooks_see_bundle_pid_and_annotations() {
    let b = Berth::new("cfhooks");
    let mut bundle = b.bundle(&["true"]);
    let out = bundle.rootfs();
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{name}", out.display())], "timeout": 5});
    bundle.spec["annotations"] = json!({"org.opencontainers.runtime-tools": "hook stdin test", "org.empty": ""});
    bundle.spec["hooks"] = json!({"prestart": [hook("prestart")], "poststart": [hook("poststart")], "poststop": [hook("poststop")]});
    // Unknown properties are ignored, not refused.
    bundle.spec["unknown"] = json!("unknown");
    bundle.save();
    let id = unique_id("h");
    b.ok(["create", "--bundle", dir(&bundle), &id]);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    b.ok(["start", &id]);
    b.wait_stopped(&id);
    b.ok(["delete", &id]);
    for (name, status) in [("prestart", "creating"), ("poststart", "running"), ("poststop", "stopped")] {
        let st: Value = serde_json::from_slice(&std::fs::read(out.join(name)).unwrap()).unwrap();
        assert_eq!(st["id"], id.as_str(), "{name}");
        assert_eq!(st["bundle"], dir(&bundle), "{name}");
        assert_eq!(st["pid"], pid, "{name}");
        assert_eq!(st["status"], status, "{name}");
        assert_eq!(st["annotations"], bundle.spec["annotations"], "{name}");
        assert!(st["ociVersion"].as_str().unwrap().starts_with("1."), "{name}");
    }
}

#[test]
fn failing_hooks_at_each_step() {
    let b = Berth::new("cfhookfail");
    let mut bundle = b.bundle(&["sleep", "30"]);
    bundle.spec["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
    bundle.save();
    let id = unique_id("pf");
    let e = b.fails(["create", "--bundle", dir(&bundle), &id]);
    assert!(e.contains("prestart hook"), "{e}");
    // A failed create leaves no container.
    let e = b.fails(["state", &id]);
    assert!(e.contains("does not exist"), "{e}");
    b.assert_clean(&id, &bundle, None);

    bundle.spec["hooks"] = json!({"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]});
    bundle.save();
    b.ok(["create", "--bundle", dir(&bundle), &id]);
    b.ok(["start", &id]);
    assert_eq!(b.status(&id), "running");
    b.ok(["kill", &id, "KILL"]);
    b.wait_stopped(&id);
    b.ok(["delete", &id]);
    b.fails(["state", &id]);
    b.assert_clean(&id, &bundle, None);
}

#[test]
fn relative_bundle_and_pid_file_and_config_changes_after_create() {
    let b = Berth::new("cfrel");
    let mut bundle = b.bundle(&[]);
    bundle.sh("echo original");
    let id = unique_id("r");
    let name = bundle.dir.file_name().unwrap().to_str().unwrap().to_owned();
    let o = berth_integration::runtime::output_via_files(
        b.cmd(["create", "--bundle", &name, "--pid-file", "rel.pid", &id]).current_dir(b.tmp.path()),
        b.tmp.path(),
    );
    assert!(o.status.success(), "{}", berth_integration::runtime::stderr(&o));
    let st = b.state(&id);
    assert_eq!(st["bundle"], dir(&bundle), "the state's bundle is absolute");
    let pid = std::fs::read_to_string(b.tmp.path().join("rel.pid")).unwrap();
    assert_eq!(pid.trim(), st["pid"].as_i64().unwrap().to_string());
    b.ok(["delete", "--force", &id]);

    // config.json edited after create changes nothing: not the process, not the hooks. The
    // created process's stdout is the create's (a file here).
    let out = b.tmp.path().join("out");
    let f = std::fs::File::create(&out).unwrap();
    let st = b.cmd(["create", "--bundle", dir(&bundle), &id]).stdout(f).status().unwrap();
    assert!(st.success());
    let flag = b.tmp.path().join(unique_id("hookran"));
    bundle.spec["hooks"] = json!({"poststart": [{"path": "/bin/touch", "args": ["touch", flag.to_str().unwrap()]}]});
    bundle.sh("echo changed");
    b.ok(["start", &id]);
    b.wait_stopped(&id);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "original\n");
    assert!(!flag.exists(), "a hook added after create ran");
    b.ok(["delete", &id]);
    b.assert_clean(&id, &bundle, None);
}

#[test]
fn root_path_dot_as_runtime_tools_lays_out_bundles() {
    let b = Berth::new("cfdot");
    let mut bundle = b.bundle(&[]);
    // runtime-tools unpacks the rootfs into the bundle itself and sets root.path ".".
    for e in std::fs::read_dir(bundle.rootfs()).unwrap() {
        let e = e.unwrap();
        std::fs::rename(e.path(), bundle.dir.join(e.file_name())).unwrap();
    }
    std::fs::remove_dir(bundle.rootfs()).unwrap();
    bundle.spec["root"]["path"] = json!(".");
    bundle.sh("test -f /config.json && echo config-visible");
    let id = unique_id("dot");
    let f = std::fs::File::create(b.tmp.path().join("dotout")).unwrap();
    assert!(b.cmd(["create", "--bundle", dir(&bundle), &id]).stdout(f).status().unwrap().success());
    let st = b.state(&id);
    assert_eq!(st["rootfs"], dir(&bundle), "rootfs is the clean bundle path");
    b.ok(["start", &id]);
    b.wait_stopped(&id);
    assert_eq!(std::fs::read_to_string(b.tmp.path().join("dotout")).unwrap(), "config-visible\n");
    b.ok(["delete", &id]);
    b.assert_clean(&id, &bundle, None);
}

#[test]
fn rootfs_propagation_every_value() {
    let b = Berth::new("cfprop");
    for (prop, want) in [
        ("shared", Some("shared:")),
        ("rshared", Some("shared:")),
        ("unbindable", Some("unbindable")),
        ("runbindable", Some("unbindable")),
        ("private", None),
        ("rprivate", None),
        ("slave", None),
        ("rslave", None),
    ] {
        let mut bundle = b.bundle(&[]);
        bundle.spec["linux"]["rootfsPropagation"] = json!(prop);
        bundle.sh("awk '$5 == \"/\"' /proc/self/mountinfo");
        let out = b.output(&bundle);
        let line = out.lines().next().unwrap_or_else(|| panic!("{prop}: no root mount in {out:?}"));
        let optional: Vec<&str> = line.split(" - ").next().unwrap().split_whitespace().skip(6).collect();
        match want {
            Some(w) => assert!(optional.iter().any(|o| o.starts_with(w)), "{prop}: {line}"),
            // This host's / is private: a slave of it has no master, nothing is shared.
            None => assert!(!optional.iter().any(|o| o.starts_with("shared:") || *o == "unbindable"), "{prop}: {line}"),
        }
    }
}

#[test]
fn devices_of_every_type_with_mode_and_owner() {
    let b = Berth::new("cfdev");
    let mut bundle = b.bundle(&[]);
    bundle.spec["linux"]["devices"] = json!([
        {"path": "/dev/cf-c", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 5, "gid": 6},
        {"path": "/dev/cf-u", "type": "u", "major": 1, "minor": 5},
        {"path": "/dev/cf-b", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600},
        {"path": "/dev/cf-p", "type": "p", "fileMode": 0o644},
    ]);
    bundle.sh("stat -c '%n %F %t:%T %a %u:%g' /dev/cf-c /dev/cf-u /dev/cf-b /dev/cf-p");
    let out = b.output(&bundle);
    assert!(out.contains("/dev/cf-c character special file 1:3 640 5:6"), "{out}");
    assert!(out.contains("/dev/cf-u character special file 1:5 666 0:0"), "{out}");
    assert!(out.contains("/dev/cf-b block special file 7:0 600 0:0"), "{out}");
    assert!(out.contains("/dev/cf-p fifo 0:0 644 0:0"), "{out}");
}

#[test]
fn process_and_mount_properties_read_back() {
    let b = Berth::new("cfproc");
    let mut bundle = b.bundle(&[]);
    bundle.spec["hostname"] = json!("mrsdalloway");
    bundle.spec["process"]["user"] = json!({"uid": 1, "gid": 1, "additionalGids": [5, 6]});
    bundle.spec["process"]["cwd"] = json!("/tmp/sub/");
    bundle.spec["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}, {"type": "RLIMIT_CORE", "hard": 4096, "soft": 2048}]);
    // runtime-tools' mounts test: a tmpfs with options, after the defaults.
    bundle.spec["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=1k"]}));
    bundle.sh("hostname; id -u; id -g; awk '/^Groups:/ {print $2, $3, $4}' /proc/self/status; pwd; ulimit -n; ulimit -Sc; ulimit -Hc; awk '$5 == \"/tmp\" {print $6, $(NF-2), $(NF-1)}' /proc/self/mountinfo");
    let out = b.output(&bundle);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "mrsdalloway");
    // Exactly the additionalGids: the primary gid is not added (as runc).
    assert_eq!(lines[1..4], ["1", "1", "5 6 "], "{out}");
    assert_eq!(lines[4], "/tmp/sub");
    assert_eq!(lines[5], "1024");
    assert_eq!(lines[6..8], ["4", "8"], "RLIMIT_CORE in 512-byte blocks");
    assert!(lines[8].starts_with("rw,nosuid tmpfs tmpfs"), "{out}");
}

#[test]
fn masked_paths_nested_symlink_loop_and_relative() {
    let b = Berth::new("cfmask");
    let mut bundle = b.bundle(&[]);
    let r = bundle.rootfs();
    std::fs::create_dir_all(r.join("masked-dir/masked-subdir")).unwrap();
    for f in ["masked-file", "masked-dir/masked-file", "masked-dir/masked-subdir/masked-file"] {
        std::fs::write(r.join(f), "secrets").unwrap();
    }
    let masked = ["/masked-dir", "/masked-file", "/masked-dir/masked-subdir", "/masked-dir/masked-file", "/masked-dir/masked-subdir/masked-file"];
    bundle.spec["linux"]["maskedPaths"] = json!(masked);
    bundle.sh("ls -A /masked-dir; test -s /masked-file || echo empty; echo done");
    assert_eq!(b.output(&bundle), "empty\ndone\n");

    // A masked path that is a symlink loop is an error, as is a relative one.
    std::os::unix::fs::symlink("../masked-symlink", r.join("masked-symlink")).unwrap();
    bundle.spec["linux"]["maskedPaths"] = json!(["/masked-symlink"]);
    let (code, _, err) = b.run_bundle(&bundle);
    assert_ne!(code, 0);
    assert!(err.contains("masked path /masked-symlink"), "{err}");
    bundle.spec["linux"]["maskedPaths"] = json!(["masked-relpath"]);
    let (code, _, err) = b.run_bundle(&bundle);
    assert_ne!(code, 0);
    assert!(err.contains("not absolute"), "{err}");
}

#[test]
fn relative_cgroups_path_is_below_the_callers_cgroup() {
    let b = Berth::new("cfcg");
    let mut bundle = b.bundle(&["sleep", "30"]);
    let rel = format!("{}/cgroupsPath", unique_id("testdir"));
    bundle.spec["linux"]["cgroupsPath"] = json!(rel);
    bundle.spec["linux"]["resources"] = json!({"pids": {"limit": 1000}});
    bundle.save();
    let id = unique_id("cg");
    b.ok(["create", "--bundle", dir(&bundle), &id]);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let line = |text: &str| text.lines().find(|l| l.split(':').nth(1) == Some("pids")).map(|l| l.rsplit(':').next().unwrap().to_owned());
    let mut left = None;
    if let (Some(theirs), Some(mine)) = (line(&cg), line(&own)) {
        // runc's rule: relative to the runtime's own cgroup; runtime-tools checks it contains the path.
        assert_eq!(theirs, Path::new(&mine).join(&rel).to_str().unwrap(), "{cg}");
        let max = std::fs::read_to_string(Path::new("/sys/fs/cgroup/pids").join(theirs.trim_start_matches('/')).join("pids.max")).unwrap();
        assert_eq!(max.trim(), "1000");
        left = Some(Path::new("/sys/fs/cgroup/pids").join(mine.trim_start_matches('/')).join(rel.split('/').next().unwrap()));
    } else {
        // cgroup v2 only: the unified line.
        assert!(cg.contains(&rel), "{cg}");
    }
    b.ok(["delete", "--force", &id]);
    assert!(!std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(dir(&bundle)));
    if let Some(p) = left {
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

#[test]
fn relative_cwd_is_refused() {
    let b = Berth::new("cfcwd");
    let mut bundle = b.bundle(&["true"]);
    bundle.spec["process"]["cwd"] = json!("tmp");
    let (code, _, err) = b.run_bundle(&bundle);
    assert_ne!(code, 0);
    assert!(err.contains("process.cwd") && err.contains("not absolute"), "{err}");
}

#[test]
fn shifted_id_mappings_read_back() {
    use std::os::unix::fs::PermissionsExt;
    let b = Berth::new("cfuserns");
    let mut bundle = b.bundle(&[]);
    // The mapped root (host 1000) must be able to reach the rootfs.
    for d in [b.tmp.path(), bundle.dir.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bundle.spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    bundle.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 2000}]);
    bundle.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 3000}]);
    bundle.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u");
    let out = b.output(&bundle);
    let fields: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(fields, [vec!["0", "1000", "2000"], vec!["0", "1000", "3000"], vec!["0"]], "{out}");
}
