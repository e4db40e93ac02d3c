//! Compiler tests without loading anything: every program is checked the way the kernel
//! checks it and run through the interpreter against the reference semantics
//! (`Profile::decide`), on fixed profiles and on random ones.

use super::bpf::{self, SeccompData};
use super::profile::{self, Profile, ScmpArch, RET_ALLOW, RET_ERRNO, RET_KILL_THREAD, X32_SYSCALL_BIT};
use super::*;
use crate::test_rng::Rng;

const DOCKER: &str = include_str!("../../tests/fixtures/seccomp/docker-default.json");
const X86_64: u32 = 0xc000_003e;
const I386: u32 = 0x4000_0003;

fn spec(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("valid seccomp json")
}

fn data(arch: u32, nr: u32, args: [u64; 6]) -> SeccompData {
    SeccompData { nr, arch, instruction_pointer: 0, args }
}

fn nr(arch: ScmpArch, name: &str) -> u32 {
    arch.resolve(name).unwrap_or_else(|| panic!("{name} on {arch:?}"))
}

/// Filter and reference agree on `d`; returns the action.
fn check(f: &SeccompFilter, p: &Profile, d: &SeccompData) -> u32 {
    let want = p.decide(d.nr, d.arch, &d.args);
    let got = f.evaluate(d);
    assert_eq!(got, want, "nr {:#x} arch {:#x} args {:x?}", d.nr, d.arch, d.args);
    got
}

/// Edge values for the argument comparisons, on top of the shared PRNG.
trait EdgeValues {
    fn value(&mut self) -> u64;
}
impl EdgeValues for Rng {
    /// Values that sit on the interesting edges of 32/64-bit comparisons.
    fn value(&mut self) -> u64 {
        const EDGES: [u64; 12] = [0, 1, 2, 7, 8, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001, u64::MAX, u64::MAX - 1, 0x8000_0000, 0x7fff_ffff_0000_0000];
        match self.below(4) {
            0 => *self.pick(&EDGES),
            1 => self.below(16) as u64,
            2 => self.next(),
            _ => self.next() & 0xffff_ffff,
        }
    }
}

#[test]
fn docker_default_profile() {
    let s = spec(DOCKER);
    let f = SeccompFilter::compile(&s).unwrap();
    let p = profile::normalise(&s).unwrap();
    bpf::validate(f.program()).unwrap();
    assert!(f.program().len() < 1000, "{} instructions", f.program().len());
    assert!(!f.uses_notify());
    assert_eq!(f.flags(), 0);

    let x = ScmpArch::X86_64;
    let eperm = RET_ERRNO | 1;
    let call = |name: &str, args: [u64; 6]| check(&f, &p, &data(X86_64, nr(x, name), args));
    assert_eq!(call("read", [0; 6]), RET_ALLOW);
    assert_eq!(call("mkdir", [0; 6]), RET_ALLOW);
    assert_eq!(call("mount", [0; 6]), eperm);
    assert_eq!(call("unshare", [0; 6]), eperm);
    assert_eq!(call("keyctl", [0; 6]), eperm);
    assert_eq!(call("clone3", [0; 6]), RET_ERRNO | 38);
    assert_eq!(call("personality", [8, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(call("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(call("personality", [0x1_0000_0008, 0, 0, 0, 0, 0]), eperm, "high word must be compared");
    assert_eq!(call("personality", [1, 0, 0, 0, 0, 0]), eperm);
    assert_eq!(call("socket", [2, 1, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(call("socket", [40, 1, 0, 0, 0, 0]), eperm);
    assert_eq!(call("clone", [0x0001_1200, 0, 0, 0, 0, 0]), RET_ALLOW); // fork()'s flags
    assert_eq!(call("clone", [0x2000_0000, 0, 0, 0, 0, 0]), eperm); // CLONE_NEWUTS... (NEWNET)
    // Newer than the profile: ENOSYS (runc's stub), not EPERM; unknown arch: killed.
    assert_eq!(check(&f, &p, &data(X86_64, 470, [0; 6])), RET_ERRNO | 38);
    assert_eq!(check(&f, &p, &data(0xc000_00b7, 0, [0; 6])), RET_KILL_THREAD);
    // x32 (number with the x32 bit) and i386.
    assert_eq!(check(&f, &p, &data(X86_64, nr(ScmpArch::X32, "mkdir"), [0; 6])), RET_ALLOW);
    assert_eq!(check(&f, &p, &data(X86_64, nr(ScmpArch::X32, "mount"), [0; 6])), eperm);
    assert_eq!(check(&f, &p, &data(I386, nr(ScmpArch::X86, "socketcall"), [0; 6])), RET_ALLOW);
    assert_eq!(check(&f, &p, &data(I386, nr(ScmpArch::X86, "mount"), [0; 6])), eperm);
    // On i386 only the low word counts.
    assert_eq!(check(&f, &p, &data(I386, nr(ScmpArch::X86, "personality"), [0x1_0000_0008, 0, 0, 0, 0, 0])), RET_ALLOW);

    // Every number of every ABI, with a few argument patterns: filter == reference, fast.
    let mut rng = Rng(0x5eed);
    let (mut worst, mut worst_plain) = (0, 0);
    let has_arg_rules = |n: u32| p.archs.iter().any(|a| a.syscalls.get(&n).is_some_and(|r| r.unconditional.is_none()));
    for (arch, base) in [(X86_64, 0), (X86_64, X32_SYSCALL_BIT), (I386, 0)] {
        for n in 0..1100u32 {
            for _ in 0..3 {
                let args = [rng.value(), rng.value(), rng.value(), rng.value(), rng.value(), rng.value()];
                let d = data(arch, base + n, args);
                check(&f, &p, &d);
                let steps = bpf::run(f.program(), &d).1;
                worst = worst.max(steps);
                if !has_arg_rules(base + n) {
                    worst_plain = worst_plain.max(steps);
                }
            }
        }
    }
    // A syscall without argument rules is decided by the arch check and ~8 comparisons.
    assert!(worst_plain <= 14, "a plain syscall took {worst_plain} instructions to decide");
    assert!(worst <= 40, "a syscall took {worst} instructions to decide");
}

#[test]
fn errno_ret_and_default_errno() {
    let f = SeccompFilter::compile(&spec(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":95,
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
                        {"names":["rmdir"],"action":"SCMP_ACT_ERRNO"},
                        {"names":["ptrace"],"action":"SCMP_ACT_TRACE","errnoRet":7},
                        {"names":["getpid"],"action":"SCMP_ACT_TRACE"},
                        {"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}"#,
    ))
    .unwrap();
    let x = ScmpArch::X86_64;
    let at = |name| f.evaluate(&data(X86_64, nr(x, name), [0; 6]));
    assert_eq!(at("mkdir"), RET_ERRNO | 13);
    assert_eq!(at("rmdir"), RET_ERRNO | 1);
    assert_eq!(at("ptrace"), profile::RET_TRACE | 7);
    assert_eq!(at("getpid"), profile::RET_TRACE | 1);
    assert_eq!(at("write"), RET_ALLOW);
    assert_eq!(at("open"), RET_ERRNO | 95);
    // Above the profile's last syscall (ptrace): runc's -ENOSYS stub.
    assert_eq!(at("mount"), RET_ERRNO | 38);
}

#[test]
fn every_action_value() {
    for (name, value) in [
        ("SCMP_ACT_KILL", 0),
        ("SCMP_ACT_KILL_THREAD", 0),
        ("SCMP_ACT_KILL_PROCESS", 0x8000_0000),
        ("SCMP_ACT_TRAP", 0x0003_0000),
        ("SCMP_ACT_LOG", 0x7ffc_0000),
        ("SCMP_ACT_ALLOW", 0x7fff_0000),
    ] {
        let f = SeccompFilter::compile(&spec(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":["uname"],"action":"{name}"}}]}}"#
        )))
        .unwrap();
        assert_eq!(f.evaluate(&data(X86_64, nr(ScmpArch::X86_64, "uname"), [0; 6])), value, "{name}");
    }
}

#[test]
fn operators_on_64_bit_and_32_bit_abis() {
    // One rule per operator on personality's argument 1, with values around both words.
    for op in ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"] {
        for (value, two) in [(5u64, 4u64), (0x1_0000_0005, 0x1_0000_0004), (0xffff_ffff, 0xf), (u64::MAX, 0), (0, 0), (0xff00_0000_0000_00ff, 0x0100_0000_0000_0001)] {
            let s = spec(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],
                    "syscalls":[{{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":3,
                    "args":[{{"index":1,"value":{value},"valueTwo":{two},"op":"{op}"}}]}}]}}"#
            ));
            let f = SeccompFilter::compile(&s).unwrap();
            let p = profile::normalise(&s).unwrap();
            let mut rng = Rng(value ^ 0x1234);
            let probes = [value, value.wrapping_add(1), value.wrapping_sub(1), value ^ (1 << 32), two, value & 0xffff_ffff, 0, u64::MAX];
            for arch in [ScmpArch::X86_64, ScmpArch::X86, ScmpArch::X32] {
                for a in probes.iter().copied().chain((0..50).map(|_| rng.value())) {
                    let got = check(&f, &p, &data(arch.audit(), nr(arch, "personality"), [0, a, 0, 0, 0, 0]));
                    let c = p.archs.iter().find(|r| r.arch == arch).unwrap().syscalls.values().next().unwrap().conditional[0].conds[0];
                    let want = if c.matches(a, arch.is_32bit()) { RET_ERRNO | 3 } else { RET_ALLOW };
                    assert_eq!(got, want, "{op} {value:#x}/{two:#x} on {a:#x} ({arch:?})");
                }
            }
        }
    }
}

#[test]
fn masked_eq_compares_masked_arg_with_masked_value_two() {
    let c = profile::Cond { arg: 0, op: profile::Op::MaskedEq, value: 0xf0, value_two: 0x30 };
    assert!(c.matches(0x3f, false));
    assert!(c.matches(0x1_0000_0035, false));
    assert!(!c.matches(0x40, false));
    // Like libseccomp, the datum is masked too: bits outside the mask are ignored.
    let c = profile::Cond { arg: 0, op: profile::Op::MaskedEq, value: 0xf0, value_two: 0x3f };
    assert!(c.matches(0x30, false));
}

#[test]
fn args_in_one_rule_are_anded_rules_are_ored_same_index_splits() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[
                {"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]},
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":2,"value":9,"op":"SCMP_CMP_EQ"}]},
            {"names":["uname"],"action":"SCMP_ACT_ALLOW","args":[
                {"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let f = SeccompFilter::compile(&s).unwrap();
    let x = ScmpArch::X86_64;
    let pers = |a: [u64; 6]| f.evaluate(&data(X86_64, nr(x, "personality"), a));
    assert_eq!(pers([1, 2, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(pers([1, 3, 0, 0, 0, 0]), RET_ERRNO | 1);
    assert_eq!(pers([0, 0, 9, 0, 0, 0]), RET_ALLOW);
    // runc: two comparisons of argument 0 in one rule become two rules (OR).
    let uname = |a0| f.evaluate(&data(X86_64, nr(x, "uname"), [a0, 0, 0, 0, 0, 0]));
    assert_eq!(uname(1), RET_ALLOW);
    assert_eq!(uname(2), RET_ALLOW);
    assert_eq!(uname(3), RET_ERRNO | 1);
}

#[test]
fn precedence_when_rules_overlap() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["personality"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":9,"op":"SCMP_CMP_GT"}]},
            {"names":["personality"],"action":"SCMP_ACT_TRAP","args":[{"index":1,"value":20,"op":"SCMP_CMP_GT"}]},
            {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":100,"op":"SCMP_CMP_GT"}]},
            {"names":["uname"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
            {"names":["uname"],"action":"SCMP_ACT_LOG"},
            {"names":["uname"],"action":"SCMP_ACT_TRAP"},
            {"names":["getpid"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let f = SeccompFilter::compile(&s).unwrap();
    let x = ScmpArch::X86_64;
    let at = |name, a: [u64; 6]| f.evaluate(&data(X86_64, nr(x, name), a));
    assert_eq!(at("personality", [10, 0, 0, 0, 0, 0]), profile::RET_LOG);
    assert_eq!(at("personality", [10, 21, 0, 0, 0, 0]), profile::RET_TRAP, "most restrictive of the matches");
    assert_eq!(at("personality", [101, 0, 0, 0, 0, 0]), RET_ERRNO | 1);
    assert_eq!(at("personality", [1, 0, 0, 0, 0, 0]), RET_ALLOW);
    // An argument-free rule decides the syscall; the first of them wins.
    assert_eq!(at("uname", [1, 0, 0, 0, 0, 0]), profile::RET_LOG);
    // A rule with the default action is dropped (runc).
    assert!(!profile::normalise(&s).unwrap().archs[0].syscalls.contains_key(&nr(x, "getpid")));
}

#[test]
fn bad_profiles_are_errors_naming_the_problem() {
    let err = |json: &str| SeccompFilter::compile(&spec(json)).unwrap_err().to_string();
    assert!(err(r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x"}"#).contains("default action"));
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_NOTIFY"}]}"#);
    assert!(e.contains("listenerPath"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#);
    assert!(e.contains("write"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[{"names":["uname","sendmsg"],"action":"SCMP_ACT_NOTIFY"}]}"#);
    assert!(e.contains("sendmsg"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerMetadata":"m"}"#);
    assert!(e.contains("listenerMetadata"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#);
    assert!(e.contains("70000") && e.contains("uname"), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#);
    assert!(e.contains("index 6") && e.contains("uname"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["uname"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
            {"names":["uname"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(e.contains("\"uname\"") && e.contains("different actions"), "{e}");
    // Unknown actions, operators and architectures are refused when the config is parsed,
    // and the message names them.
    for (bad, word) in [
        (r#"{"defaultAction":"SCMP_ACT_FOO"}"#, "SCMP_ACT_FOO"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}"#, "SCMP_ARCH_Z80"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["uname"],"action":"SCMP_ACT_BAR"}]}"#, "SCMP_ACT_BAR"),
        (r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_BAZ"]}"#, "SECCOMP_FILTER_FLAG_BAZ"),
    ] {
        let e = serde_json::from_str::<LinuxSeccomp>(bad).unwrap_err().to_string();
        assert!(e.contains(word), "{e}");
    }
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["no_such_syscall","uname","s390_pci_mmio_read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let f = SeccompFilter::compile(&s).unwrap();
    assert_eq!(f.evaluate(&data(X86_64, nr(ScmpArch::X86_64, "uname"), [0; 6])), RET_ALLOW);
}

#[test]
fn flags_and_notify() {
    let f = SeccompFilter::compile(&spec(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "listenerPath":"/run/agent.sock","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap();
    assert!(f.uses_notify());
    assert_eq!(f.listener_path(), Some(std::path::Path::new("/run/agent.sock")));
    assert_eq!(f.flags(), profile::FLAG_LOG | profile::FLAG_SPEC_ALLOW | profile::FLAG_WAIT_KILLABLE_RECV | profile::FLAG_NEW_LISTENER);
    assert_eq!(f.evaluate(&data(X86_64, nr(ScmpArch::X86_64, "mkdir"), [0; 6])), profile::RET_USER_NOTIF);
    // WAIT_KILLABLE_RECV means nothing without a listener (and the kernel refuses it alone).
    let f = SeccompFilter::compile(&spec(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#)).unwrap();
    assert_eq!(f.flags(), 0);
}

#[test]
fn architectures_not_listed_get_the_bad_arch_action() {
    let s = spec(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"]}"#);
    let f = SeccompFilter::compile(&s).unwrap();
    assert_eq!(f.evaluate(&data(X86_64, 0, [0; 6])), RET_ALLOW);
    assert_eq!(f.evaluate(&data(X86_64, X32_SYSCALL_BIT, [0; 6])), RET_KILL_THREAD);
    assert_eq!(f.evaluate(&data(I386, 0, [0; 6])), RET_KILL_THREAD);
    // The native architecture is filtered even when the list omits it, as libseccomp does.
    let f = SeccompFilter::compile(&spec(r#"{"defaultAction":"SCMP_ACT_LOG","architectures":["SCMP_ARCH_X86"]}"#)).unwrap();
    assert_eq!(f.evaluate(&data(X86_64, 0, [0; 6])), profile::RET_LOG);
    assert_eq!(f.evaluate(&data(I386, 0, [0; 6])), profile::RET_LOG);
    // Architectures that cannot run here emit nothing (their calls never reach the filter).
    let f2 = SeccompFilter::compile(&spec(r#"{"defaultAction":"SCMP_ACT_LOG","architectures":["SCMP_ARCH_X86","SCMP_ARCH_PPC64LE","SCMP_ARCH_MIPS"]}"#)).unwrap();
    assert_eq!(f.program(), f2.program());
}

#[test]
fn syscall_tables_cover_the_abis() {
    assert_eq!(ScmpArch::X86_64.resolve("read"), Some(0));
    assert_eq!(ScmpArch::X86.resolve("read"), Some(3));
    assert_eq!(ScmpArch::X32.resolve("read"), Some(X32_SYSCALL_BIT));
    assert_eq!(ScmpArch::X32.resolve("readv"), Some(X32_SYSCALL_BIT | 515));
    assert_eq!(ScmpArch::Aarch64.resolve("openat"), Some(56));
    assert_eq!(ScmpArch::Aarch64.resolve("open"), None);
    assert_eq!(ScmpArch::X86.resolve("socketcall"), Some(102));
    assert_eq!(ScmpArch::X86_64.resolve("file_setattr"), Some(469));
    assert!(ScmpArch::X86_64.resolve("no_such_syscall").is_none());
    if cfg!(target_arch = "x86_64") {
        assert_eq!(ScmpArch::X86_64.resolve("mkdir"), Some(libc::SYS_mkdir as u32));
        assert_eq!(ScmpArch::X86_64.resolve("clone3"), Some(libc::SYS_clone3 as u32));
    }
}

/// Random profiles over a small set of syscalls, all actions, operators and argument
/// positions, checked against the reference on edge-heavy random inputs.
#[test]
fn random_profiles_match_the_reference() {
    const NAMES: [&str; 8] = ["read", "write", "personality", "uname", "mkdir", "getpid", "socket", "kill"];
    const ACTIONS: [&str; 8] = ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_ALLOW", "SCMP_ACT_KILL_THREAD"];
    const OPS: [&str; 7] = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];
    let mut rng = Rng(42);
    for round in 0..300 {
        let mut rules = Vec::new();
        for _ in 0..rng.below(12) {
            let mut args = Vec::new();
            for _ in 0..rng.below(4) {
                args.push(format!(
                    r#"{{"index":{},"value":{},"valueTwo":{},"op":"{}"}}"#,
                    rng.below(6),
                    rng.value(),
                    rng.value(),
                    OPS[rng.below(7) as usize]
                ));
            }
            rules.push(format!(
                r#"{{"names":["{}","{}"],"action":"{}","errnoRet":{},"args":[{}]}}"#,
                NAMES[rng.below(8) as usize],
                NAMES[rng.below(8) as usize],
                ACTIONS[rng.below(8) as usize],
                rng.below(200),
                args.join(",")
            ));
        }
        let json = format!(
            r#"{{"defaultAction":"{}","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{}]}}"#,
            ACTIONS[rng.below(8) as usize],
            rules.join(",")
        );
        let s = spec(&json);
        let (f, p) = match (SeccompFilter::compile(&s), profile::normalise(&s)) {
            (Ok(f), Ok(p)) => (f, p),
            (Err(Error::ConflictingRules { .. }), Err(_)) => continue,
            (f, _) => panic!("round {round}: {f:?}\n{json}"),
        };
        bpf::validate(f.program()).unwrap();
        for _ in 0..400 {
            let arch = [ScmpArch::X86_64, ScmpArch::X86, ScmpArch::X32][rng.below(3) as usize];
            let n = NAMES[rng.below(8) as usize];
            let args = [rng.value(), rng.value(), rng.value(), rng.value(), rng.value(), rng.value()];
            check(&f, &p, &data(arch.audit(), nr(arch, n).max(arch.resolve("read").unwrap()), args));
            check(&f, &p, &data(arch.audit(), arch.nr_range().0 + rng.below(600) as u32, args));
        }
    }
}

#[test]
fn features_lists_what_is_implemented() {
    let s = features::seccomp();
    assert_eq!(s.enabled(), &Some(true));
    assert_eq!(s.actions().as_ref().unwrap().len(), 9);
    assert_eq!(s.operators().as_ref().unwrap().len(), 7);
    assert!(s.archs().as_ref().unwrap().contains(&oci_spec::runtime::Arch::ScmpArchX32));
    let supported = s.supported_flags().as_ref().unwrap();
    for f in supported {
        assert!(s.known_flags().as_ref().unwrap().contains(f));
    }
    // This project's kernels (≥ 5.19) know all of them.
    assert!(supported.iter().any(|f| f == "SECCOMP_FILTER_FLAG_LOG"), "{supported:?}");
}

#[test]
fn container_process_state_is_runcs_shape() {
    let state: oci_spec::runtime::State = serde_json::from_str(
        r#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b","annotations":{"a":"b"}}"#,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&container_process_state(&state, Some("meta"))).unwrap();
    assert_eq!(v["ociVersion"], "1.2.0");
    assert_eq!(v["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(v["pid"], 42);
    assert_eq!(v["metadata"], "meta");
    assert_eq!(v["state"]["id"], "c1");
    assert_eq!(v["state"]["status"], "creating");
    let v: serde_json::Value = serde_json::from_slice(&container_process_state(&state, Some(""))).unwrap();
    assert!(v.get("metadata").is_none());
    // From serialised state, every field kept (berth's state has rootfs/created too).
    let raw = br#"{"ociVersion":"1.2.0","id":"c2","status":"creating","pid":7,"bundle":"/b","rootfs":"/b/rootfs"}"#;
    let v: serde_json::Value = serde_json::from_slice(&container_process_state_json(raw, Some("m"))).unwrap();
    assert_eq!((v["pid"].clone(), v["metadata"].clone(), v["fds"].clone()), (7.into(), "m".into(), serde_json::json!(["seccompFd"])));
    assert_eq!(v["state"]["rootfs"], "/b/rootfs");
    assert_eq!(v["ociVersion"], "1.2.0");
}

#[test]
#[ignore = "prints the size of the Docker profile's program"]
fn print_docker_program_size() {
    let f = SeccompFilter::compile(&spec(DOCKER)).unwrap();
    println!("docker default profile: {} instructions", f.program().len());
}

#[test]
fn i386_socket_rules_also_filter_socketcall() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"syscalls":[
            {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":97,"args":[{"index":0,"value":40,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]},
            {"names":["semop"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let f = SeccompFilter::compile(&s).unwrap();
    let x86 = ScmpArch::X86;
    let at = |name, a: [u64; 6]| f.evaluate(&data(I386, nr(x86, name), a));
    assert_eq!(at("socket", [40, 2, 0, 0, 0, 0]), RET_ERRNO | 97);
    assert_eq!(at("socket", [2, 2, 0, 0, 0, 0]), RET_ALLOW);
    // socketcall(SYS_SOCKET=1, ...): argument 0 is the call, the others are kept as written.
    assert_eq!(at("socketcall", [1, 2, 0, 0, 0, 0]), RET_ERRNO | 97);
    assert_eq!(at("socketcall", [1, 3, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(at("socketcall", [3, 2, 0, 0, 0, 0]), RET_ALLOW);
    // semop has no direct i386 syscall: only ipc(SEMOP=1, ...) is filtered.
    assert_eq!(at("ipc", [1, 0, 0, 0, 0, 0]), RET_ERRNO | 1);
    assert_eq!(at("ipc", [2, 0, 0, 0, 0, 0]), RET_ALLOW);
    // Not on x86_64, where socket is a plain syscall.
    assert_eq!(f.evaluate(&data(X86_64, nr(ScmpArch::X86_64, "socket"), [40, 2, 0, 0, 0, 0])), RET_ERRNO | 97);
}

#[test]
fn huge_profiles_are_refused_quickly() {
    let rules: Vec<String> = (0..50_000)
        .map(|i| format!(r#"{{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{{"index":0,"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#))
        .collect();
    let json = format!(r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{}]}}"#, rules.join(","));
    let t = std::time::Instant::now();
    let e = SeccompFilter::compile(&spec(&json)).unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    assert!(e.to_string().contains("4096"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
    // Many argument-free names are cheap and fine (the tree grows with distinct outcomes only).
    let names: Vec<String> = (0..20_000).map(|i| format!("\"nosuch{i}\"")).collect();
    let json = format!(r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":[{}],"action":"SCMP_ACT_ALLOW"}}]}}"#, names.join(","));
    SeccompFilter::compile(&spec(&json)).unwrap();
}
