//! Runtime-spec features, each checked from inside the container: namespaces, user and
//! id maps, capabilities, no_new_privs, rlimits, mounts, masked/read-only paths, devices,
//! sysctl, hostname, cwd, env, umask, terminal, preserved fds.

use berth_integration::runtime::{status_field, Berth};
use berth_integration::unique_id;
use serde_json::json;

#[test]
fn pid_uts_ipc_net_namespaces() {
    let b = Berth::new("ns");
    let mut bundle = b.bundle(&[]);
    bundle.spec["hostname"] = json!("box1");
    bundle.spec["domainname"] = json!("example.test");
    bundle.sh("echo pid=$$; hostname; cat /proc/sys/kernel/domainname; ls /sys/class/net | tr '\\n' ' '; echo; readlink /proc/self/ns/ipc; readlink /proc/self/ns/net; readlink /proc/self/ns/uts");
    let out = b.output(&bundle);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1");
    assert_eq!(lines[1], "box1");
    assert_eq!(lines[2], "example.test");
    assert_eq!(lines[3].trim(), "lo");
    for (i, ns) in ["ipc", "net", "uts"].iter().enumerate() {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(lines[4 + i], host.to_str().unwrap(), "{ns} namespace is the host's");
    }
}

#[test]
fn capabilities_nnp_and_rlimits() {
    let b = Berth::new("caps");
    let mut bundle = b.bundle(&[]);
    bundle.sh("cat /proc/self/status; echo nofile=$(ulimit -n)");
    bundle.spec["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]);
    let out = b.output(&bundle);
    // runc's default: AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10).
    assert_eq!(status_field(&out, "CapEff"), Some("0000000020000420"));
    assert_eq!(status_field(&out, "CapBnd"), Some("0000000020000420"));
    assert_eq!(status_field(&out, "NoNewPrivs"), Some("1"));
    assert!(out.contains("nofile=321"), "{out}");
    // The runtime's own signal set-up (blocked forwarded signals, ignored SIGPIPE) is not
    // the container's.
    assert_eq!(status_field(&out, "SigBlk"), Some("0000000000000000"));
    let ign = u64::from_str_radix(status_field(&out, "SigIgn").unwrap(), 16).unwrap();
    assert_eq!(ign & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE ignored in the container");

    bundle.spec["process"]["noNewPrivileges"] = json!(false);
    bundle.spec["process"]["capabilities"] = json!({"bounding": ["CAP_SYS_ADMIN", "CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"], "inheritable": ["CAP_CHOWN"], "ambient": ["CAP_CHOWN"]});
    bundle.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    bundle.sh("grep -E '^(Cap|NoNewPrivs)' /proc/self/status");
    let out = b.output(&bundle);
    assert_eq!(status_field(&out, "CapBnd"), Some("0000000000200001"));
    assert_eq!(status_field(&out, "CapAmb"), Some("0000000000000001"));
    assert_eq!(status_field(&out, "CapEff"), Some("0000000000000001"));
    assert_eq!(status_field(&out, "NoNewPrivs"), Some("0"));
}

#[test]
fn user_group_umask_cwd_env() {
    let b = Berth::new("user");
    let mut bundle = b.bundle(&[]);
    bundle.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 65534], "umask": 63});
    bundle.spec["process"]["cwd"] = json!("/work/dir");
    bundle.spec["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FOO=bar baz"]);
    bundle.sh("id -u; id -g; id -G; umask; pwd; echo \"$FOO\"; echo $HOME");
    let out = b.output(&bundle);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "1000");
    assert_eq!(l[1], "1000");
    let groups: Vec<&str> = l[2].split(' ').collect();
    assert!(groups.contains(&"5") && groups.contains(&"65534"), "{groups:?}");
    assert_eq!(l[3], "0077");
    assert_eq!(l[4], "/work/dir");
    assert_eq!(l[5], "bar baz");
    assert_eq!(l[6], "/home/berth");
}

#[test]
fn user_namespace_maps() {
    let b = Berth::new("userns");
    let mut bundle = b.bundle(&[]);
    bundle.spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    bundle.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    bundle.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    // sysfs needs a network namespace owned by the user namespace: the default spec has one.
    bundle.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; readlink /proc/self/ns/user");
    let out = b.output(&bundle);
    let l: Vec<&str> = out.lines().collect();
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(words(l[0]), ["0", "0", "65536"]);
    assert_eq!(words(l[1]), ["0", "0", "65536"]);
    assert_eq!(l[2], "0");
    assert_ne!(l[3], std::fs::read_link("/proc/self/ns/user").unwrap().to_str().unwrap());
}

#[test]
fn mounts_masked_readonly() {
    let b = Berth::new("mounts");
    let mut bundle = b.bundle(&[]);
    bundle.spec["root"]["readonly"] = json!(true);
    let shared = b.tmp.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("hello"), "from host\n").unwrap();
    let mounts = bundle.spec["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/data", "type": "bind", "source": shared, "options": ["rbind", "ro", "nosuid"]}));
    mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700", "noexec"]}));
    bundle.sh(
        "cat /data/hello; touch /data/x 2>/dev/null && echo data-writable || echo data-ro; \
         touch /rootfile 2>/dev/null && echo root-writable || echo root-ro; \
         stat -c %a /scratch; grep ' /scratch ' /proc/self/mountinfo; \
         wc -c < /proc/keys; ls /sys/firmware | wc -l; \
         echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo sys-writable || echo sys-ro; \
         grep -c ' /proc ' /proc/self/mountinfo",
    );
    let out = b.output(&bundle);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l.len(), 9, "{out}");
    assert_eq!(l[0], "from host");
    assert_eq!(l[1], "data-ro");
    assert_eq!(l[2], "root-ro");
    assert_eq!(l[3], "700");
    assert!(l[4].contains("noexec") && l[4].contains("size=1024k"), "{}", l[4]);
    assert_eq!(l[5], "0", "masked /proc/keys must read empty");
    assert_eq!(l[6], "0", "masked /sys/firmware must be empty");
    assert_eq!(l[7], "sys-ro");
    assert!(!shared.join("x").exists());
}

#[test]
fn devices_and_dev_links() {
    let b = Berth::new("dev");
    let mut bundle = b.bundle(&[]);
    bundle.spec["linux"]["devices"] = json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 432, "uid": 0, "gid": 0}]);
    bundle.sh("stat -c '%n %t:%T %a' /dev/null /dev/zero /dev/urandom /dev/tty /dev/mynull; readlink /dev/fd; readlink /dev/ptmx; readlink /dev/stdin; echo x > /dev/mynull && echo ok");
    let out = b.output(&bundle);
    assert!(out.contains("/dev/null 1:3 666"), "{out}");
    let out = out.replace("/dev/mynull 1:3 660", "MYNULL");
    assert!(out.contains("/dev/zero 1:5 666"));
    assert!(out.contains("/dev/urandom 1:9 666"));
    assert!(out.contains("/dev/tty 5:0 666"));
    assert!(out.contains("MYNULL"), "{out}");
    assert!(out.contains("/proc/self/fd\npts/ptmx\n/proc/self/fd/0\nok"), "{out}");
}

#[test]
fn sysctl_and_oom_score() {
    let b = Berth::new("sysctl");
    let mut bundle = b.bundle(&[]);
    bundle.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
    bundle.spec["process"]["oomScoreAdj"] = json!(500);
    bundle.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/self/oom_score_adj");
    assert_eq!(b.output(&bundle), "1\n1234\n500\n");
}

#[test]
fn no_pivot_and_readonly_off() {
    let b = Berth::new("nopivot");
    let mut bundle = b.bundle(&[]);
    bundle.spec["root"]["readonly"] = json!(false);
    bundle.sh("touch /written && echo ok; grep ' / ' /proc/self/mountinfo | head -1");
    let id = unique_id("np");
    let o = b.cmd(["run", "--no-pivot", "-b"]).arg(&bundle.dir).arg(&id).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.starts_with("ok\n"), "{out}");
    assert!(bundle.rootfs().join("written").exists());
}

#[test]
fn preserve_fds_and_listen_fds() {
    let b = Berth::new("fds");
    let mut bundle = b.bundle(&[]);
    bundle.sh("ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; echo $LISTEN_FDS $LISTEN_PID; cat <&3");
    let data = b.tmp.path().join("fd3");
    std::fs::write(&data, "through fd 3\n").unwrap();
    let id = unique_id("pf");
    // The shell opens fd 3 for berth, as a socket-activating supervisor would.
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg("exec \"$0\" --root \"$1\" run --preserve-fds 1 -b \"$2\" \"$3\" 3<\"$4\"");
    cmd.arg(&b.bin).arg(&b.root).arg(&bundle.dir).arg(&id).arg(&data);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let l: Vec<&str> = out.lines().collect();
    // 0 1 2, the preserved 3, and ls's own directory fd.
    let fds: Vec<&str> = l[0].split_whitespace().collect();
    assert_eq!(&fds[..4], ["0", "1", "2", "3"], "{out}");
    assert!(fds.len() <= 5, "an fd leaked into the container: {out}");
    assert_eq!(l[1], "1 1");
    assert_eq!(l[2], "through fd 3");
}

#[test]
fn terminal_over_console_socket() {
    use std::os::unix::net::UnixListener;
    let b = Berth::new("tty");
    let mut bundle = b.bundle(&[]);
    bundle.spec["process"]["terminal"] = json!(true);
    bundle.spec["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    bundle.sh("tty; stty size; echo done");
    bundle.save();
    let sock = b.tmp.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = unique_id("tty");
    let d = bundle.dir.to_str().unwrap().to_owned();
    let s = sock.to_str().unwrap().to_owned();
    let h = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        use std::os::fd::AsRawFd;
        let mut buf = [0u8; 64];
        let mut cbuf = [0u64; 8];
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut _, iov_len: buf.len() };
        // SAFETY: recvmsg into local buffers.
        let fd = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr() as *mut _;
            msg.msg_controllen = std::mem::size_of_val(&cbuf);
            assert!(libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) > 0);
            let c = libc::CMSG_FIRSTHDR(&msg);
            assert!(!c.is_null());
            std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32)
        };
        // SAFETY: the received fd is ours now.
        let mut master = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut master, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    b.ok(["create", "--console-socket", &s, "-b", &d, &id]);
    b.ok(["start", &id]);
    b.wait_stopped(&id);
    b.ok(["delete", &id]);
    let out = h.join().unwrap();
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("30 100"), "{out:?}");
    assert!(out.contains("done"), "{out:?}");
}

#[test]
fn time_namespace_offsets() {
    let b = Berth::new("timens");
    let mut bundle = b.bundle(&[]);
    bundle.spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    bundle.spec["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000}});
    bundle.sh("cut -d. -f1 /proc/uptime; echo pid=$$");
    let out = b.output(&bundle);
    let up: u64 = out.lines().next().unwrap().parse().unwrap();
    assert!(up >= 864000, "uptime {up} lacks the 10-day boottime offset");
    assert!(out.contains("pid=1"));
}

#[test]
fn join_existing_namespace_by_path() {
    let b = Berth::new("join");
    let holder = b.bundle(&["sleep", "30"]);
    let hid = unique_id("holder");
    b.ok(["run", "-d", "-b", holder.dir.to_str().unwrap(), &hid]);
    let hpid = b.state(&hid)["pid"].as_i64().unwrap();
    let mut bundle = b.bundle(&[]);
    let ns = bundle.spec["linux"]["namespaces"].as_array_mut().unwrap();
    for n in ns.iter_mut() {
        if n["type"] == "network" || n["type"] == "uts" {
            n["path"] = json!(format!("/proc/{hpid}/ns/{}", if n["type"] == "network" { "net" } else { "uts" }));
        }
    }
    bundle.spec.as_object_mut().unwrap().remove("hostname");
    bundle.sh("readlink /proc/self/ns/net; echo pid=$$");
    let out = b.output(&bundle);
    let want = std::fs::read_link(format!("/proc/{hpid}/ns/net")).unwrap();
    assert_eq!(out.lines().next().unwrap(), want.to_str().unwrap());
    assert!(out.contains("pid=1"), "{out}");
    b.ok(["delete", "--force", &hid]);
}

#[test]
fn seccomp_filter_is_loaded_last() {
    let b = Berth::new("seccomp");
    let mut bundle = b.bundle(&[]);
    bundle.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    bundle.spec["process"]["cwd"] = json!("/tmp");
    for nnp in [true, false] {
        bundle.spec["process"]["noNewPrivileges"] = json!(nnp);
        bundle.sh("grep -E '^Seccomp:' /proc/self/status; mkdir /tmp/blocked 2>&1 || echo blocked");
        let out = b.output(&bundle);
        assert!(out.contains("Seccomp:\t2"), "{out}");
        assert!(out.contains("blocked"), "{out}");
        assert!(!bundle.rootfs().join("tmp/blocked").exists());
    }
}

#[test]
fn idmapped_bind_mount() {
    let b = Berth::new("idmap");
    let mut bundle = b.bundle(&[]);
    let data = b.tmp.path().join("owned");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "x").unwrap();
    std::os::unix::fs::chown(data.join("f"), Some(0), Some(0)).unwrap();
    bundle.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": data, "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
    }));
    bundle.sh("stat -c %u:%g /data/f; grep ' /data ' /proc/self/mountinfo");
    let out = b.output(&bundle);
    // As runc maps them: on-disk ids in the containerID range show as the hostID range
    // (the usual use: an image's root-owned files seen as the container user namespace's root).
    assert!(out.starts_with("1000:1000\n"), "{out}");
    assert!(out.contains("idmapped"), "{out}");
    // The host's view is unchanged.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(data.join("f")).unwrap().uid(), 0);
}

#[test]
fn tmpfs_with_tmpcopyup_starts_with_the_directory_contents() {
    let b = Berth::new("copyup");
    let mut bundle = b.bundle(&[]);
    let etc = bundle.rootfs().join("etc");
    std::fs::create_dir_all(etc.join("sub")).unwrap();
    std::fs::write(etc.join("sub/conf"), "kept\n").unwrap();
    std::os::unix::fs::symlink("/etc/sub/conf", etc.join("conf-link")).unwrap();
    let mounts = bundle.spec["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "size=1m"]}));
    bundle.sh("cat /etc/sub/conf; cat /etc/conf-link; echo new > /etc/new && cat /etc/new; grep -c ' /etc tmpfs\\| /etc .* - tmpfs ' /proc/self/mountinfo");
    let out = b.output(&bundle);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["kept", "kept", "new", "1"], "{out}");
    assert!(!etc.join("new").exists(), "writes go to the tmpfs, not the rootfs");
}
