//! Dispatch: each instruction of a stage applied to the stage's state (image config,
//! variables, shell), with variable substitution exactly where BuildKit does it. Pure:
//! given the base image's config, it yields the resolved steps that change the file
//! system ([`Step`]) and the final config — the executor only runs what comes out.

use crate::dockerfile::mount::{parse_mount, Mount};
use crate::dockerfile::shell::{EnvList, Lex, Lookup};
use crate::dockerfile::{lines, parse_port, parse_signal, ArgDecl, Chmod, CommandLine, CopySpec, Healthcheck, InlineSource, Instruction};
use crate::image::{default_shell, Config, HealthConfig, DEFAULT_PATH};
use std::collections::{BTreeMap, BTreeSet};

/// Arguments that are set with `--build-arg` without an ARG and reach RUN's environment,
/// but never the cache key or the image history.
pub const PROXY_ARGS: &[&str] =
    &["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"];

/// What a build was asked for and where it runs.
#[derive(Debug, Clone)]
pub struct BuildInputs {
    pub build_args: BTreeMap<String, String>,
    /// `os/arch[/variant]` of the machine building and of the image built.
    pub build_platform: String,
    pub target_platform: String,
}

impl BuildInputs {
    /// BUILDPLATFORM, TARGETOS, ...: always defined in the global scope.
    pub fn predefined(&self) -> EnvList {
        let mut e = EnvList::default();
        for (prefix, p) in [("BUILD", &self.build_platform), ("TARGET", &self.target_platform)] {
            let mut parts = p.split('/');
            e.set(&format!("{prefix}PLATFORM"), p);
            e.set(&format!("{prefix}OS"), parts.next().unwrap_or(""));
            e.set(&format!("{prefix}ARCH"), parts.next().unwrap_or(""));
            e.set(&format!("{prefix}VARIANT"), parts.next().unwrap_or(""));
        }
        e
    }
}

/// The global scope: ARGs declared before the first FROM, resolved in order, on top of the
/// predefined platform ARGs. Used for FROM lines and for stage ARGs without a default.
pub fn global_args(meta: &[Vec<ArgDecl>], inputs: &BuildInputs, escape: char) -> Result<EnvList, String> {
    let mut env = inputs.predefined();
    let lex = Lex::new(escape);
    for decls in meta {
        for a in decls {
            if let Some(v) = inputs.build_args.get(&a.key) {
                env.set(&a.key, v);
            } else if let Some(d) = &a.default {
                let v = lex.process_word(d, &env).map_err(|e| e.0)?;
                env.set(&a.key, &v);
            }
        }
    }
    Ok(env)
}

/// `FROM` after substitution with the global scope.
pub fn expand_base(base: &str, globals: &EnvList, escape: char) -> Result<String, String> {
    let v = Lex::new(escape).process_word(base, globals).map_err(|e| e.0)?;
    if v.is_empty() {
        return Err(format!("base name ({base}) should not be blank"));
    }
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Network {
    Default,
    None,
    Host,
}

/// A RUN, resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunStep {
    pub argv: Vec<String>,
    /// `KEY=value`, image ENV plus the stage's ARGs (part of the cache key).
    pub env: Vec<String>,
    /// Proxy variables from `--build-arg` (in the environment, not in the cache key).
    #[serde(skip)]
    pub proxy_env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub mounts: Vec<Mount>,
    pub network: Network,
    pub insecure: bool,
    /// Heredoc scripts mounted read-only under `/dev/pipes/` (name, content).
    pub files: Vec<(String, String)>,
}

/// A COPY or ADD, resolved (sources still context/stage paths, not yet matched).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyStep {
    pub add: bool,
    pub sources: Vec<String>,
    /// Heredoc sources with their final content.
    pub inline: Vec<(String, String)>,
    /// Absolute; a trailing `/` means "into this directory".
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    #[serde(skip)]
    pub chmod: Option<Chmod>,
    pub chmod_text: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub unpack: Option<bool>,
    /// The workdir of the stage (for `--parents` and for error messages).
    pub workdir: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Step {
    Run(RunStep),
    Copy(CopyStep),
    /// WORKDIR creates its directory (owned by the current USER).
    Mkdir { path: String, user: String },
}

/// What dispatching one instruction did.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatched {
    pub step: Option<Step>,
    /// The history line (`RUN |1 N=2 /bin/sh -c make`, `ENV A=b`).
    pub created_by: String,
}

/// A stage being built: its image config and the variables its instructions see.
#[derive(Debug, Clone)]
pub struct StageState {
    pub config: Config,
    pub author: Option<String>,
    /// What `$VAR` means here: the image's Env, then ENV and ARG in order (an ARG set after
    /// an ENV of the same name wins for RUN, as in BuildKit; the config keeps the ENV).
    pub vars: EnvList,
    /// ARGs with a value in this stage (the `|N K=V` prefix of RUN history lines).
    pub args: Vec<(String, String)>,
    cmd_set: bool,
    escape: char,
    /// Build args this stage consumed.
    pub used_args: BTreeSet<String>,
}

impl StageState {
    /// Start from a base image config (`None` for `FROM scratch`).
    pub fn new(base: Option<Config>, escape: char) -> Self {
        let config = base.unwrap_or_else(|| Config { env: Some(vec![format!("PATH={DEFAULT_PATH}")]), ..Default::default() });
        let vars = EnvList::from_strings(config.env.as_deref().unwrap_or(&[]));
        StageState { config, author: None, vars, args: Vec::new(), cmd_set: false, escape, used_args: BTreeSet::new() }
    }

    /// The base image's ONBUILD triggers, removed from the config (they run once, here).
    pub fn take_triggers(&mut self) -> Vec<String> {
        self.config.on_build.take().unwrap_or_default()
    }

    fn lex(&self) -> Lex {
        Lex::new(self.escape)
    }

    fn expand(&self, w: &str) -> Result<String, String> {
        self.lex().process_word(w, &self.vars).map_err(|e| e.0)
    }

    pub fn workdir(&self) -> String {
        self.config.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into())
    }

    pub fn user(&self) -> String {
        self.config.user.clone().unwrap_or_default()
    }

    fn with_shell(&self, args: &[String]) -> Vec<String> {
        let mut v = self.config.shell.clone().filter(|s| !s.is_empty()).unwrap_or_else(default_shell);
        v.push(args.join(" "));
        v
    }

    fn set_env(&mut self, k: &str, v: &str) {
        let mut env = EnvList::from_strings(self.config.env.as_deref().unwrap_or(&[]));
        env.set(k, v);
        self.config.env = Some(env.to_strings());
        self.vars.set(k, v);
    }

    /// Apply one instruction.
    pub fn dispatch(&mut self, ins: &Instruction, inputs: &BuildInputs, globals: &EnvList) -> Result<Dispatched, String> {
        let none = |created_by: String| Ok(Dispatched { step: None, created_by });
        match ins {
            Instruction::Arg(decls) => {
                let mut parts = Vec::new();
                for a in decls {
                    let value = if let Some(v) = inputs.build_args.get(&a.key) {
                        self.used_args.insert(a.key.clone());
                        Some(v.clone())
                    } else if let Some(d) = &a.default {
                        Some(self.expand(d)?)
                    } else {
                        globals.lookup(&a.key)
                    };
                    match value {
                        Some(v) => {
                            self.vars.set(&a.key, &v);
                            self.args.retain(|(k, _)| k != &a.key);
                            self.args.push((a.key.clone(), v.clone()));
                            parts.push(format!("{}={v}", a.key));
                        }
                        None => parts.push(a.key.clone()),
                    }
                }
                none(format!("ARG {}", parts.join(" ")))
            }
            Instruction::Env(kv) => {
                let mut resolved = Vec::new();
                for (k, v) in kv {
                    resolved.push((self.expand(k)?, self.expand(v)?));
                }
                for (k, v) in &resolved {
                    if k.is_empty() {
                        return Err("ENV names can not be blank".into());
                    }
                    self.set_env(k, v);
                }
                none(format!("ENV {}", resolved.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")))
            }
            Instruction::Label(kv) => {
                let mut resolved = Vec::new();
                for (k, v) in kv {
                    resolved.push((self.expand(k)?, self.expand(v)?));
                }
                let labels = self.config.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in &resolved {
                    if k.is_empty() {
                        return Err("LABEL names can not be blank".into());
                    }
                    labels.insert(k.clone(), v.clone());
                }
                none(format!("LABEL {}", resolved.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")))
            }
            Instruction::Maintainer(m) => {
                self.author = Some(m.clone());
                none(format!("MAINTAINER {m}"))
            }
            Instruction::Cmd(c) => {
                let args = if c.prepend_shell { self.with_shell(&c.args) } else { c.args.clone() };
                self.config.cmd = Some(args.clone());
                self.config.args_escaped = Some(true);
                self.cmd_set = true;
                none(format!("CMD {}", go_quote_list(&args)))
            }
            Instruction::Entrypoint(c) => {
                let args = if c.prepend_shell { self.with_shell(&c.args) } else { c.args.clone() };
                self.config.entrypoint = if !c.prepend_shell && args.is_empty() { None } else { Some(args.clone()) };
                if !self.cmd_set {
                    self.config.cmd = None;
                }
                none(format!("ENTRYPOINT {}", go_quote_list(&c.args)))
            }
            Instruction::Shell(s) => {
                self.config.shell = Some(s.clone());
                none(format!("SHELL {}", go_quote_list(s)))
            }
            Instruction::User(u) => {
                let u = self.expand(u)?;
                self.config.user = Some(u.clone());
                none(format!("USER {u}"))
            }
            Instruction::Volume(vs) => {
                let mut out = Vec::new();
                for v in vs {
                    let v = self.expand(v)?;
                    if v.trim().is_empty() {
                        return Err("VOLUME specified can not be an empty string".into());
                    }
                    out.push(v);
                }
                let vols = self.config.volumes.get_or_insert_with(BTreeMap::new);
                for v in &out {
                    vols.insert(v.clone(), serde_json::json!({}));
                }
                none(format!("VOLUME {}", go_quote_list(&out)))
            }
            Instruction::Expose(ps) => {
                let mut ports = Vec::new();
                for p in ps {
                    for w in self.lex().process_words(p, &self.vars).map_err(|e| e.0)? {
                        ports.extend(parse_port(&w)?);
                    }
                }
                let map = self.config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in &ports {
                    map.insert(p.clone(), serde_json::json!({}));
                }
                none(format!("EXPOSE map[{}]", ports.iter().map(|p| format!("{p}:{{}}")).collect::<Vec<_>>().join(" ")))
            }
            Instruction::StopSignal(s) => {
                let s = self.expand(s)?;
                parse_signal(&s)?;
                self.config.stop_signal = Some(s.clone());
                none(format!("STOPSIGNAL {s}"))
            }
            Instruction::Healthcheck(h) => {
                let hc = match h {
                    Healthcheck::None => HealthConfig { test: vec!["NONE".into()], ..Default::default() },
                    Healthcheck::Check { test, interval, timeout, start_period, start_interval, retries } => {
                        let ns = |d: &Option<std::time::Duration>| d.map_or(0, |d| d.as_nanos() as i64);
                        HealthConfig {
                            test: test.clone(),
                            interval: ns(interval),
                            timeout: ns(timeout),
                            start_period: ns(start_period),
                            start_interval: ns(start_interval),
                            retries: retries.map_or(0, i64::from),
                        }
                    }
                };
                let text = format!("HEALTHCHECK &{{{}}}", go_quote_list(&hc.test));
                self.config.healthcheck = Some(hc);
                none(text)
            }
            Instruction::Onbuild(expr) => {
                self.config.on_build.get_or_insert_with(Vec::new).push(expr.clone());
                none(format!("ONBUILD {expr}"))
            }
            Instruction::Workdir(w) => {
                let w = self.expand(w)?;
                let wd = if w.starts_with('/') { w } else { crate::context::glob::clean(&format!("/{}/{}", self.workdir(), w)) };
                self.config.working_dir = Some(wd.clone());
                let step = (wd != "/").then(|| Step::Mkdir { path: wd.clone(), user: self.user() });
                Ok(Dispatched { step, created_by: format!("WORKDIR {wd}") })
            }
            Instruction::Run(r) => {
                let argv = self.run_argv(&r.cmd)?;
                let mut mounts = Vec::new();
                for m in &r.mounts {
                    mounts.push(parse_mount(&self.expand(m)?)?);
                }
                let network = match r.network.as_deref().map(|n| self.expand(n)).transpose()?.as_deref() {
                    None | Some("default") | Some("") => Network::Default,
                    Some("none") => Network::None,
                    Some("host") => Network::Host,
                    Some(other) => return Err(format!("unsupported network mode {other:?}: use none, default or host")),
                };
                let mut env = self.vars.clone();
                if env.get("PATH").is_none() {
                    env.set("PATH", DEFAULT_PATH);
                }
                let proxy_env = PROXY_ARGS
                    .iter()
                    .filter(|k| env.get(k).is_none())
                    .filter_map(|k| inputs.build_args.get(*k).map(|v| format!("{k}={v}")))
                    .collect();
                let files = self.run_files(&r.cmd);
                let prefix = if self.args.is_empty() {
                    String::new()
                } else {
                    format!("|{} {} ", self.args.len(), self.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
                };
                let created_by = format!("RUN {prefix}{} # buildkit", argv.join(" "));
                Ok(Dispatched {
                    step: Some(Step::Run(RunStep {
                        argv,
                        env: env.to_strings(),
                        proxy_env,
                        user: self.user(),
                        workdir: self.workdir(),
                        mounts,
                        network,
                        insecure: r.security.as_deref() == Some("insecure"),
                        files,
                    })),
                    created_by,
                })
            }
            Instruction::Copy(c) => self.copy(c),
        }
    }

    /// The argv RUN executes: exec form as is; shell form through SHELL; a lone heredoc
    /// as the script itself (a `#!` script as a file under /dev/pipes).
    fn run_argv(&self, c: &CommandLine) -> Result<Vec<String>, String> {
        let mut args = c.args.clone();
        if !c.heredocs.is_empty() && c.prepend_shell && args.len() == 1 {
            if lines::parse_heredoc(&args[0]).ok().flatten().is_some() {
                let h = &c.heredocs[0];
                let data = if h.chomp { lines::chomp_heredoc(&h.content) } else { h.content.clone() };
                args = if data.starts_with("#!") { vec![format!("/dev/pipes/{}", h.name)] } else { vec![data] };
            } else {
                let mut full = args[0].clone();
                for h in &c.heredocs {
                    full.push('\n');
                    full.push_str(&h.content);
                    full.push_str(&h.name);
                }
                args = vec![full];
            }
        }
        Ok(if c.prepend_shell { self.with_shell(&args) } else { args })
    }

    fn run_files(&self, c: &CommandLine) -> Vec<(String, String)> {
        if c.heredocs.len() == 1 && c.prepend_shell && c.args.len() == 1 && lines::parse_heredoc(&c.args[0]).ok().flatten().is_some() {
            let h = &c.heredocs[0];
            let data = if h.chomp { lines::chomp_heredoc(&h.content) } else { h.content.clone() };
            if data.starts_with("#!") {
                return vec![(h.name.clone(), data)];
            }
        }
        Vec::new()
    }

    fn copy(&mut self, c: &CopySpec) -> Result<Dispatched, String> {
        let name = if c.add { "ADD" } else { "COPY" };
        let mut sources = Vec::new();
        for s in &c.sources {
            sources.push(self.expand(s)?);
        }
        let mut inline = Vec::new();
        for InlineSource { name, data, expand } in &c.inline {
            let data = if *expand { self.expand_heredoc(data)? } else { data.clone() };
            inline.push((name.clone(), data));
        }
        let dest_raw = self.expand(&c.dest)?;
        let workdir = self.workdir();
        let dest = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            let joined = crate::context::glob::clean(&format!("{}/{}", workdir, dest_raw));
            if dest_raw.is_empty() || dest_raw == "." || dest_raw.ends_with('/') {
                if joined == "/" { joined } else { format!("{joined}/") }
            } else {
                joined
            }
        };
        let multi = sources.len() + inline.len() > 1;
        if multi && !dest.ends_with('/') {
            return Err(format!("When using {name} with more than one source file, the destination must be a directory and end with a /"));
        }
        let chown = c.chown.as_deref().map(|s| self.expand(s)).transpose()?.filter(|s| !s.is_empty());
        let chmod_text = c.chmod.as_deref().map(|s| self.expand(s)).transpose()?.filter(|s| !s.is_empty());
        let chmod = chmod_text.as_deref().map(crate::dockerfile::parse_chmod).transpose()?;
        let checksum = c.checksum.as_deref().map(|s| self.expand(s)).transpose()?;
        if let Some(cs) = &checksum {
            crate::dockerfile::check_digest(cs)?;
            if sources.iter().any(|s| !is_url(s)) {
                return Err("checksum can't be specified for non-HTTP(S) sources".into());
            }
        }
        if c.keep_git_dir && !sources.iter().any(|s| is_git(s)) {
            return Err("--keep-git-dir can only be used with a git source".into());
        }
        let mut excludes = Vec::new();
        for e in &c.excludes {
            excludes.push(self.expand(e)?);
        }
        let created_by = format!("{name} {} {dest_raw} # buildkit", sources.iter().chain(c.inline.iter().map(|i| &i.name)).cloned().collect::<Vec<_>>().join(" "));
        Ok(Dispatched {
            step: Some(Step::Copy(CopyStep {
                add: c.add,
                sources,
                inline,
                dest,
                from: c.from.clone(),
                chown,
                chmod,
                chmod_text,
                link: c.link,
                parents: c.parents,
                excludes,
                checksum,
                keep_git_dir: c.keep_git_dir,
                unpack: c.unpack,
                workdir,
                user: self.user(),
            })),
            created_by,
        })
    }

    /// Variables in a heredoc body: `$VAR`, `${VAR...}` and `\$`; quotes and other
    /// backslashes are content, not syntax.
    fn expand_heredoc(&self, data: &str) -> Result<String, String> {
        let mut lex = self.lex();
        lex.raw_quotes = true;
        // Only `\$` and `\\` are escapes in a body: protect other backslashes.
        let mut out = String::new();
        let mut chunk = String::new();
        let cs: Vec<char> = data.chars().collect();
        let mut i = 0;
        while i < cs.len() {
            let c = cs[i];
            if c == '\\' && matches!(cs.get(i + 1), Some('$') | Some('\\')) {
                chunk.push('\\');
                chunk.push(cs[i + 1]);
                i += 2;
                continue;
            }
            if c == '\\' {
                chunk.push_str("\\\\");
            } else if c == '\'' || c == '"' {
                chunk.push('\\');
                chunk.push(c);
            } else {
                chunk.push(c);
            }
            i += 1;
        }
        out.push_str(&lex.process_word(&chunk, &self.vars).map_err(|e| e.0)?);
        Ok(out)
    }
}

pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

pub fn is_git(s: &str) -> bool {
    s.starts_with("git@") || s.ends_with(".git") || s.starts_with("git://") || s.contains(".git#")
}

/// Go's `%q` of a string slice: `["a" "b"]`.
pub fn go_quote_list(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| serde_json::to_string(s).unwrap_or_default()).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
