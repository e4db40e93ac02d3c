use super::*;
use crate::dockerfile::parse;
use crate::graph::{plan, Base};

fn inputs(args: &[(&str, &str)]) -> BuildInputs {
    BuildInputs {
        build_args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        build_platform: "linux/amd64".into(),
        target_platform: "linux/amd64".into(),
    }
}

/// Dispatch every instruction of the last stage on top of `base`; the steps and the state.
fn run(src: &str, base: Option<Config>, args: &[(&str, &str)]) -> (Vec<Dispatched>, StageState) {
    let d = parse(src).unwrap();
    let inp = inputs(args);
    let g = global_args(&d.meta_args.iter().map(|m| m.inner.clone()).collect::<Vec<_>>(), &inp, d.escape).unwrap();
    let st = d.stages.last().unwrap();
    let mut s = StageState::new(base, d.escape);
    let out = st.instructions.iter().map(|i| s.dispatch(&i.inner, &inp, &g).unwrap()).collect();
    (out, s)
}

fn dispatch_err(src: &str) -> String {
    let d = parse(src).unwrap();
    let inp = inputs(&[]);
    let g = global_args(&[], &inp, d.escape).unwrap();
    let mut s = StageState::new(None, d.escape);
    for i in &d.stages[0].instructions {
        if let Err(e) = s.dispatch(&i.inner, &inp, &g) {
            return e;
        }
    }
    panic!("no error");
}

fn base_with_env(env: &[&str]) -> Config {
    Config { env: Some(env.iter().map(|s| s.to_string()).collect()), ..Default::default() }
}

fn run_step(d: &Dispatched) -> &RunStep {
    match &d.step {
        Some(Step::Run(r)) => r,
        o => panic!("{o:?}"),
    }
}
fn copy_step(d: &Dispatched) -> &CopyStep {
    match &d.step {
        Some(Step::Copy(c)) => c,
        o => panic!("{o:?}"),
    }
}

#[test]
fn scratch_gets_default_path() {
    let (_, s) = run("FROM scratch\nLABEL a=b", None, &[]);
    assert_eq!(s.config.env.as_deref(), Some(&[format!("PATH={DEFAULT_PATH}")][..]));
}

#[test]
fn env_substitution_uses_previous_values() {
    let (_, s) = run("FROM x\nENV A=hello\nENV A=bye B=$A C=\"${A} world\"\nENV D ${B:-none} x", Some(base_with_env(&["PATH=/bin"])), &[]);
    let env = s.config.env.unwrap();
    assert_eq!(env, vec!["PATH=/bin", "A=bye", "B=hello", "C=hello world", "D=hello x"]);
}

#[test]
fn arg_scoping() {
    let src = "ARG G=global\nARG ONLY_GLOBAL=g2\nFROM x\nARG G\nARG L=local-$G\nARG U\nARG TARGETARCH\nRUN echo";
    let (out, s) = run(src, None, &[]);
    let r = run_step(out.last().unwrap());
    assert!(r.env.contains(&"G=global".to_string()));
    assert!(r.env.contains(&"L=local-global".to_string()));
    assert!(r.env.contains(&"TARGETARCH=amd64".to_string()));
    assert!(!r.env.iter().any(|e| e.starts_with("ONLY_GLOBAL=") || e.starts_with("U=")));
    assert!(s.config.env.unwrap().iter().all(|e| !e.starts_with("G=")), "ARGs never reach the image");
    assert_eq!(out.last().unwrap().created_by, "RUN |3 G=global L=local-global TARGETARCH=amd64 /bin/sh -c echo # buildkit");
    // --build-arg overrides defaults, global and local.
    let (out, _) = run(src, None, &[("G", "cli"), ("L", "cli-l")]);
    let r = run_step(out.last().unwrap());
    assert!(r.env.contains(&"G=cli".to_string()) && r.env.contains(&"L=cli-l".to_string()));
}

#[test]
fn env_and_arg_precedence() {
    // ENV after ARG wins; an ARG after ENV wins for RUN but the config keeps the ENV.
    let (out, s) = run("FROM x\nARG V=arg\nENV V=env\nRUN a\nARG W=arg\nRUN b", Some(base_with_env(&["W=env"])), &[("V", "cli")]);
    assert!(run_step(&out[2]).env.contains(&"V=env".to_string()));
    assert!(run_step(&out[4]).env.contains(&"W=arg".to_string()));
    assert!(s.config.env.unwrap().contains(&"W=env".to_string()));
}

#[test]
fn proxies_reach_run_but_not_the_key() {
    let (out, _) = run("FROM x\nRUN curl", None, &[("http_proxy", "http://p:3128")]);
    let r = run_step(&out[0]);
    assert_eq!(r.proxy_env, vec!["http_proxy=http://p:3128"]);
    assert!(!r.env.iter().any(|e| e.starts_with("http_proxy")));
}

#[test]
fn cmd_entrypoint_interplay() {
    let base = Config { cmd: Some(vec!["base-cmd".into()]), ..Default::default() };
    let (_, s) = run("FROM x\nENTRYPOINT [\"/ep\"]", Some(base.clone()), &[]);
    assert_eq!(s.config.cmd, None, "ENTRYPOINT resets an inherited CMD");
    let (_, s) = run("FROM x\nCMD [\"c\"]\nENTRYPOINT [\"/ep\"]", Some(base.clone()), &[]);
    assert_eq!(s.config.cmd, Some(vec!["c".to_string()]), "a CMD of this stage survives");
    let (_, s) = run("FROM x\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo $HOME\nENTRYPOINT exec top", Some(base), &[]);
    assert_eq!(s.config.cmd, Some(vec!["/bin/bash".to_string(), "-c".into(), "echo $HOME".into()]));
    assert_eq!(s.config.entrypoint, Some(vec!["/bin/bash".to_string(), "-c".into(), "exec top".into()]));
    let (_, s) = run("FROM x\nENTRYPOINT []", Some(Config { entrypoint: Some(vec!["x".into()]), ..Default::default() }), &[]);
    assert_eq!(s.config.entrypoint, None);
}

#[test]
fn run_forms_and_heredocs() {
    let (out, _) = run(
        "FROM x\nRUN [\"/bin/echo\", \"$HOME\"]\nRUN <<EOF\necho a\nEOF\nRUN <<EOF\n#!/bin/sh\necho b\nEOF\nRUN cat <<EOF >/f\nx $Y\nEOF\nRUN <<-EOF\n\techo c\n\tEOF\n",
        None,
        &[],
    );
    assert_eq!(run_step(&out[0]).argv, vec!["/bin/echo", "$HOME"]);
    assert_eq!(run_step(&out[1]).argv, vec!["/bin/sh", "-c", "echo a\n"]);
    let r = run_step(&out[2]);
    assert_eq!(r.argv, vec!["/bin/sh", "-c", "/dev/pipes/EOF"]);
    assert_eq!(r.files, vec![("EOF".to_string(), "#!/bin/sh\necho b\n".to_string())]);
    assert_eq!(run_step(&out[3]).argv, vec!["/bin/sh", "-c", "cat <<EOF >/f\nx $Y\nEOF"]);
    assert_eq!(run_step(&out[4]).argv, vec!["/bin/sh", "-c", "echo c\n"]);
}

#[test]
fn run_user_workdir_mounts_network() {
    let (out, _) = run(
        "FROM x\nARG CACHE=/root/.cache\nWORKDIR /src\nWORKDIR sub\nUSER 1000:1000\nRUN --mount=type=cache,target=$CACHE --network=none make",
        None,
        &[],
    );
    assert_eq!(out[1].step, Some(Step::Mkdir { path: "/src".into(), user: "".into() }));
    assert_eq!(out[2].step, Some(Step::Mkdir { path: "/src/sub".into(), user: "".into() }));
    let r = run_step(&out[4]);
    assert_eq!(r.user, "1000:1000");
    assert_eq!(r.workdir, "/src/sub");
    assert_eq!(r.mounts[0].target.as_deref(), Some("/root/.cache"));
    assert_eq!(r.network, Network::None);
    assert!(r.env.iter().any(|e| e.starts_with("PATH=")));
}

#[test]
fn copy_resolution() {
    let (out, _) = run(
        "FROM x\nARG F=file\nWORKDIR /app\nCOPY $F ./\nCOPY ${F}.txt rel\nCOPY a b ./dir/\nCOPY --chown=${U:-1}:2 --chmod=640 x /abs\nCOPY <<EOF /etc/conf\nname=$F \"q\" \\$F\nEOF\nCOPY <<'EOF' /raw\n$F\nEOF\nCOPY x .",
        None,
        &[],
    );
    assert_eq!(copy_step(&out[2]).sources, vec!["file"]);
    assert_eq!(copy_step(&out[2]).dest, "/app/");
    assert_eq!(copy_step(&out[3]).dest, "/app/rel");
    assert_eq!(copy_step(&out[4]).dest, "/app/dir/");
    let c = copy_step(&out[5]);
    assert_eq!(c.chown.as_deref(), Some("1:2"));
    assert_eq!(c.chmod, Some(Chmod::Octal(0o640)));
    assert_eq!(copy_step(&out[6]).inline, vec![("EOF".to_string(), "name=file \"q\" $F\n".to_string())]);
    assert_eq!(copy_step(&out[7]).inline, vec![("EOF".to_string(), "$F\n".to_string())]);
    assert_eq!(copy_step(&out[8]).dest, "/app/");
    assert_eq!(
        dispatch_err("FROM x\nCOPY a b /dest"),
        "When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    assert_eq!(dispatch_err("FROM x\nADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d local /x"), "checksum can't be specified for non-HTTP(S) sources");
    assert_eq!(dispatch_err("FROM x\nADD --keep-git-dir x /x"), "--keep-git-dir can only be used with a git source");
}

#[test]
fn config_instructions() {
    let (out, s) = run(
        "FROM x\nLABEL a=1 \"b c\"=\"d e\"\nEXPOSE 80 53/udp 8000-8001\nVOLUME /data [\"/x\"]\nVOLUME [\"/v1\", \"/v2\"]\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s --retries=2 CMD true\nONBUILD RUN echo hi\nMAINTAINER me\nUSER app",
        None,
        &[],
    );
    let c = &s.config;
    let labels = c.labels.clone().unwrap();
    assert_eq!(labels.get("b c").map(String::as_str), Some("d e"));
    let ports: Vec<&String> = c.exposed_ports.as_ref().unwrap().keys().collect();
    assert_eq!(ports, vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
    let vols: Vec<&String> = c.volumes.as_ref().unwrap().keys().collect();
    assert_eq!(vols, vec!["/data", "/v1", "/v2", "[/x]"]);
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    let h = c.healthcheck.clone().unwrap();
    assert_eq!(h.test, vec!["CMD-SHELL", "true"]);
    assert_eq!((h.interval, h.retries), (5_000_000_000, 2));
    assert_eq!(c.on_build, Some(vec!["RUN echo hi".to_string()]));
    assert_eq!(s.author.as_deref(), Some("me"));
    assert_eq!(c.user.as_deref(), Some("app"));
    assert!(out.iter().all(|d| d.step.is_none()));
    let (_, s) = run("FROM x\nHEALTHCHECK NONE", None, &[]);
    assert_eq!(s.config.healthcheck.unwrap().test, vec!["NONE"]);
}

#[test]
fn onbuild_triggers_are_taken_once() {
    let mut s = StageState::new(Some(Config { on_build: Some(vec!["RUN a".into()]), ..Default::default() }), '\\');
    assert_eq!(s.take_triggers(), vec!["RUN a"]);
    assert!(s.take_triggers().is_empty());
    assert_eq!(s.config.on_build, None);
}

#[test]
fn graph_needs_and_waves() {
    let src = "ARG BASE=busybox\nFROM ${BASE} AS a\nFROM scratch AS b\nFROM a AS c\nCOPY --from=b /x /x\nFROM alpine AS unused\nFROM c\nCOPY --from=0 /y /y\nCOPY --from=other:img /z /z\nRUN --mount=from=b,target=/m true";
    let d = parse(src).unwrap();
    let inp = inputs(&[]);
    let g = global_args(&d.meta_args.iter().map(|m| m.inner.clone()).collect::<Vec<_>>(), &inp, d.escape).unwrap();
    let gr = plan(&d, &g, None).unwrap();
    assert_eq!(gr.nodes[0].base, Base::Image("busybox".into()));
    assert_eq!(gr.nodes[1].base, Base::Scratch);
    assert_eq!(gr.nodes[2].base, Base::Stage(0));
    assert_eq!(gr.order, vec![0, 1, 2, 4]);
    assert_eq!(gr.waves(), vec![vec![0, 1], vec![2], vec![4]]);
    assert!(gr.nodes[4].images.contains("other:img"));
    let gr = plan(&d, &g, Some("B")).unwrap();
    assert_eq!(gr.order, vec![1]);
    assert!(plan(&d, &g, Some("nope")).unwrap_err().to_string().contains("target stage \"nope\" could not be found"));
    let d = parse("FROM x AS a\nCOPY --from=b /a /a\nFROM y AS b\nCOPY --from=a /b /b").unwrap();
    assert!(plan(&d, &g, None).unwrap_err().to_string().contains("circular dependency"));
    let d = parse("FROM x AS a\nCOPY --from=1 /a /a\nFROM y").unwrap();
    assert!(plan(&d, &g, None).unwrap_err().to_string().contains("refers to current or later build stage"));
    let d = parse("FROM ${NOPE}").unwrap();
    assert!(plan(&d, &g, None).unwrap_err().to_string().contains("base name (${NOPE}) should not be blank"));
}
