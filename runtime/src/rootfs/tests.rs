//! The rootfs executor against the recording fake: the calls a plan turns into, in order,
//! without root. The rootfs is `/r`; handles are labelled by path (see `fake`).

use super::fake::{Call, Fake};
use super::*;
use crate::plan::PlanOptions;
use crate::sys::{AT_RECURSIVE, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, OPEN_TREE_CLONE};
use serde_json::{json, Value};

fn spec() -> Value {
    crate::spec::default::default_spec(false)
}

fn plan_with(v: &Value, opts: PlanOptions) -> Plan {
    let spec: oci_spec::runtime::Spec = serde_json::from_value(v.clone()).expect("spec json");
    Plan::build("c1", Path::new("/bundle"), Path::new("/r"), &spec, opts).expect("plan")
}

fn plan(v: &Value) -> Plan {
    plan_with(v, PlanOptions::default())
}

/// Everything the init does with the rootfs, in the init's order.
fn run_all(fake: &Fake, plan: &Plan) -> Result<()> {
    let x = Rootfs::new(fake, plan);
    let root = x.prepare()?;
    x.mount_all(&root)?;
    x.devices(&root)?;
    x.pivot(&root)?;
    x.sysctl()?;
    x.finish()?;
    x.set_names()
}

fn mount(src: Option<&str>, target: &str, fstype: Option<&str>, flags: libc::c_ulong, data: Option<&str>) -> Call {
    Call::Mount { src: src.map(Into::into), target: target.into(), fstype: fstype.map(Into::into), flags, data: data.map(Into::into) }
}

fn fs(src: &str, target: &str, fstype: &str, flags: libc::c_ulong, data: &str) -> Call {
    mount(Some(src), target, Some(fstype), flags, Some(data))
}

fn mkdir(p: &str) -> Call {
    Call::MkdirAll(p.into())
}

fn attr(set: u64) -> MountAttr {
    MountAttr { attr_set: set, ..Default::default() }
}

fn pos(calls: &[Call], c: &Call) -> usize {
    calls.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c:?} not called"))
}

const NOSUID_NOEXEC_NODEV: libc::c_ulong = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;

#[test]
fn default_spec_prepare_and_mounts() {
    let (fake, plan) = (Fake::new(), plan(&spec()));
    let x = Rootfs::new(&fake, &plan);
    let root = x.prepare().unwrap();
    x.mount_all(&root).unwrap();
    let ro_bind = attr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    let want = vec![
        mount(None, "/", None, libc::MS_SLAVE | libc::MS_REC, None),
        mount(Some("/r"), "/r", None, libc::MS_BIND | libc::MS_REC, None),
        Call::OpenRoot("/r".into()),
        mkdir("/r/proc"),
        fs("proc", "/r/proc", "proc", 0, ""),
        mkdir("/r/dev"),
        fs("tmpfs", "/r/dev", "tmpfs", libc::MS_NOSUID | libc::MS_STRICTATIME, "mode=755,size=65536k"),
        mkdir("/r/dev/pts"),
        fs("devpts", "/r/dev/pts", "devpts", libc::MS_NOSUID | libc::MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
        mkdir("/r/dev/shm"),
        fs("shm", "/r/dev/shm", "tmpfs", NOSUID_NOEXEC_NODEV, "mode=1777,size=65536k"),
        mkdir("/r/dev/mqueue"),
        fs("mqueue", "/r/dev/mqueue", "mqueue", NOSUID_NOEXEC_NODEV, ""),
        mkdir("/r/sys"),
        fs("sysfs", "/r/sys", "sysfs", NOSUID_NOEXEC_NODEV | libc::MS_RDONLY, ""),
        // cgroup on a v2 host: our own cgroup bound read-only.
        mkdir("/r/sys/fs/cgroup"),
        Call::ReadHost("/proc/self/mountinfo".into()),
        Call::ReadHost("/proc/self/cgroup".into()),
        Call::OpenTree { src: "/sys/fs/cgroup/berth/c1".into(), flags: OPEN_TREE_CLONE },
        Call::SetAttr { target: "tree:/sys/fs/cgroup/berth/c1".into(), recursive: false, attr: ro_bind },
        Call::MoveMount { from: "tree:/sys/fs/cgroup/berth/c1".into(), to: "/r/sys/fs/cgroup".into() },
    ];
    assert_eq!(fake.calls(), want);
}

#[test]
fn default_spec_devices_and_links() {
    let (fake, plan) = (Fake::new(), plan(&spec()));
    let x = Rootfs::new(&fake, &plan);
    x.devices(&fake.open_root(Path::new("/r")).unwrap()).unwrap();
    let calls = &fake.calls()[1..];
    // One node: parent, unlink, mknod, chown, chmod (mknod honours the umask).
    assert_eq!(
        calls[..5],
        [
            Call::Parent { path: "/r/dev/null".into(), create: true },
            Call::Unlink("/r/dev/null".into()),
            Call::Mknod { path: "/r/dev/null".into(), mode: libc::S_IFCHR | 0o666, dev: libc::makedev(1, 3) },
            Call::Chown { path: "/r/dev/null".into(), uid: 0, gid: 0 },
            Call::Chmod { path: "/r/dev/null".into(), mode: 0o666 },
        ]
    );
    let nodes: Vec<_> = calls.iter().filter_map(|c| if let Call::Mknod { path, dev, .. } = c { Some((path.as_str(), *dev)) } else { None }).collect();
    let want: Vec<_> = crate::plan::DEFAULT_DEVICES.iter().map(|(p, ma, mi)| (p.replacen("/dev", "/r/dev", 1), libc::makedev(*ma as u32, *mi as u32))).collect();
    assert_eq!(nodes, want.iter().map(|(p, d)| (p.as_str(), *d)).collect::<Vec<_>>());
    let links: Vec<_> = calls.iter().filter_map(|c| if let Call::Symlink { target, link } = c { Some((target.as_str(), link.as_str())) } else { None }).collect();
    assert_eq!(
        links,
        [
            ("/proc/self/fd", "/r/dev/fd"),
            ("/proc/self/fd/0", "/r/dev/stdin"),
            ("/proc/self/fd/1", "/r/dev/stdout"),
            ("/proc/self/fd/2", "/r/dev/stderr"),
            ("/proc/kcore", "/r/dev/core"),
            ("pts/ptmx", "/r/dev/ptmx"),
        ]
    );
    // /dev/ptmx is replaced: unlinked right before the link is made.
    assert_eq!(calls[calls.len() - 2], Call::Unlink("/r/dev/ptmx".into()));
}

#[test]
fn no_kcore_no_core_link() {
    let mut fake = Fake::new();
    fake.host_missing.insert("/proc/kcore".into());
    let plan = plan(&spec());
    Rootfs::new(&fake, &plan).devices(&fake.open_root(Path::new("/r")).unwrap()).unwrap();
    assert!(!fake.calls().iter().any(|c| matches!(c, Call::Symlink { link, .. } if link == "/r/dev/core")));
}

#[test]
fn pivot_root_order() {
    let (fake, plan) = (Fake::new(), plan(&spec()));
    let x = Rootfs::new(&fake, &plan);
    x.pivot(&fake.open_root(Path::new("/r")).unwrap()).unwrap();
    let want = vec![
        Call::OpenRoot("/r".into()),
        Call::OpenRoot("/".into()),
        Call::Fchdir("/r".into()),
        Call::PivotRoot { new_root: ".".into(), put_old: ".".into() },
        Call::Fchdir("/".into()),
        mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None),
        Call::Umount { target: ".".into(), flags: libc::MNT_DETACH },
        Call::Chdir("/".into()),
    ];
    assert_eq!(fake.calls(), want);
}

#[test]
fn no_pivot_moves_and_chroots() {
    let fake = Fake::new();
    let plan = plan_with(&spec(), PlanOptions { no_pivot: true, ..Default::default() });
    Rootfs::new(&fake, &plan).pivot(&fake.open_root(Path::new("/r")).unwrap()).unwrap();
    let want = vec![
        Call::OpenRoot("/r".into()),
        Call::Fchdir("/r".into()),
        mount(Some("."), "/", None, libc::MS_MOVE, None),
        Call::Chroot(".".into()),
        Call::Chdir("/".into()),
    ];
    assert_eq!(fake.calls(), want);
}

#[test]
fn masked_and_readonly_paths() {
    let mut fake = Fake::new();
    for d in ["/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware"] {
        fake.dirs.insert(d.into());
    }
    fake.missing.insert("/proc/timer_stats".into());
    fake.missing.insert("/proc/fs".into());
    let plan = plan(&spec());
    Rootfs::new(&fake, &plan).finish().unwrap();
    let calls = fake.calls();
    assert_eq!(calls[0], Call::OpenRoot("/".into()));
    // Read-only: a recursive clone made read-only, put back over itself.
    assert_eq!(
        calls[1..5],
        [
            Call::Resolve { path: "/proc/bus".into(), nofollow: false },
            Call::OpenTree { src: "/proc/bus".into(), flags: OPEN_TREE_CLONE | AT_RECURSIVE },
            Call::SetAttr { target: "tree:/proc/bus".into(), recursive: true, attr: attr(MOUNT_ATTR_RDONLY) },
            Call::MoveMount { from: "tree:/proc/bus".into(), to: "/proc/bus".into() },
        ]
    );
    // A missing path is skipped: the next call is the next path.
    assert_eq!(calls[5..7], [Call::Resolve { path: "/proc/fs".into(), nofollow: false }, Call::Resolve { path: "/proc/irq".into(), nofollow: false }]);
    let moves: Vec<_> = calls.iter().filter_map(|c| if let Call::MoveMount { from, to } = c { Some((from.as_str(), to.as_str())) } else { None }).collect();
    let masked: Vec<_> = moves.iter().filter(|(f, _)| *f == "fs:tmpfs" || *f == "tree:/dev/null").copied().collect();
    assert_eq!(
        masked,
        [
            ("fs:tmpfs", "/proc/acpi"),
            ("fs:tmpfs", "/proc/asound"),
            ("tree:/dev/null", "/proc/kcore"),
            ("tree:/dev/null", "/proc/keys"),
            ("tree:/dev/null", "/proc/latency_stats"),
            ("tree:/dev/null", "/proc/timer_list"),
            ("tree:/dev/null", "/proc/sched_debug"),
            ("fs:tmpfs", "/sys/firmware"),
            ("fs:tmpfs", "/proc/scsi"),
        ]
    );
    // A masked directory gets an empty read-only tmpfs.
    let i = pos(&calls, &Call::Resolve { path: "/proc/acpi".into(), nofollow: false });
    let ro_tmpfs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_RDONLY;
    assert_eq!(
        calls[i + 1..i + 8],
        [
            Call::IsDir("/proc/acpi".into()),
            Call::Fsopen("tmpfs".into()),
            Call::FsconfigString { fs: "fsctx:tmpfs".into(), key: "size".into(), value: "0".into() },
            Call::FsconfigString { fs: "fsctx:tmpfs".into(), key: "mode".into(), value: "0755".into() },
            Call::FsconfigCreate("fsctx:tmpfs".into()),
            Call::Fsmount { fs: "fsctx:tmpfs".into(), attr: ro_tmpfs },
            Call::MoveMount { from: "fs:tmpfs".into(), to: "/proc/acpi".into() },
        ]
    );
    // root.readonly comes last, on the new /; no rootfsPropagation, no final mount.
    assert_eq!(calls.last(), Some(&Call::SetAttr { target: "/".into(), recursive: false, attr: attr(MOUNT_ATTR_RDONLY) }));
}

#[test]
fn whole_run_order() {
    let mut v = spec();
    v["domainname"] = json!("example.org");
    v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let (fake, plan) = (Fake::new(), plan(&v));
    run_all(&fake, &plan).unwrap();
    let calls = fake.calls();
    let at = |c: Call| pos(&calls, &c);
    let order = [
        at(mount(Some("/r"), "/r", None, libc::MS_BIND | libc::MS_REC, None)),
        at(fs("proc", "/r/proc", "proc", 0, "")),
        at(mkdir("/r/dev")),
        at(mkdir("/r/dev/pts")),
        at(mkdir("/r/dev/mqueue")),
        at(mkdir("/r/sys")),
        at(mkdir("/r/sys/fs/cgroup")),
        at(Call::Parent { path: "/r/dev/null".into(), create: true }),
        at(Call::Symlink { target: "/proc/self/fd".into(), link: "/r/dev/fd".into() }),
        at(Call::PivotRoot { new_root: ".".into(), put_old: ".".into() }),
        at(Call::Write { fd: "/proc/sys/net/ipv4/ip_forward".into(), data: "1".into() }),
        at(Call::Resolve { path: "/proc/bus".into(), nofollow: false }),
        at(Call::Resolve { path: "/proc/acpi".into(), nofollow: false }),
        at(Call::SetAttr { target: "/".into(), recursive: false, attr: attr(MOUNT_ATTR_RDONLY) }),
        at(Call::Sethostname("berth".into())),
        at(Call::Setdomainname("example.org".into())),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order: {order:?}");
    // sysctl: opened by fd in the new root, checked to be procfs, then written.
    let i = pos(&calls, &Call::OpenWrite("/proc/sys/net/ipv4/ip_forward".into()));
    assert_eq!(calls[i + 1], Call::FsMagic("/proc/sys/net/ipv4/ip_forward".into()));
}

#[test]
fn sysctl_refuses_non_procfs() {
    let mut v = spec();
    v["linux"]["sysctl"] = json!({"kernel.shmmax": "1000"});
    let mut fake = Fake::new();
    fake.not_proc.insert("/proc/sys/kernel/shmmax".into());
    let plan = plan(&v);
    let e = Rootfs::new(&fake, &plan).sysctl().unwrap_err();
    assert_eq!(e, "/proc/sys/kernel/shmmax: not on procfs (refusing to write)");
    assert!(!fake.calls().iter().any(|c| matches!(c, Call::Write { .. })));
}

fn with_mounts(extra: Value) -> Value {
    let mut v = spec();
    v["mounts"].as_array_mut().unwrap().extend(extra.as_array().unwrap().iter().cloned());
    v
}

/// The calls of the mounts after the default ones (the default spec's are checked above).
fn extra_mount_calls(fake: &Fake, plan: &Plan) -> Vec<Call> {
    let x = Rootfs::new(fake, plan);
    let root = fake.open_root(Path::new("/r")).unwrap();
    x.mount_all(&root).unwrap();
    let calls = fake.calls();
    let i = pos(&calls, &Call::MoveMount { from: "tree:/sys/fs/cgroup/berth/c1".into(), to: "/r/sys/fs/cgroup".into() });
    calls[i + 1..].to_vec()
}

#[test]
fn bind_mounts_get_attributes_and_propagation() {
    let v = with_mounts(json!([
        {"destination": "/data", "type": "bind", "source": "/host/data", "options": ["rbind", "ro", "nosuid", "rprivate"]},
        {"destination": "/etc/resolv.conf", "type": "none", "source": "/host/resolv.conf", "options": ["bind", "rro", "rnoexec"]},
        {"destination": "/plain", "type": "bind", "source": "/host/plain", "options": ["bind"]},
    ]));
    let mut fake = Fake::new();
    fake.host_files.insert("/host/resolv.conf".into());
    let plan = plan(&v);
    let want = vec![
        Call::HostIsDir("/host/data".into()),
        mkdir("/r/data"),
        Call::OpenTree { src: "/host/data".into(), flags: OPEN_TREE_CLONE | AT_RECURSIVE },
        Call::SetAttr { target: "tree:/host/data".into(), recursive: false, attr: attr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID) },
        Call::MoveMount { from: "tree:/host/data".into(), to: "/r/data".into() },
        Call::Resolve { path: "/r/data".into(), nofollow: false },
        mount(None, "/r/data", None, libc::MS_PRIVATE | libc::MS_REC, None),
        // A file: its parent made, the file created, then resolved as the target.
        Call::HostIsDir("/host/resolv.conf".into()),
        mkdir("/r/etc"),
        Call::CreateFile("/r/etc/resolv.conf".into()),
        Call::Resolve { path: "/r/etc/resolv.conf".into(), nofollow: false },
        Call::OpenTree { src: "/host/resolv.conf".into(), flags: OPEN_TREE_CLONE },
        Call::SetAttr { target: "tree:/host/resolv.conf".into(), recursive: true, attr: attr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC) },
        Call::MoveMount { from: "tree:/host/resolv.conf".into(), to: "/r/etc/resolv.conf".into() },
        // No options: no attribute call at all.
        Call::HostIsDir("/host/plain".into()),
        mkdir("/r/plain"),
        Call::OpenTree { src: "/host/plain".into(), flags: OPEN_TREE_CLONE },
        Call::MoveMount { from: "tree:/host/plain".into(), to: "/r/plain".into() },
    ];
    assert_eq!(extra_mount_calls(&fake, &plan), want);
}

#[test]
fn idmapped_bind_passes_the_userns_fd() {
    let mut v = with_mounts(json!([{
        "destination": "/m", "type": "bind", "source": "/host/m", "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
    }]));
    v["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let (fake, plan) = (Fake::new(), plan(&v));
    let calls = extra_mount_calls(&fake, &plan);
    assert_eq!(calls[3], Call::IdmapUserns { uid_map: "0 1000 1\n".into(), gid_map: "0 1000 1\n".into() });
    let Call::SetAttr { target, recursive: false, attr } = &calls[4] else { panic!("{:?}", calls[4]) };
    assert_eq!((target.as_str(), attr.attr_set), ("tree:/host/m", crate::sys::MOUNT_ATTR_IDMAP));
    assert!(attr.userns_fd >= 3, "the userns handle's number: {attr:?}");
}

#[test]
fn user_namespace_binds_devices_and_drops_devpts_gid() {
    let mut v = spec();
    v["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let (fake, plan) = (Fake::new(), plan(&v));
    run_all(&fake, &plan).unwrap();
    let calls = fake.calls();
    pos(&calls, &fs("devpts", "/r/dev/pts", "devpts", libc::MS_NOSUID | libc::MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"));
    assert!(!calls.iter().any(|c| matches!(c, Call::Mknod { .. })));
    let i = pos(&calls, &Call::CreateExcl("/r/dev/null".into()));
    assert_eq!(
        calls[i + 1..i + 4],
        [
            Call::Resolve { path: "/r/dev/null".into(), nofollow: true },
            Call::OpenTree { src: "/dev/null".into(), flags: OPEN_TREE_CLONE },
            Call::MoveMount { from: "tree:/dev/null".into(), to: "/r/dev/null".into() },
        ]
    );
}

#[test]
fn rootfs_propagation_shared_and_writable_root() {
    let mut v = spec();
    v["linux"]["rootfsPropagation"] = json!("rshared");
    v["root"]["readonly"] = json!(false);
    let (fake, plan) = (Fake::new(), plan(&v));
    run_all(&fake, &plan).unwrap();
    let calls = fake.calls();
    // Shared: the host side stays slave while we mount; the rootfs is private for pivot_root...
    assert_eq!(
        calls[..3],
        [
            mount(None, "/", None, libc::MS_SLAVE | libc::MS_REC, None),
            mount(Some("/r"), "/r", None, libc::MS_BIND | libc::MS_REC, None),
            mount(None, "/r", None, libc::MS_PRIVATE, None),
        ]
    );
    // ...and made shared at the very end, after the masked paths.
    let fin = calls.iter().rposition(|c| matches!(c, Call::MoveMount { .. })).unwrap();
    assert_eq!(calls[fin + 1], mount(None, "/", None, libc::MS_SHARED | libc::MS_REC, None));
    assert!(!calls.iter().any(|c| matches!(c, Call::SetAttr { target, .. } if target == "/")), "root is writable");
}

#[test]
fn rootfs_propagation_private() {
    let mut v = spec();
    v["linux"]["rootfsPropagation"] = json!("private");
    let (fake, plan) = (Fake::new(), plan(&v));
    run_all(&fake, &plan).unwrap();
    let calls = fake.calls();
    // A non-recursive change up front would leave the host's shared submounts peered.
    assert_eq!(calls[0], mount(None, "/", None, libc::MS_SLAVE | libc::MS_REC, None));
    assert!(!calls.contains(&mount(None, "/r", None, libc::MS_PRIVATE, None)), "only a shared root needs a private rootfs for pivot_root");
    let ro = pos(&calls, &Call::SetAttr { target: "/".into(), recursive: false, attr: attr(MOUNT_ATTR_RDONLY) });
    assert_eq!(calls[ro + 1..], [mount(None, "/", None, libc::MS_PRIVATE, None), Call::Sethostname("berth".into())]);
}

#[test]
fn rootfs_propagation_unbindable_and_rprivate() {
    let mut v = spec();
    v["linux"]["rootfsPropagation"] = json!("unbindable");
    let (fake, plan) = (Fake::new(), plan(&v));
    run_all(&fake, &plan).unwrap();
    let calls = fake.calls();
    // An unbindable `/` would refuse the rootfs bind: it is applied after pivot_root.
    assert_eq!(calls[0], mount(None, "/", None, libc::MS_SLAVE | libc::MS_REC, None));
    assert!(calls.contains(&mount(None, "/", None, libc::MS_UNBINDABLE, None)));
    v["linux"]["rootfsPropagation"] = json!("rprivate");
    let (fake, p) = (Fake::new(), self::plan(&v));
    run_all(&fake, &p).unwrap();
    assert_eq!(fake.calls()[0], mount(None, "/", None, libc::MS_PRIVATE | libc::MS_REC, None));
}

#[test]
fn cgroup_v1_host_gets_a_tmpfs_of_hierarchies() {
    let mut fake = Fake::new();
    let info = "\
25 23 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
";
    fake.host_files_content.insert("/proc/self/mountinfo".into(), info.into());
    fake.host_files_content.insert("/proc/self/cgroup".into(), "5:memory:/c1\n4:cpu,cpuacct:/c1\n".into());
    let (plan, ro) = (plan(&spec()), attr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    Rootfs::new(&fake, &plan).mount_all(&fake.open_root(Path::new("/r")).unwrap()).unwrap();
    let calls = fake.calls();
    let i = pos(&calls, &Call::ReadHost("/proc/self/cgroup".into()));
    let want = vec![
        fs("tmpfs", "/r/sys/fs/cgroup", "tmpfs", NOSUID_NOEXEC_NODEV | libc::MS_RELATIME, "mode=755"),
        Call::OpenDir("/r/sys/fs/cgroup".into()),
        mkdir("/r/sys/fs/cgroup/cpu,cpuacct"),
        Call::OpenTree { src: "/sys/fs/cgroup/cpu,cpuacct/c1".into(), flags: OPEN_TREE_CLONE },
        Call::SetAttr { target: "tree:/sys/fs/cgroup/cpu,cpuacct/c1".into(), recursive: false, attr: ro },
        Call::MoveMount { from: "tree:/sys/fs/cgroup/cpu,cpuacct/c1".into(), to: "/r/sys/fs/cgroup/cpu,cpuacct".into() },
        mkdir("/r/sys/fs/cgroup/memory"),
        Call::OpenTree { src: "/sys/fs/cgroup/memory/c1".into(), flags: OPEN_TREE_CLONE },
        Call::SetAttr { target: "tree:/sys/fs/cgroup/memory/c1".into(), recursive: false, attr: ro },
        Call::MoveMount { from: "tree:/sys/fs/cgroup/memory/c1".into(), to: "/r/sys/fs/cgroup/memory".into() },
        Call::Symlink { target: "cpu,cpuacct".into(), link: "/r/sys/fs/cgroup/cpu".into() },
        Call::Symlink { target: "cpu,cpuacct".into(), link: "/r/sys/fs/cgroup/cpuacct".into() },
        Call::SetAttr { target: "/r/sys/fs/cgroup".into(), recursive: false, attr: attr(MOUNT_ATTR_RDONLY) },
    ];
    assert_eq!(calls[i + 1..], want);
}

#[test]
fn failure_names_the_mount_destination_and_stops() {
    let defaults = plan(&spec());
    let n = pos(&{
        let fake = Fake::new();
        run_all(&fake, &defaults).unwrap();
        fake.calls()
    }, &fs("devpts", "/r/dev/pts", "devpts", libc::MS_NOSUID | libc::MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"));
    let fake = Fake::new().fail_at(n, libc::EPERM);
    assert_eq!(run_all(&fake, &defaults).unwrap_err(), "mount /dev/pts: mount devpts: operation not permitted");
    assert_eq!(fake.calls().len(), n + 1, "nothing after the failed call");

    let v = with_mounts(json!([{"destination": "/data", "type": "bind", "source": "/host/data", "options": ["rbind"]}]));
    let plan = plan(&v);
    let calls = {
        let fake = Fake::new();
        run_all(&fake, &plan).unwrap();
        fake.calls()
    };
    let n = pos(&calls, &Call::MoveMount { from: "tree:/host/data".into(), to: "/r/data".into() });
    let fake = Fake::new().fail_at(n, libc::ENOENT);
    assert_eq!(run_all(&fake, &plan).unwrap_err(), "mount /data: attach: no such file or directory");
    let n = pos(&calls, &Call::Mknod { path: "/r/dev/tty".into(), mode: libc::S_IFCHR | 0o666, dev: libc::makedev(5, 0) });
    let fake = Fake::new().fail_at(n, libc::EPERM);
    assert_eq!(run_all(&fake, &plan).unwrap_err(), "device /dev/tty: mknod: operation not permitted");
    let n = pos(&calls, &Call::PivotRoot { new_root: ".".into(), put_old: ".".into() });
    let fake = Fake::new().fail_at(n, libc::EINVAL);
    assert_eq!(run_all(&fake, &plan).unwrap_err(), "pivot_root: invalid argument");
}

/// Every call of a full run, failed in turn: the run stops right there with an error, except
/// for the few calls whose failure is tolerated on purpose.
#[test]
fn every_failure_stops_the_run() {
    let mut v = with_mounts(json!([{"destination": "/data", "type": "bind", "source": "/host/data", "options": ["rbind", "ro", "rshared"]}]));
    v["linux"]["sysctl"] = json!({"kernel.shmmax": "1000"});
    let plan = plan(&v);
    let total = {
        let fake = Fake::new();
        run_all(&fake, &plan).unwrap();
        fake.calls().len()
    };
    for n in 0..total {
        let fake = Fake::new().fail_at(n, libc::EIO);
        let r = run_all(&fake, &plan);
        let calls = fake.calls();
        // A stale /dev entry may be absent, /dev/core is optional, a tmpfs size of 0 is a hint.
        let tolerated = match &calls[n] {
            Call::Unlink(_) | Call::HostExists(_) => true,
            Call::FsconfigString { key, .. } => key == "size",
            _ => false,
        };
        match r {
            Err(e) => {
                assert!(!tolerated, "call {n} {:?} should be tolerated: {e}", calls[n]);
                assert_eq!(calls.len(), n + 1, "call {n} {:?} failed ({e}) but the run went on", calls[n]);
                assert!(e.contains("input/output error") || e.contains("i/o error"), "{e}");
            }
            Ok(()) => assert!(tolerated, "call {n} {:?} failed and nobody noticed", calls[n]),
        }
    }
}

#[test]
fn spec_devices_after_defaults_and_overriding_them() {
    let mut v = spec();
    v["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600, "uid": 1, "gid": 2},
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640},
        {"path": "/dev/disk/sda", "type": "b", "major": 8, "minor": 0}
    ]);
    let (fake, plan) = (Fake::new(), plan(&v));
    Rootfs::new(&fake, &plan).devices(&fake.open_root(Path::new("/r")).unwrap()).unwrap();
    let calls = fake.calls();
    let nodes: Vec<_> = calls.iter().filter_map(|c| if let Call::Mknod { path, mode, .. } = c { Some((path.as_str(), *mode)) } else { None }).collect();
    assert_eq!(
        nodes,
        [
            ("/r/dev/zero", libc::S_IFCHR | 0o666),
            ("/r/dev/full", libc::S_IFCHR | 0o666),
            ("/r/dev/random", libc::S_IFCHR | 0o666),
            ("/r/dev/urandom", libc::S_IFCHR | 0o666),
            ("/r/dev/tty", libc::S_IFCHR | 0o666),
            ("/r/dev/fuse", libc::S_IFCHR | 0o600),
            ("/r/dev/null", libc::S_IFCHR | 0o640),
            ("/r/dev/disk/sda", libc::S_IFBLK | 0o666),
        ]
    );
    let fuse = pos(&calls, &Call::Mknod { path: "/r/dev/fuse".into(), mode: libc::S_IFCHR | 0o600, dev: libc::makedev(10, 229) });
    assert_eq!(calls[fuse + 1..fuse + 3], [Call::Chown { path: "/r/dev/fuse".into(), uid: 1, gid: 2 }, Call::Chmod { path: "/r/dev/fuse".into(), mode: 0o600 }]);
    pos(&calls, &Call::Parent { path: "/r/dev/disk/sda".into(), create: true });
}

#[test]
fn tmpcopyup_copies_the_covered_directory_into_the_new_tmpfs() {
    let v = with_mounts(json!([{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}]));
    let (fake, plan) = (Fake::new(), plan(&v));
    Rootfs::new(&fake, &plan).mount_all(&fake.open_root(Path::new("/r")).unwrap()).unwrap();
    let calls = fake.calls();
    let m = pos(&calls, &fs("tmpfs", "/r/t", "tmpfs", 0, ""));
    // the directory's fd from before the mount is the source, a fresh lookup the tmpfs
    assert_eq!(calls[m + 1..m + 3], [Call::Resolve { path: "/r/t".into(), nofollow: false }, Call::CopyTree { from: "/r/t".into(), to: "/r/t".into() }]);
    assert_eq!(calls[m - 1], Call::MkdirAll("/r/t".into()));
}

#[test]
fn a_failed_tmpcopyup_names_the_mount() {
    let v = with_mounts(json!([{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}]));
    let plan = plan(&v);
    let dry = Fake::new();
    Rootfs::new(&dry, &plan).mount_all(&dry.open_root(Path::new("/r")).unwrap()).unwrap();
    let n = pos(&dry.calls(), &Call::CopyTree { from: "/r/t".into(), to: "/r/t".into() });
    let fake = Fake::new().fail_at(n, libc::ENOSPC);
    let root = fake.open_root(Path::new("/r")).unwrap();
    let e = Rootfs::new(&fake, &plan).mount_all(&root).unwrap_err();
    assert!(e.starts_with("mount /t: tmpcopyup: "), "{e}");
}

#[test]
fn the_real_system_is_zero_sized() {
    assert_eq!(std::mem::size_of::<Real>(), 0);
}
