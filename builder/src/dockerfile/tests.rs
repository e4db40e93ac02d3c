//! Instruction-level tests: every instruction, its flags, and the static errors.

use super::*;
use std::time::Duration;

fn df(src: &str) -> Dockerfile {
    parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn ins(src: &str) -> Instruction {
    let d = df(&format!("FROM scratch\n{src}"));
    d.stages[0].instructions[0].inner.clone()
}

fn err(src: &str) -> String {
    parse(src).unwrap_err().in_file("Dockerfile")
}

#[test]
fn stages_and_meta_args() {
    let d = df("ARG BASE=alpine\nARG V\nFROM ${BASE}:3 AS Build\nRUN x\nfrom --platform=$BUILDPLATFORM busybox\nCOPY --from=build /a /b\n");
    assert_eq!(d.meta_args.len(), 2);
    assert_eq!(d.meta_args[0].inner, vec![ArgDecl { key: "BASE".into(), default: Some("alpine".into()) }]);
    assert_eq!(d.stages.len(), 2);
    assert_eq!(d.stages[0].name.as_deref(), Some("build"));
    assert_eq!(d.stages[0].base, "${BASE}:3");
    assert_eq!(d.stages[1].platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(d.stages[1].line, 5);
    assert_eq!(d.stages[1].instructions[0].line, 6);
}

#[test]
fn from_errors() {
    assert_eq!(err("FROM a AS"), "Dockerfile:1: FROM: FROM requires either one or three arguments");
    assert_eq!(err("FROM a b c"), "Dockerfile:1: FROM: FROM requires either one or three arguments");
    assert!(err("FROM a AS 1abc").contains("invalid name for build stage: \"1abc\""));
    assert!(err("FROM a AS x$").contains("invalid name for build stage"));
    assert_eq!(err("FROM --plat=x a"), "Dockerfile:1: FROM: unknown flag: --plat (did you mean --platform?)");
    assert_eq!(err("FROM a AS x\nFROM b AS X"), "Dockerfile:2: FROM: duplicate stage name \"x\"");
    assert_eq!(err("RUN x"), "Dockerfile:1: RUN: no build stage in current context: RUN must come after FROM");
    assert!(err("ARG A=1").contains("a Dockerfile needs a FROM"));
}

#[test]
fn unknown_instruction_with_suggestion() {
    assert_eq!(err("FROM a\n\nCOPPY a b"), "Dockerfile:3: COPPY: unknown instruction: COPPY (did you mean COPY?)");
    assert_eq!(err("FROM a\nFROBNICATE x"), "Dockerfile:2: FROBNICATE: unknown instruction: FROBNICATE");
}

#[test]
fn run_forms_and_flags() {
    match ins("RUN echo $HOME && ls") {
        Instruction::Run(r) => {
            assert_eq!(r.cmd.args, vec!["echo $HOME && ls"]);
            assert!(r.cmd.prepend_shell);
        }
        o => panic!("{o:?}"),
    }
    match ins("RUN [\"/bin/echo\", \"a b\"]") {
        Instruction::Run(r) => {
            assert_eq!(r.cmd.args, vec!["/bin/echo", "a b"]);
            assert!(!r.cmd.prepend_shell);
        }
        o => panic!("{o:?}"),
    }
    match ins("RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none --security=sandbox make") {
        Instruction::Run(r) => {
            assert_eq!(r.mounts.len(), 2);
            assert_eq!(r.network.as_deref(), Some("none"));
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(err("FROM a\nRUN --mount=type=weird,target=/x true"), "Dockerfile:2: RUN: unsupported mount type \"weird\"");
    assert_eq!(err("FROM a\nRUN --network=bridge true"), "Dockerfile:2: RUN: unsupported network mode \"bridge\": use none, default or host");
    assert_eq!(err("FROM a\nRUN --mount true"), "Dockerfile:2: RUN: missing a value on flag: --mount");
    assert_eq!(err("FROM a\nRUN"), "Dockerfile:2: RUN: RUN requires at least one argument");
    assert_eq!(err("FROM a\nRUN --network=none"), "Dockerfile:2: RUN: RUN requires at least one argument");
}

#[test]
fn cmd_entrypoint_shell() {
    match ins("CMD [\"a\"]") {
        Instruction::Cmd(c) => assert_eq!((c.args, c.prepend_shell), (vec!["a".to_string()], false)),
        o => panic!("{o:?}"),
    }
    match ins("ENTRYPOINT exec top -b") {
        Instruction::Entrypoint(c) => assert_eq!((c.args, c.prepend_shell), (vec!["exec top -b".to_string()], true)),
        o => panic!("{o:?}"),
    }
    assert_eq!(ins("SHELL [\"/bin/bash\", \"-euc\"]"), Instruction::Shell(vec!["/bin/bash".into(), "-euc".into()]));
    assert!(err("FROM a\nSHELL /bin/bash -c").contains("SHELL requires the arguments to be in JSON form"));
    assert!(err("FROM a\nSHELL []").contains("SHELL requires at least one argument"));
}

#[test]
fn env_label_arg() {
    assert_eq!(ins("ENV A=1 B=\"x y\""), Instruction::Env(vec![("A".into(), "1".into()), ("B".into(), "\"x y\"".into())]));
    assert_eq!(ins("ENV A hello world"), Instruction::Env(vec![("A".into(), "hello world".into())]));
    assert_eq!(ins("LABEL \"com.x\"=\"v\" k=v2"), Instruction::Label(vec![("\"com.x\"".into(), "\"v\"".into()), ("k".into(), "v2".into())]));
    assert_eq!(
        ins("ARG A B=2 C="),
        Instruction::Arg(vec![
            ArgDecl { key: "A".into(), default: None },
            ArgDecl { key: "B".into(), default: Some("2".into()) },
            ArgDecl { key: "C".into(), default: Some("".into()) }
        ])
    );
    assert_eq!(err("FROM a\nENV"), "Dockerfile:2: ENV: ENV requires at least one argument");
    assert_eq!(err("FROM a\nLABEL"), "Dockerfile:2: LABEL: LABEL requires at least one argument");
    assert_eq!(err("FROM a\nARG"), "Dockerfile:2: ARG: ARG requires at least one argument");
    assert_eq!(err("FROM a\nARG =x"), "Dockerfile:2: ARG: ARG names can not be blank");
    assert_eq!(err("FROM a\nENV =x"), "Dockerfile:2: ENV: ENV names can not be blank");
}

#[test]
fn copy_and_add() {
    match ins("COPY --from=build --chown=app:app --chmod=0755 --link a b/ /dest/") {
        Instruction::Copy(c) => {
            assert!(!c.add);
            assert_eq!(c.sources, vec!["a", "b/"]);
            assert_eq!(c.dest, "/dest/");
            assert_eq!(c.from.as_deref(), Some("build"));
            assert_eq!(c.chown.as_deref(), Some("app:app"));
            assert_eq!(c.chmod.as_deref(), Some("0755"));
            assert!(c.link);
        }
        o => panic!("{o:?}"),
    }
    match ins("ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/a.tar /x") {
        Instruction::Copy(c) => {
            assert!(c.add);
            assert!(c.checksum.is_some());
        }
        o => panic!("{o:?}"),
    }
    match ins("COPY [\"a b\", \"c\", \"/d/\"]") {
        Instruction::Copy(c) => assert_eq!(c.sources, vec!["a b", "c"]),
        o => panic!("{o:?}"),
    }
    match ins("COPY --parents --exclude=*.md --exclude=x ./src/**/*.go /out/") {
        Instruction::Copy(c) => {
            assert!(c.parents);
            assert_eq!(c.excludes, vec!["*.md", "x"]);
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        err("FROM a\nCOPY onlyone"),
        "Dockerfile:2: COPY: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(err("FROM a\nCOPY --chown a b"), "Dockerfile:2: COPY: missing a value on flag: --chown");
    assert_eq!(err("FROM a\nCOPY --checksum=sha256:00 a b"), "Dockerfile:2: COPY: unknown flag: --checksum");
    assert_eq!(err("FROM a\nADD --from=x a b"), "Dockerfile:2: ADD: unknown flag: --from");
    assert_eq!(err("FROM a\nADD --checksum=md5:00 a b"), "Dockerfile:2: ADD: unsupported checksum algorithm \"md5\"");
    assert_eq!(err("FROM a\nCOPY --chmod=999 a b"), "Dockerfile:2: COPY: invalid chmod parameter \"999\"");
    assert_eq!(err("FROM a\nCOPY --chmod=u+z a b"), "Dockerfile:2: COPY: invalid chmod parameter \"u+z\"");
    assert_eq!(err("FROM a\nCOPY a <<EOF\nx\nEOF"), "Dockerfile:2: COPY: COPY cannot accept a heredoc as a destination");
}

#[test]
fn copy_heredoc_sources() {
    match ins("COPY <<EOF <<-\"TWO\" /dest/\nhello $X\nEOF\n\tworld\nTWO\n") {
        Instruction::Copy(c) => {
            assert!(c.sources.is_empty());
            assert_eq!(c.inline.len(), 2);
            assert_eq!(c.inline[0], InlineSource { name: "EOF".into(), data: "hello $X\n".into(), expand: true });
            assert_eq!(c.inline[1], InlineSource { name: "TWO".into(), data: "world\n".into(), expand: false });
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn chmod_symbolic() {
    assert_eq!(parse_chmod("755").unwrap(), Chmod::Octal(0o755));
    let c = parse_chmod("u+x,go-w").unwrap();
    assert_eq!(c.apply(0o666, false), 0o744);
    assert_eq!(parse_chmod("a=r").unwrap().apply(0o777, false), 0o444);
    assert_eq!(parse_chmod("+X").unwrap().apply(0o644, true), 0o755);
    assert_eq!(parse_chmod("+X").unwrap().apply(0o644, false), 0o644);
}

#[test]
fn workdir_user_volume_expose_stopsignal() {
    assert_eq!(ins("WORKDIR /a b"), Instruction::Workdir("/a b".into()));
    assert_eq!(ins("USER app:app"), Instruction::User("app:app".into()));
    assert_eq!(ins("VOLUME /a /b"), Instruction::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(ins("VOLUME [\"/a\", \"/b c\"]"), Instruction::Volume(vec!["/a".into(), "/b c".into()]));
    assert_eq!(ins("EXPOSE 80 443/udp"), Instruction::Expose(vec!["80".into(), "443/udp".into()]));
    assert_eq!(ins("STOPSIGNAL SIGKILL"), Instruction::StopSignal("SIGKILL".into()));
    assert_eq!(err("FROM a\nWORKDIR"), "Dockerfile:2: WORKDIR: WORKDIR requires exactly one argument");
    assert_eq!(err("FROM a\nUSER"), "Dockerfile:2: USER: USER requires exactly one argument");
    assert_eq!(err("FROM a\nVOLUME"), "Dockerfile:2: VOLUME: VOLUME requires at least one argument");
    assert_eq!(err("FROM a\nVOLUME [\"\"]"), "Dockerfile:2: VOLUME: VOLUME specified can not be an empty string");
    assert_eq!(err("FROM a\nEXPOSE"), "Dockerfile:2: EXPOSE: EXPOSE requires at least one argument");
    assert_eq!(err("FROM a\nEXPOSE 80/xyz"), "Dockerfile:2: EXPOSE: invalid proto: xyz");
    assert_eq!(err("FROM a\nEXPOSE 99999"), "Dockerfile:2: EXPOSE: invalid containerPort: 99999");
    assert_eq!(err("FROM a\nSTOPSIGNAL SIGNOPE"), "Dockerfile:2: STOPSIGNAL: Invalid signal: SIGNOPE");
    assert_eq!(err("FROM a\nSTOPSIGNAL"), "Dockerfile:2: STOPSIGNAL: STOPSIGNAL requires exactly one argument");
    assert_eq!(parse_port("8000-8002").unwrap(), vec!["8000/tcp", "8001/tcp", "8002/tcp"]);
    assert_eq!(parse_port("53/UDP").unwrap(), vec!["53/udp"]);
    for s in ["9", "term", "SIGRTMIN+3", "sigusr1"] {
        assert!(parse_signal(s).is_ok(), "{s}");
    }
}

#[test]
fn healthcheck() {
    assert_eq!(
        ins("HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --start-interval=500ms --retries=3 CMD curl -f http://x/ || exit 1"),
        Instruction::Healthcheck(Healthcheck::Check {
            test: vec!["CMD-SHELL".into(), "curl -f http://x/ || exit 1".into()],
            interval: Some(Duration::from_secs(30)),
            timeout: Some(Duration::from_secs(90)),
            start_period: Some(Duration::from_secs(5)),
            start_interval: Some(Duration::from_millis(500)),
            retries: Some(3),
        })
    );
    match ins("HEALTHCHECK CMD [\"/bin/check\", \"-q\"]") {
        Instruction::Healthcheck(Healthcheck::Check { test, interval, .. }) => {
            assert_eq!(test, vec!["CMD", "/bin/check", "-q"]);
            assert_eq!(interval, None);
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(ins("HEALTHCHECK none"), Instruction::Healthcheck(Healthcheck::None));
    assert_eq!(err("FROM a\nHEALTHCHECK NONE x"), "Dockerfile:2: HEALTHCHECK: HEALTHCHECK NONE takes no arguments");
    assert_eq!(err("FROM a\nHEALTHCHECK CMD"), "Dockerfile:2: HEALTHCHECK: Missing command after HEALTHCHECK CMD");
    assert_eq!(err("FROM a\nHEALTHCHECK RUN x"), "Dockerfile:2: HEALTHCHECK: Unknown type \"RUN\" in HEALTHCHECK (try CMD)");
    assert_eq!(err("FROM a\nHEALTHCHECK --retries=0 CMD x"), "Dockerfile:2: HEALTHCHECK: --retries must be at least 1 (not 0)");
    assert_eq!(err("FROM a\nHEALTHCHECK --interval=0s CMD x"), "Dockerfile:2: HEALTHCHECK: Interval \"interval\" cannot be less than 1ms");
    assert_eq!(err("FROM a\nHEALTHCHECK --interval=5 CMD x"), "Dockerfile:2: HEALTHCHECK: time: missing unit in duration \"5\"");
    assert_eq!(err("FROM a\nHEALTHCHECK --bogus=1 CMD x"), "Dockerfile:2: HEALTHCHECK: unknown flag: --bogus");
    assert_eq!(err("FROM a\nHEALTHCHECK"), "Dockerfile:2: HEALTHCHECK: HEALTHCHECK requires at least one argument");
}

#[test]
fn onbuild_and_maintainer() {
    assert_eq!(ins("ONBUILD RUN echo hi"), Instruction::Onbuild("RUN echo hi".into()));
    assert_eq!(ins("onbuild   copy a b"), Instruction::Onbuild("copy a b".into()));
    assert_eq!(ins("ONBUILD RUN <<EOF\necho hi\nEOF"), Instruction::Onbuild("RUN <<EOF\necho hi\nEOF".into()));
    assert_eq!(err("FROM a\nONBUILD ONBUILD RUN x"), "Dockerfile:2: ONBUILD: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    assert_eq!(err("FROM a\nONBUILD FROM x"), "Dockerfile:2: ONBUILD: FROM isn't allowed as an ONBUILD trigger");
    assert_eq!(err("FROM a\nONBUILD MAINTAINER x"), "Dockerfile:2: ONBUILD: MAINTAINER isn't allowed as an ONBUILD trigger");
    assert_eq!(err("FROM a\nONBUILD COPY x"), "Dockerfile:2: ONBUILD: COPY: COPY requires at least two arguments, but only one was provided. Destination could not be determined");
    assert_eq!(err("FROM a\nONBUILD"), "Dockerfile:2: ONBUILD: ONBUILD requires at least one argument");
    assert_eq!(ins("MAINTAINER Jane <j@x>"), Instruction::Maintainer("Jane <j@x>".into()));
    assert!(matches!(parse_trigger("RUN echo hi").unwrap(), Instruction::Run(_)));
}

#[test]
fn escape_directive_applies_to_words() {
    let d = df("# escape=`\nFROM a\nENV A=x` y B=`$C\n");
    assert_eq!(d.escape, '`');
    match &d.stages[0].instructions[0].inner {
        Instruction::Env(kv) => assert_eq!(kv, &vec![("A".to_string(), "x` y".to_string()), ("B".to_string(), "`$C".to_string())]),
        o => panic!("{o:?}"),
    }
}

#[test]
fn line_numbers_of_errors_after_continuations_and_heredocs() {
    let e = err("FROM a\nRUN a \\\n b\nRUN <<EOF\nx\nEOF\n\nCOPY x\n");
    assert_eq!(e, "Dockerfile:8: COPY: COPY requires at least two arguments, but only one was provided. Destination could not be determined");
}

#[test]
fn durations_like_go() {
    assert_eq!(parse_go_duration("1h2m3.5s").unwrap(), Duration::from_millis(3_723_500));
    assert_eq!(parse_go_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_go_duration("10us").unwrap(), Duration::from_micros(10));
    assert!(parse_go_duration("").is_err());
    assert!(parse_go_duration("5x").is_err());
    assert!(parse_go_duration("s").is_err());
}

/// Arbitrary and mutated Dockerfiles never panic the front end (a cheap, deterministic
/// stand-in for the cargo-fuzz target that runs in every test run).
#[test]
fn hostile_input_does_not_panic() {
    use crate::dispatch::{global_args, BuildInputs, StageState};
    let seeds = [
        "# escape=`\nFROM a AS b\nRUN <<-'E' x\n\tE\nCOPY --from=b [\"a\", \"b\"] c/\nENV A=\"${B:-$C}\" D=${E#*}\n",
        "ARG X=${Y:?err}\nFROM $X\nHEALTHCHECK --interval=1h2m CMD [\"a\"]\nONBUILD COPY <<EOF /x\n$Y\nEOF\n",
        "FROM scratch\nRUN --mount=type=cache,target=/c,sharing=locked,mode=0755 \\\n  echo ${A//x/y} ${A/#/z}\nEXPOSE 1-99/udp\n",
        "FROM a\nLABEL \"a\\\"b\"=c\nSHELL [\"x\"]\nCMD a\nENTRYPOINT []\nVOLUME [\"\"]\nUSER ${U:+x}:${G-y}\n",
    ];
    let alphabet: Vec<char> = "\\`$#{}[]\"' \t\n:-+?%/=<>AZaz09,.\u{e9}\u{1f600}\r".chars().collect();
    let mut state: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let inputs = BuildInputs { build_args: Default::default(), build_platform: "linux/amd64".into(), target_platform: "linux/amd64".into() };
    for i in 0..3000 {
        let mut s: Vec<char> = seeds[i % seeds.len()].chars().collect();
        for _ in 0..(rnd() % 8) {
            let pos = (rnd() as usize) % (s.len() + 1);
            match rnd() % 3 {
                0 => s.insert(pos, alphabet[(rnd() as usize) % alphabet.len()]),
                1 if pos < s.len() => {
                    s.remove(pos);
                }
                _ if pos < s.len() => s[pos] = alphabet[(rnd() as usize) % alphabet.len()],
                _ => {}
            }
        }
        let text: String = s.into_iter().collect();
        let Ok(df) = parse(&text) else { continue };
        let meta: Vec<_> = df.meta_args.iter().map(|m| m.inner.clone()).collect();
        let Ok(g) = global_args(&meta, &inputs, df.escape) else { continue };
        let _ = crate::graph::plan(&df, &g, None);
        for st in &df.stages {
            let mut state = StageState::new(None, df.escape);
            for ins in &st.instructions {
                let _ = state.dispatch(&ins.inner, &inputs, &g);
            }
        }
    }
}
