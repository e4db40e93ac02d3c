//! Bad input: each case gets one clear error line, a non-zero exit, and leaves no state dir,
//! mount or process behind.

use berth_integration::runtime::Berth;
use berth_integration::unique_id;
use serde_json::json;

fn create_fails(b: &Berth, bundle: &berth_integration::runtime::Bundle, want: &str) {
    let id = unique_id("bad");
    let e = b.fails(["create", "-b", bundle.dir.to_str().unwrap(), &id]);
    assert!(e.starts_with("berth: "), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "one line please: {e}");
    assert!(e.contains(want), "{e:?} should mention {want:?}");
    b.assert_clean(&id, bundle, None);
    // And through run.
    let e = b.fails(["run", "-b", bundle.dir.to_str().unwrap(), &id]);
    assert!(e.contains(want), "{e:?} should mention {want:?}");
    b.assert_clean(&id, bundle, None);
}

#[test]
fn missing_and_malformed_config() {
    let b = Berth::new("badcfg");
    let bundle = b.bundle(&["true"]);
    std::fs::write(bundle.dir.join("config.json"), "{ not json").unwrap();
    create_fails(&b, &bundle, "config.json");
    std::fs::remove_file(bundle.dir.join("config.json")).unwrap();
    create_fails(&b, &bundle, "config.json");
    let e = b.fails(["create", "-b", "/nonexistent/bundle", "x1"]);
    assert!(e.contains("/nonexistent/bundle"), "{e}");
}

#[test]
fn unsupported_version_and_missing_rootfs() {
    let b = Berth::new("badver");
    let mut bundle = b.bundle(&["true"]);
    bundle.spec["ociVersion"] = json!("2.0.0");
    bundle.save();
    create_fails(&b, &bundle, "unsupported ociVersion \"2.0.0\"");
    bundle.spec["ociVersion"] = json!("1.0.2");
    bundle.spec["root"]["path"] = json!("no-such-rootfs");
    bundle.save();
    create_fails(&b, &bundle, "no-such-rootfs");
}

#[test]
fn invalid_and_duplicate_ids() {
    let b = Berth::new("badid");
    let bundle = b.bundle(&["sleep", "10"]);
    let d = bundle.dir.to_str().unwrap();
    for id in ["../x", "", "a/b", &"x".repeat(1100)] {
        let e = b.fails(["create", "-b", d, id]);
        assert!(e.contains("invalid container id") || e.contains("id is required"), "{id}: {e}");
    }
    assert!(!b.root.join("x").exists() && !b.tmp.path().join("x").exists());
    let id = unique_id("dup");
    b.ok(["create", "-b", d, &id]);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let e = b.fails(["create", "-b", d, &id]);
    assert!(e.contains(&format!("container \"{id}\" already exists")), "{e}");
    // The first container is untouched.
    assert_eq!(b.status(&id), "created");
    assert_eq!(b.state(&id)["pid"].as_i64().unwrap(), pid);
    b.ok(["delete", &id]);
    b.assert_clean(&id, &bundle, Some(pid as i32));
}

#[test]
fn unknown_signal_and_wrong_states() {
    let b = Berth::new("badsig");
    let bundle = b.bundle(&["sleep", "30"]);
    let id = unique_id("sig");
    b.ok(["run", "-d", "-b", bundle.dir.to_str().unwrap(), &id]);
    let e = b.fails(["kill", &id, "SIGNOPE"]);
    assert!(e.contains("unknown signal \"SIGNOPE\""), "{e}");
    let e = b.fails(["start", &id]);
    assert!(e.contains("not created"), "{e}");
    let e = b.fails(["delete", &id]);
    assert!(e.contains("not stopped"), "{e}");
    assert_eq!(b.status(&id), "running");
    b.ok(["delete", "--force", &id]);
    b.assert_clean(&id, &bundle, None);
    let e = b.fails(["kill", "nope", "KILL"]);
    assert!(e.contains("container \"nope\" does not exist"), "{e}");
    let e = b.fails(["start", "nope"]);
    assert!(e.contains("does not exist"), "{e}");
    let e = b.fails(["delete", "nope"]);
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn missing_hook_binary() {
    let b = Berth::new("badhook");
    let mut bundle = b.bundle(&["true"]);
    bundle.spec["hooks"] = json!({"prestart": [{"path": "/no/such/hook"}]});
    bundle.save();
    create_fails(&b, &bundle, "/no/such/hook");
    // A startContainer hook resolves inside the container: it fails at start, cleanly.
    bundle.spec["hooks"] = json!({"startContainer": [{"path": "/no/such/hook"}]});
    bundle.save();
    let id = unique_id("sh");
    b.ok(["create", "-b", bundle.dir.to_str().unwrap(), &id]);
    let e = b.fails(["start", &id]);
    assert!(e.contains("startContainer") && e.contains("/no/such/hook"), "{e}");
    b.wait_stopped(&id);
    b.ok(["delete", &id]);
    b.assert_clean(&id, &bundle, None);
}

#[test]
fn bad_process() {
    let b = Berth::new("badproc");
    let mut bundle = b.bundle(&["/no/such/binary"]);
    create_fails(&b, &bundle, "/no/such/binary");
    bundle.spec["process"]["args"] = json!(["not-in-path"]);
    bundle.save();
    create_fails(&b, &bundle, "executable file not found in $PATH");
    // A user that does not exist in the container's user namespace.
    bundle.spec["process"]["args"] = json!(["true"]);
    bundle.spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    bundle.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
    bundle.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
    bundle.spec["process"]["user"] = json!({"uid": 4242, "gid": 0});
    bundle.save();
    create_fails(&b, &bundle, "uid 4242 is not mapped");
    // A cwd that is a file.
    let mut bundle = b.bundle(&["true"]);
    bundle.spec["process"]["cwd"] = json!("/etc/passwd");
    bundle.save();
    create_fails(&b, &bundle, "cwd");
}

#[test]
fn bad_mounts_and_options() {
    let b = Berth::new("badmount");
    let mut bundle = b.bundle(&["true"]);
    bundle.spec["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "bind", "source": "/no/such/source", "options": ["bind"]}));
    bundle.save();
    create_fails(&b, &bundle, "/no/such/source");
    let mut bundle = b.bundle(&["true"]);
    bundle.spec["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "nosuchfs", "source": "x"}));
    bundle.save();
    create_fails(&b, &bundle, "mount /x");
    let mut bundle = b.bundle(&["true"]);
    bundle.spec["linux"]["sysctl"] = json!({"kernel.panic": "1"});
    bundle.save();
    create_fails(&b, &bundle, "kernel.panic");
    let e = b.fails(["--log-format", "yaml", "list"]);
    assert!(e.contains("--log-format"), "{e}");
    let e = b.fails(["frobnicate"]);
    assert!(e.contains("unknown command"), "{e}");
    let e = b.fails(["create", "--no-such-flag", "x"]);
    assert!(e.contains("unknown flag"), "{e}");
}
