//! Faults: `create` failing at each of its steps (`BERTH_FAULT=<step>`, the `berth-fault`
//! binary) gives one error line naming the container and the step and leaves nothing behind;
//! so do 1,000 such failures in parallel; and a `create` killed with SIGKILL midway
//! (`BERTH_FAULT=pause:<step>`, or during a sleeping createRuntime hook) is cleaned up by
//! `delete --force`: state, cgroup, the orphaned init (it dies with its create), mounts.

use berth_integration::faults::{assert_no_leftovers, fault_berth, DeleteAll, is_dead, leftovers, parallel, procs_mentioning, wait_dead, STEPS};
use berth_integration::runtime::{Berth, Bundle};
use serde_json::json;
use std::io::BufRead;
use std::process::Stdio;

/// A bundle that exercises every step: hooks in the runtime and in the container. With
/// `fork`, a time namespace too: the init is then forked by an intermediate child (the other
/// path through `clone`).
fn hooked_bundle(b: &Berth, fork: bool) -> Bundle {
    let mut bundle = b.bundle(&["sleep", "30"]);
    bundle.spec["hooks"] = json!({
        "createRuntime": [{"path": "/bin/true"}],
        "createContainer": [{"path": "/bin/true"}],
    });
    if fork {
        bundle.spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
        bundle.spec["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 100}});
    }
    bundle.save();
    bundle
}

/// `create` with `BERTH_FAULT=step` fails with one line naming `id` and the step, and leaves
/// nothing (the pid file included).
fn create_fails_at(b: &Berth, bundle: &Bundle, id: &str, step: &str) -> Result<(), String> {
    let pid_file = b.tmp.path().join(format!("{id}.pid"));
    let o = berth_integration::runtime::output_via_files(
        b.cmd(["create", "-b", bundle.dir.to_str().unwrap(), "--pid-file", pid_file.to_str().unwrap(), id]).env("BERTH_FAULT", step),
        b.tmp.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    if o.status.success() {
        return Err(format!("{step}: create succeeded"));
    }
    let want = format!("berth: container \"{id}\": injected fault at step {step}");
    if err.trim_end() != want {
        return Err(format!("{step}: want one line {want:?}, got {err:?}"));
    }
    if pid_file.exists() {
        return Err(format!("{step}: pid file {} left behind", pid_file.display()));
    }
    if b.root.join(id).exists() {
        return Err(format!("{step}: state dir of {id} left behind"));
    }
    Ok(())
}

#[test]
fn create_failing_at_each_step_leaves_nothing() {
    let b = fault_berth("fault-step");
    let _cleanup = DeleteAll(&b);
    let prefix = format!("fs-{}-", std::process::id());
    for fork in [false, true] {
        let bundle = hooked_bundle(&b, fork);
        for step in STEPS {
            let id = format!("{prefix}{step}-{fork}");
            create_fails_at(&b, &bundle, &id, step).unwrap();
            assert_no_leftovers(&b, &prefix);
        }
        // Without a fault the same bundle works (the faults are what failed).
        let id = format!("{prefix}ok-{fork}");
        b.ok(["create", "-b", bundle.dir.to_str().unwrap(), &id]);
        b.ok(["delete", "--force", &id]);
        assert_no_leftovers(&b, &prefix);
    }
}

#[test]
fn a_thousand_injected_failures_in_parallel_leave_nothing() {
    let b = fault_berth("fault-loop");
    let _cleanup = DeleteAll(&b);
    let prefix = format!("fl-{}-", std::process::id());
    let bundles: Vec<Bundle> = [false, true].map(|fork| hooked_bundle(&b, fork)).into();
    let t0 = std::time::Instant::now();
    parallel(1000, 8, |i| {
        let step = STEPS[i % STEPS.len()];
        create_fails_at(&b, &bundles[i % 2], &format!("{prefix}{i}"), step)
    });
    eprintln!("1000 injected failures: {:.1}s", t0.elapsed().as_secs_f64());
    assert_no_leftovers(&b, &prefix);
}

/// A child process killed (and reaped) when dropped: a failing assertion must not leave a
/// paused `create` holding its container's lock (the cleanup's `delete --force` would wait).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `create` paused at `step`, return it and the pid that paused (create, or the init
/// as its own pid namespace numbers it).
fn create_paused(b: &Berth, bundle: &Bundle, id: &str, step: &str) -> (Killed, i32) {
    let mut c = b
        .cmd(["create", "-b", bundle.dir.to_str().unwrap(), id])
        .env("BERTH_FAULT", format!("pause:{step}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = c.stderr.take().unwrap();
    let c = Killed(c);
    let mut line = String::new();
    std::io::BufReader::new(stderr).read_line(&mut line).unwrap();
    let want = format!("berth-fault: paused at {step} pid ");
    let pid = line.trim().strip_prefix(&want).and_then(|p| p.parse().ok());
    let Some(pid) = pid else { panic!("{step}: want {want:?}…, got {line:?}") };
    (c, pid)
}

#[test]
fn kill_9_of_create_at_each_step_then_delete_force_cleans_up() {
    let b = fault_berth("fault-kill");
    let _cleanup = DeleteAll(&b);
    let plain = Berth::new("fault-kill-plain");
    let prefix = format!("fk-{}-", std::process::id());
    let bundles: Vec<Bundle> = [false, true].map(|fork| hooked_bundle(&b, fork)).into();
    for (step, fork) in STEPS.iter().flat_map(|s| [(s, false), (s, true)]) {
        let bundle = &bundles[fork as usize];
        let id = format!("{prefix}{step}-{fork}");
        let (create, paused) = create_paused(&b, bundle, &id, step);
        // Every process of this create (its init is a fork with the same command line).
        let procs: Vec<i32> = procs_mentioning(&id).iter().filter_map(|l| l.split(':').next()?.parse().ok()).collect();
        // (The init reports its pid in its own pid namespace: 1.)
        assert!(paused == 1 || procs.contains(&paused), "{step}: paused pid {paused} not among {procs:?}");
        assert!(!procs.is_empty(), "{step}: no process of the create found");
        drop(create); // SIGKILL, reaped
        // The init dies with its create: before `create` has recorded it, nothing else could.
        for p in &procs {
            assert!(wait_dead(*p, 3000), "{step}: process {p} outlived the killed create");
        }
        // The plain `berth` (no fault feature) cleans up what is left.
        let o = std::process::Command::new(&plain.bin).arg("--root").arg(&b.root).args(["delete", "--force", &id]).output().unwrap();
        assert!(o.status.success(), "{step}: delete --force: {}", String::from_utf8_lossy(&o.stderr));
        let left = leftovers(&b, &prefix);
        assert!(left.is_empty(), "{step}: left behind after delete --force:\n{}", left.join("\n"));
    }
}

#[test]
fn kill_9_of_create_during_a_sleeping_create_runtime_hook() {
    let b = Berth::new("fault-hook");
    let _cleanup = DeleteAll(&b);
    let prefix = format!("fh-{}-", std::process::id());
    let id = format!("{prefix}0");
    let mut bundle = b.bundle(&["sleep", "30"]);
    let marker = b.tmp.path().join("hook.pid");
    bundle.spec["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("echo $$ > {}; exec sleep 60", marker.display())]}],
    });
    bundle.save();
    let create = Killed(b.cmd(["create", "-b", bundle.dir.to_str().unwrap(), &id]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let mut hook = 0;
    for _ in 0..1000 {
        if let Some(p) = std::fs::read_to_string(&marker).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
            hook = p;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(hook > 0, "the hook never ran");
    // The init, waiting for the hook to finish (it has joined the cgroup).
    let inits: Vec<i32> = procs_mentioning(&id).iter().filter_map(|l| l.split(':').next()?.parse().ok()).filter(|&p| p != create.0.id() as i32).collect();
    assert!(!inits.is_empty(), "no init found for {id}");
    drop(create); // SIGKILL, reaped
    for p in inits.iter().chain([&hook]) {
        assert!(wait_dead(*p, 3000), "process {p} outlived the killed create");
    }
    assert!(b.root.join(&id).exists(), "the half-made state dir should still be there for delete");
    b.ok(["delete", "--force", &id]);
    assert_no_leftovers(&b, &prefix);
    assert!(is_dead(hook));
}

/// The fault points compile to nothing without the feature: `berth` itself has no trace of
/// them (the variable name, the error text), while `berth-fault` does.
#[test]
fn berth_itself_carries_no_fault_injection() {
    let has = |bin: &std::path::Path, needle: &[u8]| std::fs::read(bin).unwrap().windows(needle.len()).any(|w| w == needle);
    let plain = berth_integration::bin("berth");
    let fault = berth_integration::faults::fault_bin();
    for needle in [&b"BERTH_FAULT"[..], b"injected fault at step"] {
        assert!(!has(&plain, needle), "{} contains {:?}", plain.display(), String::from_utf8_lossy(needle));
        assert!(has(&fault, needle), "{} lacks {:?}", fault.display(), String::from_utf8_lossy(needle));
    }
}
