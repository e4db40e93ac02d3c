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
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

impl Globals {
    pub fn runtime(&self) -> Runtime {
        Runtime { root: self.root.clone(), systemd_cgroup: self.systemd_cgroup }
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
  --root DIR           state directory (default /run/berth)
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
        root: PathBuf::from(globals.get("root").unwrap_or("/run/berth")),
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
    let msg = format!("{e:#}");
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
