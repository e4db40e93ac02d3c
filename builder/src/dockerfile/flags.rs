//! `--name=value` flags of an instruction, validated the way BuildKit's BFlags does.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Bool,
    Str,
    /// May be given many times.
    Strings,
}

/// The flags an instruction declares, then parses from its node.
pub struct Flags<'a> {
    args: &'a [String],
    decl: BTreeMap<&'static str, Kind>,
    values: BTreeMap<String, Vec<String>>,
}

impl<'a> Flags<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Flags { args, decl: BTreeMap::new(), values: BTreeMap::new() }
    }

    pub fn declare(mut self, name: &'static str, kind: Kind) -> Self {
        self.decl.insert(name, kind);
        self
    }

    pub fn parse(mut self) -> Result<Self, String> {
        for arg in self.args {
            let Some(a) = arg.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {arg}"));
            };
            if a.is_empty() {
                break;
            }
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (a, None),
            };
            let Some(&kind) = self.decl.get(name) else {
                let known: Vec<&str> = self.decl.keys().copied().collect();
                return Err(match suggest(name, &known) {
                    Some(s) => format!("unknown flag: --{name} (did you mean --{s}?)"),
                    None => format!("unknown flag: --{name}"),
                });
            };
            if self.values.contains_key(name) && kind != Kind::Strings {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            let v = match kind {
                Kind::Bool => match value {
                    Some("") => return Err(format!("missing a value on flag: --{name}")),
                    None => "true".to_string(),
                    Some(v) => match v.to_ascii_lowercase().as_str() {
                        "true" => "true".into(),
                        "false" => "false".into(),
                        _ => return Err(format!("expecting boolean value for flag --{name}, not: {v}")),
                    },
                },
                Kind::Str | Kind::Strings => match value {
                    None => return Err(format!("missing a value on flag: --{name}")),
                    Some(v) => v.to_string(),
                },
            };
            self.values.entry(name.to_string()).or_default().push(v);
        }
        Ok(self)
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
    pub fn bool(&self, name: &str) -> bool {
        self.string(name).as_deref() == Some("true")
    }
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// The closest known word within an edit distance of 2 (for "did you mean").
pub fn suggest<'b>(word: &str, known: &[&'b str]) -> Option<&'b str> {
    let w = word.to_ascii_lowercase();
    if w.len() >= 3 {
        if let Some(k) = known.iter().find(|k| k.to_ascii_lowercase().starts_with(&w)) {
            return Some(k);
        }
    }
    known
        .iter()
        .map(|k| (levenshtein(&w, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= 2 && *d < w.len().max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_kinds() {
        let args = v(&["--link", "--from=a", "--exclude=x", "--exclude=y"]);
        let f = Flags::new(&args)
            .declare("link", Kind::Bool)
            .declare("from", Kind::Str)
            .declare("exclude", Kind::Strings)
            .parse()
            .unwrap();
        assert!(f.bool("link"));
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert_eq!(f.strings("exclude"), vec!["x", "y"]);
    }

    #[test]
    fn errors() {
        let e = |a: &[&str]| {
            let args = v(a);
            Flags::new(&args).declare("link", Kind::Bool).declare("from", Kind::Str).parse().err().unwrap()
        };
        assert_eq!(e(&["--frm=x"]), "unknown flag: --frm (did you mean --from?)");
        assert_eq!(e(&["--zzzzzz"]), "unknown flag: --zzzzzz");
        assert_eq!(e(&["--from"]), "missing a value on flag: --from");
        assert_eq!(e(&["--link="]), "missing a value on flag: --link");
        assert_eq!(e(&["--link=maybe"]), "expecting boolean value for flag --link, not: maybe");
        assert_eq!(e(&["--from=a", "--from=b"]), "duplicate flag specified: --from");
        let args = v(&["--link=FALSE"]);
        assert!(!Flags::new(&args).declare("link", Kind::Bool).parse().unwrap().bool("link"));
    }
}
