//! Unit tests of planning, creation, resource writes and removal against fake cgroupfs trees.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::fake::FakeTree;
use super::resources::{self, Current, Intent};
use super::*;

fn req<'a>(path: Option<&'a str>, id: &'a str) -> CgroupRequest<'a> {
    CgroupRequest { cgroups_path: path, id, systemd: false }
}

fn own(text: &str) -> &'static OwnCgroups {
    Box::leak(Box::new(OwnCgroups::parse(text)))
}

fn no_own() -> Result<&'static OwnCgroups, Error> {
    panic!("an absolute path must not need /proc/self/cgroup")
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref()).unwrap_or_else(|e| panic!("read {}: {e}", p.as_ref().display())).trim().to_string()
}

#[test]
fn plan_absolute_on_v1_puts_a_dir_in_every_hierarchy() {
    let t = FakeTree::v1();
    let cg = Cgroup::plan_on(&req(Some("/default/web"), "web"), &t.layout, no_own).unwrap();
    assert_eq!(cg.mode, Mode::V1);
    assert_eq!(cg.v1.len(), t.layout.v1.len());
    assert_eq!(cg.dir("memory").unwrap(), t.root.join("memory/default/web"));
    assert_eq!(cg.dir("cpuacct").unwrap(), t.root.join("cpu,cpuacct/default/web"));
    assert_eq!(cg.dir("name=systemd").unwrap(), t.root.join("systemd/default/web"));
    assert!(cg.unified.is_none());
}

#[test]
fn plan_relative_and_default_go_under_our_own_cgroup() {
    let t = FakeTree::hybrid();
    let mine = own(
        "11:name=systemd:/\n10:rdma:/\n9:net_cls,net_prio:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/process_api/x\n3:cpuset:/\n2:cpu,cpuacct:/a\n0::/u\n",
    );
    let cg = Cgroup::plan_on(&req(None, "web"), &t.layout, || Ok(mine)).unwrap();
    assert_eq!(cg.dir("memory").unwrap(), t.root.join("memory/process_api/x/web"));
    assert_eq!(cg.dir("cpu").unwrap(), t.root.join("cpu,cpuacct/a/web"));
    assert_eq!(cg.dir("cpuset").unwrap(), t.root.join("cpuset/web"));
    // hybrid: the cgroup2 dir is under our own cgroup, as runc joins it
    assert_eq!(cg.unified.as_deref().unwrap(), t.root.join("unified/u/web"));

    let t2 = FakeTree::v2();
    let mine = own("0::/user.slice/session-1.scope\n");
    let cg = Cgroup::plan_on(&req(Some("c/web"), "web"), &t2.layout, || Ok(mine)).unwrap();
    // pure v2: next to our own cgroup (it holds processes, so it cannot have controllers)
    assert_eq!(cg.unified.as_deref().unwrap(), t2.root.join("unified/user.slice/c/web"));
}

#[test]
fn plan_systemd_paths() {
    let t = FakeTree::v2();
    let r = CgroupRequest { cgroups_path: Some("machine.slice:libpod:abc"), id: "abc", systemd: true };
    let cg = Cgroup::plan_on(&r, &t.layout, no_own).unwrap();
    assert_eq!(cg.unified.as_deref().unwrap(), t.root.join("unified/machine.slice/libpod-abc.scope"));
    assert_eq!(cg.systemd.as_ref().unwrap().unit, "libpod-abc.scope");
}

#[test]
fn plan_rejects_root_and_needs_devices_on_v1() {
    let t = FakeTree::v1();
    assert!(matches!(Cgroup::plan_on(&req(Some("/"), "x"), &t.layout, no_own), Err(Error::InvalidPath { .. })));
    let mut l = t.layout.clone();
    l.v1.retain(|h| h.controllers != "devices");
    assert!(matches!(Cgroup::plan_on(&req(Some("/a"), "x"), &l, no_own), Err(Error::MissingController { .. })));
}

#[test]
fn create_records_what_it_made_and_destroy_removes_only_that() {
    let t = FakeTree::v1();
    // containerd's namespace directory exists already in one hierarchy
    let pre = t.root.join("memory/default");
    std::fs::create_dir(&pre).unwrap();
    let cg = Cgroup::plan_on(&req(Some("/default/web"), "web"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    for d in cg.dirs() {
        assert!(d.is_dir(), "{}", d.display());
    }
    assert!(cg.created.get().contains(&t.root.join("pids/default")));
    assert!(!cg.created.get().contains(&pre));
    // parents come before their children
    let i = cg.created.get().iter().position(|p| p == &t.root.join("pids/default")).unwrap();
    let j = cg.created.get().iter().position(|p| p == &t.root.join("pids/default/web")).unwrap();
    assert!(i < j);
    // a new cpuset took its parent's cpus and mems
    assert_eq!(read(t.root.join("cpuset/default/cpuset.cpus")), "0-3");
    assert_eq!(read(t.root.join("cpuset/default/web/cpuset.mems")), "0");
    // the state round-trips
    let json = serde_json::to_string(&cg).unwrap();
    assert_eq!(serde_json::from_str::<Cgroup>(&json).unwrap(), cg);

    cg.destroy().unwrap();
    assert!(pre.is_dir(), "pre-existing parent must stay");
    assert!(!t.root.join("memory/default/web").exists());
    assert!(!t.root.join("pids/default").exists());
}

#[test]
fn joining_an_existing_leaf_does_not_remove_it() {
    let t = FakeTree::v1();
    for h in &t.layout.v1 {
        std::fs::create_dir_all(h.mountpoint.join("given")).unwrap();
    }
    let cg = Cgroup::plan_on(&req(Some("/given"), "x"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    assert!(cg.created.is_empty());
    cg.destroy().unwrap();
    assert!(t.root.join("memory/given").is_dir());
}

#[test]
fn add_process_and_pids() {
    let t = FakeTree::hybrid();
    let cg = Cgroup::plan_on(&req(Some("/c1"), "c1"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    cg.add_process(4242).unwrap();
    for d in cg.dirs() {
        assert_eq!(read(d.join("cgroup.procs")), "4242", "{}", d.display());
    }
    // a sub-cgroup made inside the container counts too
    let sub = cg.dir("freezer").unwrap().join("inner");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("cgroup.procs"), "7\n9\n").unwrap();
    assert_eq!(cg.pids().unwrap(), vec![7, 9, 4242]);
}

#[test]
fn v1_freezer_round_trip() {
    let t = FakeTree::v1();
    let cg = Cgroup::plan_on(&req(Some("/f"), "f"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    cg.set_frozen(true).unwrap();
    assert!(cg.is_frozen().unwrap());
    cg.set_frozen(false).unwrap();
    assert!(!cg.is_frozen().unwrap());
}

#[test]
fn v2_create_hands_controllers_down() {
    let t = FakeTree::v2();
    let cg = Cgroup::plan_on(&req(Some("/default/web"), "web"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    let u = cg.unified.clone().unwrap();
    assert!(read(t.root.join("unified/cgroup.subtree_control")).contains("memory"));
    assert!(read(t.root.join("unified/default/cgroup.subtree_control")).contains("pids"));
    assert!(u.join("memory.max").exists());
    assert!(u.join("cpu.weight").exists());
}

const FULL: &str = r#"{
  "memory": {"limit": 16777216, "reservation": 8388608, "swap": 33554432, "kernel": 1000, "kernelTCP": 4096000,
             "swappiness": 10, "disableOOMKiller": true, "useHierarchy": true},
  "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "idle": 0,
          "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0"},
  "pids": {"limit": 64},
  "blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 400}],
              "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
              "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
  "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
  "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
  "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}
}"#;

#[test]
fn v1_every_field_lands_in_its_file() {
    let t = FakeTree::v1();
    let cg = Cgroup::plan_on(&req(Some("/all"), "all"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    cg.apply(&res(FULL)).unwrap();
    let m = cg.dir("memory").unwrap();
    assert_eq!(read(m.join("memory.limit_in_bytes")), "16777216");
    assert_eq!(read(m.join("memory.memsw.limit_in_bytes")), "33554432");
    assert_eq!(read(m.join("memory.soft_limit_in_bytes")), "8388608");
    assert_eq!(read(m.join("memory.kmem.tcp.limit_in_bytes")), "4096000");
    assert_eq!(read(m.join("memory.kmem.limit_in_bytes")), "9223372036854771712", "kernel memory is obsolete, untouched");
    assert_eq!(read(m.join("memory.swappiness")), "10");
    assert_eq!(read(m.join("memory.oom_control")), "1");
    assert_eq!(read(m.join("memory.use_hierarchy")), "1");
    let c = cg.dir("cpu").unwrap();
    assert_eq!(read(c.join("cpu.shares")), "512");
    assert_eq!(read(c.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(c.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(c.join("cpu.cfs_burst_us")), "1000");
    assert_eq!(read(c.join("cpu.idle")), "0");
    assert_eq!(read(c.join("cpu.rt_period_us")), "1000000");
    assert_eq!(read(c.join("cpu.rt_runtime_us")), "950000");
    let s = cg.dir("cpuset").unwrap();
    assert_eq!(read(s.join("cpuset.cpus")), "0-1");
    assert_eq!(read(s.join("cpuset.mems")), "0");
    assert_eq!(read(cg.dir("pids").unwrap().join("pids.max")), "64");
    let b = cg.dir("blkio").unwrap();
    assert_eq!(read(b.join("blkio.bfq.weight")), "300");
    assert_eq!(read(b.join("blkio.bfq.weight_device")), "8:0 400");
    assert_eq!(read(b.join("blkio.throttle.read_bps_device")), "8:0 1048576");
    assert_eq!(read(b.join("blkio.throttle.write_iops_device")), "8:0 100");
    assert_eq!(read(cg.dir("hugetlb").unwrap().join("hugetlb.2MB.limit_in_bytes")), "4194304");
    assert_eq!(read(cg.dir("net_cls").unwrap().join("net_cls.classid")), "1048577");
    assert_eq!(read(cg.dir("net_prio").unwrap().join("net_prio.ifpriomap")), "eth0 5");
    assert_eq!(read(cg.dir("rdma").unwrap().join("rdma.max")), "mlx5_1 hca_handle=3 hca_object=10000");
    // devices: deny-all first, then the default allow-list (last one written shows)
    let d = cg.dir("devices").unwrap();
    assert_eq!(read(d.join("devices.deny")), "a");
    assert_eq!(read(d.join("devices.allow")), "c 10:200 rwm");
}

#[test]
fn v1_unified_is_an_error() {
    let t = FakeTree::v1();
    let cg = Cgroup::plan_on(&req(Some("/u"), "u"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    let e = cg.apply(&res(r#"{"unified": {"memory.high": "1M"}}"#)).unwrap_err();
    assert!(e.to_string().contains("needs cgroup v2"), "{e}");
}

#[test]
fn v1_memory_and_swap_order_follows_the_current_limit() {
    let r = res(r#"{"memory": {"limit": 100, "swap": 200}}"#);
    let order = |cur: Option<u64>| -> Vec<String> {
        resources::plan(&v1_cg(), &r, &Current { memory_limit: cur, ..Default::default() }, Intent::Update)
            .unwrap()
            .v1
            .into_iter()
            .map(|w| w.file)
            .collect()
    };
    // growing past the current limit: raise memory+swap first
    assert_eq!(order(Some(50)), ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]);
    // shrinking (or a fresh, unlimited cgroup): memory first
    assert_eq!(order(Some(1000)), ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
    assert_eq!(order(None), ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
    // unlimited memory implies unlimited swap, raised first
    let r = res(r#"{"memory": {"limit": -1}}"#);
    let p = resources::plan(&v1_cg(), &r, &Current::default(), Intent::Update).unwrap();
    assert_eq!(p.v1.iter().map(|w| (w.file.as_str(), w.value.as_str())).collect::<Vec<_>>(), [
        ("memory.memsw.limit_in_bytes", "-1"),
        ("memory.limit_in_bytes", "-1")
    ]);
}

fn v1_cg() -> Cgroup {
    Cgroup {
        mode: Mode::V1,
        v1: vec![],
        unified: None,
        unified_mount: None,
        systemd: None,
        created: Default::default(),
        disabled: Default::default(),
    }
}

#[test]
fn bad_values_are_errors_naming_the_field() {
    for (json, field) in [
        (r#"{"memory": {"limit": 100, "swap": 50}}"#, "memory.swap"),
        (r#"{"memory": {"swap": 50}}"#, "memory.swap"),
        (r#"{"memory": {"limit": -5}}"#, "memory.limit"),
        (r#"{"memory": {"swappiness": 101}}"#, "memory.swappiness"),
        (r#"{"cpu": {"shares": 1}}"#, "cpu.shares"),
        (r#"{"hugepageLimits": [{"pageSize": "2XB", "limit": 1}]}"#, "pageSize"),
        (r#"{"devices": [{"allow": true, "type": "c", "access": "rwx"}]}"#, "devices[0]"),
    ] {
        let e = resources::plan(&v1_cg(), &res(json), &Current::default(), Intent::Create).unwrap_err();
        assert!(e.to_string().contains(field), "{json}: {e}");
    }
}

#[test]
fn v2_every_field_lands_in_its_file() {
    let t = FakeTree::v2();
    let cg = Cgroup::plan_on(&req(Some("/all"), "all"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    let mut r = res(FULL);
    // v2 has no real-time bandwidth (an error, tested below)
    r.cpu_mut().as_mut().unwrap().set_realtime_runtime(None).set_realtime_period(None);
    // devices go to BPF, tested against the real kernel; update leaves them alone
    cg.update(&r).unwrap();
    let u = cg.unified.clone().unwrap();
    assert_eq!(read(u.join("memory.max")), "16777216");
    assert_eq!(read(u.join("memory.swap.max")), "16777216", "swap alone = memory+swap - memory");
    assert_eq!(read(u.join("memory.low")), "8388608");
    assert_eq!(read(u.join("cpu.weight")), "20", "512 shares");
    assert_eq!(read(u.join("cpu.max")), "50000 100000");
    assert_eq!(read(u.join("cpu.max.burst")), "1000");
    assert_eq!(read(u.join("cpu.idle")), "0");
    assert_eq!(read(u.join("cpuset.cpus")), "0-1");
    assert_eq!(read(u.join("cpuset.mems")), "0");
    assert_eq!(read(u.join("pids.max")), "64");
    // no BFQ here: io.weight with the converted value; per-device weights need BFQ (warned)
    assert_eq!(read(u.join("io.weight")), "2930");
    assert!(!u.join("io.bfq.weight").exists());
    assert_eq!(read(u.join("io.max")), "8:0 wiops=100", "the last throttle written shows");
    assert_eq!(read(u.join("hugetlb.2MB.max")), "4194304");
    assert_eq!(read(u.join("hugetlb.2MB.rsvd.max")), "4194304");
    assert_eq!(read(u.join("rdma.max")), "mlx5_1 hca_handle=3 hca_object=10000");
}

#[test]
fn v2_plan_warns_for_v1_only_settings() {
    let mut r = res(FULL);
    r.cpu_mut().as_mut().unwrap().set_realtime_runtime(None).set_realtime_period(None);
    let cg = Cgroup { mode: Mode::V2, ..v1_cg() };
    let p = resources::plan(&cg, &r, &Current::default(), Intent::Create).unwrap();
    let all = p.warnings.join("\n");
    for w in ["memory.kernel", "kernelTCP", "swappiness", "disableOOMKiller", "classID"] {
        assert!(all.contains(w), "missing warning for {w}: {all}");
    }
    assert!(p.device_rules.is_some());
    let rt = res(r#"{"cpu": {"realtimeRuntime": 100}}"#);
    assert!(resources::plan(&cg, &rt, &Current::default(), Intent::Create).unwrap_err().to_string().contains("real-time"));
}

#[test]
fn v2_unified_keys_pass_through_last_and_are_checked() {
    let t = FakeTree::v2();
    let cg = Cgroup::plan_on(&req(Some("/k"), "k"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    cg.update(&res(r#"{"memory": {"limit": 1000}, "unified": {"memory.max": "2000", "pids.max": "9"}}"#)).unwrap();
    let u = cg.unified.clone().unwrap();
    assert_eq!(read(u.join("memory.max")), "2000", "unified overrides the typed field");
    assert_eq!(read(u.join("pids.max")), "9");
    for bad in [r#"{"unified": {"../x.max": "1"}}"#, r#"{"unified": {"cgroup.procs": "1"}}"#, r#"{"unified": {"nope": "1"}}"#] {
        assert!(cg.update(&res(bad)).is_err(), "{bad}");
    }
    // a key for a controller the cgroup does not have: a clear error
    let e = cg.update(&res(r#"{"unified": {"misc.max": "x 1"}}"#)).unwrap_err();
    assert!(e.to_string().contains("misc"), "{e}");
}

#[test]
fn v2_memory_swap_conversion() {
    let cg = Cgroup { mode: Mode::V2, ..v1_cg() };
    let plan = |json: &str| {
        resources::plan(&cg, &res(json), &Current::default(), Intent::Update)
            .unwrap()
            .unified
            .into_iter()
            .map(|w| format!("{}={}", w.file, w.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(plan(r#"{"memory": {"limit": -1}}"#), ["memory.swap.max=max", "memory.max=max"]);
    assert_eq!(plan(r#"{"memory": {"limit": 100, "swap": -1}}"#), ["memory.swap.max=max", "memory.max=100"]);
    assert_eq!(plan(r#"{"memory": {"limit": 100, "swap": 100}}"#), ["memory.swap.max=0", "memory.max=100"]);
    assert_eq!(plan(r#"{"memory": {"limit": 100}}"#), ["memory.max=100"]);
    // checkBeforeUpdate refuses a limit below the current usage
    let r = res(r#"{"memory": {"limit": 100, "checkBeforeUpdate": true}}"#);
    assert!(resources::plan(&cg, &r, &Current { memory_usage: Some(500), ..Default::default() }, Intent::Update).is_err());
}

#[test]
fn conversions_match_runc() {
    assert_eq!(v2::shares_to_weight(2), 1);
    assert_eq!(v2::shares_to_weight(1024), 39);
    assert_eq!(v2::shares_to_weight(262144), 10000);
    assert_eq!(v2::blkio_to_io_weight(10), 1);
    assert_eq!(v2::blkio_to_io_weight(500), 4950);
    assert_eq!(v2::blkio_to_io_weight(1000), 10000);
}

#[test]
fn hybrid_routes_hugetlb_to_cgroup2() {
    let t = FakeTree::hybrid();
    let cg = Cgroup::plan_on(&req(Some("/h/c"), "c"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    cg.apply(&res(r#"{"memory": {"limit": 1048576}, "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}"#)).unwrap();
    assert_eq!(read(cg.dir("memory").unwrap().join("memory.limit_in_bytes")), "1048576");
    let u = cg.unified.clone().unwrap();
    assert_eq!(read(u.join("hugetlb.2MB.max")), "2097152");
    assert_eq!(read(t.root.join("unified/cgroup.subtree_control")), "hugetlb");
    assert_eq!(read(t.root.join("unified/h/cgroup.subtree_control")), "hugetlb");
    // unified keys for what only cgroup2 has are accepted; for v1 controllers they are not
    cg.update(&res(r#"{"unified": {"hugetlb.2MB.max": "4194304"}}"#)).unwrap();
    assert_eq!(read(u.join("hugetlb.2MB.max")), "4194304");
    assert!(cg.update(&res(r#"{"unified": {"memory.high": "1"}}"#)).unwrap_err().to_string().contains("cgroup v1"));
}

#[test]
fn disabled_cgroup_refuses_limits_only() {
    let cg = v1_cg();
    cg.disabled.set();
    cg.apply(&res(r#"{"devices": [{"allow": false, "access": "rwm"}], "memory": {}}"#)).unwrap();
    assert!(matches!(cg.apply(&res(r#"{"pids": {"limit": 5}}"#)), Err(Error::NotDelegated { .. })));
    cg.add_process(1).unwrap();
}

#[test]
fn stats_v1_in_runc_shape() {
    let t = FakeTree::v1();
    let cg = Cgroup::plan_on(&req(Some("/s"), "s"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 5000);
    assert_eq!(s.cpu.usage.percpu, [3000, 2000]);
    assert_eq!(s.cpu.throttling.throttled_periods, 2);
    assert_eq!(s.memory.usage.usage, 4096);
    assert_eq!(s.memory.usage.max, 8192);
    assert_eq!(s.memory.cache, 100);
    assert_eq!(s.memory.raw["rss"], 200);
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, 0, "max is reported as 0");
    assert_eq!(s.cpuset.cpus, [0, 1, 2, 3]);
    assert_eq!(s.blkio.io_service_bytes_recursive[0].op, "Read");
    assert_eq!(s.blkio.io_service_bytes_recursive[0].value, 4096);
    assert!(s.hugetlb.contains_key("2MB"));
    let v = serde_json::to_value(stats::Event::stats("s", s)).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["data"]["memory"]["usage"]["usage"], 4096);
    assert_eq!(v["data"]["cpu"]["usage"]["percpu"][1], 2000);
    assert_eq!(v["data"]["blkio"]["ioServiceBytesRecursive"][0]["major"], 8);
    assert!(v["data"]["memory"]["kernelTCP"].is_object());
    assert!(v["data"]["intel_rdt"].is_object());
    assert!(v["data"]["network_interfaces"].is_null());
    // omitted when zero, like runc's omitempty
    assert!(v["data"]["memory"]["kernel"].get("usage").is_none());
    assert_eq!(v["data"]["memory"]["kernel"]["failcnt"], 0);
}

#[test]
fn stats_v2_in_runc_shape() {
    let t = FakeTree::v2();
    let cg = Cgroup::plan_on(&req(Some("/s"), "s"), &t.layout, no_own).unwrap();
    cg.create().unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 5000);
    assert_eq!(s.cpu.usage.user, 3000);
    assert_eq!(s.cpu.usage.kernel, 2000);
    assert_eq!(s.cpu.throttling.throttled_time, 3000);
    assert_eq!(s.memory.usage.usage, 4096);
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!(s.memory.usage.failcnt, 3, "memory.events max");
    assert_eq!(s.memory.swap.usage, 4096, "memory+swap, as v1");
    assert_eq!(s.memory.cache, 100);
    assert_eq!(s.blkio.io_serviced_recursive.len(), 2);
    assert_eq!(s.hugetlb["2MB"].usage, 0);
    assert_eq!(cg.oom_kills().unwrap(), 1);
}
