//! The lifecycle as runc's clients drive it: create / state / start / kill / delete, run,
//! list, ps, hooks at their moments, and the status at every step.

use berth_integration::runtime::Berth;
use berth_integration::unique_id;
use serde_json::{json, Value};

#[test]
fn create_start_state_delete() {
    let b = Berth::new("life");
    let bundle = b.bundle(&["sh", "-c", "echo started > /tmp/flag; sleep 30 & wait"]);
    let id = unique_id("life");
    let pidfile = b.tmp.path().join("pid");
    b.ok(["create", "--bundle", bundle.dir.to_str().unwrap(), "--pid-file", pidfile.to_str().unwrap(), &id]);
    let st = b.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], bundle.dir.to_str().unwrap());
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), pid.to_string());
    // Created: the user process has not run yet.
    assert!(!bundle.rootfs().join("tmp/flag").exists());

    b.ok(["start", &id]);
    assert_eq!(b.status(&id), "running");
    // start returns after exec: the process runs on its own now.
    for _ in 0..200 {
        if bundle.rootfs().join("tmp/flag").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(bundle.rootfs().join("tmp/flag").exists());
    let e = b.fails(["start", &id]);
    assert!(e.contains("not created"), "{e}");
    let e = b.fails(["delete", &id]);
    assert!(e.contains("not stopped"), "{e}");

    let list: Value = serde_json::from_str(&b.ok(["list", "--format", "json"])).unwrap();
    assert!(list.as_array().unwrap().iter().any(|c| c["id"] == id.as_str() && c["status"] == "running"));
    assert!(b.ok(["list", "-q"]).lines().any(|l| l == id));
    let pids: Vec<i32> = serde_json::from_str(&b.ok(["ps", "--format", "json", &id])).unwrap();
    assert!(pids.contains(&pid) && pids.len() >= 2, "{pids:?}");

    b.ok(["kill", &id, "KILL"]);
    b.wait_stopped(&id);
    assert_eq!(b.state(&id)["pid"], 0);
    let e = b.fails(["kill", &id, "TERM"]);
    assert!(e.contains("not running"), "{e}");
    b.ok(["delete", &id]);
    b.assert_clean(&id, &bundle, Some(pid));
    let e = b.fails(["state", &id]);
    assert!(e.contains(&format!("container \"{id}\" does not exist")), "{e}");
    // delete --force of a missing container succeeds (containerd relies on it).
    b.ok(["delete", "--force", &id]);
}

#[test]
fn run_returns_exit_status_and_cleans_up() {
    let b = Berth::new("run");
    let mut bundle = b.bundle(&[]);
    bundle.sh("echo out; echo err >&2; exit 7");
    let (code, out, err) = b.run_bundle(&bundle);
    assert_eq!(code, 7, "{err}");
    assert_eq!(out, "out\n");
    assert!(err.contains("err"), "{err}");
    assert_eq!(std::fs::read_dir(&b.root).unwrap().count(), 0, "run left a state dir");
    // A signal death comes back as 128+N (the kill comes from outside: pid 1 ignores its own).
    bundle.sh("sleep 30");
    bundle.save();
    let id = unique_id("sig");
    let mut child = b.cmd(["run", "-b"]).arg(&bundle.dir).arg(&id).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    for _ in 0..500 {
        if b.run(["state", &id]).status.success() && b.status(&id) == "running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    b.ok(["kill", &id, "KILL"]);
    assert_eq!(child.wait().unwrap().code(), Some(128 + 9));
    b.assert_clean(&id, &bundle, None);
}

#[test]
fn run_detached_and_keep() {
    let b = Berth::new("detach");
    let bundle = b.bundle(&["sleep", "30"]);
    let id = unique_id("d");
    b.ok(["run", "-d", "-b", bundle.dir.to_str().unwrap(), &id]);
    assert_eq!(b.status(&id), "running");
    b.ok(["kill", &id]); // SIGTERM: sleep as pid 1 has no handler, so it is ignored...
    std::thread::sleep(std::time::Duration::from_millis(100));
    b.ok(["delete", "--force", &id]);
    b.assert_clean(&id, &bundle, None);

    let bundle = b.bundle(&["true"]);
    let id = unique_id("k");
    b.ok(["run", "--keep", "-b", bundle.dir.to_str().unwrap(), &id]);
    assert_eq!(b.status(&id), "stopped");
    b.ok(["delete", &id]);
    b.assert_clean(&id, &bundle, None);
}

#[test]
fn delete_created_container_kills_its_init() {
    let b = Berth::new("delcreated");
    let bundle = b.bundle(&["true"]);
    let id = unique_id("dc");
    b.ok(["create", "-b", bundle.dir.to_str().unwrap(), &id]);
    let pid = b.state(&id)["pid"].as_i64().unwrap() as i32;
    b.ok(["delete", &id]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    b.assert_clean(&id, &bundle, Some(pid));
}

#[test]
fn kill_signals_by_name_and_number() {
    let b = Berth::new("kill");
    let mut bundle = b.bundle(&[]);
    bundle.sh("trap 'echo got-usr1 > /tmp/sig; exit 0' USR1; while :; do sleep 0.05; done");
    bundle.save();
    let id = unique_id("k");
    b.ok(["run", "-d", "-b", bundle.dir.to_str().unwrap(), &id]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    b.ok(["kill", &id, "SIGUSR1"]);
    b.wait_stopped(&id);
    assert_eq!(std::fs::read_to_string(bundle.rootfs().join("tmp/sig")).unwrap(), "got-usr1\n");
    b.ok(["delete", &id]);

    let id = unique_id("k");
    b.ok(["run", "-d", "-b", bundle.dir.to_str().unwrap(), &id]);
    b.ok(["kill", "--all", &id, "9"]);
    b.wait_stopped(&id);
    b.ok(["delete", &id]);
    b.assert_clean(&id, &bundle, None);
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    let b = Berth::new("hooks");
    let mut bundle = b.bundle(&["sh", "-c", "echo user-process >> /hooks.log"]);
    let log = bundle.rootfs().join("hooks.log");
    let host_hook = |name: &str| {
        // Runtime-namespace hooks see the host: append their name, the status and pid from
        // the state on stdin, to the log inside the rootfs.
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read -r s; st=$(echo \"$s\" | sed 's/.*\"status\":\"\\([a-z]*\\)\".*/\\1/'); echo {name} $st >> {}", log.display())]})
    };
    // createContainer runs in the container's namespaces but before pivot_root (host paths);
    // startContainer runs inside the container.
    bundle.spec["hooks"] = json!({
        "prestart": [host_hook("prestart")],
        "createRuntime": [host_hook("createRuntime")],
        "createContainer": [host_hook("createContainer")],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer $(hostname) >> /hooks.log"]}],
        "poststart": [host_hook("poststart")],
        "poststop": [host_hook("poststop")],
    });
    bundle.save();
    let id = unique_id("h");
    let d = bundle.dir.to_str().unwrap().to_owned();
    b.ok(["create", "-b", &d, &id]);
    let after_create = std::fs::read_to_string(&log).unwrap();
    assert_eq!(after_create, "prestart creating\ncreateRuntime creating\ncreateContainer creating\n");
    b.ok(["start", &id]);
    b.wait_stopped(&id);
    b.ok(["delete", &id]);
    let all = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 7, "{lines:?}");
    // The user process and poststart race only in theory: poststart runs after start saw exec.
    let pos = |s: &str| lines.iter().position(|l| *l == s).unwrap_or_else(|| panic!("{s} missing in {lines:?}"));
    assert!(pos("prestart creating") < pos("createRuntime creating"));
    assert!(pos("createContainer creating") < pos("startContainer berth"));
    assert!(pos("startContainer berth") < pos("poststart running"));
    assert!(pos("poststart running") < pos("poststop stopped"));
    assert!(pos("user-process") < pos("poststop stopped"));
}

#[test]
fn failing_hooks() {
    let b = Berth::new("hookfail");
    let mut bundle = b.bundle(&["true"]);
    // A failing createRuntime hook aborts create and leaves nothing.
    bundle.spec["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo boom >&2; exit 3"]}]});
    bundle.save();
    let id = unique_id("hf");
    let e = b.fails(["create", "-b", bundle.dir.to_str().unwrap(), &id]);
    assert!(e.contains("createRuntime") && e.contains("boom") && e.contains("exit status 3"), "{e}");
    b.assert_clean(&id, &bundle, None);
    // A hook that times out.
    bundle.spec["hooks"] = json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}]});
    bundle.save();
    let t = std::time::Instant::now();
    let e = b.fails(["create", "-b", bundle.dir.to_str().unwrap(), &id]);
    assert!(e.contains("timed out"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    b.assert_clean(&id, &bundle, None);
    // Failing poststart/poststop only warn.
    bundle.spec["hooks"] = json!({"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]});
    bundle.save();
    let (code, _, err) = b.run_bundle(&bundle);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("poststart"), "{err}");
}

#[test]
fn json_log_for_errors() {
    let b = Berth::new("log");
    let log = b.tmp.path().join("log.json");
    let o = b.cmd(["--log", log.to_str().unwrap(), "--log-format", "json", "state", "nope"]).output().unwrap();
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim(), "berth: container \"nope\" does not exist");
    let text = std::fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], "container \"nope\" does not exist");
    let t = last["time"].as_str().unwrap();
    assert!(t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
}

#[test]
fn spec_features_version() {
    let b = Berth::new("spec");
    let d = b.tmp.path().join("s");
    std::fs::create_dir_all(&d).unwrap();
    b.ok(["spec", "--bundle", d.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
    assert_eq!(v["process"]["args"], json!(["sh"]));
    let e = b.fails(["spec", "--bundle", d.to_str().unwrap()]);
    assert!(e.contains("exists"), "{e}");
    let d2 = b.tmp.path().join("r");
    std::fs::create_dir_all(&d2).unwrap();
    b.ok(["spec", "--rootless", "-b", d2.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&std::fs::read(d2.join("config.json")).unwrap()).unwrap();
    assert!(v["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["type"] == "user"));
    let f: Value = serde_json::from_str(&b.ok(["features"])).unwrap();
    assert!(f["ociVersionMax"].as_str().unwrap().starts_with("1."));
    assert!(f["linux"]["namespaces"].as_array().unwrap().contains(&json!("time")));
    assert!(b.ok(["--version"]).contains("berth version"));
}
