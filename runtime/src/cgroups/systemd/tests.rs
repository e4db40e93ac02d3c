//! The unit-property mapping, and the D-Bus flow against a fake systemd on a unix socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};

use super::dbus::{self, Value};
use super::*;

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn get<'a>(props: &'a [Property], name: &str) -> Option<&'a Value> {
    props.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[test]
fn unit_properties_delegate_a_scope() {
    let p = unit_properties("web", "system.slice", "berth-web.scope", Some(42), Mode::V2);
    assert_eq!(get(&p, "Delegate"), Some(&Value::Bool(true)));
    assert_eq!(get(&p, "Slice"), Some(&Value::Str("system.slice".into())));
    assert_eq!(get(&p, "PIDs"), Some(&Value::Array("u".into(), vec![Value::U32(42)])));
    assert_eq!(get(&p, "DefaultDependencies"), Some(&Value::Bool(false)));
    assert!(get(&p, "IOAccounting").is_some());
    let s = unit_properties("web", "machine.slice", "web.slice", None, Mode::V1);
    assert!(get(&s, "Delegate").is_none() && get(&s, "PIDs").is_none());
    assert!(get(&s, "BlockIOAccounting").is_some());
}

#[test]
fn resources_map_to_v2_unit_properties() {
    let r = res(r#"{"memory": {"limit": 1073741824, "reservation": 536870912, "swap": 2147483648},
                    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-3,8", "mems": "0"},
                    "pids": {"limit": 100}, "blockIO": {"weight": 500}}"#);
    let p = resource_properties(&r, Mode::V2, Intent::Update).unwrap();
    assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(1 << 30)));
    assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(1 << 29)));
    assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(1 << 30)));
    assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(39)));
    assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
    assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
    assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(100)));
    assert_eq!(get(&p, "IOWeight"), Some(&Value::U64(4950)));
    assert_eq!(get(&p, "AllowedCPUs"), Some(&Value::Array("y".into(), vec![Value::Byte(0x0f), Value::Byte(0x01)])));
    assert!(get(&p, "DevicePolicy").is_none(), "update without devices leaves them");
}

#[test]
fn resources_map_to_v1_unit_properties_and_unlimited() {
    let r = res(r#"{"memory": {"limit": -1}, "cpu": {"shares": 512, "quota": -1}, "pids": {"limit": -1}, "blockIO": {"weight": 300}}"#);
    let p = resource_properties(&r, Mode::V1, Intent::Update).unwrap();
    assert_eq!(get(&p, "MemoryLimit"), Some(&Value::U64(u64::MAX)));
    assert_eq!(get(&p, "CPUShares"), Some(&Value::U64(512)));
    assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(u64::MAX)));
    assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
    assert_eq!(get(&p, "BlockIOWeight"), Some(&Value::U64(300)));
    assert!(get(&p, "MemoryMax").is_none() && get(&p, "AllowedCPUs").is_none());
}

#[test]
fn quota_rounds_up_to_whole_percent() {
    assert_eq!(quota_per_sec(Some(12345), Some(100000)), 130_000);
    assert_eq!(quota_per_sec(Some(50000), None), 500_000);
    assert_eq!(quota_per_sec(None, Some(100000)), u64::MAX);
}

#[test]
fn devices_become_a_strict_allow_list() {
    let r = res(r#"{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}]}"#);
    let p = resource_properties(&r, Mode::V2, Intent::Create).unwrap();
    assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("strict".into())));
    let Some(Value::Array(_, allow)) = get(&p, "DeviceAllow") else { panic!() };
    let pairs: Vec<(String, String)> = allow
        .iter()
        .map(|v| match v {
            Value::Struct(f) => (f[0].as_str().unwrap().to_string(), f[1].as_str().unwrap().to_string()),
            _ => panic!(),
        })
        .collect();
    assert!(pairs.contains(&("/dev/block/8:0".into(), "r".into())));
    assert!(pairs.contains(&("/dev/char/1:3".into(), "rwm".into())));
    assert!(pairs.contains(&("char-*".into(), "m".into())));
    // pts by driver name from /proc/devices (136 is "pts" on Linux)
    assert!(pairs.iter().any(|(p, _)| p == "char-pts"), "{pairs:?}");
    let all = res(r#"{"devices": [{"allow": true, "access": "rwm"}]}"#);
    let p = resource_properties(&all, Mode::V2, Intent::Create).unwrap();
    assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("auto".into())));
}

#[test]
fn cpu_lists_to_bits() {
    assert_eq!(range_to_bits("0").unwrap(), [1]);
    assert_eq!(range_to_bits("1,3-4,9").unwrap(), [0b0001_1010, 0b10]);
    assert!(range_to_bits("3-1").is_err());
    assert!(range_to_bits("x").is_err());
}

/// A fake systemd speaking D-Bus on a unix socket: answers Subscribe, StartTransientUnit,
/// SetUnitProperties and StopUnit, and emits JobRemoved for each job.
/// The calls the fake received: member and arguments.
type Calls = Arc<Mutex<Vec<(String, Vec<Value>)>>>;

fn fake_systemd(path: &std::path::Path, calls: Calls, job_result: &'static str) {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut nul = [0u8; 1];
        r.read_exact(&mut nul).unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("AUTH EXTERNAL "), "{line}");
        s.write_all(b"OK 0123456789abcdef0123456789abcdef\r\n").unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "BEGIN\r\n");
        let mut buf = Vec::new();
        let mut serial = 100;
        loop {
            let mut chunk = [0u8; 4096];
            let n = match r.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            while let Some((m, used)) = dbus::parse_message(&buf).unwrap() {
                buf.drain(..used);
                let member = m.member.clone().unwrap_or_default();
                calls.lock().unwrap().push((member.clone(), m.body.clone()));
                serial += 1;
                let job = Value::ObjPath(format!("/org/freedesktop/systemd1/job/{serial}"));
                let reply_body = match member.as_str() {
                    "StartTransientUnit" | "StopUnit" => vec![job.clone()],
                    _ => vec![],
                };
                s.write_all(&dbus::encode(dbus::METHOD_RETURN, serial, vec![(5, Value::U32(m.serial))], &reply_body)).unwrap();
                if !reply_body.is_empty() {
                    // an unrelated job first: the client must keep waiting for its own
                    let other = vec![Value::U32(1), Value::ObjPath("/other".into()), Value::Str("x.scope".into()), Value::Str("failed".into())];
                    let unit = m.body[0].clone();
                    let mine = vec![Value::U32(2), job, unit, Value::Str(job_result.into())];
                    for body in [other, mine] {
                        serial += 1;
                        let fields = vec![
                            (1, Value::ObjPath("/org/freedesktop/systemd1".into())),
                            (2, Value::Str("org.freedesktop.systemd1.Manager".into())),
                            (3, Value::Str("JobRemoved".into())),
                        ];
                        s.write_all(&dbus::encode(dbus::SIGNAL, serial, fields, &body)).unwrap();
                    }
                }
            }
        }
    });
}

fn socket_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("berth-fake-systemd-{}-{tag}", std::process::id()))
}

#[test]
fn start_set_stop_against_a_fake_systemd() {
    let path = socket_path("ok");
    let _ = std::fs::remove_file(&path);
    let calls = Arc::new(Mutex::new(Vec::new()));
    fake_systemd(&path, calls.clone(), "done");
    let conn = dbus::Connection::connect(&path, false, Duration::from_secs(5)).unwrap();
    let mut sd = Systemd::with(conn, None).unwrap();
    let mut props = unit_properties("c1", "system.slice", "berth-c1.scope", Some(1234), Mode::V2);
    props.extend(resource_properties(&res(r#"{"memory": {"limit": 1048576}}"#), Mode::V2, Intent::Update).unwrap());
    sd.start_unit("berth-c1.scope", props).unwrap();
    sd.set_properties("berth-c1.scope", resource_properties(&res(r#"{"pids": {"limit": 5}}"#), Mode::V2, Intent::Update).unwrap()).unwrap();
    sd.stop_unit("berth-c1.scope").unwrap();
    let calls = calls.lock().unwrap();
    let names: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["Subscribe", "StartTransientUnit", "SetUnitProperties", "StopUnit"]);
    let start = &calls[1].1;
    assert_eq!(start[0], Value::Str("berth-c1.scope".into()));
    assert_eq!(start[1], Value::Str("replace".into()));
    let Value::Array(_, props) = &start[2] else { panic!() };
    assert!(props.contains(&Value::Struct(vec![Value::Str("MemoryMax".into()), Value::Variant(Box::new(Value::U64(1048576)))])));
    assert!(props.contains(&Value::Struct(vec![Value::Str("Delegate".into()), Value::Variant(Box::new(Value::Bool(true)))])));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_failed_job_is_an_error() {
    let path = socket_path("fail");
    let _ = std::fs::remove_file(&path);
    fake_systemd(&path, Arc::new(Mutex::new(Vec::new())), "failed");
    let conn = dbus::Connection::connect(&path, false, Duration::from_secs(5)).unwrap();
    let mut sd = Systemd::with(conn, None).unwrap();
    let e = sd.start_unit("berth-c2.scope", vec![]).unwrap_err();
    assert!(e.to_string().contains("\"failed\""), "{e}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn no_systemd_here_is_a_clear_error() {
    if Path::new("/run/systemd/system").exists() {
        return;
    }
    let e = Systemd::connect().err().unwrap().to_string();
    assert!(e.contains("systemd is not running"), "{e}");
}
