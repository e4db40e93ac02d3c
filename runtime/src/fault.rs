//! Fault injection for the load-and-faults tests (cargo feature `fault-injection`, off by
//! default: without it [`at`] is an empty inline function and release binaries carry none of
//! this). Built into the `berth-fault` binary only.
//!
//! `BERTH_FAULT=<step>` makes `create` fail at that step, as a real failure there would;
//! `BERTH_FAULT=pause:<step>` makes the process reaching the step (the runtime or the
//! container's init) print `berth-fault: paused at <step> pid <pid>` on stderr and sleep
//! forever, so a test can `kill -9` a create midway.
//!
//! The variable is read once, in the runtime, before the init is cloned (the init is a fork
//! of it and must not touch the environment lock).

/// Every step, in the order `create` passes them, with the side that checks it.
pub const STEPS: &[&str] = &[
    "state-dir",        // runtime: the state dir exists, nothing else yet
    "clone",            // init: cloned with its namespaces, death signal set
    "namespaces",       // init: uid/gid maps written, pid/time namespace entered
    "cgroup",           // runtime: the init joined its cgroup, limits applied
    "mounts",           // init: rootfs mounts and devices made (before pivot_root)
    "create-runtime",   // runtime: after the prestart/createRuntime hooks
    "create-container", // init: after the createContainer hooks
    "pivot",            // init: after pivot_root, masked/read-only paths, sysctl
    "before-exec",      // init: credentials, capabilities, seccomp prepared; not yet ready
    "state-file",       // runtime: the init is ready; state.json not yet written
    "pid-file",         // runtime: state.json and the pid file written; init not released
];

#[cfg(feature = "fault-injection")]
mod imp {
    use std::sync::OnceLock;

    /// (pause instead of fail, step)
    static FAULT: OnceLock<Option<(bool, String)>> = OnceLock::new();

    pub fn load() {
        FAULT.get_or_init(|| {
            let v = std::env::var("BERTH_FAULT").ok().filter(|v| !v.is_empty())?;
            Some(match v.strip_prefix("pause:") {
                Some(step) => (true, step.to_owned()),
                None => (false, v),
            })
        });
    }

    pub fn at(step: &str) -> Result<(), String> {
        match FAULT.get() {
            Some(Some((pause, s))) if s == step => {
                if *pause {
                    // One write(2): the line must not interleave with other processes' output.
                    let line = format!("berth-fault: paused at {step} pid {}\n", std::process::id());
                    let _ = crate::sys::write_all(2, line.as_bytes());
                    loop {
                        // SAFETY: waits for a signal; the test kills us.
                        unsafe { libc::pause() };
                    }
                }
                Err(format!("injected fault at step {step}"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "fault-injection")]
pub use imp::{at, load};

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn load() {}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn at(_step: &str) -> Result<(), String> {
    Ok(())
}
