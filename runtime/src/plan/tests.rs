//! Spec -> Plan, without root: every validation rule and the shape of the plan.

use super::*;
use serde_json::{json, Value};

fn base() -> Value {
    crate::spec::default::default_spec(false)
}

fn build(v: &Value) -> Result<Plan> {
    let spec: Spec = serde_json::from_value(v.clone()).expect("spec json");
    Plan::build("c1", Path::new("/bundle"), Path::new("/bundle/rootfs"), &spec, PlanOptions::default())
}

fn err_of(v: &Value) -> String {
    build(v).expect_err("should fail").to_string()
}

#[test]
fn default_spec_plans() {
    let p = build(&base()).unwrap();
    assert_eq!(p.ns.new, libc::CLONE_NEWPID | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNS);
    assert!(!p.ns.needs_fork());
    assert_eq!(p.mounts.len(), 7);
    assert!(p.root_readonly);
    assert!(p.default_devices);
    assert_eq!(p.hostname.as_deref(), Some("berth"));
    assert_eq!(p.process.args, vec!["sh"]);
    assert_eq!(p.process.rlimits, vec![(libc::RLIMIT_NOFILE as u32, 1024, 1024)]);
    let c = 1 << 29 | 1 << 5 | 1 << 10; // AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert_eq!(p.process.caps.bounding, c);
    assert_eq!(p.process.caps.ambient, c);
    assert!(p.process.no_new_privileges);
    assert_eq!(p.masked_paths.len(), 10);
}

#[test]
fn ids() {
    for bad in ["", "..", ".", "../x", "a/b", "a b", &"x".repeat(1025)] {
        assert!(validate_id(bad).is_err(), "{bad:?}");
    }
    for good in ["web", "a.b-c_d+e", "0"] {
        validate_id(good).unwrap();
    }
}

#[test]
fn namespaces_by_path_need_a_fork() {
    let mut v = base();
    v["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "network", "path": "/var/run/netns/x"}, {"type": "pid"}, {"type": "uts"}]);
    let p = build(&v).unwrap();
    assert_eq!(p.ns.join, vec![(libc::CLONE_NEWNET, PathBuf::from("/var/run/netns/x"))]);
    assert!(p.ns.needs_fork());
    assert!(p.ns.has(libc::CLONE_NEWNET) && !p.ns.creates(libc::CLONE_NEWNET));
}

#[test]
fn user_namespace_rules() {
    let mut v = base();
    v["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    assert!(err_of(&v).contains("uidMappings"));
    v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
    v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
    let p = build(&v).unwrap();
    assert_eq!(p.uid_map, "0 100000 1000\n");
    v["process"]["user"]["uid"] = json!(5000);
    assert!(err_of(&v).contains("uid 5000 is not mapped"));
}

#[test]
fn user_ns_join_user_first() {
    let mut v = base();
    v["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "network", "path": "/n"}, {"type": "user", "path": "/u"}]);
    v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1, "size": 1}]);
    let p = build(&v).unwrap();
    assert_eq!(p.ns.join[0].0, libc::CLONE_NEWUSER);
}

#[test]
fn bad_configs() {
    let cases: Vec<(Box<dyn Fn(&mut Value)>, &str)> = vec![
        (Box::new(|v| v["ociVersion"] = json!("2.0.0")), "unsupported ociVersion"),
        (Box::new(|v| v["process"]["args"] = json!([])), "args"),
        (Box::new(|v| v["process"]["cwd"] = json!("relative")), "cwd"),
        (Box::new(|v| v["process"]["env"] = json!(["NOEQUALS"])), "env"),
        (Box::new(|v| v["linux"]["namespaces"] = json!([{"type": "pid"}])), "mount namespace"),
        (Box::new(|v| v["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "mount"}])), "twice"),
        (Box::new(|v| v["linux"]["namespaces"] = json!([{"type": "mount"}])), "UTS"),
        (Box::new(|v| v["linux"]["sysctl"] = json!({"kernel.panic": "1"})), "not in a separate kernel namespace"),
        (Box::new(|v| v["linux"]["sysctl"] = json!({"net/../../x": "1"})), "not a valid sysctl"),
        (Box::new(|v| v["linux"]["rootfsPropagation"] = json!("sideways")), "rootfsPropagation"),
        (Box::new(|v| v["linux"]["devices"] = json!([{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}])), "not under /dev"),
        (Box::new(|v| v["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1}})), "time namespace"),
        (Box::new(|v| v["hooks"] = json!({"prestart": [{"path": "relative"}]})), "not absolute"),
        (Box::new(|v| v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])), "above hard"),
        (Box::new(|v| v["mounts"] = json!([{"destination": "/x", "type": "none", "source": "/y"}])), "no filesystem type"),
        (Box::new(|v| v["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 0})), "priority"),
        (Box::new(|v| v["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 9})), "ioPriority"),
    ];
    for (f, want) in cases {
        let mut v = base();
        f(&mut v);
        let e = err_of(&v);
        assert!(e.contains(want), "{e:?} should mention {want:?}");
    }
}

#[test]
fn sysctl_paths() {
    let mut v = base();
    v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "net/ipv4/conf/eth0.100/forwarding": "0"});
    let p = build(&v).unwrap();
    let paths: Vec<_> = p.sysctl.iter().map(|(k, _)| k.to_string_lossy().into_owned()).collect();
    assert!(paths.contains(&"net/ipv4/ip_forward".to_string()));
    assert!(paths.contains(&"kernel/shmmax".to_string()));
    assert!(paths.contains(&"net/ipv4/conf/eth0.100/forwarding".to_string()));
}

#[test]
fn time_namespace_offsets() {
    let mut v = base();
    v["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    v["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 86400, "nanosecs": 5}, "boottime": {"secs": 3600}});
    let p = build(&v).unwrap();
    assert!(p.ns.needs_fork());
    assert_eq!(p.time_offsets, vec![("boottime", 3600, 0), ("monotonic", 86400, 5)]);
}

#[test]
fn preserve_fds_env() {
    let spec: Spec = serde_json::from_value(base()).unwrap();
    let opts = PlanOptions { preserve_fds: 2, ..Default::default() };
    let p = Plan::build("c1", Path::new("/b"), Path::new("/b/rootfs"), &spec, opts).unwrap();
    assert!(p.process.env.contains(&"LISTEN_FDS=2".to_string()));
    assert!(p.process.env.contains(&"LISTEN_PID=1".to_string()));
}

#[test]
fn dev_bind_disables_default_devices() {
    let mut v = base();
    v["mounts"].as_array_mut().unwrap().push(json!({"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}));
    assert!(!build(&v).unwrap().default_devices);
}

#[test]
fn hooks_and_devices() {
    let mut v = base();
    v["hooks"] = json!({"prestart": [{"path": "/bin/true", "args": ["true", "x"], "timeout": 5}], "poststop": [{"path": "/bin/false"}]});
    v["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}]);
    let p = build(&v).unwrap();
    assert_eq!(p.hooks.prestart[0].args, vec!["true", "x"]);
    assert_eq!(p.hooks.poststop.len(), 1);
    assert_eq!(p.devices[0].kind, libc::S_IFCHR);
    assert_eq!(p.devices[0].mode, 0o666);
}
