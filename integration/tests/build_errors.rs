//! Static Dockerfile errors: one line naming the file, line and instruction, a non-zero exit,
//! and nothing written to the store.

use berth_integration::build::{berth_build, store_root, write_context};
use berth_integration::TempDir;

fn fails_with(dockerfile: &str, extra: &[&str], want: &str) {
    let tmp = TempDir::new("build-err");
    let ctx = tmp.path().join("ctx");
    write_context(&ctx, &[("Dockerfile", dockerfile), ("app/a.txt", "a")]);
    let mut args: Vec<&str> = extra.to_vec();
    let ctx_s = ctx.to_str().unwrap();
    args.push(ctx_s);
    let r = berth_build(tmp.path(), &args);
    assert!(!r.ok(), "expected failure for {dockerfile:?}");
    let err = r.stderr();
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning:")).collect();
    assert_eq!(lines, vec![want], "stderr: {err}");
    assert!(!store_root(tmp.path()).exists(), "a static error must not touch the store");
}

#[test]
fn unknown_instruction_names_line_and_suggests() {
    fails_with("FROM scratch\n\nCOPPY a b\n", &[], "berth-build: Dockerfile:3: COPPY: unknown instruction: COPPY (did you mean COPY?)");
}

#[test]
fn bad_flag() {
    fails_with("FROM scratch\nCOPY --chmown=1 a b\n", &[], "berth-build: Dockerfile:2: COPY: unknown flag: --chmown (did you mean --chown?)");
}

#[test]
fn missing_destination() {
    fails_with(
        "FROM scratch\nCOPY app\n",
        &[],
        "berth-build: Dockerfile:2: COPY: COPY requires at least two arguments, but only one was provided. Destination could not be determined",
    );
}

#[test]
fn unknown_target_stage() {
    fails_with("FROM scratch AS a\n", &["--target", "b"], "berth-build: target stage \"b\" could not be found");
}

#[test]
fn circular_stages() {
    fails_with(
        "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n",
        &[],
        "berth-build: Dockerfile:3: FROM: circular dependency detected on stage: b",
    );
}

#[test]
fn unterminated_heredoc_and_bad_json() {
    fails_with("FROM scratch\nRUN <<EOF\necho\n", &[], "berth-build: Dockerfile:2: RUN: unterminated heredoc");
    fails_with(
        "FROM scratch\nCMD [\"a\", 1]\n",
        &[],
        "berth-build: Dockerfile:2: CMD: when using JSON array syntax, arrays must be comprised of strings only",
    );
}

#[test]
fn custom_dockerfile_name_is_used_in_errors() {
    let tmp = TempDir::new("build-err-name");
    let ctx = tmp.path().join("ctx");
    write_context(&ctx, &[("build/Containerfile", "FROM scratch\nHEALTHCHECK --retries=0 CMD true\n")]);
    let df = ctx.join("build/Containerfile");
    let r = berth_build(tmp.path(), &["-f", df.to_str().unwrap(), ctx.to_str().unwrap()]);
    assert!(!r.ok());
    assert_eq!(r.stderr().trim(), "berth-build: Containerfile:2: HEALTHCHECK: --retries must be at least 1 (not 0)");
}

#[test]
fn missing_context_and_dockerfile() {
    let tmp = TempDir::new("build-err-ctx");
    let r = berth_build(tmp.path(), &[tmp.path().join("nope").to_str().unwrap()]);
    assert!(!r.ok());
    assert!(r.stderr().contains("is not a directory"), "{}", r.stderr());
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let r = berth_build(tmp.path(), &[ctx.to_str().unwrap()]);
    assert!(!r.ok());
    assert!(r.stderr().contains("reading Dockerfile") && r.stderr().contains("No such file"), "{}", r.stderr());
}
