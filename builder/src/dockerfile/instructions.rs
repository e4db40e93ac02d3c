//! Typed instructions: each logical line checked for its arguments and flags, stages formed.
//! Everything here is static (no variable values yet): what fails here fails before any work.

use super::flags::{suggest, Flags, Kind};
use super::lines::{chomp_heredoc, parse_heredoc, Heredoc, Node};
use super::mount::parse_mount;
use super::ParseError;
use std::time::Duration;

/// A whole Dockerfile: global ARGs (before the first FROM) and stages.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    pub meta_args: Vec<Located<Vec<ArgDecl>>>,
    pub stages: Vec<Stage>,
    pub escape: char,
    pub syntax: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Located<T> {
    pub line: usize,
    pub end_line: usize,
    /// The instruction's logical line as written (continuations joined).
    pub original: String,
    pub inner: T,
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The image or stage name, before substitution.
    pub base: String,
    pub platform: Option<String>,
    pub line: usize,
    pub original: String,
    pub instructions: Vec<Located<Instruction>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub key: String,
    pub default: Option<String>,
}

/// RUN/CMD/ENTRYPOINT arguments: a shell-form string (one element) or an exec-form list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub args: Vec<String>,
    /// Shell form: run through the image's SHELL.
    pub prepend_shell: bool,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub cmd: CommandLine,
    /// `--mount` values, substituted and parsed again when the step runs.
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Check {
        /// `["CMD", args...]` or `["CMD-SHELL", "cmd"]`.
        test: Vec<String>,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

/// A heredoc used as a COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSource {
    pub name: String,
    pub data: String,
    pub expand: bool,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    pub add: bool,
    pub sources: Vec<String>,
    pub inline: Vec<InlineSource>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub unpack: Option<bool>,
    /// Arguments came as a JSON array (sources are not split on spaces).
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Arg(Vec<ArgDecl>),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Maintainer(String),
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Shell(Vec<String>),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    Expose(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Copy(CopySpec),
    Onbuild(String),
}

impl Instruction {
    pub fn name(&self) -> &'static str {
        match self {
            Instruction::Arg(_) => "ARG",
            Instruction::Env(_) => "ENV",
            Instruction::Label(_) => "LABEL",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Shell(_) => "SHELL",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Copy(c) if c.add => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Onbuild(_) => "ONBUILD",
        }
    }
}

pub const INSTRUCTIONS: &[&str] = &[
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD",
    "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
];

enum Parsed {
    From(Stage),
    Cmd(Instruction),
}

/// Build the typed Dockerfile from its logical lines.
pub fn from_nodes(lines: super::lines::Lines) -> Result<Dockerfile, ParseError> {
    let mut df = Dockerfile { meta_args: Vec::new(), stages: Vec::new(), escape: lines.escape, syntax: lines.syntax, warnings: lines.warnings };
    for node in &lines.nodes {
        let upper = node.cmd.to_ascii_uppercase();
        let parsed = parse_node(node).map_err(|m| ParseError::at(node.start_line, Some(&upper), m))?;
        match parsed {
            Parsed::From(mut st) => {
                st.index = df.stages.len();
                df.stages.push(st);
            }
            Parsed::Cmd(ins) => {
                let located = Located { line: node.start_line, end_line: node.end_line, original: node.original.clone(), inner: ins };
                match df.stages.last_mut() {
                    Some(st) => st.instructions.push(located),
                    None => match located.inner {
                        Instruction::Arg(a) => df.meta_args.push(Located { line: located.line, end_line: located.end_line, original: located.original, inner: a }),
                        other => {
                            return Err(ParseError::at(
                                node.start_line,
                                Some(&upper),
                                format!("no build stage in current context: {} must come after FROM", other.name()),
                            ))
                        }
                    },
                }
            }
        }
    }
    if df.stages.is_empty() {
        return Err(ParseError::at(lines.nodes.last().map_or(0, |n| n.end_line), None, "no build stage in current context: a Dockerfile needs a FROM".into()));
    }
    // Stage names must be unique.
    for (i, s) in df.stages.iter().enumerate() {
        if let Some(n) = &s.name {
            if df.stages[..i].iter().any(|o| o.name.as_deref() == Some(n)) {
                return Err(ParseError::at(s.line, Some("FROM"), format!("duplicate stage name {n:?}")));
            }
        }
    }
    Ok(df)
}

/// Parse a single instruction (an ONBUILD trigger when it is run later).
pub fn parse_instruction(node: &Node) -> Result<Instruction, String> {
    match parse_node(node)? {
        Parsed::Cmd(i) => Ok(i),
        Parsed::From(_) => Err("FROM isn't allowed as an ONBUILD trigger".into()),
    }
}

fn parse_node(node: &Node) -> Result<Parsed, String> {
    let lower = node.cmd.to_ascii_lowercase();
    let args = &node.args;
    let f = Flags::new(&node.flags);
    let ins = match lower.as_str() {
        "from" => {
            let f = f.declare("platform", Kind::Str).parse()?;
            let name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let n = args[2].to_ascii_lowercase();
                    if !valid_stage_name(&n) {
                        return Err(format!("invalid name for build stage: {:?}, name can't start with a number or contain symbols", args[2]));
                    }
                    Some(n)
                }
                1 => None,
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            return Ok(Parsed::From(Stage {
                index: 0,
                name,
                base: args[0].clone(),
                platform: f.string("platform"),
                line: node.start_line,
                original: node.original.trim().to_string(),
                instructions: Vec::new(),
            }));
        }
        "arg" => {
            f.parse()?;
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut decls = Vec::new();
            for a in args {
                let d = match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => ArgDecl { key: k.to_string(), default: Some(v.to_string()) },
                    None => ArgDecl { key: a.clone(), default: None },
                };
                decls.push(d);
            }
            Instruction::Arg(decls)
        }
        "env" | "label" => {
            f.parse()?;
            let what = lower.to_ascii_uppercase();
            if args.is_empty() {
                return Err(at_least_one(&what));
            }
            let mut kv = Vec::new();
            for pair in args.chunks(2) {
                if pair[0].is_empty() {
                    return Err(format!("{what} names can not be blank"));
                }
                kv.push((pair[0].clone(), pair.get(1).cloned().unwrap_or_default()));
            }
            if lower == "env" {
                Instruction::Env(kv)
            } else {
                Instruction::Label(kv)
            }
        }
        "maintainer" => {
            f.parse()?;
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            Instruction::Maintainer(args[0].clone())
        }
        "run" => {
            let f = f.declare("mount", Kind::Strings).declare("network", Kind::Str).declare("security", Kind::Str).declare("device", Kind::Strings).parse()?;
            if f.is_set("device") {
                return Err("RUN --device is not supported".into());
            }
            let mounts = f.strings("mount");
            for m in &mounts {
                // Values with variables are checked again after substitution.
                if !m.contains('$') {
                    parse_mount(m)?;
                }
            }
            if let Some(n) = f.string("network") {
                if !n.contains('$') && !matches!(n.as_str(), "default" | "none" | "host") {
                    return Err(format!("unsupported network mode {n:?}: use none, default or host"));
                }
            }
            if let Some(s) = f.string("security") {
                if !matches!(s.as_str(), "sandbox" | "insecure") {
                    return Err(format!("unsupported security mode {s:?}"));
                }
            }
            let cmd = command_line(node, false);
            if cmd.args.is_empty() && cmd.prepend_shell {
                return Err(at_least_one("RUN"));
            }
            Instruction::Run(Run { cmd, mounts, network: f.string("network"), security: f.string("security") })
        }
        "cmd" => {
            f.parse()?;
            Instruction::Cmd(command_line(node, false))
        }
        "entrypoint" => {
            f.parse()?;
            Instruction::Entrypoint(command_line(node, true))
        }
        "shell" => {
            f.parse()?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err(format!("SHELL requires the arguments to be in JSON form: {}", node.original.trim()));
            }
            Instruction::Shell(args.clone())
        }
        "workdir" => {
            f.parse()?;
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            Instruction::Workdir(args[0].clone())
        }
        "user" => {
            f.parse()?;
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            Instruction::User(args[0].clone())
        }
        "volume" => {
            f.parse()?;
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            let mut v = Vec::new();
            for a in args {
                let a = a.trim();
                if a.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                v.push(a.to_string());
            }
            Instruction::Volume(v)
        }
        "expose" => {
            f.parse()?;
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            for p in args {
                if !p.contains('$') {
                    parse_port(p)?;
                }
            }
            Instruction::Expose(args.clone())
        }
        "stopsignal" => {
            f.parse()?;
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            if !args[0].contains('$') {
                parse_signal(&args[0])?;
            }
            Instruction::StopSignal(args[0].clone())
        }
        "healthcheck" => {
            if args.is_empty() {
                return Err(at_least_one("HEALTHCHECK"));
            }
            let typ = args[0].to_ascii_uppercase();
            if typ == "NONE" {
                f.parse()?;
                if args.len() > 1 {
                    return Err("HEALTHCHECK NONE takes no arguments".into());
                }
                Instruction::Healthcheck(Healthcheck::None)
            } else {
                let f = f
                    .declare("interval", Kind::Str)
                    .declare("timeout", Kind::Str)
                    .declare("start-period", Kind::Str)
                    .declare("start-interval", Kind::Str)
                    .declare("retries", Kind::Str)
                    .parse()?;
                if typ != "CMD" {
                    return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
                }
                let rest = &args[1..];
                if rest.is_empty() || (!node.json && rest.join(" ").is_empty()) {
                    return Err("Missing command after HEALTHCHECK CMD".into());
                }
                let test = if node.json {
                    std::iter::once("CMD".to_string()).chain(rest.iter().cloned()).collect()
                } else {
                    vec!["CMD-SHELL".to_string(), rest.join(" ")]
                };
                let dur = |name: &str| -> Result<Option<Duration>, String> {
                    match f.string(name) {
                        None => Ok(None),
                        Some(s) if s.is_empty() => Ok(None),
                        Some(s) => {
                            let d = parse_go_duration(&s)?;
                            if d < Duration::from_millis(1) {
                                return Err(format!("Interval {name:?} cannot be less than 1ms"));
                            }
                            Ok(Some(d))
                        }
                    }
                };
                let retries = match f.string("retries") {
                    None => None,
                    Some(r) => {
                        let n: i64 = r.parse().map_err(|_| format!("invalid value {r:?} for --retries"))?;
                        if n < 1 {
                            return Err(format!("--retries must be at least 1 (not {n})"));
                        }
                        Some(u32::try_from(n).map_err(|_| format!("--retries out of range: {n}"))?)
                    }
                };
                Instruction::Healthcheck(Healthcheck::Check {
                    test,
                    interval: dur("interval")?,
                    timeout: dur("timeout")?,
                    start_period: dur("start-period")?,
                    start_interval: dur("start-interval")?,
                    retries,
                })
            }
        }
        "copy" | "add" => {
            let add = lower == "add";
            let what = lower.to_ascii_uppercase();
            let mut f = f.declare("chown", Kind::Str).declare("chmod", Kind::Str).declare("link", Kind::Bool).declare("exclude", Kind::Strings);
            f = if add {
                f.declare("checksum", Kind::Str).declare("keep-git-dir", Kind::Bool).declare("unpack", Kind::Bool)
            } else {
                f.declare("from", Kind::Str).declare("parents", Kind::Bool)
            };
            let f = f.parse()?;
            if args.len() < 2 {
                return Err(format!("{what} requires at least two arguments, but only one was provided. Destination could not be determined"));
            }
            let dest = args[args.len() - 1].clone();
            if parse_heredoc(&dest).ok().flatten().is_some() {
                return Err(format!("{what} cannot accept a heredoc as a destination"));
            }
            let mut sources = Vec::new();
            let mut inline = Vec::new();
            for s in &args[..args.len() - 1] {
                match parse_heredoc(s).ok().flatten() {
                    Some(h) if !node.json => {
                        let body = node.heredocs.iter().find(|d| d.name == h.name).map(|d| d.content.clone()).unwrap_or_default();
                        let data = if h.chomp { chomp_heredoc(&body) } else { body };
                        inline.push(InlineSource { name: h.name, data, expand: h.expand });
                    }
                    _ => sources.push(s.clone()),
                }
            }
            if let Some(m) = f.string("chmod") {
                if !m.contains('$') {
                    parse_chmod(&m)?;
                }
            }
            let checksum = f.string("checksum");
            if let Some(c) = &checksum {
                if !c.contains('$') {
                    check_digest(c)?;
                }
            }
            Instruction::Copy(CopySpec {
                add,
                sources,
                inline,
                dest,
                from: f.string("from"),
                chown: f.string("chown"),
                chmod: f.string("chmod"),
                link: f.bool("link"),
                parents: f.bool("parents"),
                excludes: f.strings("exclude"),
                checksum,
                keep_git_dir: f.bool("keep-git-dir"),
                unpack: if f.is_set("unpack") { Some(f.bool("unpack")) } else { None },
                json: node.json,
            })
        }
        "onbuild" => {
            f.parse()?;
            let Some(sub) = &node.sub else { return Err(at_least_one("ONBUILD")) };
            let trigger = sub.cmd.to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
                "MAINTAINER" | "FROM" => return Err(format!("{trigger} isn't allowed as an ONBUILD trigger")),
                _ => {}
            }
            // Check the trigger now: a broken trigger should fail this build, not the next one.
            let mut sub = (**sub).clone();
            sub.heredocs = node.heredocs.clone();
            parse_instruction(&sub).map_err(|e| format!("{trigger}: {e}"))?;
            let trimmed = node.original.trim_start();
            let mut expr = trimmed[node.cmd.len()..].trim_start().to_string();
            for h in &node.heredocs {
                expr.push('\n');
                expr.push_str(&h.content);
                expr.push_str(&h.name);
            }
            Instruction::Onbuild(expr)
        }
        _ => {
            return Err(match suggest(&node.cmd, INSTRUCTIONS) {
                Some(s) => format!("unknown instruction: {} (did you mean {s}?)", node.cmd),
                None => format!("unknown instruction: {}", node.cmd),
            })
        }
    };
    Ok(Parsed::Cmd(ins))
}

fn command_line(node: &Node, empty_as_nil: bool) -> CommandLine {
    let args = if node.json || node.args.is_empty() { node.args.clone() } else { vec![node.args.join(" ")] };
    let _ = empty_as_nil;
    CommandLine { args, prepend_shell: !node.json, heredocs: node.heredocs.clone() }
}

fn valid_stage_name(n: &str) -> bool {
    let mut cs = n.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_lowercase()) && cs.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn at_least_one(c: &str) -> String {
    format!("{c} requires at least one argument")
}
fn exactly_one(c: &str) -> String {
    format!("{c} requires exactly one argument")
}

/// `sha256:<64 hex>` (or sha384/sha512 with their lengths).
pub fn check_digest(c: &str) -> Result<(), String> {
    let (alg, hex) = c.split_once(':').ok_or_else(|| format!("invalid checksum digest format {c:?}"))?;
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported checksum algorithm {alg:?}")),
    };
    if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(format!("invalid checksum digest format {c:?}"));
    }
    Ok(())
}

/// `--chmod`: octal (`755`, `0644`), or symbolic (`u+x,go-w`, `a=r`) as BuildKit 1.14 takes.
pub fn parse_chmod(m: &str) -> Result<Chmod, String> {
    if !m.is_empty() && m.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        let v = u32::from_str_radix(m, 8).map_err(|_| format!("invalid chmod parameter {m:?}"))?;
        if v > 0o7777 {
            return Err(format!("invalid chmod parameter {m:?}"));
        }
        return Ok(Chmod::Octal(v));
    }
    for clause in m.split(',') {
        let who_end = clause.find(|c: char| !matches!(c, 'u' | 'g' | 'o' | 'a')).unwrap_or(clause.len());
        let rest = &clause[who_end..];
        let mut cs = rest.chars();
        match cs.next() {
            Some('+' | '-' | '=') => {}
            _ => return Err(format!("invalid chmod parameter {m:?}")),
        }
        if !cs.all(|c| matches!(c, 'r' | 'w' | 'x' | 'X' | 's' | 't' | '+' | '-' | '=')) {
            return Err(format!("invalid chmod parameter {m:?}"));
        }
    }
    Ok(Chmod::Symbolic(m.to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(String),
}

impl Chmod {
    /// The new permission bits for an entry with `mode` (`is_dir` for `X`).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(v) => *v,
            Chmod::Symbolic(s) => {
                let mut cur = mode & 0o7777;
                for clause in s.split(',') {
                    let who_end = clause.find(|c: char| !matches!(c, 'u' | 'g' | 'o' | 'a')).unwrap_or(clause.len());
                    let who = &clause[..who_end];
                    let mask = if who.is_empty() || who.contains('a') {
                        0o7777
                    } else {
                        let mut m = 0;
                        if who.contains('u') {
                            m |= 0o4700;
                        }
                        if who.contains('g') {
                            m |= 0o2070;
                        }
                        if who.contains('o') {
                            m |= 0o1007;
                        }
                        m
                    };
                    let mut op = ' ';
                    let mut perm = 0u32;
                    let flush = |op: char, perm: u32, cur: &mut u32| match op {
                        '+' => *cur |= perm & mask,
                        '-' => *cur &= !(perm & mask),
                        '=' => *cur = (*cur & !(mask & 0o777)) | (perm & mask),
                        _ => {}
                    };
                    for c in clause[who_end..].chars() {
                        match c {
                            '+' | '-' | '=' => {
                                flush(op, perm, &mut cur);
                                op = c;
                                perm = 0;
                            }
                            'r' => perm |= 0o444,
                            'w' => perm |= 0o222,
                            'x' => perm |= 0o111,
                            'X' => {
                                if is_dir || mode & 0o111 != 0 {
                                    perm |= 0o111
                                }
                            }
                            's' => perm |= 0o6000,
                            't' => perm |= 0o1000,
                            _ => {}
                        }
                    }
                    flush(op, perm, &mut cur);
                }
                cur
            }
        }
    }
}

/// One EXPOSE word: `80`, `80/udp`, `8000-8010/tcp` → the `port/proto` keys it stands for.
pub fn parse_port(spec: &str) -> Result<Vec<String>, String> {
    let (port, proto) = match spec.split_once('/') {
        Some((p, "")) => (p, "tcp".to_string()),
        Some((p, pr)) => (p, pr.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    // ip:hostPort:containerPort forms are for `docker run -p`; keep the container port.
    let port = port.rsplit(':').next().unwrap_or(port);
    let num = |s: &str| -> Result<u16, String> { s.parse::<u16>().map_err(|_| format!("invalid containerPort: {spec}")) };
    let (a, b) = match port.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(port)?;
            (n, n)
        }
    };
    if b < a {
        return Err(format!("invalid range specified for container port: {spec}"));
    }
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

/// A signal name (`SIGTERM`, `term`, `SIGRTMIN+3`) or number, checked like docker does.
pub fn parse_signal(s: &str) -> Result<(), String> {
    if let Ok(n) = s.parse::<i64>() {
        if n <= 0 || n > 64 {
            return Err(format!("Invalid signal: {s}"));
        }
        return Ok(());
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR",
        "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH",
        "XCPU", "XFSZ", "UNUSED", "RTMIN", "RTMAX",
    ];
    if NAMES.contains(&name) {
        return Ok(());
    }
    for (base, sign) in [("RTMIN+", 1i64), ("RTMAX-", -1)] {
        if let Some(n) = name.strip_prefix(base).and_then(|n| n.parse::<i64>().ok()) {
            if (1..=15).contains(&n) {
                let _ = sign;
                return Ok(());
            }
        }
    }
    Err(format!("Invalid signal: {s}"))
}

/// Go's `time.ParseDuration` (`1h30m`, `1.5s`, `300ms`, `2us`).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let mut rest = s;
    let neg = rest.starts_with('-');
    rest = rest.strip_prefix(['-', '+']).unwrap_or(rest);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if n == 0 {
            return Err(bad());
        }
        let v: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        total += v * unit;
        rest = &rest[u..];
    }
    if neg {
        return Ok(Duration::ZERO);
    }
    Ok(Duration::from_nanos((total * 1e9).round() as u64))
}
