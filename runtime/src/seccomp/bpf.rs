//! Classic BPF as seccomp uses it: the instructions we emit, an assembler that lays code out
//! back to front (so every jump target already exists and long jumps get trampolines), the
//! kernel's structural checks, and an interpreter used by tests and the fuzz target to run a
//! program against a `seccomp_data` without loading it.

use std::collections::HashMap;

/// One instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub const ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub const JA: u16 = 0x05; // BPF_JMP | BPF_JA
pub const JEQ_K: u16 = 0x15;
pub const JGT_K: u16 = 0x25;
pub const JGE_K: u16 = 0x35;
pub const JSET_K: u16 = 0x45;
pub const RET_K: u16 = 0x06;

/// The kernel's limit on filter length (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;
/// sizeof(struct seccomp_data): nr, arch, instruction_pointer, args[6].
pub const SECCOMP_DATA_LEN: u32 = 64;
pub const OFF_NR: u32 = 0;
pub const OFF_ARCH: u32 = 4;

/// Offset of the low (`hi == false`) or high 32-bit word of syscall argument `arg`
/// on a little-endian machine (every architecture berth filters for).
pub fn arg_offset(arg: u8, hi: bool) -> u32 {
    16 + 8 * u32::from(arg) + if hi { 4 } else { 0 }
}

/// Where a jump goes: an instruction already emitted, or "return this action" (a `ret` is
/// shared while it is in reach, else emitted again: as cheap as a trampoline and faster).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Label(Label),
    Ret(u32),
}

/// An emitted instruction, counted from the end of the program (0 = the last one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(usize);

/// Builds a program from its end towards its start.
#[derive(Default)]
pub struct Assembler {
    rev: Vec<SockFilter>,
    rets: HashMap<u32, Label>,
}

impl Assembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// The first instruction of what has been emitted so far ("fall through to here").
    pub fn here(&self) -> Label {
        assert!(!self.rev.is_empty(), "no code emitted yet");
        Label(self.rev.len() - 1)
    }

    fn push(&mut self, insn: SockFilter) -> Label {
        self.rev.push(insn);
        self.here()
    }

    /// Distance field for a jump placed `extra` instructions before the next slot.
    fn distance(&self, to: Label, extra: usize) -> usize {
        self.rev.len() + extra - to.0 - 1
    }

    pub fn ret(&mut self, action: u32) -> Label {
        let l = self.push(SockFilter { code: RET_K, jt: 0, jf: 0, k: action });
        self.rets.insert(action, l);
        l
    }

    /// A label for `target` that a conditional jump emitted within the next `extra`
    /// instructions can reach (≤ 255 away), emitting a `ret` or a `ja` trampoline if needed.
    fn reachable(&mut self, target: Target, extra: usize) -> Label {
        match target {
            Target::Ret(action) => match self.rets.get(&action) {
                Some(&l) if self.distance(l, extra) <= 255 => l,
                _ => self.ret(action),
            },
            Target::Label(l) if self.distance(l, extra) <= 255 => l,
            Target::Label(l) => self.jump(Target::Label(l)),
        }
    }

    /// Unconditional jump (or a `ret` when the target is an action).
    pub fn jump(&mut self, target: Target) -> Label {
        match target {
            Target::Ret(action) => self.ret(action),
            Target::Label(l) => {
                let k = self.distance(l, 0) as u32;
                self.push(SockFilter { code: JA, jt: 0, jf: 0, k })
            }
        }
    }

    /// `if (A <op> k) goto t else goto f`.
    pub fn cond(&mut self, code: u16, k: u32, t: Target, f: Target) -> Label {
        // Each of the two targets may need one new instruction in front of it.
        let lt = self.reachable(t, 2);
        let lf = self.reachable(f, 1);
        let jt = self.distance(lt, 0);
        let jf = self.distance(lf, 0);
        debug_assert!(jt <= 255 && jf <= 255);
        self.push(SockFilter { code, jt: jt as u8, jf: jf as u8, k })
    }

    pub fn load(&mut self, offset: u32) -> Label {
        self.push(SockFilter { code: LD_W_ABS, jt: 0, jf: 0, k: offset })
    }

    pub fn and(&mut self, mask: u32) -> Label {
        self.push(SockFilter { code: ALU_AND_K, jt: 0, jf: 0, k: mask })
    }

    pub fn finish(mut self) -> Vec<SockFilter> {
        self.rev.reverse();
        self.rev
    }
}

/// Why a program would be refused by the kernel's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Empty,
    TooLong(usize),
    JumpOutOfRange(usize),
    BadLoad(usize),
    UnknownOpcode(usize),
    NoFinalReturn,
}

/// The structural checks `bpf_check_classic` and `seccomp_check_filter` make.
pub fn validate(prog: &[SockFilter]) -> Result<(), Invalid> {
    if prog.is_empty() {
        return Err(Invalid::Empty);
    }
    if prog.len() > MAX_INSNS {
        return Err(Invalid::TooLong(prog.len()));
    }
    for (pc, insn) in prog.iter().enumerate() {
        let next = pc + 1;
        match insn.code {
            LD_W_ABS => {
                if insn.k >= SECCOMP_DATA_LEN || insn.k % 4 != 0 {
                    return Err(Invalid::BadLoad(pc));
                }
            }
            ALU_AND_K | RET_K => {}
            JA => {
                if next as u64 + u64::from(insn.k) >= prog.len() as u64 {
                    return Err(Invalid::JumpOutOfRange(pc));
                }
            }
            JEQ_K | JGT_K | JGE_K | JSET_K => {
                if next + insn.jt as usize >= prog.len() || next + insn.jf as usize >= prog.len() {
                    return Err(Invalid::JumpOutOfRange(pc));
                }
            }
            _ => return Err(Invalid::UnknownOpcode(pc)),
        }
    }
    if prog[prog.len() - 1].code != RET_K {
        return Err(Invalid::NoFinalReturn);
    }
    Ok(())
}

/// The input a filter sees (`struct seccomp_data`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    fn word(&self, off: u32) -> u32 {
        match off {
            0 => self.nr,
            4 => self.arch,
            8 => self.instruction_pointer as u32,
            12 => (self.instruction_pointer >> 32) as u32,
            o => {
                let i = ((o - 16) / 8) as usize;
                let a = self.args[i];
                if (o - 16) % 8 == 0 { a as u32 } else { (a >> 32) as u32 }
            }
        }
    }
}

/// Run a validated program; returns the action and the number of instructions executed.
pub fn run(prog: &[SockFilter], data: &SeccompData) -> (u32, usize) {
    let (mut pc, mut a, mut steps) = (0usize, 0u32, 0usize);
    loop {
        let insn = prog[pc];
        steps += 1;
        pc += 1;
        match insn.code {
            LD_W_ABS => a = data.word(insn.k),
            ALU_AND_K => a &= insn.k,
            RET_K => return (insn.k, steps),
            JA => pc += insn.k as usize,
            code => {
                let taken = match code {
                    JEQ_K => a == insn.k,
                    JGT_K => a > insn.k,
                    JGE_K => a >= insn.k,
                    JSET_K => a & insn.k != 0,
                    _ => unreachable!("run() needs a validated program"),
                };
                pc += if taken { insn.jt } else { insn.jf } as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembler_lays_out_forward_jumps() {
        let mut asm = Assembler::new();
        let deny = asm.ret(1);
        let allow = asm.ret(2);
        asm.cond(JEQ_K, 7, Target::Label(allow), Target::Label(deny));
        asm.load(OFF_NR);
        let prog = asm.finish();
        validate(&prog).unwrap();
        assert_eq!(run(&prog, &SeccompData { nr: 7, ..Default::default() }).0, 2);
        assert_eq!(run(&prog, &SeccompData { nr: 8, ..Default::default() }).0, 1);
    }

    #[test]
    fn far_targets_get_trampolines_or_fresh_returns() {
        let mut asm = Assembler::new();
        asm.ret(0xdead);
        let far = asm.here();
        for i in 0..300 {
            asm.ret(i); // filler between the jump and its targets
        }
        asm.cond(JEQ_K, 1, Target::Label(far), Target::Ret(0xbeef));
        asm.load(OFF_NR);
        let prog = asm.finish();
        validate(&prog).unwrap();
        assert_eq!(run(&prog, &SeccompData { nr: 1, ..Default::default() }).0, 0xdead);
        assert_eq!(run(&prog, &SeccompData { nr: 2, ..Default::default() }).0, 0xbeef);
    }

    #[test]
    fn validate_rejects_what_the_kernel_rejects() {
        let ret = SockFilter { code: RET_K, jt: 0, jf: 0, k: 0 };
        assert_eq!(validate(&[]), Err(Invalid::Empty));
        let ld = SockFilter { code: LD_W_ABS, jt: 0, jf: 0, k: 64 };
        assert_eq!(validate(&[ld, ret]), Err(Invalid::BadLoad(0)));
        let j = SockFilter { code: JEQ_K, jt: 1, jf: 0, k: 0 };
        assert_eq!(validate(&[j, ret]), Err(Invalid::JumpOutOfRange(0)));
        assert_eq!(validate(&[ret, ld]), Err(Invalid::BadLoad(1)));
        let ld0 = SockFilter { code: LD_W_ABS, jt: 0, jf: 0, k: 0 };
        assert_eq!(validate(&[ret, ld0]), Err(Invalid::NoFinalReturn));
    }

    #[test]
    fn seccomp_data_words_are_little_endian_halves() {
        let d = SeccompData { nr: 1, arch: 2, instruction_pointer: 0, args: [0x1111_2222_3333_4444, 0, 0, 0, 0, 5 << 32] };
        assert_eq!(d.word(arg_offset(0, false)), 0x3333_4444);
        assert_eq!(d.word(arg_offset(0, true)), 0x1111_2222);
        assert_eq!(d.word(arg_offset(5, true)), 5);
    }
}
