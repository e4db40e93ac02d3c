//! Fuzz the seccomp compiler: any `linux.seccomp` JSON must either be refused with an error or
//! compile to a program the kernel would accept (≤ 4096 instructions, jumps in range, loads
//! inside seccomp_data, ending in a return) that decides every call exactly as the reference
//! semantics (`Profile::decide`) do. Inputs whose first byte is `#` are not JSON but drive a
//! generator of well-formed profiles, to reach the code generator quickly.
#![no_main]

use berth_runtime::seccomp::bpf::{self, SeccompData};
use berth_runtime::seccomp::{profile, ScmpArch, SeccompFilter};
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxSeccomp;

const NAMES: [&str; 10] = ["read", "write", "personality", "uname", "mkdir", "socket", "kill", "clone", "mount", "no_such_call"];
const ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_ALLOW", "SCMP_ACT_NOTIFY",
];
const OPS: [&str; 7] = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];

struct Bytes<'a>(&'a [u8]);
impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn pick<'s>(&mut self, of: &[&'s str]) -> &'s str {
        of[self.byte() as usize % of.len()]
    }
    fn u64(&mut self) -> u64 {
        match self.byte() % 4 {
            0 => u64::from(self.byte()),
            1 => u64::MAX - u64::from(self.byte()),
            2 => (u64::from(self.byte()) << 32) | u64::from(self.byte()),
            _ => (0..8).fold(0, |v, _| (v << 8) | u64::from(self.byte())),
        }
    }
}

fn generated(mut b: Bytes) -> String {
    let mut rules = Vec::new();
    for _ in 0..b.byte() % 24 {
        let args: Vec<String> = (0..b.byte() % 4)
            .map(|_| format!(r#"{{"index":{},"value":{},"valueTwo":{},"op":"{}"}}"#, b.byte() % 6, b.u64(), b.u64(), b.pick(&OPS)))
            .collect();
        rules.push(format!(
            r#"{{"names":["{}","{}"],"action":"{}","errnoRet":{},"args":[{}]}}"#,
            b.pick(&NAMES), b.pick(&NAMES), b.pick(&ACTIONS), b.byte(), args.join(",")
        ));
    }
    format!(
        r#"{{"defaultAction":"{}","listenerPath":"/a","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64"],"syscalls":[{}]}}"#,
        b.pick(&ACTIONS), rules.join(",")
    )
}

fuzz_target!(|data: &[u8]| {
    let json = match data.split_first() {
        Some((b'#', rest)) => generated(Bytes(rest)),
        _ => match std::str::from_utf8(data) {
            Ok(s) => s.to_string(),
            Err(_) => return,
        },
    };
    let Ok(spec) = serde_json::from_str::<LinuxSeccomp>(&json) else { return };
    let compiled = SeccompFilter::compile(&spec);
    let reference = profile::normalise(&spec);
    let (filter, reference) = match (compiled, reference) {
        (Ok(f), Ok(p)) => (f, p),
        (Err(_), Err(_)) => return,
        (Err(berth_runtime::seccomp::Error::TooLarge(_)), Ok(_)) => return,
        (f, p) => panic!("compile and normalise disagree: {f:?} / {:?}", p.err()),
    };
    assert_eq!(bpf::validate(filter.program()), Ok(()));
    let mut b = Bytes(data);
    for _ in 0..64 {
        let arch = [ScmpArch::X86_64, ScmpArch::X86, ScmpArch::X32][b.byte() as usize % 3];
        let nr = match b.byte() % 3 {
            0 => arch.resolve(NAMES[b.byte() as usize % NAMES.len()]).unwrap_or(0),
            1 => arch.nr_range().0.wrapping_add(u32::from(b.byte()) * 3),
            _ => b.u64() as u32,
        };
        let args = [b.u64(), b.u64(), b.u64(), b.u64(), b.u64(), b.u64()];
        let d = SeccompData { nr, arch: arch.audit(), instruction_pointer: 0, args };
        assert_eq!(filter.evaluate(&d), reference.decide(nr, d.arch, &args), "{d:?}\n{json}");
    }
});
