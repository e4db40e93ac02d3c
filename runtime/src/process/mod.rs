//! The processes of a container: the runtime side of `create` ([`parent`]), the container's
//! init ([`init`]), `exec` ([`exec`]), the steps both share before exec ([`setup`]), and the
//! typed channel between runtime and child ([`channel`]).

pub mod channel;
pub mod exec;
pub mod idmap;
pub mod init;
pub mod parent;
pub mod setup;

use crate::cgroups::{Cgroup, SelfJoin};
use std::os::fd::AsRawFd;

/// Clone a child (fork-like, namespace `flags`) that is in `cg` from its first instruction or
/// enters it itself, so the parent never migrates it (a migration waits for an RCU grace
/// period under the kernel's global threadgroup lock). Created straight in the cgroup2
/// directory with `CLONE_INTO_CGROUP` when there is one (falling back to a join by
/// `cgroup.procs` when the kernel refuses), and joining the v1 hierarchies through their
/// `tasks` files. Returns the clone's result and the join the child must make first thing;
/// no join (with a cgroup) means the parent must add the child ([`Cgroup::add_process`]:
/// systemd starts its unit with the pid).
pub(crate) fn clone_self_joining(flags: u64, cg: Option<&Cgroup>) -> Result<(std::io::Result<i32>, Option<SelfJoin>), crate::cgroups::Error> {
    let Some(cg) = cg else { return Ok((crate::sys::clone_fork(flags), None)) };
    let Some(join) = cg.self_join(false) else { return Ok((crate::sys::clone_fork(flags), None)) };
    if let Some(into) = cg.unified_fd()? {
        match crate::sys::clone_fork_into(flags, Some(into.as_raw_fd())) {
            Err(e) => log::debug!("clone into the cgroup2 directory: {e}; joining by cgroup.procs"),
            r => return Ok((r, Some(join))),
        }
    }
    Ok((crate::sys::clone_fork(flags), cg.self_join(true)))
}
