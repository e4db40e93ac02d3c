//! cgroups through the real `berth` binary, as runc's clients drive it: limits from
//! config.json enforced on the container, `update`, `pause`/`resume`, `events` (stats and
//! oom), `--systemd-cgroup` where systemd does not run, and nothing left after `delete`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_integration::cgroups::{host, read, Mode};
use berth_integration::runtime::{Berth, Bundle};
use berth_integration::unique_id;
use serde_json::{json, Value};

/// A container with its own top-level cgroup directory (so the test can check every
/// hierarchy and that all of it goes away).
struct Ctr {
    id: String,
    top: String,
    path: String,
}

fn ctr(b: &mut Bundle, resources: Value) -> Ctr {
    let id = unique_id("cg");
    let top = unique_id("berth-it-cli");
    let path = format!("/{top}/{id}");
    b.spec["linux"]["cgroupsPath"] = json!(path);
    for (k, v) in resources.as_object().unwrap() {
        b.spec["linux"]["resources"][k] = v.clone();
    }
    b.save();
    Ctr { id, top, path }
}

impl Ctr {
    /// The container's directory in the hierarchy of `controller`.
    fn dir(&self, controller: &str) -> PathBuf {
        let l = host();
        match l.v1_hierarchy(controller) {
            Some(h) => h.mountpoint.join(self.path.trim_start_matches('/')),
            None => l.unified.as_ref().unwrap().mountpoint.join(self.path.trim_start_matches('/')),
        }
    }

    /// Nothing of the cgroup is left in any hierarchy (the top dir was made by berth too).
    fn assert_gone(&self) {
        let l = host();
        for h in l.v1.iter().chain(l.unified.as_ref()) {
            let d = h.mountpoint.join(&self.top);
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }
}

/// Deletes the container (with --force) when the test ends, passing or not.
struct Cleanup<'a>(&'a Berth, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(["delete", "--force", &self.1]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// `run -d`: the container keeps the runtime's stdout/stderr, so they go to files (a pipe
/// would stay open as long as the container runs).
fn start<'a>(b: &'a Berth, bundle: &Bundle, c: &Ctr) -> (i32, Cleanup<'a>) {
    let log = b.tmp.path().join(format!("{}.out", c.id));
    let f = std::fs::File::create(&log).unwrap();
    let st = b
        .cmd(["run", "-d", "--bundle", bundle.dir.to_str().unwrap(), &c.id])
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .status()
        .unwrap();
    let guard = Cleanup(b, c.id.clone());
    assert!(st.success(), "run -d failed: {}", std::fs::read_to_string(&log).unwrap_or_default());
    (b.state(&c.id)["pid"].as_i64().unwrap() as i32, guard)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn memory_limit_oom_kills_and_events_report_it() {
    let b = Berth::new("cgoom");
    let mut bundle = b.bundle(&["sh", "-c", "sleep 0.5; tail /dev/zero; sleep 100"]);
    let c = ctr(&mut bundle, json!({"memory": {"limit": 16777216, "swap": 16777216}}));
    let _g = start(&b, &bundle, &c);
    assert_eq!(read(c.dir("memory").join("memory.limit_in_bytes")), "16777216");
    let events = b.cmd(["events", "--interval", "200ms", &c.id]).stdout(Stdio::piped()).spawn().unwrap();
    // the hog is killed, the shell goes on to sleep
    wait_for("the OOM kill", || read(c.dir("memory").join("memory.oom_control")).lines().any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0"));
    std::thread::sleep(Duration::from_millis(500));
    let stats: Value = serde_json::from_str(&b.ok(["events", "--stats", &c.id])).unwrap();
    assert_eq!(stats["type"], "stats");
    assert_eq!(stats["id"], c.id.as_str());
    assert_eq!(stats["data"]["memory"]["usage"]["limit"], 16777216);
    assert!(stats["data"]["memory"]["usage"]["max"].as_u64().unwrap() > 15 << 20);
    b.ok(["delete", "--force", &c.id]);
    // the stream ends with the container; it saw the oom
    let out = events.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|e| e["type"] == "oom" && e["id"] == c.id.as_str()), "{text}");
    assert!(lines.iter().any(|e| e["type"] == "stats"), "{text}");
    c.assert_gone();
}

#[test]
fn pids_limit_stops_a_fork_bomb_in_the_container() {
    let b = Berth::new("cgpids");
    // the bomb runs in a child shell (which may die of a failed fork); init stays
    let bomb = "i=0; while [ $i -lt 40 ]; do sleep 100 & i=$((i+1)); done";
    let mut bundle = b.bundle(&["sh", "-c", &format!("sh -c '{bomb}' 2>/dev/null; sleep 100")]);
    let c = ctr(&mut bundle, json!({"pids": {"limit": 10}}));
    let _g = start(&b, &bundle, &c);
    wait_for("the fork bomb to hit the limit", || read(c.dir("pids").join("pids.events")) != "max 0");
    let ps: Vec<i64> = serde_json::from_str(&b.ok(["ps", "--format", "json", &c.id])).unwrap();
    assert!(ps.len() <= 10 && ps.len() >= 5, "{} processes with pids.max=10", ps.len());
    assert_eq!(read(c.dir("pids").join("pids.max")), "10");
    b.ok(["delete", "--force", &c.id]);
    c.assert_gone();
}

#[test]
fn cpu_and_device_settings_land_in_the_cgroup_and_bind_the_container() {
    let b = Berth::new("cgcpu");
    let mut bundle = b.bundle(&["sh", "-c", "sleep 100"]);
    // mknod needs the capability; the device cgroup decides what may be opened
    for set in ["bounding", "effective", "permitted"] {
        bundle.spec["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_MKNOD"));
    }
    let c = ctr(
        &mut bundle,
        json!({
            "cpu": {"shares": 256, "quota": 30000, "period": 100000, "cpus": "0"},
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]
        }),
    );
    let _g = start(&b, &bundle, &c);
    if host().mode != Mode::V2 {
        assert_eq!(read(c.dir("cpu").join("cpu.cfs_quota_us")), "30000");
        assert_eq!(read(c.dir("cpu").join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(c.dir("cpu").join("cpu.shares")), "256");
        assert_eq!(read(c.dir("cpuset").join("cpuset.cpus")), "0");
        let list = read(c.dir("devices").join("devices.list"));
        assert!(list.lines().any(|l| l == "c 1:11 w"), "{list}");
        assert!(!list.contains("a *:*"), "{list}");
    } else {
        assert_eq!(read(c.dir("cpu").join("cpu.max")), "30000 100000");
    }
    // from inside: a device node made with mknod opens only as the rules say (/dev/kmsg
    // may be written without privileges; /dev/fuse needs none to open, so EPERM is the cgroup)
    let probe = |script: &str| {
        let o = b.run(["exec", &c.id, "sh", "-c", &format!("({script}) 2>&1 </dev/null; true")]);
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    let kmsg = probe("mknod /dev/xkmsg c 1 11 && echo berth-cgroups-test > /dev/xkmsg");
    assert!(kmsg.trim().is_empty(), "writing /dev/kmsg is allowed: {kmsg}");
    let fuse = probe("mknod /dev/xfuse c 10 229 && head -c1 /dev/xfuse");
    assert!(fuse.contains("not permitted") && !fuse.contains("mknod"), "/dev/fuse must be denied: {fuse}");
    b.ok(["delete", "--force", &c.id]);
    c.assert_gone();
}

#[test]
fn update_changes_limits_of_a_running_container() {
    let b = Berth::new("cgupd");
    let mut bundle = b.bundle(&["sh", "-c", "sleep 100"]);
    let c = ctr(&mut bundle, json!({"memory": {"limit": 33554432}, "pids": {"limit": 20}, "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]}));
    let _g = start(&b, &bundle, &c);
    b.ok(["update", "--memory", "64m", "--memory-swap", "128m", "--cpu-quota", "20000", "--cpu-period", "50000", "--pids-limit", "50", "--cpu-share", "512", &c.id]);
    if host().mode != Mode::V2 {
        assert_eq!(read(c.dir("memory").join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(c.dir("memory").join("memory.memsw.limit_in_bytes")), "134217728");
        assert_eq!(read(c.dir("cpu").join("cpu.cfs_quota_us")), "20000");
        assert_eq!(read(c.dir("cpu").join("cpu.shares")), "512");
        // flags never touch the device rules
        assert!(read(c.dir("devices").join("devices.list")).contains("c 10:229 rwm"));
    }
    assert_eq!(read(c.dir("pids").join("pids.max")), "50");
    // --resources from stdin
    let mut child = b.cmd(["update", "--resources", "-", &c.id]).stdin(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(br#"{"pids": {"limit": 7}}"#).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(read(c.dir("pids").join("pids.max")), "7");
    // bad input: one clear line, nothing changed
    let e = b.fails(["update", "--memory", "lots", &c.id]);
    assert!(e.contains("--memory") && e.lines().count() == 1, "{e}");
    let e = b.fails(["update", "--l3-cache-schema", "L3:0=f", &c.id]);
    assert!(e.contains("Intel RDT"), "{e}");
    let e = b.fails(["update", "--cpu-share", "1", &c.id]);
    assert!(e.contains("cpu.shares"), "{e}");
    assert_eq!(read(c.dir("pids").join("pids.max")), "7");
    b.ok(["delete", "--force", &c.id]);
    c.assert_gone();
}

#[test]
fn pause_freezes_every_process_and_resume_thaws() {
    let b = Berth::new("cgpause");
    let mut bundle = b.bundle(&["sh", "-c", "sleep 100 & while :; do sleep 0.01; done"]);
    let c = ctr(&mut bundle, json!({}));
    let (pid, _g) = start(&b, &bundle, &c);
    wait_for("two processes", || serde_json::from_str::<Vec<i64>>(&b.ok(["ps", "--format", "json", &c.id])).unwrap().len() == 2);
    b.ok(["pause", &c.id]);
    assert_eq!(b.status(&c.id), "paused");
    if let Some(h) = host().v1_hierarchy("freezer") {
        assert_eq!(read(h.mountpoint.join(c.path.trim_start_matches('/')).join("freezer.state")), "FROZEN");
    }
    let procs: Vec<i64> = serde_json::from_str(&b.ok(["ps", "--format", "json", &c.id])).unwrap();
    for p in &procs {
        let st = berth_integration::cgroups::proc_state(*p as u32);
        assert!(st.starts_with('D') || st.contains("frozen"), "process {p} is {st} while paused");
    }
    let e = b.fails(["pause", &c.id]);
    assert!(e.contains("not running"), "{e}");
    b.ok(["resume", &c.id]);
    assert_eq!(b.status(&c.id), "running");
    wait_for("the loop to run again", || !berth_integration::cgroups::proc_state(pid as u32).starts_with('D'));
    b.ok(["delete", "--force", &c.id]);
    c.assert_gone();
}

#[test]
fn delete_keeps_a_pre_existing_parent_and_removes_the_rest() {
    let b = Berth::new("cgparent");
    let mut bundle = b.bundle(&["sh", "-c", "sleep 100"]);
    let c = ctr(&mut bundle, json!({}));
    // containerd's namespace directory exists before the container, in every hierarchy
    let l = host();
    struct Parents(Vec<PathBuf>);
    impl Drop for Parents {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_dir(p);
            }
        }
    }
    let parents = Parents(l.v1.iter().chain(l.unified.as_ref()).map(|h| h.mountpoint.join(&c.top)).collect());
    for p in &parents.0 {
        std::fs::create_dir(p).unwrap();
    }
    let _g = start(&b, &bundle, &c);
    assert!(c.dir("pids").is_dir());
    b.ok(["delete", "--force", &c.id]);
    for parent in &parents.0 {
        assert!(parent.is_dir(), "pre-existing {} was removed", parent.display());
        assert!(!parent.join(&c.id).exists());
    }
}

#[test]
fn bad_cgroup_settings_fail_create_and_leave_nothing() {
    let b = Berth::new("cgbad");
    for (res, want) in [
        (json!({"memory": {"limit": 1000, "swap": 10}}), "memory.swap"),
        (json!({"cpu": {"shares": 1}}), "cpu.shares"),
        (json!({"devices": [{"allow": true, "type": "c", "access": "rwx"}]}), "devices"),
    ] {
        let mut bundle = b.bundle(&["true"]);
        let c = ctr(&mut bundle, res);
        let e = b.fails(["run", "--bundle", bundle.dir.to_str().unwrap(), &c.id]);
        assert!(e.contains(want), "{e}");
        assert!(!b.root.join(&c.id).exists(), "state dir left");
        c.assert_gone();
    }
    if host().mode == Mode::V1 || host().mode == Mode::Hybrid {
        let mut bundle = b.bundle(&["true"]);
        let c = ctr(&mut bundle, json!({"unified": {"memory.high": "1000000"}}));
        let e = b.fails(["run", "--bundle", bundle.dir.to_str().unwrap(), &c.id]);
        assert!(e.contains("cgroup v1") || e.contains("cgroup v2"), "{e}");
        c.assert_gone();
    }
}

#[test]
fn systemd_cgroup_without_systemd_is_a_clear_error() {
    if std::path::Path::new("/run/systemd/system").exists() {
        return berth_integration::cgroups::skip("systemd_cgroup_without_systemd_is_a_clear_error", "systemd runs here");
    }
    let b = Berth::new("cgsd");
    let mut bundle = b.bundle(&["true"]);
    let id = unique_id("sd");
    bundle.spec["linux"]["cgroupsPath"] = json!("system.slice:berth:x");
    bundle.save();
    let o = b.cmd(["--systemd-cgroup", "run", "--bundle", bundle.dir.to_str().unwrap(), &id]).output().unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("systemd is not running"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(!b.root.join(&id).exists());
}

/// A container starts and runs under a 512 KiB memory limit (memory+swap too): the init joins
/// the cgroup before it sets anything up, so the whole set-up (mounts, pivot_root, exec) must
/// fit. The benchmark's 512 KiB case (hack/bench/runtime.sh) is the same container.
#[test]
fn a_container_starts_under_a_512k_memory_limit() {
    let b = Berth::new("cg512k");
    let mut bundle = b.bundle(&["sh", "-c", "echo ok"]);
    let c = ctr(&mut bundle, json!({"memory": {"limit": 524288, "swap": 524288}}));
    let d = bundle.dir.to_str().unwrap();
    b.ok(["create", "--bundle", d, &c.id]);
    let _g = Cleanup(&b, c.id.clone());
    assert_eq!(read(c.dir("memory").join(if host().mode == Mode::V2 { "memory.max" } else { "memory.limit_in_bytes" })), "524288");
    b.ok(["start", &c.id]);
    b.wait_stopped(&c.id);
    if host().mode != Mode::V2 {
        let failcnt = read(c.dir("memory").join("memory.failcnt"));
        let peak: u64 = read(c.dir("memory").join("memory.max_usage_in_bytes")).parse().unwrap();
        assert!(peak <= 524288, "peak {peak}");
        // Not OOM-killed: the shell ran to its end.
        let oom = read(c.dir("memory").join("memory.oom_control"));
        assert!(oom.lines().any(|l| l == "oom_kill 0"), "oom kills: {oom} (failcnt {failcnt})");
    }
    b.ok(["delete", &c.id]);
    c.assert_gone();
    // And in the foreground, with its output: `run` returns the container's exit status.
    let mut bundle = b.bundle(&["sh", "-c", "echo ok"]);
    let c = ctr(&mut bundle, json!({"memory": {"limit": 524288, "swap": 524288}}));
    let (code, out, err) = b.run_bundle(&bundle);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
    c.assert_gone();
}
