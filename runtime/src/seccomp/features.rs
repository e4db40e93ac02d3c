//! What `berth features` reports about seccomp: everything listed here is compiled and
//! tested; `supported_flags` asks the running kernel.

use super::profile::{ScmpArch, FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC, FLAG_WAIT_KILLABLE_RECV};
use oci_spec::runtime::Seccomp;
use oci_spec::runtime::{Arch, LinuxSeccompAction};

/// Every OCI action.
pub fn actions() -> Vec<LinuxSeccompAction> {
    use LinuxSeccompAction::*;
    vec![
        ScmpActAllow,
        ScmpActErrno,
        ScmpActKill,
        ScmpActKillProcess,
        ScmpActKillThread,
        ScmpActLog,
        ScmpActNotify,
        ScmpActTrace,
        ScmpActTrap,
    ]
}

/// Every OCI comparison operator.
pub fn operators() -> Vec<String> {
    ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"]
        .map(String::from)
        .to_vec()
}

/// Architectures with a syscall table (names resolve; rules are emitted for those that can
/// run on this host's kernel).
pub fn archs() -> Vec<Arch> {
    ScmpArch::ALL.iter().map(|a| a.oci()).collect()
}

const FLAGS: [(&str, u32); 4] = [
    ("SECCOMP_FILTER_FLAG_TSYNC", FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", FLAG_SPEC_ALLOW),
    ("SECCOMP_FILTER_FLAG_LOG", FLAG_LOG),
    ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", FLAG_WAIT_KILLABLE_RECV),
];

/// Filter flags berth understands.
pub fn known_flags() -> Vec<String> {
    FLAGS.iter().map(|(n, _)| n.to_string()).collect()
}

/// Known flags the running kernel accepts: seccomp(2) with a NULL program fails with EFAULT
/// once the flags passed its check, EINVAL when it does not know one.
pub fn supported_flags() -> Vec<String> {
    FLAGS
        .iter()
        .filter(|(_, bit)| {
            // WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER.
            let flags = if *bit == FLAG_WAIT_KILLABLE_RECV { bit | FLAG_NEW_LISTENER } else { *bit };
            // SAFETY: a NULL program is never installed; the kernel only validates flags.
            let r = unsafe { libc::syscall(libc::SYS_seccomp, 1 as libc::c_ulong, flags as libc::c_ulong, std::ptr::null::<u8>()) };
            r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
        })
        .map(|(n, _)| n.to_string())
        .collect()
}

/// The `linux.seccomp` object of the features document.
pub fn seccomp() -> Seccomp {
    let mut s = Seccomp::default();
    s.set_enabled(Some(true));
    s.set_actions(Some(actions()));
    s.set_operators(Some(operators()));
    s.set_archs(Some(archs()));
    s.set_known_flags(Some(known_flags()));
    s.set_supported_flags(Some(supported_flags()));
    s
}
