//! `berth update`: runc's flags -> the `LinuxResources` to apply (pure). The CLI parses the
//! command line into [`UpdateFlags`]; `--resources` JSON is read by the caller and given here
//! as text.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::Error;

/// runc's `update` flags, as given (values unparsed, so errors can name the flag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateFlags {
    /// `--resources/-r`: the JSON text (the caller reads FILE or stdin for `-`).
    pub resources_json: Option<String>,
    pub blkio_weight: Option<String>,
    pub cpu_period: Option<String>,
    pub cpu_quota: Option<String>,
    /// `--cpu-share` (runc's spelling; `--cpu-shares` accepted too).
    pub cpu_shares: Option<String>,
    pub cpu_rt_period: Option<String>,
    pub cpu_rt_runtime: Option<String>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    pub memory_swap: Option<String>,
    pub kernel_memory: Option<String>,
    pub kernel_memory_tcp: Option<String>,
    pub pids_limit: Option<String>,
    pub l3_cache_schema: Option<String>,
    pub mem_bw_schema: Option<String>,
}

fn bad(flag: &str, v: &str, why: &str) -> Error {
    Error::InvalidResource { what: format!("--{flag}"), reason: format!("{v:?} {why}") }
}

fn uint(flag: &str, v: &str) -> Result<u64, Error> {
    v.trim().parse().map_err(|_| bad(flag, v, "is not a non-negative integer"))
}

fn int(flag: &str, v: &str) -> Result<i64, Error> {
    v.trim().parse().map_err(|_| bad(flag, v, "is not an integer"))
}

/// A byte count as docker/runc accept it: `1048576`, `512k`, `64m`, `1.5g`, `2GiB`
/// (1024-based), or `-1` for unlimited.
pub fn parse_bytes(flag: &str, v: &str) -> Result<i64, Error> {
    let s = v.trim();
    if s == "-1" {
        return Ok(-1);
    }
    let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(num_end);
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad(flag, v, "is not a size (like 1048576, 512k, 64m, 1g, or -1)")),
    };
    let n: f64 = num.parse().map_err(|_| bad(flag, v, "is not a size (like 1048576, 512k, 64m, 1g, or -1)"))?;
    let bytes = n * mult;
    if !(0.0..9.2e18).contains(&bytes) {
        return Err(bad(flag, v, "is out of range"));
    }
    Ok(bytes as i64)
}

/// The resources an `update` asks for. With `--resources`, the JSON alone (runc ignores the
/// other flags then); otherwise each given flag.
pub fn resources_from_flags(f: &UpdateFlags) -> Result<LinuxResources, Error> {
    for (flag, v) in [("l3-cache-schema", &f.l3_cache_schema), ("mem-bw-schema", &f.mem_bw_schema)] {
        if v.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(Error::Unsupported(format!("--{flag}: Intel RDT (resctrl) is not supported by berth")));
        }
    }
    let mut r = match &f.resources_json {
        Some(json) => {
            return serde_json::from_str::<LinuxResources>(json).map_err(|e| Error::InvalidResource {
                what: "--resources".into(),
                reason: format!("not a linux.resources JSON object: {e}"),
            })
        }
        None => LinuxResources::default(),
    };

    if let Some(v) = &f.blkio_weight {
        let w = uint("blkio-weight", v)?;
        if w != 0 {
            let w = u16::try_from(w).ok().filter(|w| (10..=1000).contains(w)).ok_or_else(|| bad("blkio-weight", v, "is not within 10-1000"))?;
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(w));
            r.set_block_io(Some(b));
        }
    }

    let mut cpu = LinuxCpu::default();
    let mut cpu_set = false;
    if let Some(v) = f.cpuset_cpus.as_deref().filter(|s| !s.is_empty()) {
        cpu.set_cpus(Some(v.to_string()));
        cpu_set = true;
    }
    if let Some(v) = f.cpuset_mems.as_deref().filter(|s| !s.is_empty()) {
        cpu.set_mems(Some(v.to_string()));
        cpu_set = true;
    }
    if let Some(v) = &f.cpu_period {
        cpu.set_period(Some(uint("cpu-period", v)?));
        cpu_set = true;
    }
    if let Some(v) = &f.cpu_rt_period {
        cpu.set_realtime_period(Some(uint("cpu-rt-period", v)?));
        cpu_set = true;
    }
    if let Some(v) = &f.cpu_shares {
        cpu.set_shares(Some(uint("cpu-share", v)?));
        cpu_set = true;
    }
    if let Some(v) = &f.cpu_quota {
        cpu.set_quota(Some(int("cpu-quota", v)?));
        cpu_set = true;
    }
    if let Some(v) = &f.cpu_rt_runtime {
        cpu.set_realtime_runtime(Some(int("cpu-rt-runtime", v)?));
        cpu_set = true;
    }
    if cpu_set {
        r.set_cpu(Some(cpu));
    }

    let mut mem = LinuxMemory::default();
    let mut mem_set = false;
    for (flag, v) in [
        ("memory", &f.memory),
        ("memory-swap", &f.memory_swap),
        ("kernel-memory", &f.kernel_memory),
        ("kernel-memory-tcp", &f.kernel_memory_tcp),
        ("memory-reservation", &f.memory_reservation),
    ] {
        let Some(v) = v.as_deref().filter(|s| !s.is_empty()) else { continue };
        let b = Some(parse_bytes(flag, v)?);
        mem_set = true;
        #[allow(deprecated)] // kernel memory: accepted, then ignored with a warning when applied
        match flag {
            "memory" => mem.set_limit(b),
            "memory-swap" => mem.set_swap(b),
            "kernel-memory" => mem.set_kernel(b),
            "kernel-memory-tcp" => mem.set_kernel_tcp(b),
            _ => mem.set_reservation(b),
        };
    }
    if mem_set {
        // Unlimited memory with no swap value: swap is left as it is (runc's fix-up).
        r.set_memory(Some(mem));
    }

    if let Some(v) = &f.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(int("pids-limit", v)?);
        r.set_pids(Some(p));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(parse_bytes("memory", "1048576").unwrap(), 1048576);
        assert_eq!(parse_bytes("memory", "512k").unwrap(), 524288);
        assert_eq!(parse_bytes("memory", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("memory", "64MB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("memory", "2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("memory", "1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("memory", "-1").unwrap(), -1);
        for bad in ["", "x", "12q", "-5", "1..2m"] {
            assert!(parse_bytes("memory", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_map_to_resources() {
        let f = UpdateFlags {
            memory: Some("32m".into()),
            memory_swap: Some("64m".into()),
            memory_reservation: Some("16m".into()),
            cpu_quota: Some("50000".into()),
            cpu_period: Some("100000".into()),
            cpu_shares: Some("512".into()),
            cpuset_cpus: Some("0-1".into()),
            pids_limit: Some("100".into()),
            blkio_weight: Some("300".into()),
            ..Default::default()
        };
        let r = resources_from_flags(&f).unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "memory": {"limit": 33554432, "swap": 67108864, "reservation": 16777216},
                "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0-1"},
                "pids": {"limit": 100},
                "blockIO": {"weight": 300}
            })
        );
    }

    #[test]
    fn resources_json_wins_and_is_checked() {
        let f = UpdateFlags { resources_json: Some(r#"{"pids": {"limit": 5}}"#.into()), memory: Some("1m".into()), ..Default::default() };
        let r = resources_from_flags(&f).unwrap();
        assert_eq!(r.pids().as_ref().unwrap().limit(), 5);
        assert!(r.memory().is_none());
        let f = UpdateFlags { resources_json: Some("{not json".into()), ..Default::default() };
        assert!(resources_from_flags(&f).unwrap_err().to_string().contains("--resources"));
    }

    #[test]
    fn bad_flags_name_themselves() {
        for (f, name) in [
            (UpdateFlags { cpu_quota: Some("x".into()), ..Default::default() }, "--cpu-quota"),
            (UpdateFlags { blkio_weight: Some("5".into()), ..Default::default() }, "--blkio-weight"),
            (UpdateFlags { pids_limit: Some("1.5".into()), ..Default::default() }, "--pids-limit"),
            (UpdateFlags { l3_cache_schema: Some("L3:0=f".into()), ..Default::default() }, "--l3-cache-schema"),
        ] {
            let e = resources_from_flags(&f).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
