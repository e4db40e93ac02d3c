//! OCI hooks: each run with the container state JSON on stdin, its own argv and env, and a
//! timeout; output is captured for the error message.

use crate::error::{Error, Result};
use crate::sys;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookPlan {
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub timeout: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prestart: Vec<HookPlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_runtime: Vec<HookPlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_container: Vec<HookPlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<HookPlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<HookPlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<HookPlan>,
}

impl Hooks {
    pub fn from_spec(h: Option<&oci_spec::runtime::Hooks>) -> Result<Hooks> {
        let Some(h) = h else { return Ok(Hooks::default()) };
        let conv = |name: &str, list: &Option<Vec<oci_spec::runtime::Hook>>| -> Result<Vec<HookPlan>> {
            list.iter()
                .flatten()
                .map(|k| {
                    if !k.path().is_absolute() {
                        return Err(Error::Spec(format!("hooks.{name}: path {:?} is not absolute", k.path().display())));
                    }
                    if let Some(t) = k.timeout() {
                        if t <= 0 {
                            return Err(Error::Spec(format!("hooks.{name}: timeout {t} must be positive")));
                        }
                    }
                    Ok(HookPlan {
                        path: k.path().to_string_lossy().into_owned(),
                        args: k.args().clone().unwrap_or_default(),
                        env: k.env().clone().unwrap_or_default(),
                        timeout: k.timeout(),
                    })
                })
                .collect()
        };
        #[allow(deprecated)]
        let prestart = conv("prestart", h.prestart())?;
        Ok(Hooks {
            prestart,
            create_runtime: conv("createRuntime", h.create_runtime())?,
            create_container: conv("createContainer", h.create_container())?,
            start_container: conv("startContainer", h.start_container())?,
            poststart: conv("poststart", h.poststart())?,
            poststop: conv("poststop", h.poststop())?,
        })
    }

    pub fn get(&self, name: &str) -> &[HookPlan] {
        match name {
            "prestart" => &self.prestart,
            "createRuntime" => &self.create_runtime,
            "createContainer" => &self.create_container,
            "startContainer" => &self.start_container,
            "poststart" => &self.poststart,
            "poststop" => &self.poststop,
            _ => &[],
        }
    }
}

/// Run every hook of a list in order; the first failure stops the list.
pub fn run_all(id: &str, name: &'static str, hooks: &[HookPlan], state_json: &[u8]) -> Result<()> {
    for h in hooks {
        run_one(h, state_json).map_err(|reason| Error::Hook { id: id.to_owned(), hook: name, path: h.path.clone(), reason })?;
    }
    Ok(())
}

fn run_one(h: &HookPlan, state: &[u8]) -> std::result::Result<(), String> {
    let mut cmd = Command::new(&h.path);
    if let Some((argv0, rest)) = h.args.split_first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for e in &h.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    {
        use std::os::unix::process::CommandExt;
        // A hook lives no longer than the runtime waiting for it: a `create` killed while a
        // hook runs must not leave the hook behind (it would run on, e.g. for a container
        // `delete --force` has already removed).
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl, getppid and _exit are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The runtime died before the death signal was armed.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            })
        };
    }
    let mut child = cmd.spawn().map_err(|e| lower(&e))?;
    // The hook may exit without reading its stdin: a broken pipe is not our error.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state);
    }
    let pidfd = sys::pidfd_open(child.id() as i32).map_err(|e| lower(&e))?;
    let timeout_ms = h.timeout.map(|t| (t.min(i32::MAX as i64 / 1000) * 1000) as i32).unwrap_or(-1);
    let done = sys::poll_in(pidfd.as_fd(), timeout_ms).map_err(|e| lower(&e))?;
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("timed out after {}s", h.timeout.unwrap_or(0)));
    }
    let status = child.wait().map_err(|e| lower(&e))?;
    if status.success() {
        return Ok(());
    }
    let mut out = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut out);
    }
    if out.trim().is_empty() {
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
    }
    let out = out.trim().replace('\n', " ");
    let code = match status.code() {
        Some(c) => format!("exit status {c}"),
        None => format!("killed by signal {}", std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)),
    };
    Err(if out.is_empty() { code } else { format!("{code}: {}", truncate(&out, 400)) })
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub fn lower(e: &std::io::Error) -> String {
    let mut s = e.to_string();
    if let Some(i) = s.find(" (os error") {
        s.truncate(i);
    }
    s.to_lowercase()
}
