//! The line level of a Dockerfile: parser directives, comments, line continuations, heredoc
//! bodies, and the split of each logical line into instruction, `--flags` and arguments.
//!
//! Follows BuildKit's parser quirk for quirk: directives only before anything else,
//! comment lines dropped even inside a continued instruction, empty continuation lines
//! skipped (with a warning), leading whitespace of continuation lines kept, an escaped
//! escape token at the end of a line is not a continuation, JSON arguments that do not
//! parse fall back to the shell form.

use super::shell::{Lex, NoEnv};
use super::ParseError;

/// A heredoc named on an instruction line (`<<EOF`, `<<-EOF`, `<<"EOF"`), with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// Unquoted delimiter: variables in the body are substituted.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from body lines.
    pub chomp: bool,
    pub fd: u32,
    /// The body, lines with their newlines, delimiter line excluded.
    pub content: String,
}

/// One logical line (an instruction with its continuation lines and heredoc bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction word as written (`copy`, `COPY`).
    pub cmd: String,
    pub flags: Vec<String>,
    /// Arguments after the dispatch rule of the instruction (see [`split_args`]).
    pub args: Vec<String>,
    /// The arguments came as a JSON array.
    pub json: bool,
    /// For ONBUILD: the trigger, parsed like any instruction.
    pub sub: Option<Box<Node>>,
    /// The logical line, continuation tokens removed.
    pub original: String,
    pub heredocs: Vec<Heredoc>,
    pub start_line: usize,
    pub end_line: usize,
}

/// A parsed file: its nodes, the escape token and the parser directives found.
#[derive(Debug, Clone)]
pub struct Lines {
    pub nodes: Vec<Node>,
    pub escape: char,
    pub syntax: Option<String>,
    pub check: Option<String>,
    pub warnings: Vec<String>,
}

struct Directives {
    escape: char,
    done: bool,
    seen: Vec<String>,
    syntax: Option<String>,
    check: Option<String>,
}

impl Directives {
    /// `# name=value` while nothing else has been seen yet.
    fn possible(&mut self, line: &str, lineno: usize) -> Result<(), ParseError> {
        if self.done {
            return Ok(());
        }
        let Some((k, v)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let k = k.to_ascii_lowercase();
        if !matches!(k.as_str(), "escape" | "syntax" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&k) {
            return Err(ParseError::at(lineno, None, format!("only one {k} parser directive can be used")));
        }
        self.seen.push(k.clone());
        match k.as_str() {
            "escape" => {
                if v != "`" && v != "\\" {
                    return Err(ParseError::at(lineno, None, format!("invalid escape token '{v}' does not match ` or \\")));
                }
                self.escape = v.chars().next().unwrap();
            }
            "syntax" => self.syntax = Some(v),
            _ => self.check = Some(v),
        }
        Ok(())
    }
}

/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?;
    let rest = rest.trim_start_matches(is_go_space);
    let name_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
    let name = &rest[..name_len];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let rest = rest[name_len..].trim_start_matches(is_go_space);
    let rest = rest.strip_prefix('=')?;
    let value = rest.trim_matches(is_go_space);
    if value.is_empty() {
        return None;
    }
    Some((name.to_string(), value.to_string()))
}

/// Go regexp's `\s`.
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// BuildKit's `[\t\v\f\r ]`.
fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(raw: &str) -> bool {
    trim_newline(raw).trim_start().starts_with('#')
}

/// Strip a trailing continuation token: `(.)ESC[ \t]*$` unless `.` is itself ESC, or a line
/// that is only `ESC[ \t]*`. Returns the line and whether the instruction ends here.
fn trim_continuation(line: &str, esc: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(esc) {
        if before.is_empty() {
            return (String::new(), false);
        }
        if !before.ends_with(esc) {
            return (before.to_string(), false);
        }
    }
    (line.to_string(), true)
}

/// Split into lines that keep their `\n`.
fn scan_lines(src: &str) -> Vec<&str> {
    src.split_inclusive('\n').collect()
}

/// Parse a Dockerfile into logical lines.
pub fn parse(src: &str) -> Result<Lines, ParseError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines = scan_lines(src);
    let mut d = Directives { escape: '\\', done: false, seen: Vec::new(), syntax: None, check: None };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    let mut current = 0usize; // lines consumed so far (1-based number of the last one)
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let token = trim_newline(raw).trim_start();
        d.possible(token, current + 1)?;
        current += 1;
        let token = if token.starts_with('#') { "" } else { token };
        let start = current;
        let (mut line, mut end) = trim_continuation(token, d.escape);
        if end && line.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !end && i < lines.len() {
            let raw = lines[i];
            i += 1;
            let token = trim_newline(raw);
            d.possible(token, current + 1)?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if token.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (l, e) = trim_continuation(token, d.escape);
            line.push_str(&l);
            end = e;
        }
        if empty_continuation {
            warnings.push(format!("empty continuation line found in instruction on line {start}"));
        }
        let mut node = node_from_line(&line, d.escape).map_err(|e| e.with_line(start))?;
        if can_contain_heredoc(&node) {
            for mut h in heredocs_from_line(&line).map_err(|m| ParseError::at(start, Some(&node.cmd), m))? {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    current += 1;
                    let mut candidate = trim_newline(raw);
                    if h.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == h.name {
                        terminated = true;
                        break;
                    }
                    h.content.push_str(raw);
                }
                if !terminated {
                    return Err(ParseError::at(start, Some(&node.cmd), "unterminated heredoc".into()));
                }
                node.heredocs.push(h);
            }
        }
        node.start_line = start;
        node.end_line = current;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(ParseError::at(current, None, "file with no instructions".into()));
    }
    Ok(Lines { nodes, escape: d.escape, syntax: d.syntax, check: d.check, warnings })
}

fn can_contain_heredoc(node: &Node) -> bool {
    let n = match (&node.sub, node.cmd.eq_ignore_ascii_case("onbuild")) {
        (Some(sub), true) => sub.as_ref(),
        _ => node,
    };
    matches!(n.cmd.to_ascii_lowercase().as_str(), "add" | "copy" | "run") && !n.json
}

/// The words of the line that are heredoc markers (`<<EOF`, `<<-"EOF"`, `3<<EOF`).
fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let lex = Lex { escape: '\\', raw_quotes: true, raw_escapes: true, skip_unset: true };
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut out = Vec::new();
    for w in words {
        if let Some(h) = parse_heredoc(&w)? {
            out.push(h);
        }
    }
    Ok(out)
}

/// `^(\d*)<<(-?)([^<]*)$` and a single word after it; quotes in the word turn off expansion.
pub fn parse_heredoc(src: &str) -> Result<Option<Heredoc>, String> {
    let digits = src.find(|c: char| !c.is_ascii_digit()).unwrap_or(src.len());
    let Some(rest) = src[digits..].strip_prefix("<<") else { return Ok(None) };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let fd = src[..digits].parse().unwrap_or(0);
    let mut lex = Lex { escape: '\\', raw_quotes: false, raw_escapes: false, skip_unset: true };
    let words = lex.process_words(rest, &NoEnv).map_err(|e| e.0)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &NoEnv).map_err(|e| e.0)?;
    if raw.len() != words.len() {
        return Err(format!("internal lexing of heredoc produced inconsistent results: {rest}"));
    }
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    let expand = quotes(&words[0]) == quotes(&raw[0]);
    Ok(Some(Heredoc { name: words[0].clone(), expand, chomp, fd, content: String::new() }))
}

/// `<<-` bodies: leading tabs removed from every line.
pub fn chomp_heredoc(content: &str) -> String {
    content.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect()
}

fn node_from_line(line: &str, esc: char) -> Result<Node, ParseError> {
    let trimmed = line.trim();
    let (cmd, rest) = match trimmed.find(is_ws) {
        Some(p) => (&trimmed[..p], trimmed[p..].trim_start_matches(is_ws)),
        None => (trimmed, ""),
    };
    let (rest, flags) = if rest.is_empty() { (String::new(), Vec::new()) } else { extract_flags(rest) };
    let rest = rest.trim().to_string();
    let mut node = Node {
        cmd: cmd.to_string(),
        flags,
        args: Vec::new(),
        json: false,
        sub: None,
        original: line.to_string(),
        heredocs: Vec::new(),
        start_line: 0,
        end_line: 0,
    };
    let lower = cmd.to_ascii_lowercase();
    let fail = |m: String| ParseError::at(0, Some(cmd), m);
    match lower.as_str() {
        "add" | "copy" | "volume" => match parse_json(&rest) {
            Json::Array(a) => {
                node.args = a;
                node.json = true;
            }
            Json::NotStrings => return Err(fail(NOT_STRINGS.into())),
            Json::No => node.args = split_ws(&rest),
        },
        "cmd" | "entrypoint" | "run" | "shell" => {
            if !rest.is_empty() {
                match parse_json(&rest) {
                    Json::Array(a) => {
                        node.args = a;
                        node.json = true;
                    }
                    Json::NotStrings => return Err(fail(NOT_STRINGS.into())),
                    Json::No => node.args = vec![rest.clone()],
                }
            }
        }
        "arg" => node.args = parse_words(&rest, esc),
        "env" | "label" => node.args = parse_name_val(&rest, &cmd.to_ascii_uppercase(), esc).map_err(fail)?,
        "expose" | "from" => node.args = split_ws(&rest),
        "healthcheck" => {
            let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if sep > 0 {
                node.args.push(rest[..sep].to_string());
                let cmdpart = rest[sep..].trim_start();
                if !cmdpart.is_empty() {
                    match parse_json(cmdpart) {
                        Json::Array(a) => {
                            node.args.extend(a);
                            node.json = true;
                        }
                        Json::NotStrings => return Err(fail(NOT_STRINGS.into())),
                        Json::No => node.args.push(cmdpart.to_string()),
                    }
                }
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if !rest.is_empty() {
                node.args = vec![rest.clone()];
            }
        }
        "onbuild" => {
            if !rest.is_empty() {
                let sub = node_from_line(&rest, esc)?;
                node.args = std::iter::once(sub.cmd.clone()).chain(sub.args.iter().cloned()).collect();
                node.json = sub.json;
                node.sub = Some(Box::new(sub));
            }
        }
        _ => {}
    }
    Ok(node)
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

enum Json {
    Array(Vec<String>),
    NotStrings,
    No,
}

/// A JSON array of strings, or why not.
fn parse_json(rest: &str) -> Json {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Json::No;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Err(_) => Json::No,
        Ok(values) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Json::NotStrings,
                }
            }
            Json::Array(out)
        }
    }
}

fn split_ws(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_ws).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Leading `--flag[=value]` words (quotes and `\` handled), and what follows them.
pub fn extract_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let b: Vec<char> = line.chars().collect();
    let byte_at = |idx: usize| -> usize { b[..idx].iter().map(|c| c.len_utf8()).sum() };
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= b.len() {
        let ch = b.get(pos).copied();
        if phase == Phase::Spaces {
            let Some(c) = ch else { break };
            if c.is_whitespace() {
                pos += 1;
                continue;
            }
            if c != '-' || b.get(pos + 1) != Some(&'-') {
                return (line[byte_at(pos)..].to_string(), words);
            }
            phase = Phase::Word;
        }
        let Some(c) = ch else {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            return (String::new(), words);
        };
        if phase == Phase::Word {
            if c.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (line[byte_at(pos)..].to_string(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if c == '\'' || c == '"' {
                quote = c;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = c;
            if c == '\\' {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = b[pos];
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // in quote
        if c == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = c;
        if c == '\\' {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = b[pos];
        }
        word.push(c);
        pos += 1;
    }
    (String::new(), words)
}

/// Words split on whitespace, quotes and escapes kept in them (removed later by the lexer).
pub fn parse_words(rest: &str, esc: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let cs: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    loop {
        let ch = cs.get(pos).copied();
        if phase == Phase::Spaces {
            let Some(c) = ch else { break };
            if c.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        let Some(mut c) = ch else {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        };
        if phase == Phase::Word {
            if c.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if c == '\'' || c == '"' {
                quote = c;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if c == esc {
                if pos + 1 == cs.len() {
                    pos += 1;
                    continue;
                }
                word.push(c);
                pos += 1;
                c = cs[pos];
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // in quote
        if c == quote {
            phase = Phase::Word;
        }
        if c == esc && quote != '\'' {
            if pos + 1 == cs.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(c);
            c = cs[pos];
        }
        word.push(c);
        pos += 1;
    }
    words
}

/// ENV/LABEL arguments as `[key, value, key, value, ...]`: `KEY value` (legacy, one pair,
/// the rest of the line is the value) or `k=v k2="v 2"`.
fn parse_name_val(rest: &str, key: &str, esc: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, esc);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let trimmed = rest;
        let Some(p) = trimmed.find(is_ws) else {
            return Err(format!("{key} must have two arguments"));
        };
        let value = trimmed[p..].trim_start_matches(is_ws);
        return Ok(vec![trimmed[..p].to_string(), value.to_string()]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"));
        };
        out.push(k.to_string());
        out.push(v.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(src: &str) -> Vec<Node> {
        parse(src).unwrap().nodes
    }

    #[test]
    fn directives_only_at_top() {
        let l = parse("# syntax=docker/dockerfile:1\n#escape=`\nFROM a\n").unwrap();
        assert_eq!(l.escape, '`');
        assert_eq!(l.syntax.as_deref(), Some("docker/dockerfile:1"));
        let l = parse("# hello\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(l.escape, '\\');
        let l = parse("\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(l.escape, '\\');
        let l = parse("# unknown=x\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(l.escape, '\\');
        let l = parse("#  ESCAPE = ` \nFROM a\n").unwrap();
        assert_eq!(l.escape, '`');
        let e = parse("# escape=`\n# escape=\\\nFROM a\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: only one escape parser directive can be used");
        let e = parse("# escape=x\nFROM a\n").unwrap_err();
        assert!(e.to_string().contains("invalid escape token 'x'"));
        assert_eq!(parse("# check=skip=all\nFROM a").unwrap().check.as_deref(), Some("skip=all"));
        let l = parse("\u{feff}# escape=`\nFROM a\n").unwrap();
        assert_eq!(l.escape, '`');
    }

    #[test]
    fn continuation_and_comments() {
        let n = nodes("FROM a\nRUN echo a \\\n  b \\\n# comment\n\n   \\\n c\n");
        assert_eq!(n.len(), 2);
        assert_eq!(n[1].args, vec!["echo a   b     c"]);
        assert_eq!((n[1].start_line, n[1].end_line), (2, 7));
        let n = nodes("FROM a\nRUN echo \\\\\nRUN x");
        assert_eq!(n[1].args, vec!["echo \\\\"]);
        assert_eq!(n.len(), 3);
        let n = nodes("# escape=`\nFROM a\nRUN dir c:\\ `\n  d:\\");
        assert_eq!(n[1].args, vec!["dir c:\\   d:\\"]);
        let n = nodes("FROM a\nRUN a \\   \t\nb");
        assert_eq!(n[1].args, vec!["a b"]);
        let n = nodes("FROM a\r\nRUN a \\\r\nb\r\n");
        assert_eq!(n[1].args, vec!["a b"]);
        let n = nodes("  # c\n\tFROM a\n   ENV A=1");
        assert_eq!(n[0].cmd, "FROM");
        assert_eq!(n[1].args, vec!["A", "1"]);
        let n = nodes("FROM a\nRUN a \\");
        assert_eq!(n[1].args, vec!["a"]);
        let n = nodes("FROM a\n\\\nRUN x");
        assert_eq!(n[1].args, vec!["x"]);
        assert!(parse("# only comments\n\n").unwrap_err().to_string().contains("file with no instructions"));
    }

    #[test]
    fn json_and_shell_forms() {
        let n = nodes("FROM a\nCMD [\"a\", \"b c\"]\nCMD [\"a\", \nRUN [ \"x\" ] \nENTRYPOINT  [\"\\u0041\"]\nRUN []");
        assert!(n[1].json);
        assert_eq!(n[1].args, vec!["a", "b c"]);
        assert!(!n[2].json);
        assert_eq!(n[2].args, vec!["[\"a\","]);
        assert!(n[3].json);
        assert_eq!(n[4].args, vec!["A"]);
        assert!(n[5].json && n[5].args.is_empty());
        let e = parse("FROM a\nCMD [\"a\", 1]").unwrap_err();
        assert!(e.to_string().contains("arrays must be comprised of strings only"), "{e}");
        let n = nodes("FROM a\nCMD ['a']\nCMD [\"a\"] && b");
        assert!(!n[1].json && !n[2].json);
        let n = nodes("FROM a\nCOPY [\"a b\", \"/c\"]\nCOPY a  b\t/c/");
        assert_eq!(n[1].args, vec!["a b", "/c"]);
        assert_eq!(n[2].args, vec!["a", "b", "/c/"]);
    }

    #[test]
    fn flags() {
        let n = nodes("FROM --platform=linux/amd64 a AS b\nCOPY --from=x --chown=\"a b\" s d\nRUN --mount=type=cache,target=/x -- --not-a-flag");
        assert_eq!(n[0].flags, vec!["--platform=linux/amd64"]);
        assert_eq!(n[0].args, vec!["a", "AS", "b"]);
        assert_eq!(n[1].flags, vec!["--from=x", "--chown=a b"]);
        assert_eq!(n[2].flags, vec!["--mount=type=cache,target=/x"]);
        assert_eq!(n[2].args, vec!["--not-a-flag"]);
        let (rest, f) = extract_flags("--a --b=c\\ d rest of line");
        assert_eq!(f, vec!["--a", "--b=c d"]);
        assert_eq!(rest, "rest of line");
    }

    #[test]
    fn env_and_label_forms() {
        let n = nodes("FROM a\nENV A B C\nENV X=1 Y=\"two words\" Z=a\\ b\nLABEL k v\nENV A=");
        assert_eq!(n[1].args, vec!["A", "B C"]);
        assert_eq!(n[2].args, vec!["X", "1", "Y", "\"two words\"", "Z", "a\\ b"]);
        assert_eq!(n[3].args, vec!["k", "v"]);
        assert_eq!(n[4].args, vec!["A", ""]);
        assert!(parse("FROM a\nENV A=1 B").unwrap_err().to_string().contains("can't find = in \"B\""));
        assert!(parse("FROM a\nENV A").unwrap_err().to_string().contains("ENV must have two arguments"));
        let n = nodes("FROM a\nARG A B=2 C=\"x y\"");
        assert_eq!(n[1].args, vec!["A", "B=2", "C=\"x y\""]);
    }

    #[test]
    fn heredocs() {
        let n = nodes("FROM a\nRUN <<EOF\necho $A\nEOF\nRUN x");
        assert_eq!(n[1].heredocs.len(), 1);
        assert_eq!(n[1].heredocs[0].content, "echo $A\n");
        assert!(n[1].heredocs[0].expand);
        assert_eq!((n[1].start_line, n[1].end_line), (2, 4));
        assert_eq!(n[2].start_line, 5);
        let n = nodes("FROM a\nRUN <<-'EOT' cat <<\"TWO\" >/f\n\tone\n\tEOT\ntwo\nTWO\n");
        assert_eq!(n[1].heredocs.len(), 2);
        assert_eq!(n[1].heredocs[0].name, "EOT");
        assert!(n[1].heredocs[0].chomp && !n[1].heredocs[0].expand);
        assert_eq!(n[1].heredocs[0].content, "\tone\n");
        assert_eq!(n[1].heredocs[1].content, "two\n");
        let n = nodes("FROM a\nCOPY <<EOF /dest\nhello\nEOF\n");
        assert_eq!(n[1].args, vec!["<<EOF", "/dest"]);
        assert_eq!(n[1].heredocs[0].content, "hello\n");
        let n = nodes("FROM a\nRUN [\"echo\", \"<<EOF\"]\nRUN echo '<<EOF'\n");
        assert!(n[1].heredocs.is_empty() && n[2].heredocs.is_empty());
        assert!(parse("FROM a\nRUN <<EOF\nno end\n").unwrap_err().to_string().contains("unterminated heredoc"));
        let n = nodes("FROM a\nENV A=<<EOF\n");
        assert!(n[1].heredocs.is_empty());
        let n = nodes("FROM a\nONBUILD RUN <<EOF\nx\nEOF\n");
        assert_eq!(n[1].heredocs.len(), 1);
        assert_eq!(chomp_heredoc("\t\ta\n\tb\nc"), "a\nb\nc");
        assert_eq!(parse_heredoc("2<<-E\"O\"F").unwrap().unwrap(), Heredoc { name: "EOF".into(), expand: false, chomp: true, fd: 2, content: String::new() });
        assert_eq!(parse_heredoc("<<").unwrap(), None);
        assert_eq!(parse_heredoc("<<<EOF").unwrap(), None);
    }

    #[test]
    fn onbuild_sub_node() {
        let n = nodes("FROM a\nONBUILD COPY [\"a\", \"b\"]\n");
        let sub = n[1].sub.as_ref().unwrap();
        assert_eq!(sub.cmd, "COPY");
        assert!(sub.json);
        assert_eq!(n[1].args, vec!["COPY", "a", "b"]);
    }

    #[test]
    fn healthcheck_node() {
        let n = nodes("FROM a\nHEALTHCHECK --interval=5s CMD curl -f x\nHEALTHCHECK CMD [\"a\",\"b\"]\nHEALTHCHECK NONE");
        assert_eq!(n[1].args, vec!["CMD", "curl -f x"]);
        assert_eq!(n[2].args, vec!["CMD", "a", "b"]);
        assert!(n[2].json);
        assert_eq!(n[3].args, vec!["NONE"]);
    }
}
