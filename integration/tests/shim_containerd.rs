//! containerd-shim-berth-v2 driven by the real containerd (Debian's 1.6) through `ctr`, as a
//! user would: the shim passed to `ctr run --runtime` by absolute path, a private containerd,
//! a busybox image made and imported by the harness. Each test checks what came out (output,
//! exit codes, task states) and that nothing is left behind (mounts, cgroups, shims, sockets).

use berth_integration::containerd::Containerd;
use std::process::Command;
use std::time::Duration;

fn shim() -> String {
    berth_integration::bin("containerd-shim-berth-v2").to_string_lossy().into_owned()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Everything a finished task could leave: none of it may remain.
fn assert_clean(c: &Containerd, id: &str) {
    c.wait_for(&format!("shim of {id} to exit"), 20, || c.shim_pids().is_empty());
    assert!(c.tasks().iter().all(|(t, _)| t != id), "task {id} still listed");
    assert!(c.mounts().is_empty(), "mounts left: {:?}", c.mounts());
    assert!(c.cgroups_of(id).is_empty(), "cgroups left: {:?}", c.cgroups_of(id));
    assert!(!std::path::Path::new("/run/containerd/berth").join(&c.ns).join(id).exists(), "runtime state left for {id}");
}

/// The freezer state file of the cgroup `pid` is in (v1 freezer, or cgroup.freeze on v2).
fn freezer_state_path(pid: &str) -> std::path::PathBuf {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for l in cg.lines() {
        let f: Vec<&str> = l.splitn(3, ':').collect();
        if f[1] == "freezer" {
            return std::path::Path::new("/sys/fs/cgroup/freezer").join(f[2].trim_start_matches('/')).join("freezer.state");
        }
    }
    panic!("no freezer cgroup for {pid}: {cg}");
}

#[test]
fn run_rm_prints_output_and_returns_the_exit_code() {
    let c = Containerd::start();
    let img = c.import_busybox();
    let s = shim();
    let o = c.ctr(&["run", "--rm", "--runtime", &s, &img, "rm1", "/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"]);
    assert_eq!(o.status.code(), Some(7), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "to-stdout\n");
    assert!(text(&o.stderr).contains("to-stderr"), "{}", text(&o.stderr));
    assert_clean(&c, "rm1");

    // stdin from the client reaches the container and its EOF ends `cat`
    let mut cmd = c.ctr_cmd(&["run", "--rm", "--runtime", &s, &img, "rm2", "/bin/sh", "-c", "cat; echo after-eof"]);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"piped-input\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "piped-input\nafter-eof\n");
    assert_clean(&c, "rm2");
}

#[test]
fn a_process_that_exits_immediately_is_not_lost() {
    let c = Containerd::start();
    let img = c.import_busybox();
    let s = shim();
    for (id, prog, code) in [("q1", "/bin/true", 0), ("q2", "/bin/false", 1)] {
        let o = c.ctr(&["run", "--rm", "--runtime", &s, &img, id, prog]);
        assert_eq!(o.status.code(), Some(code), "{id}: {}", text(&o.stderr));
    }
    // detached: the exit is kept until delete, which reports it
    c.ctr_ok(&["run", "-d", "--runtime", &s, &img, "q3", "/bin/sh", "-c", "exit 42"]);
    c.wait_for("q3 to stop", 20, || c.tasks().iter().any(|(t, st)| t == "q3" && st == "STOPPED"));
    let out = c.ctr_ok(&["task", "delete", "q3"]);
    assert!(out.contains("42") || out.is_empty(), "{out}");
    c.ctr_ok(&["container", "delete", "q3"]);
    assert_clean(&c, "q3");
    for id in ["q1", "q2"] {
        assert!(c.cgroups_of(id).is_empty());
    }
}

#[test]
fn tty_run_with_resize() {
    let c = Containerd::start();
    let img = c.import_busybox();
    // `script` gives ctr a terminal of 30x100; ctr sends that size with ResizePty
    let inner = format!(
        "stty cols 100 rows 30; ctr -a {} -n {} run -t --rm --runtime {} {img} tty1 /bin/sh -c 'sleep 1; stty size; tty; exit 4'",
        c.sock.display(),
        c.ns,
        shim()
    );
    let o = Command::new("script").args(["-qec", &inner, "/dev/null"]).stdin(std::process::Stdio::null()).output().expect("script (bsdutils)");
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("30 100"), "terminal size not applied: {out:?}");
    assert!(out.contains("/dev/pts/"), "no terminal inside: {out:?}");
    assert_clean(&c, "tty1");
}

#[test]
fn exec_ps_pause_resume_metrics_kill() {
    let c = Containerd::start();
    let img = c.import_busybox();
    let s = shim();
    c.ctr_ok(&["run", "-d", "--runtime", &s, &img, "ops", "/bin/sleep", "1000"]);
    c.wait_for("ops to run", 20, || c.tasks().iter().any(|(t, st)| t == "ops" && st == "RUNNING"));

    // exec: output, exit code, a process that exits at once, a tty exec
    let out = c.ctr_ok(&["task", "exec", "--exec-id", "e1", "ops", "/bin/sh", "-c", "echo in-container; cat /proc/1/cmdline"]);
    assert!(out.starts_with("in-container\n/bin/sleep"), "{out:?}");
    let o = c.ctr(&["task", "exec", "--exec-id", "e2", "ops", "/bin/sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    c.ctr_ok(&["task", "exec", "--exec-id", "e3", "ops", "/bin/true"]);
    let inner = format!("ctr -a {} -n {} task exec -t --exec-id e4 ops /bin/sh -c 'tty; exit 3'", c.sock.display(), c.ns);
    let o = Command::new("script").args(["-qec", &inner, "/dev/null"]).stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("/dev/pts/"), "{}", text(&o.stdout));

    // ps lists the init's host pid
    let pid = c.tasks().into_iter().find(|(t, _)| t == "ops").map(|_| ()).and_then(|_| {
        c.ctr_ok(&["task", "ls"]).lines().find(|l| l.starts_with("ops ")).and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
    });
    let pid = pid.expect("pid of ops");
    let ps = c.ctr_ok(&["task", "ps", "ops"]);
    assert!(ps.lines().any(|l| l.split_whitespace().next() == Some(pid.as_str())), "{ps}");

    // pause / resume: the container's cgroup is really frozen, then thawed
    let freezer = freezer_state_path(&pid);
    c.ctr_ok(&["task", "pause", "ops"]);
    assert!(c.tasks().iter().any(|(t, st)| t == "ops" && st == "PAUSED"));
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "FROZEN", "{}", freezer.display());
    c.ctr_ok(&["task", "resume", "ops"]);
    assert!(c.tasks().iter().any(|(t, st)| t == "ops" && st == "RUNNING"));
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "THAWED");

    // metrics come from the container's own cgroup
    let m = c.ctr_ok(&["task", "metrics", "ops"]);
    assert!(m.contains("memory.usage_in_bytes") || m.contains("memory.usage"), "{m}");
    assert!(m.contains("pids.current"), "{m}");
    let pids_line = m.lines().find(|l| l.starts_with("pids.current")).unwrap().to_owned();
    assert!(pids_line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() >= 1, "{pids_line}");

    // kill: SIGKILL stops it; delete reports 137 and cleans up
    c.ctr_ok(&["task", "kill", "-s", "SIGKILL", "ops"]);
    c.wait_for("ops to stop", 20, || c.tasks().iter().any(|(t, st)| t == "ops" && st == "STOPPED"));
    let o = c.ctr(&["task", "kill", "ops"]);
    assert!(!o.status.success(), "killing a stopped task must fail");
    assert!(text(&o.stderr).contains("not found") || text(&o.stderr).contains("finished"), "{}", text(&o.stderr));
    c.ctr_ok(&["task", "delete", "ops"]);
    c.ctr_ok(&["container", "delete", "ops"]);
    assert_clean(&c, "ops");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn fifty_concurrent_tasks() {
    let c = Containerd::start();
    let img = c.import_busybox();
    let s = shim();
    let ids: Vec<String> = (0..50).map(|i| format!("many{i}")).collect();
    std::thread::scope(|sc| {
        for chunk in ids.chunks(10) {
            let (c, s, img) = (&c, &s, &img);
            sc.spawn(move || {
                for id in chunk {
                    c.ctr_ok(&["run", "-d", "--runtime", s, img, id, "/bin/sh", "-c", "echo up; sleep 1000"]);
                }
            });
        }
    });
    c.wait_for("50 running tasks", 60, || c.tasks().iter().filter(|(_, st)| st == "RUNNING").count() == 50);
    assert_eq!(c.shim_pids().len(), 50, "one shim per container");
    std::thread::scope(|sc| {
        for chunk in ids.chunks(10) {
            let c = &c;
            sc.spawn(move || {
                for id in chunk {
                    c.ctr_ok(&["task", "kill", "-s", "SIGKILL", id]);
                }
            });
        }
    });
    c.wait_for("50 stopped tasks", 60, || c.tasks().iter().filter(|(_, st)| st == "STOPPED").count() == 50);
    for id in &ids {
        c.ctr_ok(&["task", "delete", id]);
        c.ctr_ok(&["container", "delete", id]);
    }
    c.wait_for("all shims to exit", 30, || c.shim_pids().is_empty());
    assert!(c.mounts().is_empty(), "{:?}", c.mounts());
    for id in &ids {
        assert!(c.cgroups_of(id).is_empty(), "{id}");
    }
}

#[test]
fn tasks_survive_a_containerd_restart() {
    let mut c = Containerd::start();
    let img = c.import_busybox();
    let s = shim();
    for id in ["keep1", "keep2"] {
        c.ctr_ok(&["run", "-d", "--runtime", &s, &img, id, "/bin/sleep", "1000"]);
    }
    c.wait_for("both running", 20, || c.tasks().iter().filter(|(_, st)| st == "RUNNING").count() == 2);
    let shims = c.shim_pids();
    c.restart();
    let mut tasks = c.tasks();
    tasks.sort();
    assert_eq!(tasks, vec![("keep1".into(), "RUNNING".into()), ("keep2".into(), "RUNNING".into())]);
    let mut now = c.shim_pids();
    now.sort();
    let mut before = shims.clone();
    before.sort();
    assert_eq!(now, before, "the same shims serve the tasks after the restart");
    // the reconnected containerd can still drive them, and gets their events
    assert_eq!(c.ctr_ok(&["task", "exec", "--exec-id", "after", "keep1", "/bin/echo", "still-here"]), "still-here\n");
    let o = c.ctr(&["run", "--rm", "--runtime", &s, &img, "fresh", "/bin/sh", "-c", "exit 9"]);
    assert_eq!(o.status.code(), Some(9), "{}", text(&o.stderr));
    for id in ["keep1", "keep2"] {
        c.ctr_ok(&["task", "kill", "-s", "SIGKILL", id]);
    }
    c.wait_for("both stopped", 20, || c.tasks().iter().all(|(_, st)| st == "STOPPED"));
    for id in ["keep1", "keep2"] {
        c.ctr_ok(&["task", "delete", id]);
        c.ctr_ok(&["container", "delete", id]);
    }
    assert_clean(&c, "keep1");
    assert_clean(&c, "keep2");
}

#[test]
fn a_killed_shim_is_cleaned_up_by_delete() {
    let c = Containerd::start();
    let img = c.import_busybox();
    let s = shim();
    c.ctr_ok(&["run", "-d", "--runtime", &s, &img, "victim", "/bin/sleep", "1000"]);
    c.wait_for("victim to run", 20, || c.tasks().iter().any(|(t, st)| t == "victim" && st == "RUNNING"));
    let pid: i32 = c.ctr_ok(&["task", "ls"]).lines().find(|l| l.starts_with("victim ")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let address = std::fs::read_to_string(c.bundle("victim").join("address")).unwrap();
    let sock = address.trim_start_matches("unix://").to_owned();
    let shims = c.shim_pids();
    assert_eq!(shims.len(), 1);
    // SAFETY: the shim we started (found by our private containerd socket).
    unsafe { libc::kill(shims[0], libc::SIGKILL) };
    // containerd notices, runs `shim delete` (which kills and deletes the container), publishes
    // the exit and drops the task
    c.wait_for("the task to be gone", 30, || c.tasks().iter().all(|(t, _)| t != "victim"));
    c.ctr_ok(&["container", "delete", "victim"]);
    c.wait_for("the container's process to be gone", 20, || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.split(' ').nth(2) == Some("Z"))
    });
    c.wait_for("the dead shim's socket to be removed", 20, || !std::path::Path::new(&sock).exists());
    // containerd removes the bundle once `shim delete` (unmount, runtime delete) has returned
    c.wait_for("the bundle to be removed", 20, || !c.bundle("victim").exists());
    assert_clean(&c, "victim");
}

#[test]
fn bad_requests_get_clear_errors() {
    let c = Containerd::start();
    let img = c.import_busybox();
    let s = shim();
    // a program that does not exist: create/start fails with the runtime's message, no leftovers
    let o = c.ctr(&["run", "--rm", "--runtime", &s, &img, "bad1", "/no/such/program"]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("/no/such/program") || err.contains("no such file"), "{err}");
    c.wait_for("bad1 gone", 20, || c.tasks().iter().all(|(t, _)| t != "bad1"));
    let _ = c.ctr(&["container", "delete", "bad1"]);
    assert_clean(&c, "bad1");
    // checkpoint is refused clearly
    c.ctr_ok(&["run", "-d", "--runtime", &s, &img, "nockpt", "/bin/sleep", "1000"]);
    let o = c.ctr(&["task", "checkpoint", "nockpt"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("not supported") || text(&o.stderr).contains("not implemented"), "{}", text(&o.stderr));
    // exec with a duplicate id
    let mut first = c.ctr_cmd(&["task", "exec", "--exec-id", "dup", "nockpt", "/bin/sleep", "5"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let o = c.ctr(&["task", "exec", "--exec-id", "dup", "nockpt", "/bin/true"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("already exists"), "{}", text(&o.stderr));
    let _ = first.kill();
    let _ = first.wait();
}

#[test]
fn events_in_order_including_oom() {
    let c = Containerd::start();
    let img = c.import_busybox();
    let s = shim();
    let mut events = c.ctr_cmd(&["events"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let (seen, out) = (seen.clone(), events.stdout.take().unwrap());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                seen.lock().unwrap().push_str(&(line + "\n"));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    // a memory hog under a 32 MiB limit: the kernel OOM-kills it, the shim reports TaskOOM
    let o = c.ctr(&["run", "--rm", "--runtime", &s, "--memory-limit", "33554432", &img, "oom1", "/bin/sh", "-c", "x=0123456789; while :; do x=$x$x; done"]);
    assert_eq!(o.status.code(), Some(137), "{}", text(&o.stderr));
    c.ctr_ok(&["run", "--rm", "--runtime", &s, &img, "ev1", "/bin/true"]);
    // events reach subscribers asynchronously: wait for both deletes
    c.wait_for("the delete events", 30, || {
        let l = seen.lock().unwrap();
        l.lines().filter(|x| x.contains("/tasks/delete") && (x.contains("\"oom1\"") || x.contains("\"ev1\""))).count() == 2
    });
    let _ = events.kill();
    let _ = events.wait();
    let _ = reader.join();
    let log = seen.lock().unwrap().clone();
    let topics = |id: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(&format!("\"{id}\"")) && l.contains("/tasks/"))
            .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")).map(str::to_owned))
            .collect()
    };
    let ev1 = topics("ev1");
    assert_eq!(ev1, ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"], "{log}");
    let oom = topics("oom1");
    assert!(oom.contains(&"/tasks/oom".to_owned()), "{log}");
    let pos = |t: &str| oom.iter().position(|x| x == t).unwrap();
    assert!(pos("/tasks/start") < pos("/tasks/oom") && pos("/tasks/exit") < pos("/tasks/delete"), "{oom:?}");
    assert_clean(&c, "oom1");
}

#[test]
fn file_and_binary_log_uris() {
    let c = Containerd::start();
    let img = c.import_busybox();
    let s = shim();
    // file://: stdout and stderr appended to the file
    let log = c.dir.path().join("logs/file.log");
    let uri = format!("file://{}", log.display());
    c.ctr_ok(&["run", "-d", "--log-uri", &uri, "--runtime", &s, &img, "lf", "/bin/sh", "-c", "echo out-line; echo err-line >&2"]);
    c.wait_for("lf to stop", 20, || c.tasks().iter().any(|(t, st)| t == "lf" && st == "STOPPED"));
    let got = std::fs::read_to_string(&log).unwrap();
    assert!(got.contains("out-line\n") && got.contains("err-line\n"), "{got:?}");
    c.ctr_ok(&["task", "delete", "lf"]);
    c.ctr_ok(&["container", "delete", "lf"]);

    // binary://: a logger started by the shim gets stdout on fd 3, stderr on fd 4, closes fd 5
    let logger = c.dir.path().join("logger.sh");
    let out = c.dir.path().join("binary.log");
    std::fs::write(&logger, format!("#!/bin/sh\nexec 5>&-\necho \"$CONTAINER_NAMESPACE/$CONTAINER_ID $1=$2\" > {o}\ncat <&3 >> {o}\n", o = out.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&logger, std::fs::Permissions::from_mode(0o755)).unwrap();
    let uri = format!("binary://{}?tag=web", logger.display());
    c.ctr_ok(&["run", "-d", "--log-uri", &uri, "--runtime", &s, &img, "lb", "/bin/sh", "-c", "echo via-logger"]);
    c.wait_for("lb to stop", 20, || c.tasks().iter().any(|(t, st)| t == "lb" && st == "STOPPED"));
    c.wait_for("the logger's output", 20, || std::fs::read_to_string(&out).is_ok_and(|s| s.contains("via-logger")));
    let got = std::fs::read_to_string(&out).unwrap();
    assert!(got.starts_with(&format!("{}/lb tag=web\n", c.ns)), "{got:?}");
    c.ctr_ok(&["task", "delete", "lb"]);
    c.ctr_ok(&["container", "delete", "lb"]);
    assert_clean(&c, "lb");
}
