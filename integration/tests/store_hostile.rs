//! Hostile but well-formed inputs, one test per class: each must fail with a one-line error
//! naming the layer/blob and the reason (or, where the spec says so, be confined to the
//! root), write nothing outside the target, and leave the store exactly as it was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use berth_integration::fake_registry::FakeRegistry;
use berth_integration::image_fixture::{gzip, sha256, write_layout, FixtureImage, Tamper, TarBuilder};
use berth_integration::store::{describe, store, store_err, store_ok, store_state};
use berth_integration::TempDir;

struct Case {
    t: TempDir,
    root: PathBuf,
    outside: PathBuf,
    img: FixtureImage,
}

/// An image whose only layer is `tar`, imported into a fresh store; plus an `outside`
/// directory with a victim file that the layer tries to reach.
fn case(tar: impl FnOnce(&Path) -> Vec<Vec<u8>>) -> Case {
    let t = TempDir::new("hostile");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"original").unwrap();
    let layers = tar(&outside);
    let layout = t.path().join("layout");
    let img = write_layout(&layout, "latest", &layers, serde_json::json!({}), &Tamper::default());
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "localhost/hostile", layout.to_str().unwrap()]);
    Case { root, outside, img, t }
}

fn up_to_root(outside: &Path) -> String {
    format!("{}{}", "../".repeat(12), outside.to_str().unwrap().trim_start_matches('/'))
}

/// Unpack (flat) and bundle --copy and bundle (snapshots) must all fail naming `needle`;
/// nothing outside changes; the store is unchanged; no destination is left behind.
fn assert_refused(c: &Case, needle: &str) {
    let before = store_state(&c.root);
    let outside_before = describe(&c.outside);
    for (i, args) in [vec!["unpack"], vec!["bundle", "--copy"], vec!["bundle"]].into_iter().enumerate() {
        let dest = c.t.path().join(format!("dest{i}"));
        let mut a: Vec<&str> = args.clone();
        a.push("localhost/hostile:latest");
        a.push(dest.to_str().unwrap());
        let err = store_err(&c.root, &a);
        assert_eq!(err.trim().lines().count(), 1, "one-line error expected, got: {err}");
        assert!(err.contains(&c.img.layers[0].0), "error should name the layer digest: {err}");
        assert!(err.contains(needle), "error should mention {needle:?}: {err}");
        assert!(!dest.exists() || std::fs::read_dir(&dest).unwrap().next().is_none(), "{args:?} left {dest:?} behind");
        assert_eq!(describe(&c.outside), outside_before, "{args:?} wrote outside the root");
        assert_eq!(std::fs::read(c.outside.join("victim")).unwrap(), b"original");
        assert_eq!(store_state(&c.root), before, "{args:?} changed the store");
    }
}

#[test]
fn dotdot_entries_are_refused() {
    let c = case(|_| vec![TarBuilder::new().dir("a/", 0o755).file("a/../../escaped", b"x", 0o644).finish()]);
    assert_refused(&c, "a/../../escaped");
    assert!(!c.t.path().join("escaped").exists());
}

#[test]
fn absolute_names_land_inside_the_root() {
    let c = case(|o| vec![TarBuilder::new().file(&format!("{}/victim", o.display()), b"inside", 0o644).file("/etc/abs", b"abs", 0o600).finish()]);
    let dest = c.t.path().join("flat");
    store_ok(&c.root, &["unpack", "localhost/hostile:latest", dest.to_str().unwrap()]);
    assert_eq!(std::fs::read(c.outside.join("victim")).unwrap(), b"original");
    let inner = dest.join(c.outside.strip_prefix("/").unwrap()).join("victim");
    assert_eq!(std::fs::read(inner).unwrap(), b"inside");
    assert_eq!(std::fs::read(dest.join("etc/abs")).unwrap(), b"abs");
}

/// A write through a symlink resolves the symlink inside the root (as the container would
/// see it), creating a dangling target's directories there; the host path is never touched.
fn assert_confined(c: &Case, inner: &Path) {
    for (i, args) in [vec!["unpack"], vec!["bundle", "--copy"], vec!["bundle"]].into_iter().enumerate() {
        let dest = c.t.path().join(format!("dest{i}"));
        let mut a: Vec<&str> = args.clone();
        a.push("localhost/hostile:latest");
        a.push(dest.to_str().unwrap());
        store_ok(&c.root, &a);
        assert_eq!(std::fs::read(c.outside.join("victim")).unwrap(), b"original", "{args:?} wrote outside");
        let rootfs = if args[0] == "bundle" { dest.join("rootfs") } else { dest.clone() };
        assert_eq!(std::fs::read(rootfs.join(inner)).unwrap(), b"pwned", "{args:?}: the write should land inside the root");
        if args[0] == "bundle" {
            store_ok(&c.root, &["unbundle", dest.to_str().unwrap()]);
        }
    }
}

#[test]
fn writes_through_a_symlink_pointing_out_stay_inside() {
    // link -> /abs/path/of/outside, then link/victim: lands in ROOT/abs/path/of/outside/victim.
    let c = case(|o| vec![TarBuilder::new().symlink("link", o.to_str().unwrap()).file("link/victim", b"pwned", 0o644).finish()]);
    let inner = c.outside.strip_prefix("/").unwrap().join("victim");
    assert_confined(&c, &inner);
    // rel -> ../../../..<outside>: `..` stops at the root, same place.
    let c = case(|o| vec![TarBuilder::new().symlink("rel", &up_to_root(o)).file("rel/victim", b"pwned", 0o644).finish()]);
    let inner = c.outside.strip_prefix("/").unwrap().join("victim");
    assert_confined(&c, &inner);
}

#[test]
fn symlinks_out_across_layers_stay_inside() {
    let t = TempDir::new("hostile-xlayer");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"original").unwrap();
    let l1 = TarBuilder::new().symlink("escape", outside.to_str().unwrap()).symlink("rel", &up_to_root(&outside)).finish();
    let l2 = TarBuilder::new().file("escape/victim", b"pwned", 0o644).finish();
    let l3 = TarBuilder::new().file("rel/victim", b"pwned", 0o644).finish();
    let layout = t.path().join("layout");
    write_layout(&layout, "latest", &[l1, l2, l3], serde_json::json!({}), &Tamper::default());
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "localhost/x", layout.to_str().unwrap()]);
    // Flat: the writes resolve the symlinks inside the root.
    let flat = t.path().join("flat");
    store_ok(&root, &["unpack", "localhost/x:latest", flat.to_str().unwrap()]);
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"original");
    assert_eq!(std::fs::read(flat.join(outside.strip_prefix("/").unwrap()).join("victim")).unwrap(), b"pwned");
    // Snapshots: each layer is its own directory; the symlink of layer 1 is not even there.
    let b = t.path().join("bundle");
    store_ok(&root, &["bundle", "localhost/x:latest", b.to_str().unwrap()]);
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"original");
    assert_eq!(std::fs::read(b.join("rootfs/escape/victim")).unwrap(), b"pwned");
    store_ok(&root, &["unbundle", b.to_str().unwrap()]);
}

#[test]
fn hardlinks_out_are_refused() {
    let c = case(|o| vec![TarBuilder::new().hardlink("hl", &up_to_root(o).replace("outside", "outside/victim")).finish()]);
    assert_refused(&c, "leaves the root");
    let c = case(|o| vec![TarBuilder::new().hardlink("hl", &format!("{}/victim", o.display())).finish()]);
    assert_refused(&c, "does not exist inside the layer's root");
}

#[test]
fn whiteouts_of_dotdot_are_refused() {
    let c = case(|_| vec![TarBuilder::new().dir("a/", 0o755).file("a/../../.wh.outside", b"", 0o644).finish()]);
    assert_refused(&c, ".wh.outside");
    let c = case(|_| vec![TarBuilder::new().file("a/.wh..", b"", 0o644).finish()]);
    assert_refused(&c, "whiteout");
}

/// Import of a tampered layout must fail naming `needle` and leave the store as it was.
fn assert_import_fails(tamper: Tamper, needle: &str) -> String {
    let t = TempDir::new("hostile-import");
    let layout = t.path().join("layout");
    let l1 = TarBuilder::new().file("a", &[7u8; 100_000], 0o644).finish();
    let l2 = TarBuilder::new().file("b", b"bee", 0o644).finish();
    write_layout(&layout, "latest", &[l1, l2], serde_json::json!({}), &tamper);
    let root = t.path().join("store");
    store_ok(&root, &["images"]);
    let before = store_state(&root);
    let err = store_err(&root, &["import", layout.to_str().unwrap()]);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert_eq!(store_state(&root), before, "failed import changed the store");
    // The same archive as a tar file.
    let tarball = t.path().join("img.tar");
    berth_integration::image_fixture::archive_layout(&layout, &tarball);
    let err2 = store_err(&root, &["import", tarball.to_str().unwrap()]);
    assert!(err2.contains(needle), "expected {needle:?} in: {err2}");
    assert_eq!(store_state(&root), before, "failed archive import changed the store");
    err
}

#[test]
fn digest_mismatch_is_refused() {
    assert_import_fails(Tamper { wrong_content: Some(1), ..Default::default() }, "digest mismatch");
}

#[test]
fn size_mismatch_is_refused() {
    assert_import_fails(Tamper { wrong_size: Some(0), ..Default::default() }, "size mismatch");
}

#[test]
fn diff_id_mismatch_is_refused() {
    assert_import_fails(Tamper { wrong_diff_id: Some(1), ..Default::default() }, "diff_id mismatch");
}

#[test]
fn truncated_gzip_is_refused() {
    assert_import_fails(Tamper { truncate_gzip: Some(0), ..Default::default() }, "gzip");
}

/// A registry serving `img` under `repo:tag`, with the given tampering of what it serves.
fn serve(img: &FixtureImage, repo: &str, tag: &str, manifest_body: Option<Vec<u8>>, blob_override: Option<(usize, Vec<u8>)>) -> FakeRegistry {
    let mut routes = HashMap::new();
    let mt = "application/vnd.oci.image.manifest.v1+json".to_string();
    let body = manifest_body.unwrap_or_else(|| img.manifest.clone());
    routes.insert(format!("/v2/{repo}/manifests/{tag}"), (mt.clone(), body.clone()));
    routes.insert(format!("/v2/{repo}/manifests/{}", img.manifest_digest), (mt, body));
    routes.insert(format!("/v2/{repo}/blobs/{}", img.config_digest), ("application/octet-stream".into(), img.config.clone()));
    for (i, (d, b)) in img.layers.iter().enumerate() {
        let bytes = match &blob_override {
            Some((j, o)) if *j == i => o.clone(),
            _ => b.clone(),
        };
        routes.insert(format!("/v2/{repo}/blobs/{d}"), ("application/octet-stream".into(), bytes));
    }
    FakeRegistry::start(routes)
}

fn assert_pull_fails(reg: &FakeRegistry, reference: &str, needle: &str) {
    assert_pull_fails_with(reg, reference, needle, &[]);
    assert_pull_fails_with(reg, reference, needle, &["--unpack"]);
}

fn assert_pull_fails_with(reg: &FakeRegistry, reference: &str, needle: &str, flags: &[&str]) {
    let t = TempDir::new("hostile-pull");
    let root = t.path().join("store");
    store_ok(&root, &["images"]);
    let before = store_state(&root);
    let r = format!("{}/{reference}", reg.addr);
    let mut args = vec!["pull"];
    args.extend_from_slice(flags);
    args.push(&r);
    let err = store_err(&root, &args);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert_eq!(store_state(&root), before, "failed pull {flags:?} changed the store");
}

fn fixture(t: &TempDir, tamper: &Tamper) -> FixtureImage {
    let l1 = TarBuilder::new().file("a", &[1u8; 50_000], 0o644).finish();
    let l2 = TarBuilder::new().file("b", b"bee", 0o644).finish();
    write_layout(&t.path().join("layout"), "v1", &[l1, l2], serde_json::json!({}), tamper)
}

#[test]
fn pull_refuses_manifest_digest_mismatch() {
    let t = TempDir::new("fix");
    let img = fixture(&t, &Tamper::default());
    let reg = serve(&img, "x/y", "v1", None, None);
    // Ask for the image by a digest the served manifest does not have.
    let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    m["annotations"] = serde_json::json!({"evil": "yes"});
    let other = serde_json::to_vec(&m).unwrap();
    let reg2 = serve(&img, "x/y", "v1", Some(other), None);
    assert_pull_fails(&reg2, &format!("x/y@{}", img.manifest_digest), "digest mismatch");
    // Sanity: the honest registry serves it fine.
    let t2 = TempDir::new("honest");
    store_ok(&t2.path().join("s"), &["pull", &format!("{}/x/y@{}", reg.addr, img.manifest_digest)]);
}

#[test]
fn pull_refuses_blob_digest_mismatch() {
    let t = TempDir::new("fix");
    let img = fixture(&t, &Tamper::default());
    let mut evil = img.layers[1].1.clone();
    let n = evil.len();
    evil[n - 10] ^= 0xff;
    let reg = serve(&img, "x/y", "v1", None, Some((1, evil)));
    assert_pull_fails(&reg, "x/y:v1", &img.layers[1].0);
}

#[test]
fn pull_refuses_size_mismatch() {
    let t = TempDir::new("fix");
    let img = fixture(&t, &Tamper::default());
    let mut longer = img.layers[0].1.clone();
    longer.extend_from_slice(b"trailing");
    let reg = serve(&img, "x/y", "v1", None, Some((0, longer)));
    assert_pull_fails(&reg, "x/y:v1", "size mismatch");
}

/// Layers whose digests are right but whose content lies (diff_id, truncated gzip): a plain
/// pull stores the verified blobs, and the first unpack refuses them without leaving a
/// snapshot or a destination; `pull --unpack` refuses them before committing anything.
fn assert_content_refused(tamper: Tamper, needle: &str) {
    let t = TempDir::new("fix");
    let img = fixture(&t, &tamper);
    let reg = serve(&img, "x/y", "v1", None, None);
    assert_pull_fails_with(&reg, "x/y:v1", needle, &["--unpack"]);
    let root = t.path().join("store");
    let r = format!("{}/x/y:v1", reg.addr);
    store_ok(&root, &["pull", &r]);
    let before = store_state(&root);
    for args in [vec!["unpack"], vec!["bundle"], vec!["bundle", "--copy"]] {
        let dest = t.path().join("dest");
        let mut a = args.clone();
        a.push(&r);
        a.push(dest.to_str().unwrap());
        let err = store_err(&root, &a);
        assert!(err.contains(needle) && err.contains(&img.layers[0].0), "{args:?}: {err}");
        assert!(!dest.exists(), "{args:?} left {dest:?}");
        assert_eq!(store_state(&root), before, "{args:?} changed the store");
    }
}

#[test]
fn pull_refuses_diff_id_mismatch() {
    assert_content_refused(Tamper { wrong_diff_id: Some(0), ..Default::default() }, "diff_id mismatch");
}

#[test]
fn pull_refuses_truncated_gzip() {
    assert_content_refused(Tamper { truncate_gzip: Some(0), ..Default::default() }, "gzip");
}

#[test]
fn unpack_fails_cleanly_on_a_corrupted_blob() {
    // A blob altered in the store after a good import: unpack re-verifies while streaming.
    let t = TempDir::new("corrupt");
    let img = fixture(&t, &Tamper::default());
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "localhost/c", t.path().join("layout").to_str().unwrap()]);
    let blob = root.join("blobs/sha256").join(&img.layers[1].0[7..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n - 12] ^= 0x55;
    std::fs::write(&blob, &bytes).unwrap();
    let dest = t.path().join("out");
    let err = store_err(&root, &["unpack", "localhost/c:v1", dest.to_str().unwrap()]);
    assert!(err.contains(&img.layers[1].0), "{err}");
    assert!(!dest.exists());
    let fsck = store(&root, &["fsck"]);
    assert!(!fsck.status.success());
    // fsck's error is one line naming the corrupt blob's digest.
    let e = String::from_utf8_lossy(&fsck.stderr);
    assert!(e.trim().lines().count() == 1 && e.contains(&img.layers[1].0) && e.contains("1 corrupt"), "{e}");
    // A tagged image's layer gone altogether: fsck names it as missing.
    std::fs::remove_file(&blob).unwrap();
    let fsck = store(&root, &["fsck"]);
    let e = String::from_utf8_lossy(&fsck.stderr);
    assert!(!fsck.status.success() && e.contains(&img.layers[1].0) && e.contains("1 missing") && e.trim().ends_with("missing"), "{e}");
    let _ = gzip;
    let _ = sha256;
}

#[test]
fn killed_pull_leaves_the_store_as_it_was() {
    let t = TempDir::new("killed");
    let big: Vec<u8> = (0..2_000_000u32).flat_map(|i| i.wrapping_mul(2654435761).to_le_bytes()).collect();
    let layers = vec![TarBuilder::new().file("small", b"s", 0o644).finish(), TarBuilder::new().file("big", &big, 0o644).finish()];
    let img = write_layout(&t.path().join("layout"), "v1", &layers, serde_json::json!({}), &Tamper::default());
    let mut routes = HashMap::new();
    let mt = "application/vnd.oci.image.manifest.v1+json".to_string();
    routes.insert("/v2/k/x/manifests/v1".to_string(), (mt, img.manifest.clone()));
    routes.insert(format!("/v2/k/x/blobs/{}", img.config_digest), ("application/octet-stream".into(), img.config.clone()));
    for (d, b) in &img.layers {
        routes.insert(format!("/v2/k/x/blobs/{d}"), ("application/octet-stream".into(), b.clone()));
    }
    let reg = FakeRegistry::start_throttled(routes, Some(std::time::Duration::from_millis(50)));
    let root = t.path().join("store");
    store_ok(&root, &["images"]);
    let before = store_state(&root);
    let mut child = std::process::Command::new(berth_integration::bin("berth-store"))
        .arg("--root")
        .arg(&root)
        .arg("pull")
        .arg(format!("{}/k/x:v1", reg.addr))
        .spawn()
        .unwrap();
    // Wait until the pull is under way (its staging dir exists), then kill it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_dir(root.join("ingest")).map(|d| d.count()).unwrap_or(0) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(store_state(&root), before, "a killed pull changed the store");
    // The next command sweeps the dead pull's staging directory.
    store_ok(&root, &["images"]);
    assert_eq!(std::fs::read_dir(root.join("ingest")).unwrap().count(), 0);
}

#[test]
fn gc_during_a_pull_is_safe() {
    let t = TempDir::new("gc-pull");
    let big: Vec<u8> = (0..1_000_000u32).flat_map(|i| i.wrapping_mul(2654435761).to_le_bytes()).collect();
    let layers = vec![TarBuilder::new().file("small", b"s", 0o644).finish(), TarBuilder::new().file("big", &big, 0o644).finish()];
    let img = write_layout(&t.path().join("layout"), "v1", &layers, serde_json::json!({}), &Tamper::default());
    let mut routes = HashMap::new();
    routes.insert("/v2/g/x/manifests/v1".to_string(), ("application/vnd.oci.image.manifest.v1+json".to_string(), img.manifest.clone()));
    routes.insert(format!("/v2/g/x/blobs/{}", img.config_digest), ("application/octet-stream".into(), img.config.clone()));
    for (d, b) in &img.layers {
        routes.insert(format!("/v2/g/x/blobs/{d}"), ("application/octet-stream".into(), b.clone()));
    }
    let reg = FakeRegistry::start_throttled(routes, Some(std::time::Duration::from_millis(20)));
    let root = t.path().join("store");
    store_ok(&root, &["images"]);
    let mut child = std::process::Command::new(berth_integration::bin("berth-store"))
        .arg("--root")
        .arg(&root)
        .arg("pull")
        .arg(format!("{}/g/x:v1", reg.addr))
        .spawn()
        .unwrap();
    // gc repeatedly while the pull runs; it must not remove what the pull is staging.
    let mut rounds = 0;
    while child.try_wait().unwrap().is_none() && rounds < 200 {
        store_ok(&root, &["gc"]);
        rounds += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success(), "pull failed while gc ran");
    assert!(rounds > 0);
    store_ok(&root, &["fsck"]);
    let dest = t.path().join("out");
    store_ok(&root, &["unpack", &format!("{}/g/x:v1", reg.addr), dest.to_str().unwrap()]);
    assert_eq!(std::fs::read(dest.join("big")).unwrap(), big);
}

#[test]
fn junk_and_truncated_archives_are_one_line_errors() {
    // Not a tar, a missing file, a truncated tar: one line naming the file, store unchanged.
    let t = TempDir::new("junk-import");
    let layout = t.path().join("layout");
    let l1 = TarBuilder::new().file("a", &[3u8; 50_000], 0o644).finish();
    write_layout(&layout, "v1", &[l1], serde_json::json!({}), &Tamper::default());
    let tarball = t.path().join("img.tar");
    berth_integration::image_fixture::archive_layout(&layout, &tarball);
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "localhost/keep", layout.to_str().unwrap()]);
    let before = store_state(&root);
    let junk = t.path().join("junk.tar");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let truncated = t.path().join("truncated.tar");
    let bytes = std::fs::read(&tarball).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let missing = t.path().join("missing.tar");
    for f in [&junk, &truncated, &missing] {
        let err = store_err(&root, &["import", f.to_str().unwrap()]);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(f.to_str().unwrap()), "{err}");
        // An io error's reason appears once, not once per error in the chain.
        assert!(err.matches("os error").count() <= 1, "{err}");
        assert_eq!(store_state(&root), before, "import of {} changed the store", f.display());
    }
}

#[test]
fn rmi_with_one_unknown_reference_changes_nothing() {
    let t = TempDir::new("rmi-atomic");
    let img = fixture(&t, &Tamper::default());
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "localhost/r", t.path().join("layout").to_str().unwrap()]);
    store_ok(&root, &["tag", "localhost/r:v1", "localhost/r:v2"]);
    let before = store_state(&root);
    let err = store_err(&root, &["rmi", "localhost/r:v1", "localhost/typo:v1"]);
    assert!(err.trim().lines().count() == 1 && err.contains("localhost/typo:v1"), "{err}");
    assert_eq!(store_state(&root), before, "a refused rmi removed a tag");
    // A name and the id of the same image in one rmi: both fine, every tag gone.
    let out = store_ok(&root, &["rmi", "localhost/r:v1", &img.config_digest[7..19]]);
    assert!(out.contains("localhost/r:v1") && out.contains("localhost/r:v2"), "{out}");
    assert!(!store_ok(&root, &["images"]).contains("localhost/r"));
}
