//! The OCI `linux.seccomp` section checked and normalised into per-architecture rule sets:
//! names resolved to numbers, actions to `SECCOMP_RET_*` values, runc's quirks applied.
//! Pure: no syscalls, so a bad profile fails in the plan, before anything exists.

use super::syscalls::{NONE, SYSCALLS};
use super::Error;
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use std::collections::BTreeMap;

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

pub const FLAG_TSYNC: u32 = 1 << 0;
pub const FLAG_LOG: u32 = 1 << 1;
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// The action a filter takes for a call from an architecture it was not built for. libseccomp's
/// default (`SCMP_ACT_KILL`), which runc and crun keep.
pub const RET_BAD_ARCH: u32 = RET_KILL_THREAD;

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;
/// Bit set in every x32 syscall number (`__X32_SYSCALL_BIT`).
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Syscalls the runtime may need between loading a filter and handing its listener to the
/// agent (see [`super::send_listener_over`]); they cannot be `SCMP_ACT_NOTIFY`.
pub const HANDOVER_SYSCALLS: [&str; 3] = ["write", "sendmsg", "sendto"];

/// An architecture berth has a syscall table for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScmpArch {
    X86_64,
    X86,
    X32,
    Aarch64,
    Arm,
}

impl ScmpArch {
    pub const ALL: [ScmpArch; 5] = [Self::X86_64, Self::X86, Self::X32, Self::Aarch64, Self::Arm];

    /// Column in [`SYSCALLS`].
    fn column(self) -> usize {
        self as usize
    }

    /// `AUDIT_ARCH_*`: what the kernel puts in `seccomp_data.arch` (x32 shares x86_64's).
    pub fn audit(self) -> u32 {
        match self {
            Self::X86_64 | Self::X32 => 0xc000_003e,
            Self::X86 => 0x4000_0003,
            Self::Aarch64 => 0xc000_00b7,
            Self::Arm => 0x4000_0028,
        }
    }

    /// 32-bit ABIs pass 32-bit arguments: like libseccomp, only the low words are compared.
    pub fn is_32bit(self) -> bool {
        matches!(self, Self::X86 | Self::X32 | Self::Arm)
    }

    /// The syscall numbers this ABI owns under its audit arch (inclusive). x86_64 and x32 share
    /// `AUDIT_ARCH_X86_64` and are told apart by the x32 bit, as libseccomp does (`jge`).
    pub fn nr_range(self) -> (u32, u32) {
        match self {
            Self::X86_64 => (0, X32_SYSCALL_BIT - 1),
            Self::X32 => (X32_SYSCALL_BIT, u32::MAX),
            _ => (0, u32::MAX),
        }
    }

    pub fn oci(self) -> Arch {
        match self {
            Self::X86_64 => Arch::ScmpArchX86_64,
            Self::X86 => Arch::ScmpArchX86,
            Self::X32 => Arch::ScmpArchX32,
            Self::Aarch64 => Arch::ScmpArchAarch64,
            Self::Arm => Arch::ScmpArchArm,
        }
    }

    /// The architecture of this build (what `SCMP_ARCH_NATIVE` means).
    pub fn native() -> Self {
        if cfg!(target_arch = "aarch64") {
            Self::Aarch64
        } else if cfg!(target_arch = "x86") {
            Self::X86
        } else if cfg!(target_arch = "arm") {
            Self::Arm
        } else if cfg!(all(target_arch = "x86_64", target_pointer_width = "32")) {
            Self::X32
        } else {
            Self::X86_64
        }
    }

    /// ABIs whose syscalls can reach a filter on this host's kernel; a rule for any other
    /// architecture can never match, so no code is emitted for it.
    pub fn runs_here(self) -> bool {
        let native = Self::native();
        match native {
            Self::X86_64 | Self::X86 | Self::X32 => matches!(self, Self::X86_64 | Self::X86 | Self::X32),
            Self::Aarch64 | Self::Arm => matches!(self, Self::Aarch64 | Self::Arm),
        }
    }

    /// The number of `name` on this architecture, if it has one.
    pub fn resolve(self, name: &str) -> Option<u32> {
        let i = SYSCALLS.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
        let nr = SYSCALLS[i].1[self.column()];
        (nr != NONE).then_some(nr)
    }
}

/// A known syscall name on any architecture.
pub fn is_known_syscall(name: &str) -> bool {
    SYSCALLS.binary_search_by(|(n, _)| (*n).cmp(name)).is_ok()
}

/// An argument comparison, libseccomp's semantics: `MaskedEq` is
/// `(arg & value) == (value_two & value)` (the datum is masked too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cond {
    pub arg: u8,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

impl Cond {
    /// Evaluate on an argument as the filter sees it (only the low word on 32-bit ABIs).
    pub fn matches(&self, arg: u64, is_32bit: bool) -> bool {
        let (a, v, v2) = if is_32bit {
            (arg & 0xffff_ffff, self.value & 0xffff_ffff, self.value_two & 0xffff_ffff)
        } else {
            (arg, self.value, self.value_two)
        };
        match self.op {
            Op::Ne => a != v,
            Op::Lt => a < v,
            Op::Le => a <= v,
            Op::Eq => a == v,
            Op::Ge => a >= v,
            Op::Gt => a > v,
            Op::MaskedEq => a & v == v2 & v,
        }
    }
}

/// All conditions must hold (AND).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub conds: Vec<Cond>,
    pub action: u32,
}

/// What one syscall does on one architecture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyscallRules {
    /// An argument-free rule: it decides the call whatever the arguments (libseccomp drops the
    /// conditional rules of a syscall that has one).
    pub unconditional: Option<u32>,
    /// Tried in this order, first match wins; sorted most restrictive action first.
    pub conditional: Vec<Rule>,
}

impl SyscallRules {
    pub fn decide(&self, args: &[u64; 6], is_32bit: bool, default: u32) -> u32 {
        if let Some(a) = self.unconditional {
            return a;
        }
        self.conditional
            .iter()
            .find(|r| r.conds.iter().all(|c| c.matches(args[c.arg as usize], is_32bit)))
            .map_or(default, |r| r.action)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchRules {
    pub arch: ScmpArch,
    pub syscalls: BTreeMap<u32, SyscallRules>,
    /// runc's -ENOSYS stub: numbers above the highest syscall the profile names on this
    /// architecture return ENOSYS, so libc falls back from syscalls newer than the profile.
    pub enosys_above: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub default: u32,
    /// `listenerPath` and `listenerMetadata` (only when notify rules exist).
    pub listener: Option<(std::path::PathBuf, Option<String>)>,
    /// Sorted; always contains the native architecture (as a libseccomp filter does).
    pub archs: Vec<ArchRules>,
    pub flags: u32,
    pub notify: bool,
}

impl Profile {
    /// The action the filter must return for `data`: the reference semantics the emitted BPF
    /// is tested against.
    pub fn decide(&self, nr: u32, audit_arch: u32, args: &[u64; 6]) -> u32 {
        let Some(ar) = self.archs.iter().find(|a| {
            let (lo, hi) = a.arch.nr_range();
            a.arch.audit() == audit_arch && nr >= lo && nr <= hi
        }) else {
            return RET_BAD_ARCH;
        };
        if let Some(max) = ar.enosys_above {
            if nr > max {
                return RET_ERRNO | ENOSYS;
            }
        }
        match ar.syscalls.get(&nr) {
            Some(rules) => rules.decide(args, ar.arch.is_32bit(), self.default),
            None => self.default,
        }
    }
}

/// `SECCOMP_RET_*` for an OCI action. Like runc: errnoRet defaults to EPERM for both ERRNO and
/// TRACE (where it is the tracer's message) and is ignored by the other actions.
pub fn action_value(action: LinuxSeccompAction, errno_ret: Option<u32>, what: &str) -> Result<u32, Error> {
    let data = |base: u32| match errno_ret {
        None => Ok(base | EPERM),
        Some(v) if v <= 0xffff => Ok(base | v),
        Some(v) => Err(Error::ErrnoOutOfRange { what: what.to_string(), value: v }),
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => data(RET_ERRNO)?,
        LinuxSeccompAction::ScmpActTrace => data(RET_TRACE)?,
        LinuxSeccompAction::ScmpActNotify => RET_USER_NOTIF,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
    })
}

/// Kernel precedence when several rules match: lower is more restrictive
/// (KILL_PROCESS < KILL_THREAD < TRAP < ERRNO < USER_NOTIF < TRACE < LOG < ALLOW).
pub fn restrictiveness(action: u32) -> i32 {
    (action & 0xffff_0000) as i32
}

fn op(o: LinuxSeccompOperator) -> Op {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => Op::Ne,
        LinuxSeccompOperator::ScmpCmpLt => Op::Lt,
        LinuxSeccompOperator::ScmpCmpLe => Op::Le,
        LinuxSeccompOperator::ScmpCmpEq => Op::Eq,
        LinuxSeccompOperator::ScmpCmpGe => Op::Ge,
        LinuxSeccompOperator::ScmpCmpGt => Op::Gt,
        LinuxSeccompOperator::ScmpCmpMaskedEq => Op::MaskedEq,
    }
}

/// Check and normalise a `linux.seccomp` section.
pub fn normalise(spec: &LinuxSeccomp) -> Result<Profile, Error> {
    let default = action_value(spec.default_action(), spec.default_errno_ret(), "defaultAction")?;
    if default == RET_USER_NOTIF {
        return Err(Error::NotifyDefault);
    }
    let has_listener = spec.listener_path().as_ref().is_some_and(|p| !p.as_os_str().is_empty());
    if spec.listener_metadata().as_ref().is_some_and(|m| !m.is_empty()) && !has_listener {
        return Err(Error::MetadataWithoutListener);
    }

    let mut flags = 0;
    for f in spec.flags().iter().flatten() {
        flags |= match f {
            // Single-threaded at install time: synchronising threads is a no-op.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        };
    }

    // The native architecture is always filtered, as in a libseccomp filter.
    let mut archs = vec![ScmpArch::native()];
    for a in spec.architectures().iter().flatten() {
        let arch = match a {
            Arch::ScmpArchNative => Some(ScmpArch::native()),
            other => ScmpArch::ALL.into_iter().find(|s| s.oci() == *other),
        };
        match arch {
            Some(s) if s.runs_here() => archs.push(s),
            _ => log::debug!("seccomp: architecture {a} cannot occur on this host, no rules emitted for it"),
        }
    }
    archs.sort();
    archs.dedup();

    // Rules in spec order, flattened to (name, action, OR-list of AND-lists).
    struct Flat<'a> {
        name: &'a str,
        action: u32,
        alternatives: Vec<Vec<Cond>>,
    }
    let mut flat = Vec::new();
    let mut notify = false;
    for (i, sc) in spec.syscalls().iter().flatten().enumerate() {
        let what = format!("syscalls[{i}] ({})", sc.names().join(","));
        let action = action_value(sc.action(), sc.errno_ret(), &what)?;
        let mut conds = Vec::new();
        for a in sc.args().iter().flatten() {
            if a.index() >= 6 {
                return Err(Error::ArgIndex { what: what.clone(), index: a.index() });
            }
            conds.push(Cond { arg: a.index() as u8, op: op(a.op()), value: a.value(), value_two: a.value_two().unwrap_or(0) });
        }
        // runc: several comparisons of the same argument cannot be one libseccomp rule, so
        // each comparison becomes a rule of its own (OR); otherwise they are one rule (AND).
        let mut seen = [false; 6];
        let repeated = conds.iter().any(|c| std::mem::replace(&mut seen[c.arg as usize], true));
        let alternatives = if repeated { conds.into_iter().map(|c| vec![c]).collect() } else { vec![conds] };
        if action == RET_USER_NOTIF {
            // The listener is handed over with these after the filter is loaded: notifying
            // them would wait for an agent that has no listener yet (runc refuses `write`).
            if let Some(n) = sc.names().iter().find(|n| HANDOVER_SYSCALLS.contains(&n.as_str())) {
                return Err(Error::NotifyHandover(n.clone()));
            }
            notify |= !sc.names().is_empty();
        }
        for name in sc.names() {
            if !is_known_syscall(name) {
                log::debug!("seccomp: unknown syscall {name:?} ignored");
            }
            flat.push(Flat { name, action, alternatives: alternatives.clone() });
        }
    }
    if notify && !has_listener {
        return Err(Error::NotifyWithoutListener);
    }
    if notify {
        flags |= FLAG_NEW_LISTENER;
    } else if flags & FLAG_WAIT_KILLABLE_RECV != 0 {
        log::debug!("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored, no notify rule");
        flags &= !FLAG_WAIT_KILLABLE_RECV;
    }

    let enosys_stub = !matches!(default & 0xffff_0000, RET_ALLOW | RET_LOG | RET_TRACE) && default != RET_ERRNO | ENOSYS;
    let mut out = Vec::new();
    for arch in archs {
        let mut syscalls: BTreeMap<u32, SyscallRules> = BTreeMap::new();
        let mut max = None;
        // Every comparison costs at least two instructions: a profile with more than the
        // kernel's limit of them can never load; refuse it before any quadratic work.
        let comparisons: usize =
            flat.iter().filter(|f| arch.resolve(f.name).is_some() || multiplexed(arch, f.name).is_some()).map(|f| f.alternatives.iter().map(Vec::len).sum::<usize>()).sum();
        if comparisons > super::bpf::MAX_INSNS {
            return Err(Error::TooLarge(2 * comparisons));
        }
        for f in &flat {
            let direct = arch.resolve(f.name);
            max = max.max(direct);
            // runc skips a rule whose action is the default one (libseccomp refuses it).
            if f.action == default {
                continue;
            }
            if let Some(nr) = direct {
                let entry = syscalls.entry(nr).or_default();
                for conds in &f.alternatives {
                    add_rule(entry, conds, f.action, f.name)?;
                }
            }
            // libseccomp also filters the multiplexed form on i386: the rule's comparisons
            // apply to socketcall(2)/ipc(2) with argument 0 replaced by the call number.
            if let Some((mux_nr, call)) = multiplexed(arch, f.name) {
                let entry = syscalls.entry(mux_nr).or_default();
                for conds in &f.alternatives {
                    let mut muxed: Vec<Cond> = conds.iter().filter(|c| c.arg != 0).copied().collect();
                    muxed.push(Cond { arg: 0, op: Op::Eq, value: call, value_two: 0 });
                    add_rule(entry, &muxed, f.action, f.name)?;
                }
            }
        }
        syscalls.retain(|_, r| r.unconditional.is_some() || !r.conditional.is_empty());
        for r in syscalls.values_mut() {
            if r.unconditional.is_some() {
                r.conditional.clear();
            }
            // Stable: among equally restrictive actions the spec's order holds.
            r.conditional.sort_by_key(|rule| restrictiveness(rule.action));
        }
        out.push(ArchRules { arch, syscalls, enosys_above: if enosys_stub { max } else { None } });
    }
    let listener = notify
        .then(|| spec.listener_path().clone().map(|p| (p, spec.listener_metadata().clone().filter(|m| !m.is_empty()))))
        .flatten();
    Ok(Profile { default, listener, archs: out, flags, notify })
}

/// i386's socketcall(2) and ipc(2) calls (the kernel's `SYS_*` and ipc call numbers, also
/// libseccomp's pseudo-syscall numbers): (syscall to filter, value of its argument 0).
fn multiplexed(arch: ScmpArch, name: &str) -> Option<(u32, u64)> {
    const SOCKETCALL: [&str; 20] = [
        "socket", "bind", "connect", "listen", "accept", "getsockname", "getpeername", "socketpair", "send", "recv",
        "sendto", "recvfrom", "shutdown", "setsockopt", "getsockopt", "sendmsg", "recvmsg", "accept4", "recvmmsg",
        "sendmmsg",
    ];
    const IPC: [(&str, u64); 12] = [
        ("semop", 1), ("semget", 2), ("semctl", 3), ("semtimedop", 4), ("msgsnd", 11), ("msgrcv", 12),
        ("msgget", 13), ("msgctl", 14), ("shmat", 21), ("shmdt", 22), ("shmget", 23), ("shmctl", 24),
    ];
    if arch != ScmpArch::X86 {
        return None;
    }
    if let Some(i) = SOCKETCALL.iter().position(|n| *n == name) {
        return Some((102, i as u64 + 1));
    }
    IPC.iter().find(|(n, _)| *n == name).map(|&(_, call)| (117, call))
}

fn add_rule(entry: &mut SyscallRules, conds: &[Cond], action: u32, name: &str) -> Result<(), Error> {
    let mut conds = conds.to_vec();
    conds.sort();
    conds.dedup();
    if conds.is_empty() {
        // The first argument-free rule for a syscall decides it (later ones change nothing).
        entry.unconditional.get_or_insert(action);
        return Ok(());
    }
    match entry.conditional.iter().find(|r| r.conds == conds) {
        // libseccomp refuses this (EEXIST), so runc fails too; say why.
        Some(r) if r.action != action => Err(Error::ConflictingRules { syscall: name.to_string() }),
        Some(_) => Ok(()),
        None => {
            entry.conditional.push(Rule { conds, action });
            Ok(())
        }
    }
}
