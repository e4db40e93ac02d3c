//! The compiled filters loaded into the kernel for real: a forked child installs one (as the
//! container's init does right before exec) and reports what its syscalls returned.

use berth_integration::seccomp::{errno_or, notif_recv, notif_send, recv_with_fd, report, run_filtered, send_fd};
use berth_integration::TempDir;
use berth_runtime::seccomp::{connect_agent, container_process_state, send_listener, send_listener_over, SeccompFilter};
use oci_spec::runtime::LinuxSeccomp;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;

fn filter(json: &str) -> SeccompFilter {
    let spec: LinuxSeccomp = serde_json::from_str(json).expect("seccomp json");
    SeccompFilter::compile(&spec).expect("compile")
}

fn docker_profile() -> SeccompFilter {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/tests/fixtures/seccomp/docker-default.json");
    filter(&std::fs::read_to_string(p).unwrap())
}

fn raw(nr: libc::c_long, a: [u64; 3]) -> i64 {
    // SAFETY: test syscalls with scalar or static-string arguments.
    errno_or(unsafe { libc::syscall(nr, a[0], a[1], a[2]) } as i64)
}

static DIR: &[u8] = b"/tmp/berth-seccomp-never-created\0";

#[test]
fn seccomp_mkdir_blocked_with_errno_ret() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"},
            {"names":["rmdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    );
    let r = run_filtered(&f, -1, |out, _| {
        report(out, raw(libc::SYS_mkdir, [DIR.as_ptr() as u64, 0o755, 0]));
        report(out, raw(libc::SYS_mkdirat, [libc::AT_FDCWD as u64, DIR.as_ptr() as u64, 0o755]));
        report(out, raw(libc::SYS_rmdir, [DIR.as_ptr() as u64, 0, 0]));
        report(out, raw(libc::SYS_getpid, [0; 3]));
    });
    assert_eq!(r.exited(), Some(0), "{r:?}");
    assert_eq!(&r.reports[..3], &[-1, -1, -13], "EPERM by default, errnoRet when given");
    assert!(r.reports[3] > 0);
    assert!(!Path::new("/tmp/berth-seccomp-never-created").exists());
}

#[test]
fn seccomp_personality_allowed_only_for_one_value() {
    // Default deny: the child can only report, exit and query its personality.
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["write","exit","exit_group"],"action":"SCMP_ACT_ALLOW"},
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let r = run_filtered(&f, -1, |out, _| {
        report(out, raw(libc::SYS_personality, [0xffff_ffff, 0, 0]));
        report(out, raw(libc::SYS_personality, [8, 0, 0])); // PER_LINUX32
        report(out, raw(libc::SYS_personality, [0x1_ffff_ffff, 0, 0])); // same low word
        report(out, raw(libc::SYS_getpid, [0; 3]));
    });
    assert_eq!(r.exited(), Some(0), "{r:?}");
    assert!(r.reports[0] >= 0, "query allowed: {r:?}");
    assert_eq!(&r.reports[1..], &[-1, -1, -1]);
}

#[test]
fn seccomp_masked_eq_on_socket_type() {
    // Block datagram sockets whatever the SOCK_CLOEXEC/SOCK_NONBLOCK bits (type & 0xf == 2).
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":97,
             "args":[{"index":1,"value":15,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
    );
    let r = run_filtered(&f, -1, |out, _| {
        let unix = libc::AF_UNIX as u64;
        report(out, raw(libc::SYS_socket, [unix, (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as u64, 0]));
        report(out, raw(libc::SYS_socket, [unix, libc::SOCK_DGRAM as u64, 0]));
        report(out, raw(libc::SYS_socket, [unix, (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64, 0]));
    });
    assert_eq!(r.exited(), Some(0), "{r:?}");
    assert_eq!(&r.reports[..2], &[-97, -97]);
    assert!(r.reports[2] >= 0, "{r:?}");
}

#[test]
fn seccomp_kill_process_and_kill_thread() {
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"] {
        let f = filter(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["getppid"],"action":"{action}"}}]}}"#
        ));
        let r = run_filtered(&f, -1, |out, _| {
            report(out, 1);
            raw(libc::SYS_getppid, [0; 3]);
            report(out, 2); // never reached
        });
        assert_eq!(r.signal(), Some(libc::SIGSYS), "{action}: {r:?}");
        assert_eq!(r.reports, vec![1], "{action}");
    }
}

static TRAPPED: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

extern "C" fn on_sigsys(_: i32, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // si_syscall sits after si_call_addr (a pointer) in the SIGSYS layout of siginfo.
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let nr = unsafe { *((info as *const u8).add(16 + std::mem::size_of::<usize>()) as *const i32) };
    TRAPPED.store(i64::from(nr), std::sync::atomic::Ordering::SeqCst);
}

#[test]
fn seccomp_trap_delivers_sigsys_naming_the_syscall() {
    let f = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],"action":"SCMP_ACT_TRAP"}]}"#);
    let r = run_filtered(&f, -1, |out, _| {
        // SAFETY: installing a handler in the single-threaded child.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigsys as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut());
        }
        report(out, raw(libc::SYS_getppid, [0; 3]));
        report(out, TRAPPED.load(std::sync::atomic::Ordering::SeqCst));
    });
    assert_eq!(r.exited(), Some(0), "{r:?}");
    assert_eq!(r.reports[1], libc::SYS_getppid, "{r:?}");
}

#[test]
fn seccomp_log_allows_and_trace_without_tracer_is_enosys() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getppid"],"action":"SCMP_ACT_LOG"},
            {"names":["getuid"],"action":"SCMP_ACT_TRACE","errnoRet":5}]}"#,
    );
    let r = run_filtered(&f, -1, |out, _| {
        report(out, raw(libc::SYS_getppid, [0; 3]));
        report(out, raw(libc::SYS_getuid, [0; 3]));
    });
    assert_eq!(r.exited(), Some(0), "{r:?}");
    assert_eq!(r.reports[0], i64::from(std::process::id() as i32), "LOG lets the call run");
    assert_eq!(r.reports[1], -i64::from(libc::ENOSYS), "TRACE with no tracer attached");
}

#[test]
fn seccomp_flags_load_and_status_shows_filter_mode() {
    let plain = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    let flagged = filter(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#);
    let status = |f: &SeccompFilter| {
        let r = run_filtered(f, -1, |out, _| {
            let mut buf = [0u8; 4096];
            // SAFETY: raw open/read into a stack buffer.
            let n = unsafe {
                let fd = libc::open(c"/proc/self/status".as_ptr(), libc::O_RDONLY);
                libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
            };
            for chunk in buf[..n.max(0) as usize].chunks(8) {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                report(out, i64::from_ne_bytes(w));
            }
        });
        assert_eq!(r.exited(), Some(0), "{r:?}");
        let bytes: Vec<u8> = r.reports.iter().flat_map(|v| v.to_ne_bytes()).collect();
        String::from_utf8_lossy(&bytes).trim_end_matches('\0').to_string()
    };
    let (s_plain, s_flagged) = (status(&plain), status(&flagged));
    for s in [&s_plain, &s_flagged] {
        assert!(s.lines().any(|l| l.split_whitespace().eq(["Seccomp:", "2"])), "{s}");
        assert!(s.contains("NoNewPrivs:\t1"), "{s}");
    }
    // With seccomp's SSB mitigation active, SPEC_ALLOW must have turned it off.
    let ssb = |s: &str| s.lines().find(|l| l.starts_with("Speculation_Store_Bypass:")).unwrap_or("").to_string();
    if ssb(&s_plain).contains("force mitigated") {
        assert!(!ssb(&s_flagged).contains("force mitigated"), "{}", ssb(&s_flagged));
    }
}

#[test]
fn seccomp_unknown_syscall_names_are_skipped_at_load() {
    let f = filter(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["no_such_syscall","getppid","s390_sthyi"],"action":"SCMP_ACT_ERRNO","errnoRet":22}]}"#,
    );
    let r = run_filtered(&f, -1, |out, _| report(out, raw(libc::SYS_getppid, [0; 3])));
    assert_eq!(r.reports, vec![-22]);
}

#[test]
fn seccomp_docker_default_profile_blocks_and_allows() {
    let f = docker_profile();
    let r = run_filtered(&f, -1, |out, _| {
        report(out, raw(libc::SYS_unshare, [libc::CLONE_NEWNET as u64, 0, 0]));
        report(out, raw(libc::SYS_mount, [c"none".as_ptr() as u64, DIR.as_ptr() as u64, c"tmpfs".as_ptr() as u64]));
        report(out, raw(libc::SYS_keyctl, [0, 0, 0])); // KEYCTL_GET_KEYRING_ID
        report(out, raw(libc::SYS_socket, [40, libc::SOCK_STREAM as u64, 0])); // AF_VSOCK
        report(out, raw(libc::SYS_clone3, [0, 0, 0]));
        report(out, raw(470, [0; 3])); // newer than any profile: ENOSYS, so libc falls back
        report(out, raw(libc::SYS_personality, [0xffff_ffff, 0, 0]));
        report(out, raw(libc::SYS_getpid, [0; 3]));
    });
    assert_eq!(r.exited(), Some(0), "{r:?}");
    let (eperm, enosys) = (-i64::from(libc::EPERM), -i64::from(libc::ENOSYS));
    assert_eq!(&r.reports[..6], &[eperm, eperm, eperm, eperm, enosys, enosys], "{r:?}");
    assert!(r.reports[6] >= 0 && r.reports[7] > 0, "{r:?}");
}

#[test]
fn seccomp_docker_default_profile_runs_busybox() {
    let f = docker_profile();
    let tmp = TempDir::new("seccomp-bb");
    let script = format!(
        "set -e; mkdir {d}/made; echo hi > {d}/made/f; cat {d}/made/f; ls {d}/made; \
         unshare -n true 2>/dev/null && echo unshare-allowed || echo unshare-denied; \
         mount -t tmpfs none {d}/made 2>/dev/null && echo mount-allowed || echo mount-denied; \
         grep Seccomp: /proc/self/status",
        d = tmp.path().display()
    );
    let mut cmd = std::process::Command::new(berth_integration::busybox());
    cmd.args(["sh", "-c", &script]);
    let f2 = f.clone();
    // SAFETY: the pre-exec hook only makes raw syscalls.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            f2.install().map(drop).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..4], ["hi", "f", "unshare-denied", "mount-denied"], "{stdout}");
    assert!(lines[4].split_whitespace().eq(["Seccomp:", "2"]), "{stdout}");
}

#[test]
fn seccomp_notify_agent_answers_mkdir() {
    let tmp = TempDir::new("seccomp-notify");
    let sock = tmp.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let f = filter(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"{}","listenerMetadata":"agent-meta",
            "flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}}]}}"#,
        sock.display()
    ));
    assert!(f.uses_notify());

    // The agent: receive the state and the listener, then answer two mkdir calls.
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (body, fd) = recv_with_fd(&conn);
        let fd = fd.expect("listener fd attached");
        let state: serde_json::Value = serde_json::from_slice(&body).expect("state json");
        let mut answered = Vec::new();
        for answer in [Ok(0), Err(libc::EROFS)] {
            let n = notif_recv(&fd).unwrap();
            answered.push((n.nr, n.pid));
            notif_send(&fd, n.id, answer).unwrap();
        }
        (state, answered)
    });

    run_notify_flow(&f, &sock, agent);
}

/// Fork a child that installs `f` itself (to get the listener), passes the listener to us
/// over a socketpair, then calls mkdir twice; we forward the listener to the agent with the
/// runtime's `send_listener`, as `berth create` does.
fn run_notify_flow(
    f: &SeccompFilter,
    sock: &Path,
    agent: std::thread::JoinHandle<(serde_json::Value, Vec<(i32, u32)>)>,
) {
    let (parent_end, child_end) = UnixStream::pair().unwrap();
    let mut p = [0; 2];
    // SAFETY: pipe into a local array.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the child makes raw syscalls only.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            libc::close(p[0]);
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            let Ok(Some(listener)) = f.install() else { libc::_exit(121) };
            if !send_fd(child_end.as_raw_fd(), listener.as_raw_fd()) {
                libc::_exit(122);
            }
            libc::close(listener.as_raw_fd());
            std::mem::forget(listener);
            report(p[1], raw(libc::SYS_mkdir, [DIR.as_ptr() as u64, 0o755, 0]));
            report(p[1], raw(libc::SYS_mkdir, [DIR.as_ptr() as u64, 0o755, 0]));
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(p[1]) };
    drop(child_end);
    let (_, listener) = recv_with_fd(&parent_end);
    let listener = listener.expect("listener from the child");
    let state: oci_spec::runtime::State = serde_json::from_value(serde_json::json!({
        "ociVersion": "1.2.0", "id": "notify-test", "status": "creating", "pid": pid, "bundle": "/b"
    }))
    .unwrap();
    send_listener(sock, &listener, &container_process_state(&state, Some("agent-meta"))).unwrap();
    drop(listener);

    let (agent_state, answered) = agent.join().unwrap();
    let mut status = 0;
    // SAFETY: reaping our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    // SAFETY: we own the read end.
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(p[0]) }, &mut out).unwrap();
    let reports: Vec<i64> = out.chunks_exact(8).map(|c| i64::from_ne_bytes(c.try_into().unwrap())).collect();

    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status:#x}");
    assert_eq!(reports, vec![0, -i64::from(libc::EROFS)], "the agent's answers came back");
    assert!(!Path::new("/tmp/berth-seccomp-never-created").exists(), "mkdir was answered, not run");
    assert_eq!(answered, vec![(libc::SYS_mkdir as i32, pid as u32); 2]);
    assert_eq!(agent_state["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(agent_state["pid"], pid);
    assert_eq!(agent_state["metadata"], "agent-meta");
    assert_eq!(agent_state["state"]["id"], "notify-test");
    assert_eq!(agent_state["ociVersion"], "1.2.0");
}

/// The container init's flow: the connection to the agent is made before the filter exists
/// (while `listenerPath` is reachable), the filtered process itself sends the listener over
/// it with raw syscalls, then makes the notified call.
#[test]
fn seccomp_notify_listener_sent_by_the_filtered_process() {
    let tmp = TempDir::new("seccomp-notify2");
    let sock = tmp.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let f = filter(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"{}","listenerMetadata":"m2",
            "syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}}]}}"#,
        sock.display()
    ));
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (body, fd) = recv_with_fd(&conn);
        let fd = fd.expect("listener fd");
        let n = notif_recv(&fd).unwrap();
        // The listener is returned, kept open: closing it would answer the call with ENOSYS.
        (serde_json::from_slice::<serde_json::Value>(&body).unwrap(), n.nr, fd)
    });
    // Prepared before fork: the child only makes raw syscalls.
    let conn = connect_agent(&sock).unwrap();
    let state: oci_spec::runtime::State =
        serde_json::from_value(serde_json::json!({"ociVersion": "1.2.0", "id": "init-flow", "status": "creating", "pid": 1, "bundle": "/b"}))
            .unwrap();
    let message = f.agent_message(&state);
    let mut p = [0; 2];
    // SAFETY: pipe into a local array.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the child makes raw syscalls only.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            let Ok(Some(l)) = f.install() else { libc::_exit(121) };
            if send_listener_over(conn.as_fd(), &l, &message).is_err() {
                libc::_exit(122);
            }
            libc::close(conn.as_raw_fd());
            // Blocks until the agent answers; the agent thread does not answer, so the parent
            // ends us once it has seen the notification.
            report(p[1], raw(libc::SYS_mkdir, [DIR.as_ptr() as u64, 0o755, 0]));
            libc::_exit(0);
        }
    }
    drop(conn);
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(p[1]) };
    let (state, nr, _listener) = agent.join().unwrap();
    // SAFETY: our child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let mut status = 0;
    // SAFETY: reaping our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    unsafe { libc::close(p[0]) };
    assert!(libc::WIFSIGNALED(status), "the child was still waiting on the agent: {status:#x}");
    assert_eq!(nr, libc::SYS_mkdir as i32);
    assert_eq!(state["metadata"], "m2");
    assert_eq!(state["state"]["id"], "init-flow");
    assert_eq!(state["fds"], serde_json::json!(["seccompFd"]));
}
