//! `.dockerignore`: moby's patternmatcher, rule for rule.
//!
//! Lines starting with `#` are comments; patterns are trimmed and `filepath.Clean`ed, a
//! leading `/` dropped; `!` re-includes. Patterns are evaluated in order and the last one
//! that matches a path (or one of its parent directories) decides. `*` and `?` stop at `/`,
//! `**` crosses directories, and a pattern also matches everything below what it names.

use super::glob::{clean, Glob};
use regex::Regex;

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    exclusion: bool,
    re: Regex,
}

/// The compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid .dockerignore pattern {pattern:?}: {reason}")]
pub struct IgnoreError {
    pub pattern: String,
    pub reason: String,
}

/// The pattern lines of a `.dockerignore` file (moby's `ignorefile.ReadAll`).
pub fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut p = if p.is_empty() { String::new() } else { clean(p) };
        if p.len() > 1 && p.starts_with('/') {
            p.remove(0);
        }
        out.push(if invert { format!("!{p}") } else { p });
    }
    out
}

impl Ignore {
    /// Parse the text of a `.dockerignore`.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        Self::new(&read_patterns(text))
    }

    pub fn new(patterns: &[String]) -> Result<Self, IgnoreError> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(IgnoreError { pattern: p.clone(), reason: "illegal exclusion pattern".into() });
                }
                exclusion = true;
                p = rest.to_string();
            }
            Glob::new(&p).map_err(|_| IgnoreError { pattern: p.clone(), reason: "syntax error in pattern".into() })?;
            let re = Regex::new(&to_regex(&p)).map_err(|e| IgnoreError { pattern: p.clone(), reason: e.to_string() })?;
            out.push(Pattern { text: p, exclusion, re });
        }
        Ok(Ignore { patterns: out })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Any `!` patterns: excluded directories must still be walked.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Is the slash path `file` (relative to the context root) ignored?
    pub fn matches(&self, file: &str) -> bool {
        let mut matched = false;
        let parent = match file.rfind('/') {
            Some(i) => &file[..i],
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.re.is_match(file);
            if !m && parent != "." {
                for i in 0..parent_dirs.len() {
                    if p.re.is_match(&parent_dirs[..=i].join("/")) {
                        m = true;
                        break;
                    }
                }
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Could an exclusion pattern re-include something below the ignored directory `dir`?
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.patterns.iter().any(|p| {
            p.exclusion && (p.text.starts_with(&prefix) || p.text.contains(['*', '?', '[']) || prefix.starts_with(&format!("{}/", p.text)))
        })
    }
}

fn to_regex(p: &str) -> String {
    let cs: Vec<char> = p.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    while i < cs.len() {
        let ch = cs[i];
        i += 1;
        match ch {
            '*' if cs.get(i) == Some(&'*') => {
                i += 1;
                if cs.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == cs.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => {
                if i < cs.len() {
                    re.push_str(&regex::escape(&cs[i].to_string()));
                    i += 1;
                } else {
                    re.push_str("\\\\");
                }
            }
            '[' | ']' => re.push(ch),
            '^' => re.push_str("\\^"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push_str("(/.*)?$");
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn basic_patterns() {
        let i = ig("# comment\n*.md\n!README.md\ntemp?\n/abs\n  spaced  \n\n");
        assert!(i.matches("a.md"));
        assert!(!i.matches("README.md"));
        assert!(!i.matches("dir/a.md"), "* does not cross /");
        assert!(i.matches("temp1"));
        assert!(i.matches("temp1/inner/file"), "a match covers what is below");
        assert!(i.matches("abs"));
        assert!(i.matches("spaced"));
        assert!(!i.matches("other"));
    }

    #[test]
    fn double_star_and_order() {
        let i = ig("**/*.go\n!keep/**\nkeep/drop.go");
        assert!(i.matches("a.go"));
        assert!(i.matches("x/y/z.go"));
        assert!(!i.matches("keep/a.go"));
        assert!(i.matches("keep/drop.go"), "the last matching pattern decides");
        let i = ig("node_modules\n**/.git");
        assert!(i.matches("node_modules/a/b"));
        assert!(i.matches("sub/.git/config"));
        let i = ig("a/**/b");
        assert!(i.matches("a/b"));
        assert!(i.matches("a/x/y/b"));
        assert!(!i.matches("a/x/y/c"));
        let i = ig("**");
        assert!(i.matches("anything/at/all"));
    }

    #[test]
    fn exceptions_inside_ignored_dirs() {
        let i = ig("docs\n!docs/keep.txt");
        assert!(i.matches("docs/other.txt"));
        assert!(!i.matches("docs/keep.txt"));
        assert!(i.may_reinclude_below("docs"));
        let i = ig("*\n!src");
        assert!(i.matches("Makefile"));
        assert!(!i.matches("src"));
        assert!(!i.matches("src/main.rs"), "parent re-included");
    }

    #[test]
    fn literal_specials_and_errors() {
        let i = ig("a+b.(c)\n\\*star");
        assert!(i.matches("a+b.(c)"));
        assert!(!i.matches("aab.(c)"));
        assert!(i.matches("*star"));
        assert!(!i.matches("xstar"));
        assert!(Ignore::parse("[").is_err());
        assert!(Ignore::new(&["!".to_string()]).is_err());
        assert_eq!(read_patterns("!/a/../b\n#c\n ./x/ "), vec!["!b", "x"]);
    }
}
