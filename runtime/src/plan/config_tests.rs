//! The fuzz target's short run for CI (no cargo-fuzz, no nightly): the checked-in corpus of
//! tricky configs (runtime/tests/fixtures/spec-corpus) and a few thousand deterministic
//! mutations of valid configs go through [`plan_config`]; an error is fine, a panic is not.

use super::plan_config;
use crate::test_rng::Rng;
use serde_json::{json, Value};
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spec-corpus")
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("spec corpus")
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

/// Run one input (true: it planned); on a panic, fail with the input (the panic message is
/// printed above).
fn no_panic(what: &str, raw: &[u8]) -> bool {
    match std::panic::catch_unwind(|| plan_config(raw).is_ok()) {
        Ok(planned) => planned,
        Err(_) => {
            let shown = String::from_utf8_lossy(&raw[..raw.len().min(4000)]).into_owned();
            panic!("plan_config panicked on {what}:\n{shown}");
        }
    }
}

/// Field names of the spec: added keys land where the parser looks.
const KEYS: &[&str] = &[
    "linux", "resources", "memory", "limit", "swap", "reservation", "cpu", "quota", "period", "shares", "cpus", "mems", "pids",
    "blockIO", "weight", "hugepageLimits", "pageSize", "devices", "mounts", "options", "uidMappings", "gidMappings", "containerID",
    "hostID", "size", "namespaces", "path", "type", "seccomp", "syscalls", "names", "action", "args", "index", "op", "value",
    "sysctl", "timeOffsets", "secs", "nanosecs", "cgroupsPath", "hooks", "createRuntime", "timeout", "process", "user", "uid", "gid",
    "umask", "additionalGids", "rlimits", "hard", "soft", "capabilities", "bounding", "ambient", "consoleSize", "height", "width",
    "ioPriority", "class", "priority", "scheduler", "policy", "nice", "personality", "domain", "rootfsPropagation", "maskedPaths",
    "readonlyPaths", "hostname", "domainname", "root", "readonly", "env", "cwd", "terminal", "oomScoreAdj", "noNewPrivileges",
    "unified", "rdma", "network", "destination", "source", "major", "minor", "fileMode", "architectures", "defaultAction",
    "listenerPath", "ociVersion", "annotations",
];

fn interesting(r: &mut Rng) -> Value {
    match r.below(4) {
        0 => json!(*r.pick(&[0i64, -1, 1, i64::MIN, i64::MAX, i32::MIN as i64, i32::MAX as i64, u32::MAX as i64, 4096, 524288])),
        1 => json!(*r.pick(&[u64::MAX, u64::MAX - 1, 1 << 53, 1 << 63])),
        2 => json!(*r.pick(&[
            "", "/", "..", "../..", ".", "a:b:c", ":", "::", "\u{0}", "/dev/../etc", "relative", "1.0.0", "1", "rbind", "idmap",
            "SCMP_ACT_NOTIFY", "mount", "user", "time", "c", "a", "p", "2MB", "0-3", "-", "é", "x.slice", "-.slice", "net.x",
        ])),
        _ => match r.below(5) {
            0 => json!(null),
            1 => json!(true),
            2 => json!([]),
            3 => json!({}),
            _ => json!(1.5e300),
        },
    }
}

/// Apply one mutation somewhere in `v` (a random walk down, then a change there).
fn mutate(v: &mut Value, r: &mut Rng) {
    let descend = r.below(4) != 0;
    match v {
        Value::Object(m) if descend && !m.is_empty() => {
            let k = m.keys().nth(r.below(m.len())).unwrap().clone();
            return mutate(m.get_mut(&k).unwrap(), r);
        }
        Value::Array(a) if descend && !a.is_empty() => {
            let i = r.below(a.len());
            return mutate(&mut a[i], r);
        }
        _ => {}
    }
    match (r.below(6), v) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let k = m.keys().nth(r.below(m.len())).unwrap().clone();
            m.remove(&k);
        }
        (1, Value::Object(m)) => {
            let val = if r.below(2) == 0 { json!({ *r.pick(KEYS): interesting(r) }) } else { interesting(r) };
            m.insert(r.pick(KEYS).to_string(), val);
        }
        (2, Value::Array(a)) if !a.is_empty() => {
            let dup = a[r.below(a.len())].clone();
            a.push(dup);
        }
        (3, Value::Array(a)) => a.clear(),
        (4, Value::String(s)) => {
            let extra = match r.below(3) {
                0 => "/..".to_string(),
                1 => "\u{0}".to_string(),
                _ => "x".repeat(r.below(5000)),
            };
            s.push_str(&extra);
        }
        (_, v) => *v = interesting(r),
    }
}

/// Byte-level damage to a serialised config: flips, cuts, splices.
fn damage(b: &mut Vec<u8>, r: &mut Rng) {
    for _ in 0..1 + r.below(4) {
        if b.is_empty() {
            return;
        }
        let i = r.below(b.len());
        match r.below(4) {
            0 => b[i] ^= 1 << r.below(8),
            1 => b.truncate(i),
            2 => {
                let c = *r.pick(b"{}[]\",:0-9e.\\");
                b.insert(i, c);
            }
            _ => {
                b.remove(i);
            }
        }
    }
}

/// Valid configs that reach most of the planner: the default (and rootless) spec, and one with
/// user and time namespaces, id-mapped binds, sysctl, hooks, resources and a seccomp filter.
fn valid_configs() -> Vec<Value> {
    let mut rich = crate::spec::default::default_spec(false);
    rich["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}, {"type": "time"}, {"type": "cgroup"}]);
    rich["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    rich["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    rich["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 10}, "boottime": {"secs": -5, "nanosecs": 7}});
    rich["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "4096", "fs.mqueue.msg_max": "10"});
    rich["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]);
    rich["linux"]["cgroupsPath"] = json!("/berth/fuzz");
    rich["linux"]["rootfsPropagation"] = json!("rslave");
    rich["linux"]["resources"] = json!({
        "memory": {"limit": 1048576, "reservation": 524288, "swap": 2097152, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 64},
        "blockIO": {"weight": 100, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
        "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    });
    rich["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "rro", "idmap", "nosuid"],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}], "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}));
    rich["hooks"] = json!({"createRuntime": [{"path": "/bin/true", "args": ["true"], "timeout": 5}], "poststop": [{"path": "/bin/true"}]});
    rich["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}, {"type": "RLIMIT_NPROC", "hard": 100, "soft": 100}]);
    rich["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NE"}]},
                     {"names": ["mkdir", "keyctl"], "action": "SCMP_ACT_ERRNO"}]
    });
    vec![crate::spec::default::default_spec(false), crate::spec::default::default_spec(true), rich]
}

#[test]
fn corpus_never_panics() {
    let c = corpus();
    assert!(c.len() >= 40, "corpus too small: {}", c.len());
    for (name, raw) in &c {
        no_panic(name, raw);
    }
    // The mutations below start from configs that plan.
    for (i, v) in valid_configs().iter().enumerate() {
        if let Err(e) = plan_config(&serde_json::to_vec(v).unwrap()) {
            panic!("valid config #{i} does not plan: {e}");
        }
    }
}

#[test]
fn mutated_configs_never_panic() {
    let bases = valid_configs();
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    // Structured mutations: reach deep into the spec with values of the right and wrong types.
    let (n, mut planned) = (6000, 0);
    for i in 0..n {
        let mut v = bases[i % bases.len()].clone();
        for _ in 0..1 + r.below(4) {
            mutate(&mut v, &mut r);
        }
        planned += no_panic(&format!("json mutation #{i}"), &serde_json::to_vec(&v).unwrap()) as usize;
    }
    // Enough of them (~9% at this seed) get through validation to exercise what follows it.
    assert!(planned > n / 20, "only {planned} of {n} mutated configs planned");
    // Byte mutations of the corpus and the bases: the parser's error paths.
    let mut seeds: Vec<Vec<u8>> = corpus().into_iter().map(|(_, b)| b).filter(|b| b.len() < 20_000).collect();
    seeds.extend(bases.iter().map(|v| serde_json::to_vec(v).unwrap()));
    for i in 0..3000 {
        let mut b = seeds[i % seeds.len()].clone();
        damage(&mut b, &mut r);
        no_panic(&format!("byte mutation #{i}"), &b);
    }
}
