//! `berth exec [flags] ID [COMMAND [ARG...]]`, or `--process process.json` instead of a
//! command. Without --process the container's own process (env, cwd, user, capabilities,
//! rlimits, no_new_privileges) is the base, as runc does.

use super::args::{flag, opt, Flag};
use super::Globals;
use anyhow::{anyhow, bail, Context, Result};
use berth_runtime::plan::caps;
use berth_runtime::{Console, ExecOptions};
use oci_spec::runtime::{Capability, Process};
use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

const FLAGS: &[Flag] = &[
    opt(&["process", "p"]),
    flag(&["tty", "t"]),
    flag(&["detach", "d"]),
    opt(&["console-socket"]),
    opt(&["pid-file"]),
    opt(&["env", "e"]),
    opt(&["cwd"]),
    opt(&["user", "u"]),
    opt(&["additional-gids", "g"]),
    opt(&["cap", "c"]),
    flag(&["no-new-privs"]),
    opt(&["preserve-fds"]),
    opt(&["process-label"]),
    opt(&["apparmor"]),
    opt(&["cgroup"]),
    flag(&["ignore-paused"]),
];

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("exec", argv, FLAGS, Some(1))?;
    let id = a.id("exec")?;
    let c = g.runtime()?.load(id)?;
    let mut process: Process = match a.get("process") {
        Some(p) => {
            let raw = std::fs::read(p).with_context(|| format!("process file {p}"))?;
            serde_json::from_slice(&raw).map_err(|e| anyhow!("process file {p}: invalid: {e}"))?
        }
        None => {
            let args: Vec<String> = a.pos[1..].to_vec();
            if args.is_empty() {
                bail!("exec: a command (or --process) is required");
            }
            let mut p = c.config()?.process().clone().ok_or_else(|| anyhow!("container {id:?} has no process in its config"))?;
            p.set_args(Some(args));
            p.set_terminal(Some(false));
            p.set_console_size(None);
            p
        }
    };
    if a.get("process").is_some() && a.pos.len() > 1 {
        bail!("exec: give either --process or a command, not both");
    }
    if a.bool("tty") {
        process.set_terminal(Some(true));
    }
    let mut env = process.env().clone().unwrap_or_default();
    for e in a.all("env") {
        let key = e.split('=').next().unwrap_or("").to_owned();
        env.retain(|x| x.split('=').next() != Some(&key));
        env.push(e);
    }
    process.set_env(Some(env));
    if let Some(cwd) = a.get("cwd") {
        process.set_cwd(PathBuf::from(cwd));
    }
    if let Some(u) = a.get("user") {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u, None),
        };
        let mut user = process.user().clone();
        user.set_uid(uid.parse().map_err(|_| anyhow!("exec: --user {u:?}: expected uid[:gid] numbers"))?);
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| anyhow!("exec: --user {u:?}: expected uid[:gid] numbers"))?);
        }
        process.set_user(user);
    }
    let gids = a.all("additional-gids");
    if !gids.is_empty() {
        let mut user = process.user().clone();
        let parsed: Result<Vec<u32>> = gids.iter().flat_map(|g| g.split(',').map(str::to_owned).collect::<Vec<_>>()).map(|g| g.parse().map_err(|_| anyhow!("exec: --additional-gids {g:?}: not a number"))).collect();
        user.set_additional_gids(Some(parsed?));
        process.set_user(user);
    }
    let extra_caps = a.all("cap");
    if !extra_caps.is_empty() {
        let mut pc = process.capabilities().clone().unwrap_or_default();
        let add = |set: Option<HashSet<Capability>>, c: Capability| -> Option<HashSet<Capability>> {
            let mut s = set.unwrap_or_default();
            s.insert(c);
            Some(s)
        };
        for name in extra_caps {
            if caps::number(&name).is_none() {
                bail!("exec: unknown capability {name:?}");
            }
            let bare = name.to_ascii_uppercase();
            let bare = bare.strip_prefix("CAP_").unwrap_or(&bare).to_owned();
            let cap = Capability::from_str(&bare).map_err(|_| anyhow!("exec: unknown capability {name:?}"))?;
            pc.set_bounding(add(pc.bounding().clone(), cap));
            pc.set_effective(add(pc.effective().clone(), cap));
            pc.set_permitted(add(pc.permitted().clone(), cap));
            pc.set_inheritable(add(pc.inheritable().clone(), cap));
        }
        process.set_capabilities(Some(pc));
    }
    if a.bool("no-new-privs") {
        process.set_no_new_privileges(Some(true));
    }
    let detach = a.bool("detach");
    let console = match a.get("console-socket") {
        Some(s) => Console::Socket(PathBuf::from(s)),
        None if process.terminal().unwrap_or(false) && !detach => Console::ReturnMaster,
        None => Console::None,
    };
    let opts = ExecOptions { console, stdio: None, preserve_fds: a.num("preserve-fds")?.unwrap_or(0), pid_file: a.get("pid-file").map(PathBuf::from) };
    berth_runtime::protect_exe()?;
    if !detach {
        super::run::block_forwarded_signals();
    }
    let p = c.exec(&process, &opts)?;
    if detach {
        return Ok(0);
    }
    Ok(super::run::wait_foreground(p.pid, p.pty_master))
}
