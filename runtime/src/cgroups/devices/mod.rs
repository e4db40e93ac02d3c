//! Device access rules (`linux.resources.devices`): validated [`Rule`]s, runc's default
//! allow-list appended, then either v1 `devices.allow`/`devices.deny` writes (after a deny-all,
//! in spec order) or, on v2, an eBPF program (`bpf.rs`) built from the same rules as the v1
//! kernel would hold them (`emulator.rs`).

pub mod bpf;
pub mod emulator;

use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use self::emulator::Emulator;
use super::resources::{CgroupWrite, Intent};
use super::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    All,
    Block,
    Char,
}

/// Access bits, as the BPF device context encodes them (mknod 1, read 2, write 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Access(pub u8);

impl Access {
    pub const MKNOD: u8 = 1;
    pub const READ: u8 = 2;
    pub const WRITE: u8 = 4;
    pub const ALL: Access = Access(7);

    pub fn parse(s: &str) -> Option<Access> {
        let mut a = 0;
        for c in s.chars() {
            a |= match c {
                'r' => Self::READ,
                'w' => Self::WRITE,
                'm' => Self::MKNOD,
                _ => return None,
            };
        }
        Some(Access(a))
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [(Self::READ, 'r'), (Self::WRITE, 'w'), (Self::MKNOD, 'm')] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One allow or deny rule; `None` numbers are wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: Access,
}

impl fmt::Display for Rule {
    /// The v1 `devices.allow`/`devices.deny` syntax: `c 1:3 rwm`, `a *:* rwm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            Kind::All => 'a',
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        let n = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "*".into());
        write!(f, "{k} {}:{} {}", n(self.major), n(self.minor), self.access)
    }
}

impl Rule {
    const fn allow_char(major: u32, minor: Option<u32>, access: u8) -> Rule {
        Rule { allow: true, kind: Kind::Char, major: Some(major), minor, access: Access(access) }
    }

    pub fn from_spec(i: usize, d: &LinuxDeviceCgroup) -> Result<Rule, Error> {
        let what = || format!("devices[{i}]");
        let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => Kind::All,
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
            LinuxDeviceType::P => {
                return Err(Error::InvalidResource { what: what(), reason: "type \"p\" (fifo) cannot be controlled by the devices cgroup".into() })
            }
        };
        let num = |v: Option<i64>, name: &str| -> Result<Option<u32>, Error> {
            match v {
                None => Ok(None),
                Some(v) if v < 0 => Ok(None), // -1: wildcard, as runc
                Some(v) => u32::try_from(v)
                    .map(Some)
                    .map_err(|_| Error::InvalidResource { what: what(), reason: format!("{name} {v} is out of range") }),
            }
        };
        let access = match d.access().as_deref() {
            None | Some("") => Access::ALL,
            Some(a) => Access::parse(a).ok_or_else(|| Error::InvalidResource {
                what: what(),
                reason: format!("access {a:?} may only contain r, w and m"),
            })?,
        };
        Ok(Rule { allow: d.allow(), kind, major: num(d.major(), "major")?, minor: num(d.minor(), "minor")?, access })
    }
}

/// runc's default allow-list, appended after the spec's rules so a container always has its
/// standard devices (and may mknod any device node, which it then still cannot open).
pub const DEFAULT_ALLOWED: [Rule; 11] = [
    Rule { allow: true, kind: Kind::Char, major: None, minor: None, access: Access(Access::MKNOD) },
    Rule { allow: true, kind: Kind::Block, major: None, minor: None, access: Access(Access::MKNOD) },
    Rule::allow_char(1, Some(3), 7),   // /dev/null
    Rule::allow_char(1, Some(8), 7),   // /dev/random
    Rule::allow_char(1, Some(7), 7),   // /dev/full
    Rule::allow_char(5, Some(0), 7),   // /dev/tty
    Rule::allow_char(1, Some(5), 7),   // /dev/zero
    Rule::allow_char(1, Some(9), 7),   // /dev/urandom
    Rule::allow_char(136, None, 7),    // /dev/pts/*
    Rule::allow_char(5, Some(2), 7),   // /dev/ptmx
    Rule::allow_char(10, Some(200), 7), // /dev/net/tun
];

/// The rules to enforce, to be applied after a deny-all: on create always (an absent list
/// means just the defaults), on update only when the request has a list.
pub fn effective_rules(spec: Option<&[LinuxDeviceCgroup]>, intent: Intent) -> Result<Option<Vec<Rule>>, Error> {
    if spec.is_none() && intent == Intent::Update {
        return Ok(None);
    }
    let spec = spec.unwrap_or_default();
    let mut rules = Vec::with_capacity(spec.len() + DEFAULT_ALLOWED.len());
    for (i, d) in spec.iter().enumerate() {
        rules.push(Rule::from_spec(i, d)?);
    }
    rules.extend_from_slice(&DEFAULT_ALLOWED);
    Ok(Some(rules))
}

/// v1: deny everything, then each rule in order. On an update of an allow-list (`current`:
/// the cgroup's `devices.list`), only the difference is written instead, so the running
/// container never passes through deny-all.
pub fn v1_writes(rules: &[Rule], current: Option<&str>, out: &mut Vec<CgroupWrite>) -> Result<(), Error> {
    if let Some(cur) = current.and_then(parse_list) {
        let target = Emulator::from_rules(rules)?;
        if !cur.default_allow && !target.default_allow {
            for r in cur.rules() {
                let keep = target.exceptions.get(&(r.kind, r.major, r.minor)).map_or(0, |a| a.0);
                let remove = r.access.0 & !keep;
                if remove != 0 {
                    out.push(CgroupWrite::new("devices", "devices.deny", Rule { access: Access(remove), ..r }.to_string()));
                }
            }
            for r in target.rules() {
                let have = cur.exceptions.get(&(r.kind, r.major, r.minor)).map_or(0, |a| a.0);
                if r.access.0 & !have != 0 {
                    out.push(CgroupWrite::new("devices", "devices.allow", r.to_string()));
                }
            }
            return Ok(());
        }
    }
    out.push(CgroupWrite::new("devices", "devices.deny", "a"));
    for r in rules {
        let file = if r.allow { "devices.allow" } else { "devices.deny" };
        out.push(CgroupWrite::new("devices", file, r.to_string()));
    }
    Ok(())
}

/// A v1 `devices.list`: `a *:* rwm` alone means allow-all; otherwise an allow-list.
fn parse_list(text: &str) -> Option<Emulator> {
    let mut e = Emulator::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        let (Some(t), Some(nums), Some(acc)) = (f.next(), f.next(), f.next()) else { return None };
        let kind = match t {
            "a" => {
                e.default_allow = true;
                continue;
            }
            "b" => Kind::Block,
            "c" => Kind::Char,
            _ => return None,
        };
        let (maj, min) = nums.split_once(':')?;
        let n = |s: &str| if s == "*" { Some(None) } else { s.parse::<u32>().ok().map(Some) };
        e.exceptions.insert((kind, n(maj)?, n(min)?), Access::parse(acc)?);
    }
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn spec_rules_parse_and_print_as_v1() {
        let s = spec(r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rw"},{"allow":true,"type":"b","major":8,"access":"r"}]"#);
        let rules: Vec<String> = s.iter().enumerate().map(|(i, d)| Rule::from_spec(i, d).unwrap().to_string()).collect();
        assert_eq!(rules, ["a *:* rwm", "c 10:229 rw", "b 8:* r"]);
    }

    #[test]
    fn bad_rules_are_errors() {
        assert!(Rule::from_spec(0, &spec(r#"[{"allow":true,"type":"c","access":"rx"}]"#)[0]).is_err());
        assert!(Rule::from_spec(0, &spec(r#"[{"allow":true,"type":"p","access":"r"}]"#)[0]).is_err());
        assert!(Rule::from_spec(0, &spec(r#"[{"allow":true,"type":"c","major":4294967296}]"#)[0]).is_err());
    }

    #[test]
    fn v1_is_deny_all_then_spec_order_then_defaults() {
        let s = spec(r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#);
        let rules = effective_rules(Some(&s), Intent::Create).unwrap().unwrap();
        let mut w = Vec::new();
        v1_writes(&rules, None, &mut w).unwrap();
        let lines: Vec<String> = w.iter().map(|w| format!("{} {}", w.file, w.value)).collect();
        assert_eq!(lines[0], "devices.deny a");
        assert_eq!(lines[1], "devices.deny a *:* rwm");
        assert_eq!(lines[2], "devices.allow c 10:229 rwm");
        assert_eq!(lines[3], "devices.deny c 1:3 w");
        assert_eq!(lines[4], "devices.allow c *:* m");
        assert_eq!(lines.last().unwrap(), "devices.allow c 10:200 rwm");
        assert_eq!(lines.len(), 1 + 3 + DEFAULT_ALLOWED.len());
    }

    #[test]
    fn update_of_an_allow_list_writes_only_the_difference() {
        let current = "c 1:3 rwm\nc 10:229 rwm\nc 136:* rwm\n";
        let rules = [
            Rule::allow_char(1, Some(3), 7),
            Rule::allow_char(136, None, Access::READ | Access::WRITE),
            Rule::allow_char(10, Some(200), 7),
        ];
        let mut w = Vec::new();
        v1_writes(&rules, Some(current), &mut w).unwrap();
        let lines: Vec<String> = w.iter().map(|w| format!("{} {}", w.file, w.value)).collect();
        assert_eq!(lines, ["devices.deny c 10:229 rwm", "devices.deny c 136:* m", "devices.allow c 10:200 rwm"]);
        // from allow-all, or to it: a full reset
        let mut w = Vec::new();
        v1_writes(&rules, Some("a *:* rwm\n"), &mut w).unwrap();
        assert_eq!(w[0].value, "a");
    }

    #[test]
    fn update_without_devices_leaves_them() {
        assert_eq!(effective_rules(None, Intent::Update).unwrap(), None);
        assert_eq!(effective_rules(None, Intent::Create).unwrap().unwrap().len(), DEFAULT_ALLOWED.len());
    }
}
