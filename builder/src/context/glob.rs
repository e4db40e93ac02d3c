//! Go's `path/filepath.Match`: the wildcard syntax of COPY/ADD sources.
//!
//! `*` any run of non-`/` characters, `?` one non-`/` character, `[abc]`, `[a-z]`, `[^a]`
//! classes, `\x` a literal `x`. Malformed patterns are an error (`ErrBadPattern`).

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Class { negate: bool, ranges: Vec<(char, char)> },
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<Tok>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {0:?}")]
pub struct BadPattern(pub String);

impl Glob {
    pub fn new(pattern: &str) -> Result<Self, BadPattern> {
        let bad = || BadPattern(pattern.to_string());
        let cs: Vec<char> = pattern.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < cs.len() {
            match cs[i] {
                '*' => {
                    if out.last() != Some(&Tok::Star) {
                        out.push(Tok::Star);
                    }
                    i += 1;
                }
                '?' => {
                    out.push(Tok::Any);
                    i += 1;
                }
                '\\' => {
                    let c = *cs.get(i + 1).ok_or_else(bad)?;
                    out.push(Tok::Lit(c));
                    i += 2;
                }
                '[' => {
                    i += 1;
                    let negate = cs.get(i) == Some(&'^');
                    if negate {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    loop {
                        match cs.get(i) {
                            None => return Err(bad()),
                            Some(']') if !ranges.is_empty() => {
                                i += 1;
                                break;
                            }
                            _ => {}
                        }
                        let (lo, n) = class_char(&cs[i..]).ok_or_else(bad)?;
                        i += n;
                        let mut hi = lo;
                        if cs.get(i) == Some(&'-') {
                            let (h, n) = class_char(&cs[i + 1..]).ok_or_else(bad)?;
                            hi = h;
                            i += 1 + n;
                        }
                        if hi < lo {
                            return Err(bad());
                        }
                        ranges.push((lo, hi));
                    }
                    out.push(Tok::Class { negate, ranges });
                }
                c => {
                    out.push(Tok::Lit(c));
                    i += 1;
                }
            }
        }
        Ok(Glob(out))
    }

    /// Does `name` match the whole pattern?
    pub fn matches(&self, name: &str) -> bool {
        let cs: Vec<char> = name.chars().collect();
        go(&self.0, &cs)
    }

    /// Does the pattern contain wildcards at all?
    pub fn has_meta(pattern: &str) -> bool {
        pattern.contains(['*', '?', '[', '\\'])
    }
}

fn class_char(cs: &[char]) -> Option<(char, usize)> {
    match cs.first()? {
        '-' | ']' => None,
        '\\' => Some((*cs.get(1)?, 2)),
        &c => Some((c, 1)),
    }
}

fn go(t: &[Tok], s: &[char]) -> bool {
    match t.first() {
        None => s.is_empty(),
        Some(Tok::Star) => {
            let rest = &t[1..];
            let mut k = 0;
            loop {
                if go(rest, &s[k..]) {
                    return true;
                }
                if k == s.len() || s[k] == '/' {
                    return false;
                }
                k += 1;
            }
        }
        Some(tok) => {
            let Some(&c) = s.first() else { return false };
            let ok = match tok {
                Tok::Lit(l) => *l == c,
                Tok::Any => c != '/',
                Tok::Class { negate, ranges } => ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negate,
                Tok::Star => unreachable!(),
            };
            ok && go(&t[1..], &s[1..])
        }
    }
}

/// Go's `path.Clean`: the shortest equivalent slash path.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Glob::new(p).unwrap().matches(n)
    }

    #[test]
    fn go_match_table() {
        // Cases from Go's own filepath.Match tests.
        assert!(m("abc", "abc"));
        assert!(m("*", "abc"));
        assert!(m("*c", "abc"));
        assert!(!m("a*", "ab/c"));
        assert!(m("a*/b", "abc/b"));
        assert!(!m("a*/b", "a/c/b"));
        assert!(m("a*b*c*d*e*/f", "axbxcxdxe/f"));
        assert!(m("a*b*c*d*e*/f", "axbxcxdxexxx/f"));
        assert!(!m("a*b*c*d*e*/f", "axbxcxdxe/xxx/f"));
        assert!(!m("a*b*c*d*e*/f", "axbxcxdxexxx/fff"));
        assert!(m("a*b?c*x", "abxbbxdbxebxczzx"));
        assert!(!m("a*b?c*x", "abxbbxdbxebxczzy"));
        assert!(m("ab[c]", "abc"));
        assert!(m("ab[b-d]", "abc"));
        assert!(!m("ab[e-g]", "abc"));
        assert!(!m("ab[^c]", "abc"));
        assert!(!m("ab[^b-d]", "abc"));
        assert!(m("ab[^e-g]", "abc"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "ab"));
        assert!(m("a?b", "a☺b"));
        assert!(m("a[^a]b", "a☺b"));
        assert!(!m("a???b", "a☺b"));
        assert!(m("[\\-]", "-"));
        assert!(m("[x\\-]", "x"));
        assert!(m("[\\-x]", "-"));
        assert!(!m("[\\-x]", "a"));
        assert!(m("*x", "xxx"));
        assert!(m(".*", ".hidden"));
        assert!(!m("?", "/"));
        for bad in ["[]a]", "[-]", "[x-]", "[a-b-c]", "[", "[^", "[^bc", "a[", "\\", "[\\", "[a-\\]"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cleans_like_go() {
        for (i, o) in [("", "."), ("a/b/../c", "a/c"), ("/../a", "/a"), ("../../a/./b/", "../../a/b"), ("a//b", "a/b"), ("/", "/"), ("./", "."), ("a/..", ".")] {
            assert_eq!(clean(i), o, "{i}");
        }
    }
}
