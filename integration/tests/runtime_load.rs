//! Load: 200 containers created, started and deleted, 16 at a time, by parallel `berth`
//! processes sharing one `--root`. None may fail, and nothing may be left: no state dir,
//! mount, cgroup directory (any v1 hierarchy or the unified one) or process.

use berth_integration::faults::{assert_no_leftovers, is_dead, parallel, wait_dead, DeleteAll};
use berth_integration::runtime::Berth;
use std::sync::Mutex;

const N: usize = 200;
const THREADS: usize = 16;

#[test]
fn two_hundred_containers_sixteen_at_a_time_leave_nothing() {
    let b = Berth::new("load");
    let _cleanup = DeleteAll(&b);
    let prefix = format!("ld-{}-", std::process::id());
    // Two bundles, each shared by up to 16 containers at once (a read-only use of the rootfs,
    // as runc allows): even ids run `true` and have usually stopped by delete, odd ones still
    // sleep and need --force.
    let bundles: Vec<_> = (0..2).map(|i| b.bundle(if i == 0 { &["true"] } else { &["sleep", "60"] })).collect();
    let pids = Mutex::new(Vec::new());
    let t0 = std::time::Instant::now();
    parallel(N, THREADS, |i| {
        let id = format!("{prefix}{i}");
        let bundle = bundles[i % 2].dir.to_str().unwrap();
        let pid_file = b.tmp.path().join(format!("{id}.pid"));
        let run = |args: &[&str]| -> Result<(), String> {
            let o = b.run(args);
            if o.status.success() {
                Ok(())
            } else {
                Err(format!("berth {args:?}: {}", String::from_utf8_lossy(&o.stderr).trim()))
            }
        };
        let steps = || -> Result<(), String> {
            run(&["create", "-b", bundle, "--pid-file", pid_file.to_str().unwrap(), &id])?;
            let pid: i32 = std::fs::read_to_string(&pid_file).map_err(|e| e.to_string())?.trim().parse().map_err(|e| format!("pid file: {e}"))?;
            pids.lock().unwrap().push(pid);
            run(&["start", &id])?;
            run(&["delete", "--force", &id])?;
            if !wait_dead(pid, 2000) {
                return Err(format!("{id}: init {pid} still alive after delete"));
            }
            Ok(())
        };
        let r = steps();
        if r.is_err() {
            // The failure is reported; do not leave the container to the host.
            let _ = b.run(["delete", "--force", &id]);
        }
        r
    });
    let took = t0.elapsed();
    eprintln!("{N} containers, {THREADS} at a time: {:.1}s", took.as_secs_f64());
    assert_no_leftovers(&b, &prefix);
    let pids = pids.into_inner().unwrap();
    assert_eq!(pids.len(), N);
    assert!(pids.iter().all(|&p| is_dead(p)));
}
