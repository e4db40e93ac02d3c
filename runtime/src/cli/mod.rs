//! The `berth` command line: runc's global flags and verbs, one file per verb. Each verb
//! parses its flags and calls the library; errors end as one line on stderr
//! (`berth: container "web" does not exist`) and, with `--log`, a json/text log line.

mod args;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod logging;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

use anyhow::{bail, Result};
use args::{flag, opt, Flag};
use berth_runtime::Runtime;
use std::path::PathBuf;

pub struct Globals {
    /// `--root`, or the default for who we are (an error only verbs that need state report).
    pub root: Result<StateRoot, String>,
    pub systemd_cgroup: bool,
}

pub struct StateRoot {
    pub path: PathBuf,
    /// Under $XDG_RUNTIME_DIR: made 0700 with the sticky bit, as runc does (the XDG spec's way
    /// of keeping a file from being cleaned away).
    pub xdg: bool,
}

impl Globals {
    pub fn runtime(&self) -> Result<Runtime> {
        let root = self.root.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        if root.xdg {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&root.path)
                .and_then(|_| std::fs::set_permissions(&root.path, std::fs::Permissions::from_mode(0o1700)))
                .map_err(|e| anyhow::anyhow!("state root {}: {}", root.path.display(), berth_runtime::hooks::lower(&e)))?;
        }
        Ok(Runtime { root: root.path.clone(), systemd_cgroup: self.systemd_cgroup })
    }
}

/// runc's rule: `$XDG_RUNTIME_DIR/berth` for a non-root user (and for root inside a user
/// namespace unless $USER is root), else `/run/berth` for root. A non-root user without
/// XDG_RUNTIME_DIR gets an error naming both ways out instead of a permission error on /run.
fn default_root() -> Result<StateRoot, String> {
    // SAFETY: geteuid always succeeds.
    let euid = unsafe { libc::geteuid() };
    let user = std::env::var("USER").ok();
    choose_root(std::env::var_os("XDG_RUNTIME_DIR"), euid, berth_runtime::cgroups::running_rootless, user.as_deref())
}

/// `rootless` is asked only for root with XDG_RUNTIME_DIR set (it reads /proc: start-up is hot).
fn choose_root(xdg: Option<std::ffi::OsString>, euid: u32, rootless: impl FnOnce() -> bool, user: Option<&str>) -> Result<StateRoot, String> {
    let xdg = xdg.filter(|x| !x.is_empty());
    // Root in the initial user namespace keeps /run/berth even with XDG_RUNTIME_DIR (/run/user/0).
    let honor_xdg = xdg.is_some() && (euid != 0 || (user != Some("root") && rootless()));
    match xdg {
        Some(x) if honor_xdg => Ok(StateRoot { path: PathBuf::from(x).join("berth"), xdg: true }),
        _ if euid == 0 => Ok(StateRoot { path: PathBuf::from("/run/berth"), xdg: false }),
        _ => Err(format!("running as uid {euid} without XDG_RUNTIME_DIR: set XDG_RUNTIME_DIR or pass --root DIR (the default /run/berth is root's)")),
    }
}

const GLOBAL: &[Flag] = &[
    opt(&["root"]),
    opt(&["log"]),
    opt(&["log-format"]),
    flag(&["debug"]),
    flag(&["systemd-cgroup"]),
    opt(&["rootless"]),
    opt(&["criu"]),
    flag(&["version", "v"]),
    flag(&["help", "h"]),
];

const USAGE: &str = "berth: a runc-compatible OCI container runtime

usage: berth [global flags] COMMAND [flags] [args]

commands:
  create    create a container (it waits for start)
  start     start a created container
  run       create and start a container
  state     print a container's state (json)
  kill      send a signal to a container's init (or --all processes)
  delete    delete a container (--force: even if running)
  list      list containers
  ps        processes of a container
  exec      run a process in a container
  pause     freeze a container
  resume    thaw a container
  events    container events and statistics
  update    change a container's resources
  spec      write a default config.json
  features  print what this runtime supports (json)

global flags:
  --root DIR           state directory (default /run/berth; $XDG_RUNTIME_DIR/berth
                       when not root)
  --log FILE           write logs to FILE (default stderr)
  --log-format FORMAT  text or json
  --debug              debug logging
  --systemd-cgroup     manage cgroups through systemd
  --version, -v        print the version
  --help, -h           this help
";

pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // Global flags come before the verb.
    let verb_at = first_positional(&argv);
    let (gargs, rest) = argv.split_at(verb_at);
    let globals = match args::parse("berth", gargs, GLOBAL, None) {
        Ok(g) => g,
        Err(e) => return fail(&e),
    };
    let log_format = globals.get("log-format").unwrap_or("text");
    if log_format != "text" && log_format != "json" {
        return fail(&anyhow::anyhow!("--log-format must be text or json, not {log_format:?}"));
    }
    logging::init(globals.get("log").map(PathBuf::from), log_format == "json", globals.bool("debug"));
    if globals.bool("version") {
        println!("berth version {}\nspec: {}", env!("CARGO_PKG_VERSION"), berth_runtime::spec::OCI_VERSION);
        return 0;
    }
    let Some((verb, vargs)) = rest.split_first() else {
        print!("{USAGE}");
        return if globals.bool("help") { 0 } else { 2 };
    };
    if globals.bool("help") || verb == "help" {
        print!("{USAGE}");
        return 0;
    }
    let g = Globals {
        root: match globals.get("root") {
            Some(r) => Ok(StateRoot { path: PathBuf::from(r), xdg: false }),
            None => default_root(),
        },
        systemd_cgroup: globals.bool("systemd-cgroup"),
    };
    if vargs.iter().any(|a| a == "--help" || a == "-h") && verb != "exec" {
        println!("usage: berth {verb} [flags] (see `berth --help`; flags as runc's)");
        return 0;
    }
    let r = match verb.as_str() {
        "create" => create::main(&g, vargs),
        "start" => start::main(&g, vargs),
        "run" => run::main(&g, vargs),
        "state" => state::main(&g, vargs),
        "kill" => kill::main(&g, vargs),
        "delete" | "rm" => delete::main(&g, vargs),
        "list" | "ls" => list::main(&g, vargs),
        "ps" => ps::main(&g, vargs),
        "exec" => exec::main(&g, vargs),
        "pause" => pause::main(&g, vargs, true),
        "resume" => pause::main(&g, vargs, false),
        "events" => events::main(&g, vargs),
        "update" => update::main(&g, vargs),
        "spec" => spec::main(vargs),
        "features" => features::main(vargs),
        "checkpoint" | "restore" => Err(anyhow::anyhow!("{verb}: checkpoint/restore is not supported")),
        other => Err(anyhow::anyhow!("unknown command {other:?} (see `berth --help`)")),
    };
    match r {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

fn first_positional(argv: &[String]) -> usize {
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if !a.starts_with('-') || a == "-" {
            return i;
        }
        let name = a.trim_start_matches('-');
        if !name.contains('=') && GLOBAL.iter().any(|f| f.value && f.names.contains(&name)) {
            i += 1;
        }
        i += 1;
    }
    argv.len()
}

fn fail(e: &anyhow::Error) -> i32 {
    // The library's errors already print their io cause: show each cause once.
    let mut msg = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !msg.ends_with(&c) {
            msg = if msg.is_empty() { c } else { format!("{msg}: {c}") };
        }
    }
    logging::error(&msg);
    eprintln!("berth: {msg}");
    1
}

/// Reject extra positionals.
pub fn no_more(verb: &str, a: &args::Args, n: usize) -> Result<()> {
    if a.pos.len() > n {
        bail!("{verb}: unexpected argument {:?}", a.pos[n]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_state_root_as_runc_chooses() {
        let x = || Some(std::ffi::OsString::from("/run/user/1000"));
        let path = |r: Result<StateRoot, String>| r.map(|r| (r.path, r.xdg));
        assert_eq!(path(choose_root(x(), 1000, || true, Some("me"))), Ok(("/run/user/1000/berth".into(), true)));
        assert_eq!(path(choose_root(x(), 0, || false, Some("root"))), Ok(("/run/berth".into(), false)));
        assert_eq!(path(choose_root(None, 0, || false, None)), Ok(("/run/berth".into(), false)));
        // root inside a user namespace (rootless podman, ...): XDG unless $USER is root
        assert_eq!(path(choose_root(x(), 0, || true, Some("me"))), Ok(("/run/user/1000/berth".into(), true)));
        assert_eq!(path(choose_root(x(), 0, || true, Some("root"))), Ok(("/run/berth".into(), false)));
        let e = path(choose_root(Some("".into()), 1000, || true, None)).unwrap_err();
        assert!(e.contains("XDG_RUNTIME_DIR") && e.contains("--root"), "{e}");
    }
}
