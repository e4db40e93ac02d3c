//! The user process: argv, env, cwd, credentials, capabilities, rlimits, scheduling.
//! Shared by `create` (the init) and `exec` (a process joining a container).

use super::caps::CapSets;
use super::PlanOptions;
use crate::error::{Error, Result};
use oci_spec::runtime::{IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy, PosixRlimitType, Process};
use std::ffi::CString;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    /// (RLIMIT_*, soft, hard)
    pub rlimits: Vec<(u32, u64, u64)>,
    pub caps: CapSets,
    /// The spec lists capabilities at all (none listed: all dropped).
    pub no_new_privileges: bool,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub scheduler: Option<SchedAttr>,
    /// `ioprio_set` value: class << 13 | level.
    pub io_priority: Option<i32>,
}

/// `struct sched_attr` (sched_setattr(2)).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

pub fn rlimit_number(t: PosixRlimitType) -> u32 {
    use PosixRlimitType::*;
    (match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }) as u32
}

pub fn plan_process(p: &Process, opts: &PlanOptions) -> Result<ProcessPlan> {
    let err = |s: String| Error::Spec(format!("process.{s}"));
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(err("args: empty (nothing to run)".into()));
    }
    for a in &args {
        CString::new(a.as_bytes()).map_err(|_| err("args: contains a NUL byte".into()))?;
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &env {
        if !e.contains('=') || e.starts_with('=') || e.contains('\0') {
            return Err(err(format!("env: {e:?} is not KEY=value")));
        }
    }
    let total = opts.preserve_fds + opts.listen_fds;
    if total > 0 && !env.iter().any(|e| e.starts_with("LISTEN_FDS=")) {
        env.push(format!("LISTEN_FDS={total}"));
        env.push("LISTEN_PID=1".into());
    }
    let cwd = p.cwd().clone();
    if !cwd.is_absolute() {
        return Err(err(format!("cwd: {:?} is not absolute", cwd.display())));
    }
    let user = p.user();
    let mut rlimits: Vec<(u32, u64, u64)> = Vec::new();
    for r in p.rlimits().iter().flatten() {
        let n = rlimit_number(r.typ());
        if rlimits.iter().any(|(m, _, _)| *m == n) {
            return Err(err(format!("rlimits: {:?} listed twice", r.typ())));
        }
        if r.soft() > r.hard() {
            return Err(err(format!("rlimits: {:?}: soft limit {} above hard limit {}", r.typ(), r.soft(), r.hard())));
        }
        rlimits.push((n, r.soft(), r.hard()));
    }
    let scheduler = match p.scheduler() {
        None => None,
        Some(s) => Some(plan_scheduler(s).map_err(|e| err(format!("scheduler: {e}")))?),
    };
    let io_priority = match p.io_priority() {
        None => None,
        Some(io) => {
            let class = match io.class() {
                IOPriorityClass::IoprioClassRt => 1,
                IOPriorityClass::IoprioClassBe => 2,
                IOPriorityClass::IoprioClassIdle => 3,
            };
            if !(0..=7).contains(&io.priority()) {
                return Err(err(format!("ioPriority: priority {} outside 0..7", io.priority())));
            }
            Some(class << 13 | io.priority() as i32)
        }
    };
    Ok(ProcessPlan {
        args,
        env,
        cwd,
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        rlimits,
        caps: CapSets::from_spec(p.capabilities().as_ref()),
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        terminal: p.terminal().unwrap_or(false),
        console_size: p.console_size().map(|b| (b.height().min(u16::MAX as u64) as u16, b.width().min(u16::MAX as u64) as u16)),
        scheduler,
        io_priority,
    })
}

fn plan_scheduler(s: &oci_spec::runtime::Scheduler) -> std::result::Result<SchedAttr, String> {
    use LinuxSchedulerPolicy::*;
    let policy = match s.policy() {
        SchedOther => 0,
        SchedFifo => 1,
        SchedRr => 2,
        SchedBatch => 3,
        SchedIso => 4,
        SchedIdle => 5,
        SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(format!("nice {nice} outside -20..19"));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = policy == 1 || policy == 2;
    if realtime && !(1..=99).contains(&priority) {
        return Err(format!("priority {priority} outside 1..99 for a realtime policy"));
    }
    if !realtime && priority != 0 {
        return Err("priority must be 0 unless the policy is SCHED_FIFO or SCHED_RR".into());
    }
    let (runtime, deadline, period) = (s.runtime().unwrap_or(0), s.deadline().unwrap_or(0), s.period().unwrap_or(0));
    if policy == 6 && (runtime == 0 || deadline == 0) {
        return Err("SCHED_DEADLINE needs runtime and deadline".into());
    }
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline,
        period,
    })
}
