//! What a v1 devices cgroup would hold after a sequence of rules: a default (allow or deny)
//! plus exceptions. v2's eBPF program is generated from this, so both versions enforce the
//! same thing (runc's approach). Like runc, a deny that would need to punch a hole in a
//! wildcard allow (which v1 silently ignores) is an error rather than a false promise.

use std::collections::BTreeMap;

use super::{Access, Kind, Rule};
use crate::cgroups::Error;

type Meta = (Kind, Option<u32>, Option<u32>);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Emulator {
    pub default_allow: bool,
    /// Exceptions to the default (their action is `!default_allow`).
    pub exceptions: BTreeMap<Meta, Access>,
}

impl Emulator {
    /// Starting from deny-all (what the runtime writes first).
    pub fn from_rules(rules: &[Rule]) -> Result<Emulator, Error> {
        let mut e = Emulator::default();
        for r in rules {
            e.apply(r)?;
        }
        Ok(e)
    }

    pub fn apply(&mut self, r: &Rule) -> Result<(), Error> {
        if r.kind == Kind::All {
            // The kernel ignores numbers and access on an "a" rule: it resets everything.
            *self = Emulator { default_allow: r.allow, exceptions: BTreeMap::new() };
            return Ok(());
        }
        let meta = (r.kind, r.major, r.minor);
        if r.allow == self.default_allow {
            self.remove(meta, r)
        } else {
            let e = self.exceptions.entry(meta).or_default();
            e.0 |= r.access.0;
            Ok(())
        }
    }

    fn remove(&mut self, meta: Meta, r: &Rule) -> Result<(), Error> {
        let partials = [(meta.0, None, meta.2), (meta.0, meta.1, None), (meta.0, None, None)];
        for p in partials {
            if p == meta {
                continue;
            }
            if let Some(a) = self.exceptions.get(&p) {
                if a.0 & r.access.0 != 0 {
                    return Err(Error::InvalidResource {
                        what: "devices".into(),
                        reason: format!(
                            "rule \"{r}\" cannot be enforced: it would punch a hole in the wildcard rule \"{}\"",
                            Rule { allow: !self.default_allow, kind: p.0, major: p.1, minor: p.2, access: *a }
                        ),
                    });
                }
            }
        }
        if let Some(a) = self.exceptions.get_mut(&meta) {
            a.0 &= !r.access.0;
            if a.0 == 0 {
                self.exceptions.remove(&meta);
            }
        }
        Ok(())
    }

    /// The exceptions as rules (each with action `!default_allow`).
    pub fn rules(&self) -> Vec<Rule> {
        self.exceptions
            .iter()
            .map(|(m, a)| Rule { allow: !self.default_allow, kind: m.0, major: m.1, minor: m.2, access: *a })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(allow: bool, kind: Kind, major: Option<u32>, minor: Option<u32>, access: &str) -> Rule {
        Rule { allow, kind, major, minor, access: Access::parse(access).unwrap() }
    }

    #[test]
    fn deny_all_then_allows_accumulate() {
        let e = Emulator::from_rules(&[
            r(true, Kind::Char, Some(1), Some(3), "r"),
            r(true, Kind::Char, Some(1), Some(3), "w"),
            r(true, Kind::Block, None, None, "m"),
        ])
        .unwrap();
        assert!(!e.default_allow);
        assert_eq!(e.rules().iter().map(ToString::to_string).collect::<Vec<_>>(), ["b *:* m", "c 1:3 rw"]);
    }

    #[test]
    fn allow_all_resets_and_denies_become_exceptions() {
        let e = Emulator::from_rules(&[
            r(true, Kind::Char, Some(1), Some(3), "rwm"),
            r(true, Kind::All, None, None, "rwm"),
            r(false, Kind::Char, Some(10), Some(229), "rwm"),
        ])
        .unwrap();
        assert!(e.default_allow);
        assert_eq!(e.rules().iter().map(ToString::to_string).collect::<Vec<_>>(), ["c 10:229 rwm"]);
    }

    #[test]
    fn removing_an_exception_subtracts_access() {
        let e = Emulator::from_rules(&[r(true, Kind::Char, Some(1), Some(3), "rwm"), r(false, Kind::Char, Some(1), Some(3), "w")]).unwrap();
        assert_eq!(e.rules()[0].to_string(), "c 1:3 rm");
    }

    #[test]
    fn hole_in_wildcard_is_refused() {
        let err = Emulator::from_rules(&[r(true, Kind::Char, Some(136), None, "rwm"), r(false, Kind::Char, Some(136), Some(1), "r")]);
        assert!(err.is_err());
        // disjoint access is fine
        assert!(Emulator::from_rules(&[r(true, Kind::Char, None, None, "m"), r(false, Kind::Char, Some(1), Some(1), "r")]).is_ok());
    }
}
