//! cgroup v2 device control: an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE`, assembled
//! here from the emulated rule set, loaded with `bpf(BPF_PROG_LOAD)` and attached to the
//! container's cgroup with `bpf(BPF_PROG_ATTACH)`.
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (access in the high 16 bits of `access_type`, device type in the low 16) and returns 1 to
//! allow, 0 to deny. Each exception becomes a block "type, access, major, minor all match ->
//! return its action"; the end returns the default. A request matches an exception when all
//! the access it asks for is within the exception's (runc's semantics).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::emulator::Emulator;
use super::{Kind, Rule};
use crate::cgroups::Error;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst in the low nibble, src in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes used (see linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | (dst & 0xf), off, imm }
}

/// Registers after the prologue: r2 device type, r3 requested access, r4 major, r5 minor.
fn prologue() -> [Insn; 6] {
    [
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ]
}

/// The program enforcing `rules` applied after a deny-all.
pub fn program(rules: &[Rule]) -> Result<Vec<Insn>, Error> {
    let emu = Emulator::from_rules(rules)?;
    let mut out: Vec<Insn> = prologue().to_vec();
    for r in emu.rules() {
        // Each check jumps to the end of this block on mismatch; offsets are fixed up once
        // the block's length is known.
        let mut block: Vec<Insn> = Vec::with_capacity(8);
        let mut jumps: Vec<usize> = Vec::new();
        match r.kind {
            Kind::Block => {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_BLOCK));
            }
            Kind::Char => {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_CHAR));
            }
            Kind::All => {}
        }
        if r.access.0 != 7 {
            block.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            block.push(insn(ALU32_AND_K, 1, 0, 0, i32::from(r.access.0)));
            jumps.push(block.len());
            block.push(insn(JMP_JNE_X, 1, 3, 0, 0));
        }
        for (reg, v) in [(4u8, r.major), (5u8, r.minor)] {
            if let Some(v) = v {
                // The kernel compares 64-bit registers with a sign-extended 32-bit immediate.
                let imm = i32::try_from(v).map_err(|_| Error::InvalidResource {
                    what: "devices".into(),
                    reason: format!("device number {v} in \"{r}\" is too large"),
                })?;
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, reg, 0, 0, imm));
            }
        }
        block.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let end = block.len();
        for j in jumps {
            block[j].off = (end - j - 1) as i16;
        }
        out.extend(block);
    }
    out.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(emu.default_allow)));
    out.push(insn(JMP_EXIT, 0, 0, 0, 0));
    Ok(out)
}

// bpf(2) commands and constants.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: attr is a properly laid-out, zero-initialised bpf_attr prefix of size_of::<T>().
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn bpf_err(op: &str, path: &Path, e: io::Error) -> Error {
    Error::Unsupported(format!("device rules for {}: bpf {op}: {e}", path.display()))
}

/// Load the program for `rules` and make it the device filter of the cgroup at `dir`,
/// replacing any filter we attached before (new one attached first, so there is no window
/// without a filter).
pub fn apply(dir: &Path, rules: &[Rule]) -> Result<(), Error> {
    let insns = program(rules)?;
    let prog = load(&insns).map_err(|e| bpf_err("load", dir, e))?;
    let cg = std::fs::File::open(dir).map_err(|source| Error::Read { path: dir.into(), source })?;
    let old = query(&cg).map_err(|e| bpf_err("query", dir, e))?;
    let mut attach = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|e| bpf_err("attach", dir, e))?;
    for id in old {
        let mut get = GetFdAttr { prog_id: id, ..Default::default() };
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut get) else { continue };
        // SAFETY: the kernel just returned this new fd.
        let old_prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut detach = AttachAttr {
            target_fd: cg.as_raw_fd() as u32,
            attach_bpf_fd: old_prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut detach).map_err(|e| bpf_err("detach", dir, e))?;
    }
    Ok(())
}

fn load(insns: &[Insn]) -> io::Result<OwnedFd> {
    let license = b"Apache\0";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    attr.prog_name[..12].copy_from_slice(b"berth_device");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: the kernel returned a new fd.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EACCES) => {
            // Load again with the verifier's log, to say why.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let r = bpf(BPF_PROG_LOAD, &mut attr);
            if let Ok(fd) = r {
                // SAFETY: as above.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
            }
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            Err(io::Error::new(e.kind(), format!("{e}; verifier: {last}")))
        }
        Err(e) => Err(e),
    }
}

/// Ids of the device programs attached directly to the cgroup.
fn query(cg: &std::fs::File) -> io::Result<Vec<u32>> {
    let mut ids = [0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    Ok(ids[..(attr.prog_cnt as usize).min(ids.len())].to_vec())
}

/// The ids of the device programs attached to `dir` (for tests and diagnostics).
pub fn attached(dir: &Path) -> Result<Vec<u32>, Error> {
    let cg = std::fs::File::open(dir).map_err(|source| Error::Read { path: dir.into(), source })?;
    query(&cg).map_err(|e| bpf_err("query", dir, e))
}

#[cfg(test)]
mod tests {
    use super::super::{effective_rules, Access, DEFAULT_ALLOWED};
    use super::*;
    use crate::cgroups::resources::Intent;

    /// Run the program the way the kernel would, for a (type, access, major, minor) request.
    fn run(prog: &[Insn], ty: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | ty, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_AND_K => r[dst] = u64::from((r[dst] as u32) & i.imm as u32),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP_JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                JMP_JNE_X => {
                    if r[dst] != r[src] {
                        pc += i.off as usize;
                    }
                }
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    const R: u32 = Access::READ as u32;
    const W: u32 = Access::WRITE as u32;
    const M: u32 = Access::MKNOD as u32;

    #[test]
    fn default_list_allows_standard_devices_only() {
        let rules = effective_rules(None, Intent::Create).unwrap().unwrap();
        let p = program(&rules).unwrap();
        assert_eq!(run(&p, 2, R | W, 1, 3), 1, "/dev/null rw");
        assert_eq!(run(&p, 2, R, 136, 7), 1, "/dev/pts/7");
        assert_eq!(run(&p, 2, M, 8, 0), 1, "mknod any char");
        assert_eq!(run(&p, 1, M, 8, 0), 1, "mknod any block");
        assert_eq!(run(&p, 1, R, 8, 0), 0, "read /dev/sda");
        assert_eq!(run(&p, 2, R, 10, 229), 0, "/dev/fuse");
        assert_eq!(run(&p, 2, R | M, 10, 229), 0, "read+mknod needs both");
    }

    #[test]
    fn spec_rules_and_allow_all_with_denies() {
        let mut rules = vec![Rule { allow: true, kind: Kind::All, major: None, minor: None, access: Access::ALL }];
        rules.push(Rule { allow: false, kind: Kind::Char, major: Some(1), minor: Some(9), access: Access(Access::READ) });
        let p = program(&rules).unwrap();
        assert_eq!(run(&p, 1, R, 8, 0), 1);
        assert_eq!(run(&p, 2, R, 1, 9), 0);
        // runc's matching: a deny applies when all requested access is within it
        assert_eq!(run(&p, 2, W, 1, 9), 1);
        rules.extend_from_slice(&DEFAULT_ALLOWED); // re-allows /dev/urandom rwm
        let p = program(&rules).unwrap();
        assert_eq!(run(&p, 2, R, 1, 9), 1);
    }

    #[test]
    fn access_subsets() {
        let rules = [Rule { allow: true, kind: Kind::Char, major: Some(10), minor: None, access: Access(Access::READ | Access::WRITE) }];
        let p = program(&rules).unwrap();
        assert_eq!(run(&p, 2, R, 10, 1), 1);
        assert_eq!(run(&p, 2, R | W, 10, 1), 1);
        assert_eq!(run(&p, 2, M, 10, 1), 0);
        assert_eq!(run(&p, 1, R, 10, 1), 0, "block device of the same number");
    }
}
