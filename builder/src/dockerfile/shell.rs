//! Variable substitution and word splitting, as BuildKit's shell lexer does it.
//!
//! This is not a shell: it knows quotes (`'...'`, `"..."`), the escape token (`\` or the
//! `# escape=` one), `$VAR`, `${VAR}` and the modifiers `:-` `-` `:+` `+` `:?` `?` `#` `##`
//! `%` `%%` `/` `//`. The Dockerfile instructions that take substitution (ENV, ADD, COPY,
//! WORKDIR, LABEL, USER, VOLUME, EXPOSE, STOPSIGNAL, FROM, ARG, ONBUILD'd ones, RUN mounts)
//! run their arguments through [`Lex::process_word`]; EXPOSE and heredoc detection use
//! [`Lex::process_words`], which also splits on unquoted whitespace.

use std::collections::BTreeMap;

/// Where `$NAME` is looked up.
pub trait Lookup {
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Lookup for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// No variables at all.
pub struct NoEnv;
impl Lookup for NoEnv {
    fn lookup(&self, _: &str) -> Option<String> {
        None
    }
}

/// An ordered `KEY=value` list where setting a key again replaces it in place: the shape of
/// an image's `Env` and of the variables a build step sees.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvList(pub Vec<(String, String)>);

impl EnvList {
    pub fn from_strings(list: &[String]) -> Self {
        let mut e = EnvList::default();
        for kv in list {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            e.set(k, v);
        }
        e
    }
    pub fn set(&mut self, key: &str, value: &str) {
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value.to_string();
        } else {
            self.0.push((key.to_string(), value.to_string()));
        }
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

impl Lookup for EnvList {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }
}

/// A substitution error (`syntax error: bad substitution`, `VAR: is not allowed to be unset`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LexError(pub String);

/// The lexer's switches, as BuildKit names them.
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    pub escape: char,
    /// Keep quote characters in the output (heredoc detection).
    pub raw_quotes: bool,
    /// Keep escape tokens in the output (heredoc detection).
    pub raw_escapes: bool,
    /// Leave `$UNSET` as written instead of substituting "".
    pub skip_unset: bool,
}

impl Lex {
    pub fn new(escape: char) -> Self {
        Lex { escape, raw_quotes: false, raw_escapes: false, skip_unset: false }
    }

    /// Substitute variables and remove quotes; whitespace is kept as is.
    pub fn process_word(&self, word: &str, env: &dyn Lookup) -> Result<String, LexError> {
        let mut w = Worker::new(self, word, env);
        let (s, _) = w.process_stop_on(None, self.raw_escapes).map_err(|e| wrap(e, word))?;
        Ok(s)
    }

    /// Like [`process_word`](Self::process_word), then split on unquoted whitespace
    /// (including whitespace that came out of a variable).
    pub fn process_words(&self, word: &str, env: &dyn Lookup) -> Result<Vec<String>, LexError> {
        let mut w = Worker::new(self, word, env);
        let (_, words) = w.process_stop_on(None, self.raw_escapes).map_err(|e| wrap(e, word))?;
        Ok(words)
    }
}

fn wrap(e: LexError, source: &str) -> LexError {
    LexError(format!("failed to process {source:?}: {}", e.0))
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

struct Worker<'a> {
    lex: &'a Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Lookup,
}

impl<'a> Worker<'a> {
    fn new(lex: &'a Lex, s: &str, env: &'a dyn Lookup) -> Self {
        Worker { lex, chars: s.chars().collect(), pos: 0, env }
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), LexError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '\'' => {
                    let s = self.single_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    let mut ch = self.next().unwrap();
                    if ch == self.lex.escape {
                        if raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            None => break,
                            Some(c) => ch = c,
                        }
                        words.add_raw_char(ch);
                    } else {
                        words.add_char(ch);
                    }
                    result.push(ch);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(LexError(format!("unexpected end of statement while looking for matching {stop}")));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, LexError> {
        let mut out = String::new();
        let q = self.next().unwrap();
        if self.lex.raw_quotes {
            out.push(q);
        }
        loop {
            match self.next() {
                None => return Err(LexError("unexpected end of statement while looking for matching single-quote".into())),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, LexError> {
        let mut out = String::new();
        let q = self.next().unwrap();
        if self.lex.raw_quotes {
            out.push(q);
        }
        loop {
            match self.peek() {
                None => return Err(LexError("unexpected end of statement while looking for matching double-quote".into())),
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    out.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap();
                    if ch == self.lex.escape {
                        if self.lex.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = self.next().unwrap();
                            }
                            _ => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.env.lookup(name)
    }

    fn dollar(&mut self) -> Result<String, LexError> {
        self.next(); // '$'
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next(); // '{'
        match self.peek() {
            None => return Err(LexError("syntax error: missing '}'".into())),
            Some('{') | Some('}') | Some(':') => return Err(LexError("syntax error: bad substitution".into())),
            _ => {}
        }
        let name = self.name();
        let Some(mut ch) = self.next() else {
            return Err(LexError("syntax error: missing '}'".into()));
        };
        let mut chs = ch.to_string();
        let mut null_is_unset = false;
        match ch {
            '}' => {
                return Ok(match self.get(&name) {
                    Some(v) => v,
                    None if self.lex.skip_unset => format!("${{{name}}}"),
                    None => String::new(),
                });
            }
            '/' => return self.replace(&name),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                if ch == ':' {
                    null_is_unset = true;
                    match self.next() {
                        Some(c) => {
                            ch = c;
                            chs.push(c);
                        }
                        None => return Err(LexError("syntax error: missing '}'".into())),
                    }
                }
                let raw = ch == '#' || ch == '%';
                if null_is_unset && raw {
                    return Err(LexError(format!("unsupported modifier ({chs}) in substitution")));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err(LexError("syntax error: missing '}'".into()));
                        }
                        return Err(e);
                    }
                };
                let value = self.get(&name);
                if self.lex.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let set = value.is_some();
                let value = value.unwrap_or_default();
                match ch {
                    '-' => Ok(if !set || (null_is_unset && value.is_empty()) { word } else { value }),
                    '+' => Ok(if !set || (null_is_unset && value.is_empty()) { String::new() } else { word }),
                    '?' => {
                        if !set {
                            let m = if word.is_empty() { "is not allowed to be unset".to_string() } else { word };
                            return Err(LexError(format!("{name}: {m}")));
                        }
                        if null_is_unset && value.is_empty() {
                            let m = if word.is_empty() { "is not allowed to be empty".to_string() } else { word };
                            return Err(LexError(format!("{name}: {m}")));
                        }
                        Ok(value)
                    }
                    '#' | '%' => {
                        let (pattern, greedy) = match word.strip_prefix(ch) {
                            Some(rest) => (rest.to_string(), true),
                            None => (word, false),
                        };
                        let pat = Pattern::compile(&pattern).map_err(|e| LexError(format!("invalid pattern ({pattern}) in substitution: {e}")))?;
                        Ok(if ch == '%' { trim_suffix(&pat, &value, greedy) } else { trim_prefix(&pat, &value, greedy) })
                    }
                    _ => Err(LexError(format!("unsupported modifier ({chs}) in substitution"))),
                }
            }
            _ => Err(LexError(format!("unsupported modifier ({chs}) in substitution"))),
        }
    }

    fn replace(&mut self, name: &str) -> Result<String, LexError> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pattern = match self.process_stop_on(Some('/'), true) {
            Ok((p, _)) => p,
            Err(e) => {
                if self.peek().is_none() {
                    return Err(LexError("syntax error: missing '/' in ${}".into()));
                }
                return Err(e);
            }
        };
        let replacement = match self.process_stop_on(Some('}'), true) {
            Ok((r, _)) => r,
            Err(e) => {
                if self.peek().is_none() {
                    return Err(LexError("syntax error: missing '}'".into()));
                }
                return Err(e);
            }
        };
        let Some(value) = self.get(name) else {
            if self.lex.skip_unset {
                return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let pat = Pattern::compile(&pattern).map_err(|e| LexError(format!("invalid pattern ({pattern}) in substitution: {e}")))?;
        Ok(replace_pattern(&pat, &value, &replacement, all))
    }

    /// A name: letters, digits and `_`; a run of digits; or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(|c| c.is_ascii_digit()) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }
}

/// A shell pattern (`*`, `?`, `[...]`, `\x`) as used by `${VAR#pat}` and `${VAR/pat/rep}`.
/// Unlike file globs, `*` and `?` match `/` here.
#[derive(Debug)]
struct Pattern(Vec<Tok>);

#[derive(Debug)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Class { negate: bool, items: Vec<(char, char)> },
}

impl Pattern {
    fn compile(p: &str) -> Result<Self, String> {
        let cs: Vec<char> = p.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < cs.len() {
            match cs[i] {
                '*' => out.push(Tok::Star),
                '?' => out.push(Tok::Any),
                '\\' => {
                    i += 1;
                    out.push(Tok::Lit(*cs.get(i).ok_or("trailing backslash")?));
                }
                '[' => {
                    let mut j = i + 1;
                    let negate = matches!(cs.get(j), Some('!') | Some('^'));
                    if negate {
                        j += 1;
                    }
                    let mut items = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(&c) = cs.get(j) else { return Err("unterminated character class".into()) };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let c = if c == '\\' {
                            j += 1;
                            *cs.get(j).ok_or("unterminated character class")?
                        } else {
                            c
                        };
                        if cs.get(j + 1) == Some(&'-') && cs.get(j + 2).is_some_and(|&e| e != ']') {
                            items.push((c, cs[j + 2]));
                            j += 3;
                        } else {
                            items.push((c, c));
                            j += 1;
                        }
                    }
                    out.push(Tok::Class { negate, items });
                    i = j;
                }
                c => out.push(Tok::Lit(c)),
            }
            i += 1;
        }
        Ok(Pattern(out))
    }

    fn matches(&self, s: &[char]) -> bool {
        fn go(t: &[Tok], s: &[char]) -> bool {
            match t.first() {
                None => s.is_empty(),
                Some(Tok::Star) => (0..=s.len()).any(|k| go(&t[1..], &s[k..])),
                Some(tok) => {
                    let Some(&c) = s.first() else { return false };
                    let ok = match tok {
                        Tok::Lit(l) => *l == c,
                        Tok::Any => true,
                        Tok::Class { negate, items } => items.iter().any(|&(a, b)| a <= c && c <= b) != *negate,
                        Tok::Star => unreachable!(),
                    };
                    ok && go(&t[1..], &s[1..])
                }
            }
        }
        go(&self.0, s)
    }
}

fn trim_prefix(p: &Pattern, value: &str, greedy: bool) -> String {
    let cs: Vec<char> = value.chars().collect();
    let mut ends: Vec<usize> = (0..=cs.len()).collect();
    if greedy {
        ends.reverse();
    }
    for e in ends {
        if p.matches(&cs[..e]) {
            return cs[e..].iter().collect();
        }
    }
    value.to_string()
}

fn trim_suffix(p: &Pattern, value: &str, greedy: bool) -> String {
    let cs: Vec<char> = value.chars().collect();
    let mut starts: Vec<usize> = (0..=cs.len()).rev().collect();
    if greedy {
        starts.reverse();
    }
    for s in starts {
        if p.matches(&cs[s..]) {
            return cs[..s].iter().collect();
        }
    }
    value.to_string()
}

/// Leftmost, longest match of the pattern, replaced once or everywhere.
fn replace_pattern(p: &Pattern, value: &str, rep: &str, all: bool) -> String {
    let cs: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i <= cs.len() {
        let found = (i..=cs.len()).rev().find(|&e| p.matches(&cs[i..e]));
        match found {
            Some(e) if e > i || !p.0.is_empty() => {
                out.push_str(rep);
                if !all {
                    out.extend(&cs[e..]);
                    return out;
                }
                if e == i {
                    if i < cs.len() {
                        out.push(cs[i]);
                    }
                    i += 1;
                } else {
                    i = e;
                }
            }
            _ => {
                if i < cs.len() {
                    out.push(cs[i]);
                }
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> EnvList {
        EnvList::from_strings(&[
            "A=hello".into(),
            "EMPTY=".into(),
            "SP=a b  c".into(),
            "PATH=/usr/local/bin:/usr/bin:/bin".into(),
            "FILE=archive.tar.gz".into(),
        ])
    }

    fn w(s: &str) -> String {
        Lex::new('\\').process_word(s, &env()).unwrap()
    }
    fn ws(s: &str) -> Vec<String> {
        Lex::new('\\').process_words(s, &env()).unwrap()
    }
    fn err(s: &str) -> String {
        Lex::new('\\').process_word(s, &env()).unwrap_err().0
    }

    #[test]
    fn simple_and_braced() {
        assert_eq!(w("$A"), "hello");
        assert_eq!(w("${A}"), "hello");
        assert_eq!(w("x${A}y"), "xhelloy");
        assert_eq!(w("$A.txt"), "hello.txt");
        assert_eq!(w("$UNSET"), "");
        assert_eq!(w("$"), "$");
        assert_eq!(w("a$"), "a$");
        assert_eq!(w("$1"), "");
        assert_eq!(w("$A$A"), "hellohello");
    }

    #[test]
    fn modifiers() {
        assert_eq!(w("${A:-x}"), "hello");
        assert_eq!(w("${UNSET:-x}"), "x");
        assert_eq!(w("${EMPTY:-x}"), "x");
        assert_eq!(w("${EMPTY-x}"), "");
        assert_eq!(w("${UNSET-x}"), "x");
        assert_eq!(w("${A:+x}"), "x");
        assert_eq!(w("${EMPTY:+x}"), "");
        assert_eq!(w("${EMPTY+x}"), "x");
        assert_eq!(w("${UNSET+x}"), "");
        assert_eq!(w("${UNSET:-$A}"), "hello");
        assert_eq!(w("${UNSET:-${A:+nested}}"), "nested");
        assert_eq!(w("${UNSET:-a b}"), "a b");
        assert_eq!(err("${UNSET:?}"), "failed to process \"${UNSET:?}\": UNSET: is not allowed to be unset");
        assert_eq!(err("${EMPTY:?must be set}"), "failed to process \"${EMPTY:?must be set}\": EMPTY: must be set");
        assert_eq!(w("${EMPTY?x}"), "");
    }

    #[test]
    fn patterns() {
        assert_eq!(w("${FILE#*.}"), "tar.gz");
        assert_eq!(w("${FILE##*.}"), "gz");
        assert_eq!(w("${FILE%.*}"), "archive.tar");
        assert_eq!(w("${FILE%%.*}"), "archive");
        assert_eq!(w("${PATH/bin/BIN}"), "/usr/local/BIN:/usr/bin:/bin");
        assert_eq!(w("${PATH//bin/BIN}"), "/usr/local/BIN:/usr/BIN:/BIN");
        assert_eq!(w("${FILE/a?c/X}"), "Xhive.tar.gz");
        assert_eq!(w("${FILE#[ab]r}"), "chive.tar.gz");
        assert_eq!(w("${FILE#nomatch}"), "archive.tar.gz");
        assert!(err("${A:#x}").contains("unsupported modifier (:#)"));
    }

    #[test]
    fn errors() {
        assert!(err("${A").contains("missing '}'"));
        assert!(err("${}").contains("bad substitution"));
        assert!(err("${:-x}").contains("bad substitution"));
        assert!(err("${A:=x}").contains("unsupported modifier (:=)"));
        assert!(err("${A=x}").contains("unsupported modifier (=)"));
        assert!(err("'abc").contains("single-quote"));
        assert!(err("\"abc").contains("double-quote"));
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A\""), "hello");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("\"\\$A\""), "$A");
        assert_eq!(w("\"a\\b\""), "a\\b");
        assert_eq!(w("\"a\\\"b\""), "a\"b");
        assert_eq!(w("a\\ b"), "a b");
        assert_eq!(w("'a\\b'"), "a\\b");
        assert_eq!(w("abc\\"), "abc");
        assert_eq!(Lex::new('`').process_word("`$A", &env()).unwrap(), "$A");
        assert_eq!(Lex::new('`').process_word("\\$A", &env()).unwrap(), "\\hello");
    }

    #[test]
    fn word_splitting() {
        assert_eq!(ws("a b   c"), vec!["a", "b", "c"]);
        assert_eq!(ws("$SP"), vec!["a", "b", "c"]);
        assert_eq!(ws("\"$SP\""), vec!["a b  c"]);
        assert_eq!(ws("x$SP"), vec!["xa", "b", "c"]);
        assert_eq!(ws("'' a"), vec!["a"]);
        assert_eq!(ws("a\\ b c"), vec!["a b", "c"]);
        assert_eq!(ws("80/tcp 443"), vec!["80/tcp", "443"]);
    }

    #[test]
    fn raw_modes_for_heredocs() {
        let mut l = Lex::new('\\');
        l.raw_quotes = true;
        l.raw_escapes = true;
        l.skip_unset = true;
        assert_eq!(l.process_words("RUN cat <<\"EOF\" $X", &NoEnv).unwrap(), vec!["RUN", "cat", "<<\"EOF\"", "$X"]);
        assert_eq!(l.process_words("a ${X:-y} \\z", &NoEnv).unwrap(), vec!["a", "${X:-y}", "\\z"]);
    }
}
