//! A small flag parser with runc's (urfave/cli) conventions: `--name value`, `--name=value`,
//! `-name value`, short `-b value`, bools as `--flag` or `--flag=true|false`, repeatable
//! flags, `--` ending flags. No dependency: the binary stays small and starts fast.

use anyhow::{bail, Result};

/// One flag a verb accepts: its names (long first), whether it takes a value.
#[derive(Clone, Copy)]
pub struct Flag {
    pub names: &'static [&'static str],
    pub value: bool,
}

pub const fn flag(names: &'static [&'static str]) -> Flag {
    Flag { names, value: false }
}
pub const fn opt(names: &'static [&'static str]) -> Flag {
    Flag { names, value: true }
}

#[derive(Debug, Default)]
pub struct Args {
    /// (long name, value) in the order given; bools have "true"/"false".
    pub flags: Vec<(&'static str, String)>,
    pub pos: Vec<String>,
}

impl Args {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.flags.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.clone()).collect()
    }
    pub fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true"))
    }
    pub fn num(&self, name: &str) -> Result<Option<u32>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => bail!("--{name}: {v:?} is not a number"),
            },
        }
    }
    /// The one positional container id.
    pub fn id(&self, verb: &str) -> Result<&str> {
        match self.pos.first() {
            Some(id) => Ok(id),
            None => bail!("{verb}: a container id is required"),
        }
    }
}

/// Parse `argv` (after the verb). Flags may come anywhere until `stop_after` positionals
/// have been seen; after that everything is positional (`exec ID cmd --its-own-flags`).
pub fn parse(verb: &str, argv: &[String], spec: &[Flag], stop_after: Option<usize>) -> Result<Args> {
    let mut a = Args::default();
    let mut i = 0;
    let mut only_pos = false;
    while i < argv.len() {
        let t = &argv[i];
        i += 1;
        if only_pos || stop_after.is_some_and(|n| a.pos.len() >= n) {
            a.pos.push(t.clone());
            continue;
        }
        if t == "--" {
            only_pos = true;
            continue;
        }
        if t.len() < 2 || !t.starts_with('-') {
            a.pos.push(t.clone());
            continue;
        }
        let body = t.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let Some(f) = spec.iter().find(|f| f.names.contains(&name)) else {
            bail!("{verb}: unknown flag {t:?} (see `berth {verb} --help`)");
        };
        let long = f.names[0];
        if f.value {
            let v = match inline {
                Some(v) => v,
                None if i < argv.len() => {
                    i += 1;
                    argv[i - 1].clone()
                }
                None => bail!("{verb}: flag --{long} needs a value"),
            };
            a.flags.push((long, v));
        } else {
            let v = match inline.as_deref() {
                None | Some("true") | Some("1") => "true",
                Some("false") | Some("0") => "false",
                Some(v) => bail!("{verb}: flag --{long} is a boolean, not {v:?}"),
            };
            a.flags.push((long, v.to_owned()));
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }
    const SPEC: &[Flag] = &[opt(&["bundle", "b"]), flag(&["detach", "d"]), opt(&["env", "e"])];

    #[test]
    fn forms() {
        let a = parse("run", &s(&["-b", "/x", "--detach", "id"]), SPEC, None).unwrap();
        assert_eq!(a.get("bundle"), Some("/x"));
        assert!(a.bool("detach"));
        assert_eq!(a.pos, vec!["id"]);
        let a = parse("run", &s(&["--bundle=/y", "-detach=false", "id"]), SPEC, None).unwrap();
        assert_eq!(a.get("bundle"), Some("/y"));
        assert!(!a.bool("detach"));
    }

    #[test]
    fn stop_after_positionals() {
        let a = parse("exec", &s(&["-e", "A=1", "-e", "B=2", "id", "sh", "-c", "echo -d"]), SPEC, Some(1)).unwrap();
        assert_eq!(a.all("env"), vec!["A=1", "B=2"]);
        assert_eq!(a.pos, vec!["id", "sh", "-c", "echo -d"]);
    }

    #[test]
    fn errors() {
        assert!(parse("run", &s(&["--nope"]), SPEC, None).is_err());
        assert!(parse("run", &s(&["--bundle"]), SPEC, None).is_err());
        assert!(parse("run", &s(&["--detach=maybe"]), SPEC, None).is_err());
    }
}
