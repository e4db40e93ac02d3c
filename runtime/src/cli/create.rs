//! `berth create [--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot]
//! [--no-new-keyring] [--preserve-fds N] ID`

use super::args::{flag, opt, Args, Flag};
use super::Globals;
use anyhow::Result;
use berth_runtime::{Console, CreateOptions};
use std::path::PathBuf;

pub const FLAGS: &[Flag] = &[
    opt(&["bundle", "b"]),
    opt(&["pid-file"]),
    opt(&["console-socket"]),
    flag(&["no-pivot"]),
    flag(&["no-new-keyring"]),
    opt(&["preserve-fds"]),
    opt(&["notify-socket"]),
];

pub fn options(a: &Args) -> Result<CreateOptions> {
    Ok(CreateOptions {
        pid_file: a.get("pid-file").map(abs),
        console: match a.get("console-socket") {
            Some(s) => Console::Socket(abs(s)),
            None => Console::None,
        },
        stdio: None,
        preserve_fds: a.num("preserve-fds")?.unwrap_or(0),
        no_pivot: a.bool("no-pivot"),
        no_new_keyring: a.bool("no-new-keyring"),
        start_now: false,
    })
}

pub fn bundle(a: &Args) -> PathBuf {
    PathBuf::from(a.get("bundle").unwrap_or("."))
}

fn abs(p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let a = super::args::parse("create", argv, FLAGS, None)?;
    let id = a.id("create")?;
    super::no_more("create", &a, 1)?;
    let opts = options(&a)?;
    berth_runtime::protect_exe()?;
    g.runtime()?.create(id, &bundle(&a), &opts)?;
    Ok(0)
}
