//! A normalised [`Profile`] to a classic BPF program.
//!
//! Layout (forward):
//! ```text
//!   ld arch; jeq AUDIT_ARCH_<native> -> S1; jeq AUDIT_ARCH_<compat> -> S2; ret BAD_ARCH
//!   S1: ld nr; a balanced binary search (jge) over the syscall-number line, cut into
//!       segments of equal outcome: a `ret` for argument-free syscalls, runs of them and the
//!       gaps between them (the default action), above the profile's last syscall (-ENOSYS),
//!       outside the ABI's range (x32 vs x86_64: bad arch); or a jump to an argument block
//!   argument blocks: the syscall's rules in order, each a chain of 32-bit word comparisons
//! ```
//! Docker's default profile becomes a tree of depth ~8 per architecture: every syscall is
//! decided in about a dozen instructions, and the program stays far under the 4096 limit.

use super::bpf::{self, arg_offset, Assembler, Label, SockFilter, Target};
use super::profile::{ArchRules, Cond, Op, Profile, Rule, RET_BAD_ARCH, RET_ERRNO};

const ENOSYS: u32 = 38;

pub fn generate(p: &Profile) -> Vec<SockFilter> {
    let mut asm = Assembler::new();
    // Architectures sharing an audit value (x86_64 and x32) share one section.
    let mut audits: Vec<u32> = Vec::new();
    for a in &p.archs {
        if !audits.contains(&a.arch.audit()) {
            audits.push(a.arch.audit());
        }
    }
    // The native architecture is tested first; sections are emitted back to front.
    let native = super::profile::ScmpArch::native().audit();
    audits.sort_by_key(|&a| a != native);
    let mut sections = Vec::new();
    for &audit in audits.iter().rev() {
        let members: Vec<&ArchRules> = p.archs.iter().filter(|a| a.arch.audit() == audit).collect();
        sections.push((audit, section(&mut asm, p, &members)));
    }
    let mut next = Target::Label(asm.ret(RET_BAD_ARCH));
    for (audit, label) in sections {
        next = Target::Label(asm.cond(bpf::JEQ_K, audit, Target::Label(label), next));
    }
    asm.load(bpf::OFF_ARCH);
    asm.finish()
}

/// What a stretch of syscall numbers does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ret(u32),
    Block(Label),
}

impl Outcome {
    fn target(self) -> Target {
        match self {
            Outcome::Ret(a) => Target::Ret(a),
            Outcome::Block(l) => Target::Label(l),
        }
    }
}

/// One audit architecture: argument blocks, then (before them) the number search.
fn section(asm: &mut Assembler, p: &Profile, members: &[&ArchRules]) -> Label {
    // Segments: (first number, outcome), sorted, covering 0..=u32::MAX.
    let mut segs: Vec<(u32, Outcome)> = Vec::new();
    let push = |segs: &mut Vec<(u32, Outcome)>, start: u32, o: Outcome| {
        if segs.last().is_some_and(|&(_, last)| last == o && !matches!(o, Outcome::Block(_))) {
            return;
        }
        segs.push((start, o));
    };
    // Emit the argument blocks of every member first (they sit after the search).
    let mut blocks: Vec<(u32, Label)> = Vec::new();
    for ar in members.iter().rev() {
        for (&nr, rules) in ar.syscalls.iter().rev() {
            if rules.unconditional.is_none() {
                blocks.push((nr, arg_block(asm, &rules.conditional, p.default, ar.arch.is_32bit())));
            }
        }
    }
    let mut ranges: Vec<(u32, u32, Option<&ArchRules>)> = Vec::new();
    let mut cursor: u64 = 0;
    let mut owned: Vec<&ArchRules> = members.to_vec();
    owned.sort_by_key(|a| a.arch.nr_range().0);
    for ar in owned {
        let (lo, hi) = ar.arch.nr_range();
        if u64::from(lo) > cursor {
            ranges.push((cursor as u32, lo - 1, None));
        }
        ranges.push((lo, hi, Some(ar)));
        cursor = u64::from(hi) + 1;
    }
    if cursor <= u64::from(u32::MAX) {
        ranges.push((cursor as u32, u32::MAX, None));
    }
    for (lo, hi, ar) in ranges {
        let Some(ar) = ar else {
            push(&mut segs, lo, Outcome::Ret(RET_BAD_ARCH));
            continue;
        };
        let mut at = u64::from(lo);
        for (&nr, rules) in &ar.syscalls {
            if u64::from(nr) > at {
                push(&mut segs, at as u32, Outcome::Ret(p.default));
            }
            let o = match rules.unconditional {
                Some(a) => Outcome::Ret(a),
                None => Outcome::Block(blocks.iter().find(|b| b.0 == nr).expect("block emitted").1),
            };
            push(&mut segs, nr, o);
            at = u64::from(nr) + 1;
        }
        let enosys_from = ar.enosys_above.map(|m| u64::from(m) + 1);
        match enosys_from {
            Some(e) if e <= u64::from(hi) => {
                if e > at {
                    push(&mut segs, at as u32, Outcome::Ret(p.default));
                }
                push(&mut segs, e.max(at) as u32, Outcome::Ret(RET_ERRNO | ENOSYS));
            }
            _ if at <= u64::from(hi) => push(&mut segs, at as u32, Outcome::Ret(p.default)),
            _ => {}
        }
    }
    let root = search(asm, &segs);
    if let Target::Ret(a) = root {
        asm.ret(a);
    } else if let Target::Label(l) = root {
        if l != asm.here() {
            asm.jump(root);
        }
    }
    asm.load(bpf::OFF_NR)
}

/// A balanced `jge` search over segments; returns where to start.
fn search(asm: &mut Assembler, segs: &[(u32, Outcome)]) -> Target {
    if segs.len() == 1 {
        return segs[0].1.target();
    }
    let mid = segs.len() / 2;
    let high = search(asm, &segs[mid..]);
    let low = search(asm, &segs[..mid]);
    Target::Label(asm.cond(bpf::JGE_K, segs[mid].0, high, low))
}

/// The rules of one syscall, first match wins, else the default action.
fn arg_block(asm: &mut Assembler, rules: &[Rule], default: u32, is_32bit: bool) -> Label {
    let mut next = Target::Ret(default);
    for rule in rules.iter().rev() {
        let mut t = Target::Ret(rule.action);
        for c in rule.conds.iter().rev() {
            t = cond(asm, c, t, next, is_32bit);
        }
        next = t;
    }
    match next {
        Target::Label(l) => l,
        // A rule that can never fail (or never match) still needs an instruction to jump to.
        Target::Ret(a) => asm.ret(a),
    }
}

/// One 64-bit (or, on 32-bit ABIs, low-word) comparison: go to `t` if it holds, else `f`.
fn cond(asm: &mut Assembler, c: &Cond, t: Target, f: Target, is_32bit: bool) -> Target {
    let (vl, vh) = (c.value as u32, (c.value >> 32) as u32);
    let (dl, dh) = (c.value_two as u32, (c.value_two >> 32) as u32);
    let lo = arg_offset(c.arg, false);
    let hi = arg_offset(c.arg, true);
    // `!=`, `<`, `<=` are `==`, `>=`, `>` with the targets swapped.
    let (op, t, f) = match c.op {
        Op::Ne => (Op::Eq, f, t),
        Op::Lt => (Op::Ge, f, t),
        Op::Le => (Op::Gt, f, t),
        o => (o, t, f),
    };
    match op {
        Op::Eq => {
            asm.cond(bpf::JEQ_K, vl, t, f);
            let l = asm.load(lo);
            if is_32bit {
                return Target::Label(l);
            }
            asm.cond(bpf::JEQ_K, vh, Target::Label(l), f);
            Target::Label(asm.load(hi))
        }
        Op::Gt | Op::Ge => {
            let code = if op == Op::Gt { bpf::JGT_K } else { bpf::JGE_K };
            asm.cond(code, vl, t, f);
            let l = asm.load(lo);
            if is_32bit {
                return Target::Label(l);
            }
            // hi > vh: holds; hi == vh: decided by the low word; hi < vh: fails.
            let eq = asm.cond(bpf::JEQ_K, vh, Target::Label(l), f);
            asm.cond(bpf::JGT_K, vh, t, Target::Label(eq));
            Target::Label(asm.load(hi))
        }
        Op::MaskedEq => {
            // libseccomp masks the datum as well as the argument.
            let (ml, mh) = (vl, vh);
            let (dl, dh) = (dl & ml, dh & mh);
            asm.cond(bpf::JEQ_K, dl, t, f);
            if ml != u32::MAX {
                asm.and(ml);
            }
            let l = asm.load(lo);
            if is_32bit || mh == 0 {
                return Target::Label(l); // the high word is masked away entirely
            }
            asm.cond(bpf::JEQ_K, dh, Target::Label(l), f);
            if mh != u32::MAX {
                asm.and(mh);
            }
            Target::Label(asm.load(hi))
        }
        Op::Ne | Op::Lt | Op::Le => unreachable!("rewritten above"),
    }
}

