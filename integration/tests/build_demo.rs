//! The README's main job: examples/hello built with berth-build and run.

use berth_integration::build::{berth_build, built_id, run_image, store_root};
use berth_integration::TempDir;

#[test]
fn demo_example_builds_and_runs() {
    let tmp = TempDir::new("build-demo");
    let ctx = tmp.path().join("hello");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello");
    assert!(std::process::Command::new("cp").arg("-a").arg(&src).arg(&ctx).status().unwrap().success());
    std::fs::copy(berth_integration::busybox(), ctx.join("busybox")).unwrap();
    let r = berth_build(tmp.path(), &["-t", "localhost/berth-demo:latest", "--build-arg", "GREETING=hi from the test", ctx.to_str().unwrap()]);
    built_id(&r);
    let (code, out) = run_image(tmp.path(), &store_root(tmp.path()), "localhost/berth-demo:latest");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "<h1>hi from the test</h1>\nindex.html: OK\nrunning as app, pid 1\n");
}
