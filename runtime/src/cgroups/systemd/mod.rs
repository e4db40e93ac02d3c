//! `--systemd-cgroup`: the container's cgroup is a transient systemd unit (a scope, or a
//! slice), started over systemd's D-Bus API with `Delegate=yes`, as runc's systemd driver
//! does. systemd gets the resource limits as unit properties (so it does not reset them),
//! and the cgroup files are then written directly as well (the exact values, device rules).
//!
//! The unit-property mapping is pure and unit-tested; the D-Bus client is `dbus.rs`.

pub mod dbus;

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use self::dbus::{Connection, Value};
use super::devices::{self, emulator::Emulator, Kind};
use super::resources::Intent;
use super::{v1, v2, Error, Mode};

/// A unit property: name and value.
pub type Property = (String, Value);

fn prop(name: &str, v: Value) -> Property {
    (name.to_string(), v)
}

const INFINITY: u64 = u64::MAX;
const DEFAULT_CPU_PERIOD_US: u64 = 100_000;

/// Why `--systemd-cgroup` cannot work here, if it cannot.
pub fn unavailable_reason() -> Option<String> {
    if !Path::new("/run/systemd/system").exists() {
        return Some(
            "--systemd-cgroup needs systemd as the host's init, and systemd is not running here (no /run/systemd/system); run without --systemd-cgroup".into(),
        );
    }
    None
}

/// The properties a new unit starts with.
pub fn unit_properties(id: &str, slice: &str, unit: &str, pid: Option<u32>, mode: Mode) -> Vec<Property> {
    let mut p = vec![prop("Description", Value::Str(format!("berth container {id}")))];
    if unit.ends_with(".slice") {
        p.push(prop("Wants", Value::Array("s".into(), vec![Value::Str(slice.into())])));
    } else {
        p.push(prop("Slice", Value::Str(slice.into())));
        p.push(prop("Delegate", Value::Bool(true)));
    }
    if let Some(pid) = pid {
        p.push(prop("PIDs", Value::Array("u".into(), vec![Value::U32(pid)])));
    }
    p.push(prop("DefaultDependencies", Value::Bool(false)));
    p.push(prop("MemoryAccounting", Value::Bool(true)));
    p.push(prop("CPUAccounting", Value::Bool(true)));
    p.push(prop(if mode == Mode::V2 { "IOAccounting" } else { "BlockIOAccounting" }, Value::Bool(true)));
    p.push(prop("TasksAccounting", Value::Bool(true)));
    p
}

/// `linux.resources` as unit properties (v2 names on a v2 host, the legacy ones on v1).
pub fn resource_properties(res: &LinuxResources, mode: Mode, intent: Intent) -> Result<Vec<Property>, Error> {
    let unified = mode == Mode::V2;
    let mut p = Vec::new();
    let bytes = |v: i64| if v < 0 { INFINITY } else { v as u64 };
    if let Some(m) = res.memory() {
        let limit = v1::check_bytes("memory.limit", m.limit())?;
        if let Some(l) = limit {
            p.push(prop(if unified { "MemoryMax" } else { "MemoryLimit" }, Value::U64(bytes(l))));
        }
        if unified {
            if let Some(r) = v1::check_bytes("memory.reservation", m.reservation())? {
                p.push(prop("MemoryLow", Value::U64(bytes(r))));
            }
            match (limit, v1::check_bytes("memory.swap", m.swap())?) {
                (_, Some(-1)) | (Some(-1), None) => p.push(prop("MemorySwapMax", Value::U64(INFINITY))),
                (Some(l), Some(s)) if s >= l => p.push(prop("MemorySwapMax", Value::U64((s - l) as u64))),
                (_, Some(_)) => {
                    return Err(Error::InvalidResource { what: "memory.swap".into(), reason: "must be at least the memory limit".into() })
                }
                _ => {}
            }
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares().filter(|&s| s != 0) {
            if unified {
                p.push(prop("CPUWeight", Value::U64(v2::shares_to_weight(s))));
            } else {
                p.push(prop("CPUShares", Value::U64(s)));
            }
        }
        let quota = c.quota().filter(|&q| q != 0);
        let period = c.period().filter(|&v| v != 0);
        if let Some(per) = period {
            p.push(prop("CPUQuotaPeriodUSec", Value::U64(per)));
        }
        if quota.is_some() || period.is_some() {
            p.push(prop("CPUQuotaPerSecUSec", Value::U64(quota_per_sec(quota, period))));
        }
        if unified {
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                p.push(prop("AllowedCPUs", bytes_value(range_to_bits(cpus)?)));
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                p.push(prop("AllowedMemoryNodes", bytes_value(range_to_bits(mems)?)));
            }
        }
    }
    if let Some(l) = res.pids().as_ref().map(|p| p.limit()).filter(|&l| l != 0) {
        p.push(prop("TasksMax", Value::U64(if l < 0 { INFINITY } else { l as u64 })));
    }
    if let Some(w) = res.block_io().as_ref().and_then(|b| b.weight()).filter(|&w| w != 0) {
        if unified {
            p.push(prop("IOWeight", Value::U64(v2::blkio_to_io_weight(w))));
        } else {
            p.push(prop("BlockIOWeight", Value::U64(u64::from(w))));
        }
    }
    if let Some(rules) = devices::effective_rules(res.devices().as_deref(), intent)? {
        p.extend(device_properties(&rules)?);
    }
    Ok(p)
}

/// systemd's CPU quota is per second and rounds to whole percent: round up to 10ms so the
/// kernel quota is never below what was asked (runc's rule).
pub fn quota_per_sec(quota: Option<i64>, period: Option<u64>) -> u64 {
    match quota {
        Some(q) if q > 0 => {
            let period = period.unwrap_or(DEFAULT_CPU_PERIOD_US);
            let v = (q as u64).saturating_mul(1_000_000) / period;
            v.div_ceil(10_000) * 10_000
        }
        _ => INFINITY,
    }
}

/// `0-3,8` -> a little-endian CPU bitmask (`ay`), as systemd's AllowedCPUs takes it.
pub fn range_to_bits(list: &str) -> Result<Vec<u8>, Error> {
    let mut bits: Vec<u8> = Vec::new();
    let bad = || Error::InvalidResource { what: "cpu.cpus/mems".into(), reason: format!("{list:?} is not a list like \"0-3,8\"") };
    for part in list.trim().split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>().map_err(|_| bad())?, b.trim().parse::<usize>().map_err(|_| bad())?),
            None => {
                let v = part.trim().parse::<usize>().map_err(|_| bad())?;
                (v, v)
            }
        };
        if a > b || b >= 8192 {
            return Err(bad());
        }
        for i in a..=b {
            if bits.len() <= i / 8 {
                bits.resize(i / 8 + 1, 0);
            }
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(bits)
}

fn bytes_value(b: Vec<u8>) -> Value {
    Value::Array("y".into(), b.into_iter().map(Value::Byte).collect())
}

/// Device rules as `DevicePolicy` and `DeviceAllow`. systemd cannot say everything the rules
/// can (no `*:n` rules, deny exceptions to allow-all): those are left to the direct cgroup
/// writes that follow, which are exact.
pub fn device_properties(rules: &[devices::Rule]) -> Result<Vec<Property>, Error> {
    let emu = Emulator::from_rules(rules)?;
    if emu.default_allow {
        return Ok(vec![prop("DevicePolicy", Value::Str("auto".into())), prop("DeviceAllow", Value::Array("(ss)".into(), vec![]))]);
    }
    let mut allow = Vec::new();
    for r in emu.rules() {
        let (class, prefix) = match r.kind {
            Kind::Char => ("char", "/dev/char"),
            Kind::Block => ("block", "/dev/block"),
            Kind::All => continue,
        };
        let path = match (r.major, r.minor) {
            (None, None) => format!("{class}-*"),
            (Some(maj), None) => match device_group(class, maj) {
                Some(g) => format!("{class}-{g}"),
                None => continue,
            },
            (None, Some(_)) => continue,
            (Some(maj), Some(min)) => format!("{prefix}/{maj}:{min}"),
        };
        allow.push(Value::Struct(vec![Value::Str(path), Value::Str(r.access.to_string())]));
    }
    Ok(vec![prop("DevicePolicy", Value::Str("strict".into())), prop("DeviceAllow", Value::Array("(ss)".into(), allow))])
}

/// The driver name of a major number (`/proc/devices`), which systemd uses for `n:*` rules.
fn device_group(class: &str, major: u32) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    let section = if class == "char" { "Character devices:" } else { "Block devices:" };
    let mut inside = false;
    for line in text.lines() {
        if line.ends_with("devices:") {
            inside = line == section;
            continue;
        }
        let mut f = line.split_whitespace();
        if inside && f.next()?.parse::<u32>().ok()? == major {
            return f.next().map(str::to_string);
        }
    }
    None
}

fn props_value(props: Vec<Property>) -> Value {
    Value::Array(
        "(sv)".into(),
        props.into_iter().map(|(k, v)| Value::Struct(vec![Value::Str(k), Value::Variant(Box::new(v))])).collect(),
    )
}

const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to systemd: its private socket when we are root, the system bus otherwise.
pub struct Systemd {
    conn: Connection,
    dest: Option<&'static str>,
}

fn sd_err(what: &str, e: io::Error) -> Error {
    Error::Systemd(format!("{what}: {e}"))
}

impl Systemd {
    pub fn connect() -> Result<Systemd, Error> {
        if let Some(r) = unavailable_reason() {
            return Err(Error::Systemd(r));
        }
        let private = Path::new("/run/systemd/private");
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } == 0 && private.exists() {
            if let Ok(conn) = Connection::connect(private, false, TIMEOUT) {
                return Systemd::with(conn, None);
            }
        }
        let bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
            .ok()
            .and_then(|a| a.strip_prefix("unix:path=").map(|p| p.split(',').next().unwrap_or(p).to_string()))
            .unwrap_or_else(|| "/run/dbus/system_bus_socket".into());
        let conn = Connection::connect(Path::new(&bus), true, TIMEOUT).map_err(|e| sd_err(&format!("connect to {bus}"), e))?;
        Systemd::with(conn, Some("org.freedesktop.systemd1"))
    }

    /// Over an established connection (`dest`: None for systemd's private socket).
    pub fn with(mut conn: Connection, dest: Option<&'static str>) -> Result<Systemd, Error> {
        if dest.is_some() {
            let rule = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";
            conn.call(Some("org.freedesktop.DBus"), "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", &[Value::Str(rule.into())])
                .map_err(|e| sd_err("AddMatch", e))?;
        }
        let mut s = Systemd { conn, dest };
        s.call("Subscribe", &[]).map_err(|e| sd_err("Subscribe", e))?;
        Ok(s)
    }

    fn call(&mut self, member: &str, args: &[Value]) -> io::Result<Vec<Value>> {
        self.conn.call(self.dest, MANAGER_PATH, MANAGER, member, args)
    }

    /// Start a transient unit and wait for its start job. An existing unit is joined.
    pub fn start_unit(&mut self, unit: &str, props: Vec<Property>) -> Result<(), Error> {
        let args = [Value::Str(unit.into()), Value::Str("replace".into()), props_value(props), Value::Array("(sa(sv))".into(), vec![])];
        match self.call("StartTransientUnit", &args) {
            Ok(body) => {
                let job = body.first().and_then(Value::as_str).unwrap_or_default().to_string();
                self.wait_job(unit, &job)
            }
            Err(e) if e.to_string().contains("org.freedesktop.systemd1.UnitExists") => Ok(()),
            Err(e) => Err(sd_err(&format!("start {unit}"), e)),
        }
    }

    /// Change a running unit's properties (`update`).
    pub fn set_properties(&mut self, unit: &str, props: Vec<Property>) -> Result<(), Error> {
        if props.is_empty() {
            return Ok(());
        }
        self.call("SetUnitProperties", &[Value::Str(unit.into()), Value::Bool(true), props_value(props)])
            .map(|_| ())
            .map_err(|e| sd_err(&format!("set properties of {unit}"), e))
    }

    /// Stop the unit (systemd removes its cgroup); a unit already gone is fine.
    pub fn stop_unit(&mut self, unit: &str) -> Result<(), Error> {
        match self.call("StopUnit", &[Value::Str(unit.into()), Value::Str("replace".into())]) {
            Ok(body) => {
                let job = body.first().and_then(Value::as_str).unwrap_or_default().to_string();
                self.wait_job(unit, &job)
            }
            Err(e) if e.to_string().contains("NoSuchUnit") || e.to_string().contains("not loaded") => Ok(()),
            Err(e) => Err(sd_err(&format!("stop {unit}"), e)),
        }
    }

    /// Wait for `JobRemoved` of `job`: its result must be "done".
    fn wait_job(&mut self, unit: &str, job: &str) -> Result<(), Error> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let m = self.conn.next_message(Some(deadline)).map_err(|e| sd_err(&format!("waiting for the job of {unit}"), e))?;
            if m.kind != dbus::SIGNAL || m.member.as_deref() != Some("JobRemoved") {
                continue;
            }
            // JobRemoved(u id, o job, s unit, s result)
            if m.body.get(1).and_then(Value::as_str) != Some(job) {
                continue;
            }
            let result = m.body.get(3).and_then(Value::as_str).unwrap_or("");
            return if result == "done" {
                Ok(())
            } else {
                Err(Error::Systemd(format!("job for {unit} finished with result {result:?}")))
            };
        }
    }
}

#[cfg(test)]
mod tests;
