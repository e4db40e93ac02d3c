//! berth-store against Debian's docker-registry and skopeo: push/pull both ways with identical
//! digests, TLS with --ca-file, htpasswd basic auth from a docker config.json, multi-platform
//! indexes, and two concurrent pulls of one image; bearer-token auth against the fake registry.

use std::path::Path;
use std::process::Command;

use berth_integration::docker_registry::{Registry, RegistryConfig};
use berth_integration::image_fixture::{sha256, write_layout, FixtureImage, Tamper, TarBuilder};
use berth_integration::fake_registry::FakeRegistry;
use berth_integration::store::{describe, have, store_err, store_ok, store_state};
use berth_integration::TempDir;

fn layers() -> Vec<Vec<u8>> {
    let big: Vec<u8> = (0..400_000u32).flat_map(|i| i.to_le_bytes()).collect();
    vec![
        TarBuilder::new().dir("etc/", 0o755).file("etc/hostname", b"fixture\n", 0o644).file("big.bin", &big, 0o644).finish(),
        TarBuilder::new().file("etc/.wh.hostname", b"", 0o644).file("second", b"2", 0o600).finish(),
        TarBuilder::new().dir("var/", 0o755).file("var/x", b"x", 0o644).finish(),
    ]
}

fn fixture(t: &TempDir) -> (std::path::PathBuf, FixtureImage) {
    let layout = t.path().join("layout");
    let img = write_layout(&layout, "v1", &layers(), serde_json::json!({}), &Tamper::default());
    (layout, img)
}

fn skopeo(args: &[&str]) -> String {
    let o = Command::new("skopeo").args(args).output().expect("skopeo");
    assert!(o.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `push SRC DST` with info logging: one stderr line per blob saying exists/mounted/pushed.
fn push_log(root: &Path, src: &str, dst: &str) -> String {
    let o = Command::new(berth_integration::bin("berth-store")).arg("--root").arg(root).args(["--log-level", "info", "push", src, dst]).output().unwrap();
    assert!(o.status.success(), "push {src} {dst}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn remote_digest(reference: &str, extra: &[&str]) -> String {
    let mut a = vec!["inspect", "--raw"];
    a.extend_from_slice(extra);
    let r = format!("docker://{reference}");
    a.push(&r);
    let o = Command::new("skopeo").args(&a).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    sha256(&o.stdout)
}

#[test]
fn push_and_pull_interoperate_with_skopeo() {
    assert!(have("skopeo") && have("docker-registry"), "skopeo and docker-registry are required");
    let reg = Registry::start(RegistryConfig::default());
    let t = TempDir::new("reg-skopeo");
    let (layout, img) = fixture(&t);
    let root = t.path().join("store");
    // berth push → skopeo sees the same manifest digest.
    store_ok(&root, &["import", "--name", "localhost/fx", layout.to_str().unwrap()]);
    let out = store_ok(&root, &["push", "localhost/fx:v1", &format!("{}/berth/fx:v1", reg.addr)]);
    assert!(out.contains(&img.manifest_digest), "{out}");
    assert_eq!(remote_digest(&format!("{}/berth/fx:v1", reg.addr), &["--tls-verify=false"]), img.manifest_digest);
    // A second push finds every blob present (HEAD) and uploads nothing.
    let log = push_log(&root, "localhost/fx:v1", &format!("{}/berth/fx:v1", reg.addr));
    assert_eq!(log.matches(": exists").count(), img.layers.len() + 1, "{log}");
    assert!(!log.contains(": pushed"), "{log}");
    // A push to another repository of the same registry mounts the blobs it came with.
    store_ok(&root, &["pull", &format!("{}/berth/fx:v1", reg.addr)]);
    let log = push_log(&root, &format!("{}/berth/fx:v1", reg.addr), &format!("{}/other/fx:v2", reg.addr));
    assert!(log.contains("mounted from berth/fx") && !log.contains(": pushed"), "{log}");
    assert_eq!(remote_digest(&format!("{}/other/fx:v2", reg.addr), &["--tls-verify=false"]), img.manifest_digest);
    // skopeo push → berth pull, identical digests and content.
    skopeo(&["copy", "-q", "--dest-tls-verify=false", &format!("oci:{}:v1", layout.display()), &format!("docker://{}/skopeo/fx:v1", reg.addr)]);
    let root2 = t.path().join("store2");
    let out = store_ok(&root2, &["pull", &format!("{}/skopeo/fx:v1", reg.addr)]);
    assert!(out.contains(&img.manifest_digest), "{out}");
    let listed: serde_json::Value = serde_json::from_str(&store_ok(&root2, &["images", "--format", "json"])).unwrap();
    assert_eq!(listed[0]["digest"], img.manifest_digest.as_str());
    for (d, bytes) in &img.layers {
        assert_eq!(std::fs::read(root2.join("blobs/sha256").join(&d[7..])).unwrap(), *bytes);
    }
    // berth's store is itself an OCI layout skopeo can copy from.
    let name = format!("{}/skopeo/fx:v1", reg.addr);
    skopeo(&["copy", "-q", "--dest-tls-verify=false", &format!("oci:{}:{name}", root2.display()), &format!("docker://{}/fromlayout/fx:v1", reg.addr)]);
    assert_eq!(remote_digest(&format!("{}/fromlayout/fx:v1", reg.addr), &["--tls-verify=false"]), img.manifest_digest);
    // Pull by digest.
    let root3 = t.path().join("store3");
    store_ok(&root3, &["pull", &format!("{}/skopeo/fx@{}", reg.addr, img.manifest_digest)]);
    let a = t.path().join("a");
    store_ok(&root3, &["unpack", &format!("{}/skopeo/fx@{}", reg.addr, img.manifest_digest), a.to_str().unwrap()]);
    assert!(a.join("second").exists() && !a.join("etc/hostname").exists());
}

#[test]
fn tls_registry_needs_the_ca_file() {
    let reg = Registry::start(RegistryConfig { tls: true, ..Default::default() });
    let ca = reg.ca.clone().unwrap();
    let t = TempDir::new("reg-tls");
    let (layout, img) = fixture(&t);
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "localhost/fx", layout.to_str().unwrap()]);
    let target = format!("{}/tls/fx:v1", reg.addr);
    let err = store_err(&root, &["push", "localhost/fx:v1", &target]);
    assert!(err.contains(&reg.addr), "{err}");
    let err = store_err(&root, &["push", "--ca-file", "/nonexistent-ca.pem", "localhost/fx:v1", &target]);
    assert!(err.contains("CA file /nonexistent-ca.pem"), "{err}");
    store_ok(&root, &["push", "--ca-file", ca.to_str().unwrap(), "localhost/fx:v1", &target]);
    assert_eq!(remote_digest(&target, &["--tls-verify=false"]), img.manifest_digest);
    let root2 = t.path().join("store2");
    store_err(&root2, &["pull", &target]);
    store_ok(&root2, &["pull", "--ca-file", ca.to_str().unwrap(), &target]);
    store_ok(&root2, &["pull", "--insecure", &target]);
}

#[test]
fn basic_auth_from_docker_config() {
    assert!(have("htpasswd"), "htpasswd is required (apt-get install apache2-utils)");
    let reg = Registry::start(RegistryConfig { basic_auth: Some(("berth".into(), "s3cret".into())), ..Default::default() });
    let t = TempDir::new("reg-auth");
    let (layout, img) = fixture(&t);
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "localhost/fx", layout.to_str().unwrap()]);
    let target = format!("{}/auth/fx:v1", reg.addr);
    let empty = t.path().join("empty.json");
    std::fs::write(&empty, r#"{"auths":{}}"#).unwrap();
    let err = store_err(&root, &["push", "--authfile", empty.to_str().unwrap(), "localhost/fx:v1", &target]);
    assert!(err.contains("unauthorized") || err.contains("authentication"), "{err}");
    let wrong = t.path().join("wrong.json");
    std::fs::write(&wrong, format!(r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#, reg.addr, b64("berth:nope"))).unwrap();
    let err = store_err(&root, &["push", "--authfile", wrong.to_str().unwrap(), "localhost/fx:v1", &target]);
    assert!(err.contains("rejected") || err.contains("unauthorized"), "{err}");
    // ~/.docker/config.json via DOCKER_CONFIG, as docker writes it.
    let dc = t.path().join("docker");
    std::fs::create_dir_all(&dc).unwrap();
    std::fs::write(dc.join("config.json"), format!(r#"{{"auths":{{"http://{}":{{"auth":"{}"}}}}}}"#, reg.addr, b64("berth:s3cret"))).unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(berth_integration::bin("berth-store")).arg("--root").arg(&root).args(args).env("DOCKER_CONFIG", &dc).env("HOME", t.path()).env_remove("REGISTRY_AUTH_FILE").env_remove("XDG_RUNTIME_DIR").output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["push", "localhost/fx:v1", &target]);
    let o = Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", "--creds", "berth:s3cret", &format!("docker://{target}")]).output().unwrap();
    assert_eq!(sha256(&o.stdout), img.manifest_digest);
    run(&["rmi", "localhost/fx:v1"]);
    run(&["pull", &target]);

    // credHelpers: docker-credential-<name> found on PATH, asked with the registry on stdin.
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let asked = t.path().join("asked");
    let helper = format!(
        "#!/bin/sh\nread -r url\necho \"$1 $url\" > {}\n[ \"$url\" = {} ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"Username\":\"berth\",\"Secret\":\"s3cret\"}}'\n",
        asked.display(),
        reg.addr
    );
    // Written here, installed by `install`: this process never holds a writable fd on the
    // file a parallel test's fork could inherit (ETXTBSY when berth-store runs it).
    let src = t.path().join("helper.sh");
    std::fs::write(&src, helper).unwrap();
    let hp = bin.join("docker-credential-berthtest");
    let o = Command::new("install").arg("-m").arg("0755").arg(&src).arg(&hp).output().unwrap();
    assert!(o.status.success(), "install: {}", String::from_utf8_lossy(&o.stderr));
    let cfg = t.path().join("helper.json");
    std::fs::write(&cfg, format!(r#"{{"auths":{{"{0}":{{}}}},"credHelpers":{{"{0}":"berthtest"}}}}"#, reg.addr)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let root2 = t.path().join("store-helper");
    let o = Command::new(berth_integration::bin("berth-store")).arg("--root").arg(&root2).args(["pull", "--authfile", cfg.to_str().unwrap(), &target]).env("PATH", &path).output().unwrap();
    assert!(o.status.success(), "pull with credHelpers: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&asked).unwrap().trim(), format!("get {}", reg.addr));
    // A helper that fails is a one-line error naming the helper and the registry.
    std::fs::write(&cfg, format!(r#"{{"credsStore":"nosuchhelper-{}"}}"#, berth_integration::unique_id("h"))).unwrap();
    let o = Command::new(berth_integration::bin("berth-store")).arg("--root").arg(&root2).args(["pull", "--authfile", cfg.to_str().unwrap(), &target]).env("PATH", &path).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("docker-credential-nosuchhelper") && err.contains(&reg.addr) && err.trim().lines().count() == 1, "{err}");
}

fn b64(s: &str) -> String {
    berth_integration::store::base64(s.as_bytes())
}

#[test]
fn concurrent_pulls_both_succeed_and_store_once() {
    let reg = Registry::start(RegistryConfig::default());
    let t = TempDir::new("reg-concurrent");
    let (layout, img) = fixture(&t);
    skopeo(&["copy", "-q", "--dest-tls-verify=false", &format!("oci:{}:v1", layout.display()), &format!("docker://{}/c/fx:v1", reg.addr)]);
    let root = t.path().join("store");
    store_ok(&root, &["images"]);
    let spawn = || Command::new(berth_integration::bin("berth-store")).arg("--root").arg(&root).arg("pull").arg(format!("{}/c/fx:v1", reg.addr)).spawn().unwrap();
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let blobs = std::fs::read_dir(root.join("blobs/sha256")).unwrap().count();
    assert_eq!(blobs, img.layers.len() + 2, "each blob stored once");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(std::fs::read_dir(root.join("ingest")).unwrap().count(), 0, "no staging left behind");
}

#[test]
fn multi_platform_index_selects_the_platform() {
    let reg = Registry::start(RegistryConfig::default());
    let t = TempDir::new("reg-index");
    let layout = t.path().join("layout");
    let amd = write_layout(&layout, "amd", &layers()[..1], serde_json::json!({"architecture": "amd64"}), &Tamper::default());
    let arm = write_layout(&layout, "arm", &layers()[1..], serde_json::json!({"architecture": "arm64", "variant": "v8"}), &Tamper::default());
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd.manifest_digest, "size": amd.manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm.manifest_digest, "size": arm.manifest.len(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]});
    let ib = serde_json::to_vec(&index).unwrap();
    let id = sha256(&ib);
    std::fs::write(layout.join("blobs/sha256").join(&id[7..]), &ib).unwrap();
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": ib.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]})).unwrap()).unwrap();
    skopeo(&["copy", "-q", "--all", "--dest-tls-verify=false", &format!("oci:{}:multi", layout.display()), &format!("docker://{}/m/fx:multi", reg.addr)]);
    let root = t.path().join("store");
    let out = store_ok(&root, &["pull", "--platform", "linux/arm64", &format!("{}/m/fx:multi", reg.addr)]);
    assert!(out.contains(&arm.manifest_digest), "{out}");
    let root2 = t.path().join("store2");
    let out = store_ok(&root2, &["pull", "--platform", "linux/amd64", &format!("{}/m/fx:multi", reg.addr)]);
    assert!(out.contains(&amd.manifest_digest), "{out}");
    let err = store_err(&root2, &["pull", "--platform", "linux/s390x", &format!("{}/m/fx:multi", reg.addr)]);
    assert!(err.contains("linux/s390x"), "{err}");
    // A tag the registry lacks: one line naming the reference, store unchanged.
    let before = store_state(&root2);
    let missing = format!("{}/m/fx:nosuchtag", reg.addr);
    let err = store_err(&root2, &["pull", &missing]);
    assert!(err.trim().lines().count() == 1 && err.contains("m/fx") && err.contains("nosuchtag"), "{err}");
    assert_eq!(store_state(&root2), before);
    // Without --platform the host's platform is chosen.
    let host = match std::env::consts::ARCH {
        "x86_64" => Some(&amd.manifest_digest),
        "aarch64" => Some(&arm.manifest_digest),
        _ => None,
    };
    if let Some(want) = host {
        let out = store_ok(&t.path().join("store3"), &["pull", &format!("{}/m/fx:multi", reg.addr)]);
        assert!(out.contains(want.as_str()), "{out}");
    }
    let _ = describe(Path::new(&root));
}

#[test]
fn zstd_and_uncompressed_layers_round_trip() {
    let reg = Registry::start(RegistryConfig::default());
    let t = TempDir::new("reg-zstd");
    let layout = t.path().join("layout");
    let img = write_layout(&layout, "v1", &layers(), serde_json::json!({}), &Tamper { uncompressed: vec![1], zstd: vec![2], ..Default::default() });
    // (skopeo would compress the plain layer on the way to a registry; berth pushes as is.)
    let src = t.path().join("src");
    store_ok(&src, &["import", "--name", "localhost/z", layout.to_str().unwrap()]);
    store_ok(&src, &["push", "localhost/z:v1", &format!("{}/z/fx:v1", reg.addr)]);
    let root = t.path().join("store");
    let out = store_ok(&root, &["pull", "--unpack", &format!("{}/z/fx:v1", reg.addr)]);
    assert!(out.contains(&img.manifest_digest), "{out}");
    let flat = t.path().join("flat");
    store_ok(&root, &["unpack", &format!("{}/z/fx:v1", reg.addr), flat.to_str().unwrap()]);
    assert_eq!(std::fs::read(flat.join("var/x")).unwrap(), b"x");
    assert_eq!(std::fs::read(flat.join("second")).unwrap(), b"2");
    store_ok(&root, &["push", &format!("{}/z/fx:v1", reg.addr), &format!("{}/z/copy:v1", reg.addr)]);
    assert_eq!(remote_digest(&format!("{}/z/copy:v1", reg.addr), &["--tls-verify=false"]), img.manifest_digest);
}

#[test]
fn large_layers_are_fetched_in_parallel_ranges() {
    let reg = Registry::start(RegistryConfig::default());
    let t = TempDir::new("reg-ranges");
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let big: Vec<u8> = (0..(40usize << 20) / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    let layers = vec![TarBuilder::new().file("big.bin", &big, 0o644).finish(), TarBuilder::new().file("small", b"s", 0o644).finish()];
    let layout = t.path().join("layout");
    let img = write_layout(&layout, "v1", &layers, serde_json::json!({}), &Tamper { uncompressed: vec![0], ..Default::default() });
    let src = t.path().join("src");
    store_ok(&src, &["import", "--name", "localhost/big", layout.to_str().unwrap()]);
    store_ok(&src, &["push", "localhost/big:v1", &format!("{}/r/big:v1", reg.addr)]);
    let root = t.path().join("store");
    let out = store_ok(&root, &["pull", "--jobs", "4", &format!("{}/r/big:v1", reg.addr)]);
    assert!(out.contains(&img.manifest_digest), "{out}");
    assert_eq!(std::fs::read(root.join("blobs/sha256").join(&img.layers[0].0[7..])).unwrap(), img.layers[0].1);
    store_ok(&root, &["fsck"]);
}

#[test]
fn bearer_token_auth_from_an_auth_file() {
    // docker's token flow: 401 + `WWW-Authenticate: Bearer realm=...`, a token fetched from the
    // realm with basic credentials and the pull scope, then the token on every request.
    let t = TempDir::new("reg-bearer");
    let (_, img) = fixture(&t);
    let mut routes = std::collections::HashMap::new();
    let mt = "application/vnd.oci.image.manifest.v1+json".to_string();
    routes.insert("/v2/bt/fx/manifests/v1".to_string(), (mt.clone(), img.manifest.clone()));
    routes.insert(format!("/v2/bt/fx/manifests/{}", img.manifest_digest), (mt, img.manifest.clone()));
    routes.insert(format!("/v2/bt/fx/blobs/{}", img.config_digest), ("application/octet-stream".into(), img.config.clone()));
    for (d, b) in &img.layers {
        routes.insert(format!("/v2/bt/fx/blobs/{d}"), ("application/octet-stream".into(), b.clone()));
    }
    let reg = FakeRegistry::start_bearer(routes, "tokuser", "tokpass");
    let target = format!("{}/bt/fx:v1", reg.addr);
    let root = t.path().join("store");
    store_ok(&root, &["images"]);
    let before = store_state(&root);
    let empty = t.path().join("empty.json");
    std::fs::write(&empty, r#"{"auths":{}}"#).unwrap();
    let wrong = t.path().join("wrong.json");
    std::fs::write(&wrong, format!(r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#, reg.addr, b64("tokuser:nope"))).unwrap();
    for f in [&empty, &wrong] {
        let err = store_err(&root, &["pull", "--authfile", f.to_str().unwrap(), &target]);
        assert!(err.trim().lines().count() == 1 && err.contains(&reg.addr), "{err}");
        assert_eq!(store_state(&root), before, "a refused pull changed the store");
    }
    let good = t.path().join("good.json");
    std::fs::write(&good, format!(r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#, reg.addr, b64("tokuser:tokpass"))).unwrap();
    let out = store_ok(&root, &["pull", "--authfile", good.to_str().unwrap(), &target]);
    assert!(out.contains(&img.manifest_digest), "{out}");
    store_ok(&root, &["fsck"]);
    let reqs = reg.token_requests.lock().unwrap().clone();
    assert!(reqs.iter().any(|r| r.contains("service=fake-registry") && r.contains("scope=repository%3Abt%2Ffx%3Apull")), "{reqs:?}");
}
