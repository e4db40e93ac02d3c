//! Base images pulled from a loopback registry when the store lacks them, and --push.

use berth_integration::build::{berth_build, built_id, import_busybox, inspect, run_image, store_root, write_context};
use berth_integration::docker_registry::{Registry, RegistryConfig};
use berth_integration::TempDir;

#[test]
fn pulls_missing_base_and_pushes_the_result() {
    let reg = Registry::start(RegistryConfig::default());
    // Publish a busybox base from a scratch store.
    let pub_tmp = TempDir::new("build-reg-pub");
    let pub_root = store_root(pub_tmp.path());
    std::fs::create_dir_all(&pub_root).unwrap();
    let local = import_busybox(pub_tmp.path(), &pub_root);
    let remote = format!("{}/base/busybox:latest", reg.addr);
    berth_integration::store::store_ok(&pub_root, &["tag", &local, &remote]);
    berth_integration::store::store_ok(&pub_root, &["push", &remote]);

    // A build with an empty store pulls the base, then pushes its own tag.
    let tmp = TempDir::new("build-reg");
    let ctx = tmp.path().join("ctx");
    write_context(&ctx, &[("Dockerfile", &format!("FROM {remote}\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"))]);
    let target = format!("{}/app/hello:1", reg.addr);
    let r = berth_build(tmp.path(), &["-t", &target, "--push", ctx.to_str().unwrap()]);
    built_id(&r);
    assert!(r.stderr().contains(&format!("pushed {target}")), "{}", r.stderr());
    // Pull it into a third store and run it.
    let t3 = TempDir::new("build-reg-pull");
    let root3 = store_root(t3.path());
    std::fs::create_dir_all(&root3).unwrap();
    berth_integration::store::store_ok(&root3, &["pull", &target]);
    assert_eq!(inspect(&root3, &target)["Config"]["config"]["Cmd"], serde_json::json!(["cat", "/built"]));
    let (code, out) = run_image(t3.path(), &root3, &target);
    assert_eq!((code, out.as_str()), (0, "built\n"));
}

#[test]
fn unreachable_base_names_the_image() {
    let tmp = TempDir::new("build-reg-missing");
    let ctx = tmp.path().join("ctx");
    let port = berth_integration::docker_registry::free_port();
    write_context(&ctx, &[("Dockerfile", &format!("FROM 127.0.0.1:{port}/nothing/here:1\nRUN true\n"))]);
    let r = berth_build(tmp.path(), &[ctx.to_str().unwrap()]);
    assert!(!r.ok());
    let last = r.stderr().lines().last().unwrap().to_string();
    assert!(last.starts_with(&format!("berth-build: Dockerfile:1: FROM: pulling 127.0.0.1:{port}/nothing/here:1:")), "{last}");
}
