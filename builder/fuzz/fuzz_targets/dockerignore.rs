//! `.dockerignore` patterns and Go `filepath.Match` globs on arbitrary input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (pat, name) = s.split_once('\n').unwrap_or((s, "a/b/c"));
    if let Ok(i) = berth_build::context::ignore::Ignore::parse(pat) {
        let _ = i.matches(name);
    }
    if let Ok(g) = berth_build::context::glob::Glob::new(pat) {
        let _ = g.matches(name);
    }
});
