//! containerd-shim-berth-v2: containerd's shim v2 for berth. containerd runs it three ways:
//! `... start` (daemonise a server for a container or pod, print its socket address, exit),
//! `... delete` (clean up after a dead server, print a DeleteResponse), and, through `start`, the
//! server itself, which serves the `containerd.task.v2.Task` ttrpc service on that socket and
//! creates containers through the berth runtime library in-process.

mod daemon;
mod events;
mod io;
mod logger;
mod mount;
mod server;
mod service;
mod stats;
mod sys;
mod task;
mod ttrpc;

use std::path::PathBuf;
use std::process::ExitCode;

/// The flags containerd passes (Go `flag` syntax: `-name value`, `-name=value`, `--name`).
#[derive(Debug, Default, Clone)]
pub struct Args {
    pub namespace: String,
    pub address: String,
    pub publish_binary: String,
    pub id: String,
    pub bundle: Option<PathBuf>,
    pub debug: bool,
    pub verb: Option<String>,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        i += 1;
        if !arg.starts_with('-') {
            if a.verb.is_some() {
                return Err(format!("unexpected argument {arg:?}"));
            }
            a.verb = Some(arg.clone());
            continue;
        }
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        if matches!(name, "debug" | "v" | "version") {
            match name {
                "debug" => a.debug = inline.as_deref() != Some("false"),
                _ => {
                    println!("containerd-shim-berth-v2:\n  Version: {}\n  Revision: berth\n  Go version: none (Rust)", env!("CARGO_PKG_VERSION"));
                    std::process::exit(0);
                }
            }
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let v = argv.get(i).ok_or_else(|| format!("flag -{name} needs a value"))?.clone();
                i += 1;
                v
            }
        };
        match name {
            "namespace" => a.namespace = value,
            "address" => a.address = value,
            "publish-binary" => a.publish_binary = value,
            "id" => a.id = value,
            "bundle" => a.bundle = Some(PathBuf::from(value)),
            // flags of newer containerd versions that do not change what we do
            "socket" | "ttrpc-address" => {}
            _ => return Err(format!("unknown flag -{name}")),
        }
    }
    if a.namespace.is_empty() {
        return Err("shim namespace cannot be empty (-namespace)".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("containerd-shim-berth-v2: {e}");
            return ExitCode::from(2);
        }
    };
    logger::init(args.debug);
    let result = match args.verb.as_deref() {
        Some("start") => daemon::start(&args),
        Some("delete") => daemon::delete(&args),
        None => daemon::serve(&args),
        Some(v) => Err(format!("unknown command {v:?} (expected start or delete)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("containerd-shim-berth-v2: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse_args(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn containerd_16_start_command_line() {
        let a = args("-namespace k8s.io -address /run/containerd/containerd.sock -publish-binary /usr/bin/containerd -id abc start").unwrap();
        assert_eq!((a.namespace.as_str(), a.id.as_str(), a.verb.as_deref()), ("k8s.io", "abc", Some("start")));
        assert_eq!(a.address, "/run/containerd/containerd.sock");
        assert!(!a.debug);
    }

    #[test]
    fn debug_flag_and_equals_syntax() {
        let a = args("-namespace=ns -id=x -debug -bundle /b delete").unwrap();
        assert!(a.debug);
        assert_eq!(a.bundle, Some(PathBuf::from("/b")));
        assert_eq!(a.verb.as_deref(), Some("delete"));
    }

    #[test]
    fn bad_command_lines_are_errors() {
        assert!(args("-id x start").unwrap_err().contains("namespace"));
        assert!(args("-namespace n -id").unwrap_err().contains("needs a value"));
        assert!(args("-namespace n -bogus 1").unwrap_err().contains("unknown flag"));
        assert!(args("-namespace n start extra").unwrap_err().contains("unexpected"));
    }
}
