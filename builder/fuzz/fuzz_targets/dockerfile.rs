//! The Dockerfile front end on arbitrary bytes: parsing, then dispatching every stage on an
//! empty base, must return errors, never panic or hang.
#![no_main]
use berth_build::dispatch::{global_args, BuildInputs, StageState};
use berth_build::dockerfile::{parse, shell::Lex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    // The substitution lexer on its own, with both escape tokens.
    for esc in ['\\', '`'] {
        let env = berth_build::dockerfile::shell::EnvList::from_strings(&["A=a b".into(), "E=".into()]);
        let _ = Lex::new(esc).process_word(src, &env);
        let _ = Lex::new(esc).process_words(src, &env);
    }
    let Ok(df) = parse(src) else { return };
    let inputs = BuildInputs { build_args: Default::default(), build_platform: "linux/amd64".into(), target_platform: "linux/amd64".into() };
    let meta: Vec<_> = df.meta_args.iter().map(|m| m.inner.clone()).collect();
    let Ok(globals) = global_args(&meta, &inputs, df.escape) else { return };
    let _ = berth_build::graph::plan(&df, &globals, None);
    for st in &df.stages {
        let mut s = StageState::new(None, df.escape);
        for i in &st.instructions {
            let _ = s.dispatch(&i.inner, &inputs, &globals);
        }
    }
});
