//! `exec` into a running container: namespaces joined, the container's process defaults,
//! flags (--env, --cwd, --user, --cap, --process, -d, --pid-file), exit status, errors.

use berth_integration::runtime::{status_field, Berth};
use berth_integration::unique_id;
use serde_json::json;

fn running(b: &Berth) -> (String, berth_integration::runtime::Bundle) {
    let mut bundle = b.bundle(&["sleep", "60"]);
    bundle.spec["hostname"] = json!("exec-box");
    bundle.save();
    let id = unique_id("ex");
    b.ok(["run", "-d", "-b", bundle.dir.to_str().unwrap(), &id]);
    (id, bundle)
}

#[test]
fn exec_joins_the_container() {
    let b = Berth::new("exec");
    let (id, bundle) = running(&b);
    let out = b.ok(["exec", &id, "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; grep -E 'CapEff|NoNewPrivs' /proc/self/status; ls /proc/self/fd | wc -l"]);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "exec-box");
    assert_eq!(l[1].trim(), "sleep 60");
    assert_eq!(status_field(&out, "CapEff"), Some("0000000020000420"));
    assert_eq!(status_field(&out, "NoNewPrivs"), Some("1"));
    assert!(l.last().unwrap().trim().parse::<u32>().unwrap() <= 4, "fd leak: {out}");
    // Exit status passes through.
    let o = b.run(["exec", &id, "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    b.ok(["delete", "--force", &id]);
    b.assert_clean(&id, &bundle, None);
}

#[test]
fn exec_flags() {
    let b = Berth::new("execflags");
    let (id, _bundle) = running(&b);
    let out = b.ok(["exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000:1000", "--additional-gids", "5", &id, "sh", "-c", "echo $FOO; pwd; id -u; id -g; id -G"]);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0..4], ["bar", "/tmp", "1000", "1000"]);
    assert!(l[4].split(' ').any(|g| g == "5"), "{out}");
    let out = b.ok(["exec", "--cap", "CAP_SYS_ADMIN", &id, "grep", "CapBnd", "/proc/self/status"]);
    assert_eq!(status_field(&out, "CapBnd"), Some("0000000020200420"));
    // --process
    let p = b.tmp.path().join("process.json");
    std::fs::write(&p, json!({"args": ["sh", "-c", "echo from-process $X"], "env": ["X=1", "PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}}).to_string()).unwrap();
    assert_eq!(b.ok(["exec", "--process", p.to_str().unwrap(), &id]), "from-process 1\n");
    // -d with --pid-file
    let pf = b.tmp.path().join("exec.pid");
    b.ok(["exec", "-d", "--pid-file", pf.to_str().unwrap(), &id, "sleep", "5"]);
    let pid: i32 = std::fs::read_to_string(&pf).unwrap().trim().parse().unwrap();
    let pids: Vec<i32> = serde_json::from_str(&b.ok(["ps", "--format", "json", &id])).unwrap();
    assert!(pids.contains(&pid), "{pids:?} lacks {pid}");
    b.ok(["delete", "--force", &id]);
}

#[test]
fn exec_errors() {
    let b = Berth::new("execerr");
    let (id, _bundle) = running(&b);
    let e = b.fails(["exec", &id, "/no/such/bin"]);
    assert!(e.contains("/no/such/bin"), "{e}");
    let e = b.fails(["exec", &id]);
    assert!(e.contains("command"), "{e}");
    let e = b.fails(["exec", "nope", "true"]);
    assert!(e.contains("does not exist"), "{e}");
    b.ok(["kill", &id, "KILL"]);
    b.wait_stopped(&id);
    let e = b.fails(["exec", &id, "true"]);
    assert!(e.contains("not running"), "{e}");
    b.ok(["delete", &id]);
}
