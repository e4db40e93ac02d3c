//! Unpacking: a 5-layer image with deleted files and directories, an opaque directory, a file
//! turned into a symlink, a directory turned into a file, hardlinks, a fifo, setuid and owned
//! files, and a last layer without end-of-archive blocks, must unpack to exactly the tree
//! umoci produces; snapshots must carry overlay whiteouts; bundles must run under runc.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use berth_integration::image_fixture::{write_layout, Tamper, TarBuilder};
use berth_integration::store::{assert_same_tree, describe, have, store_err, store_ok};
use berth_integration::TempDir;

fn five_layers() -> Vec<Vec<u8>> {
    let l1 = TarBuilder::new()
        .dir("etc/", 0o755)
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n", 0o644)
        .file("etc/group", b"root:x:0:\napp:x:1000:\nextra:x:2000:app\n", 0o644)
        .file("etc/hl-a", b"hardlinked content\n", 0o644)
        .hardlink("etc/hl-b", "etc/hl-a")
        .dir("bin/", 0o755)
        .file("bin/setuid", b"#!/bin/sh\n", 0o4755)
        .dir("home/", 0o755)
        .dir("home/app/", 0o700)
        .file_owned("home/app/owned", b"mine", 0o640, 1000, 1000)
        .dir("opt/", 0o755)
        .dir("opt/data/", 0o755)
        .file("opt/data/delete-me.txt", b"delete me\n", 0o644)
        .file("opt/data/modify-me.txt", b"v1\n", 0o644)
        .file("opt/data/becomes-link", b"file to become symlink\n", 0o644)
        .dir("opt/data/gone/", 0o755)
        .file("opt/data/gone/file", b"gone\n", 0o644)
        .dir("opt/data/keep/", 0o755)
        .file("opt/data/keep/file", b"keep\n", 0o644)
        .dir("opt/dir2file/", 0o755)
        .file("opt/dir2file/child", b"c", 0o644)
        .dir("usr/", 0o755)
        .dir("usr/share/", 0o755)
        .dir("usr/share/zoneinfo/", 0o755)
        .dir("usr/share/zoneinfo/Europe/", 0o755)
        .file("usr/share/zoneinfo/Europe/Paris", b"CET", 0o644)
        .file("usr/share/zoneinfo/UTC", b"UTC0", 0o644)
        .dir("tmp/", 0o1777)
        .finish();
    let l2 = TarBuilder::new().dir("opt/data/", 0o755).file_owned("opt/data/modify-me.txt", b"v2\n", 0o640, 0, 2000).file("opt/new-in-l2", b"l2", 0o644).finish();
    let l3 = TarBuilder::new()
        .dir("opt/data/", 0o755)
        .file("opt/data/.wh.delete-me.txt", b"", 0o644)
        .file("opt/data/.wh.gone", b"", 0o644)
        .symlink("opt/data/becomes-link", "keep/file")
        .file("opt/data/new.txt", b"new in l3\n", 0o644)
        .hardlink("opt/data/new-hardlink.txt", "opt/data/new.txt")
        .fifo("opt/data/fifo")
        .finish();
    let l4 = TarBuilder::new()
        .dir("usr/share/zoneinfo/", 0o755)
        .file("usr/share/zoneinfo/.wh..wh..opq", b"", 0o644)
        .file("usr/share/zoneinfo/README", b"opaque replacement\n", 0o644)
        .symlink("usr/share/zoneinfo/UTC", "README")
        .finish();
    // Last layer: directory replaced by a file, and no end-of-archive blocks.
    let l5 = TarBuilder::new().file("opt/dir2file", b"now a file", 0o644).hardlink("opt/hl-to-lower", "etc/hl-a").finish_without_end();
    vec![l1, l2, l3, l4, l5]
}

#[test]
fn five_layer_image_unpacks_like_umoci() {
    assert!(have("umoci"), "umoci is required (apt-get install umoci)");
    let t = TempDir::new("unpack-umoci");
    let layout = t.path().join("layout");
    write_layout(&layout, "latest", &five_layers(), serde_json::json!({}), &Tamper::default());
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "localhost/five", layout.to_str().unwrap()]);
    let ours = t.path().join("ours");
    store_ok(&root, &["unpack", "localhost/five:latest", ours.to_str().unwrap()]);
    let bundle = t.path().join("umoci");
    let o = Command::new("umoci").arg("unpack").arg("--image").arg(format!("{}:latest", layout.display())).arg(&bundle).output().unwrap();
    assert!(o.status.success(), "umoci: {}", String::from_utf8_lossy(&o.stderr));
    let mut a = describe(&ours);
    let mut b = describe(&bundle.join("rootfs"));
    a.remove("");
    b.remove("");
    assert_same_tree(&a, &b, "berth-store unpack vs umoci unpack");
    // Spot checks of the semantics (so the test cannot pass by both being wrong the same way).
    assert!(!ours.join("opt/data/delete-me.txt").exists());
    assert!(!ours.join("opt/data/gone").exists());
    assert_eq!(std::fs::read_link(ours.join("opt/data/becomes-link")).unwrap(), Path::new("keep/file"));
    assert_eq!(std::fs::read(ours.join("opt/data/modify-me.txt")).unwrap(), b"v2\n");
    assert_eq!(std::fs::read_dir(ours.join("usr/share/zoneinfo")).unwrap().count(), 2);
    assert_eq!(std::fs::metadata(ours.join("etc/hl-a")).unwrap().ino(), std::fs::metadata(ours.join("etc/hl-b")).unwrap().ino());
    assert_eq!(std::fs::metadata(ours.join("etc/hl-a")).unwrap().ino(), std::fs::metadata(ours.join("opt/hl-to-lower")).unwrap().ino());
    assert_eq!(std::fs::metadata(ours.join("bin/setuid")).unwrap().mode() & 0o7777, 0o4755);
    assert_eq!(std::fs::metadata(ours.join("home/app/owned")).unwrap().uid(), 1000);
    assert_eq!(std::fs::metadata(ours.join("tmp")).unwrap().mode() & 0o7777, 0o1777);
    assert!(std::fs::symlink_metadata(ours.join("opt/data/fifo")).unwrap().file_type().is_fifo());
    assert_eq!(std::fs::metadata(ours.join("opt/data/keep/file")).unwrap().mtime(), 1_700_000_000);
    assert_eq!(std::fs::metadata(ours.join("opt/data")).unwrap().mtime(), 1_700_000_000);
    assert!(std::fs::metadata(ours.join("opt/dir2file")).unwrap().is_file());
}

#[test]
fn snapshots_carry_overlay_whiteouts_and_bundles_run() {
    let t = TempDir::new("unpack-snap");
    let layout = t.path().join("layout");
    let mut layers = five_layers();
    // A base layer with busybox so the bundle can run something.
    let bb = std::fs::read(berth_integration::busybox()).unwrap();
    let base = TarBuilder::new().dir("bin/", 0o755).file("bin/busybox", &bb, 0o755).symlink("bin/sh", "busybox").symlink("bin/cat", "busybox").symlink("bin/ls", "busybox").symlink("bin/id", "busybox").finish();
    layers.insert(0, base);
    let cfg = serde_json::json!({"config": {"Env": ["PATH=/bin", "FOO=bar"], "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["cat /opt/data/modify-me.txt"], "User": "app", "WorkingDir": "/opt", "ExposedPorts": {"80/tcp": {}}, "Labels": {"org.example": "yes"}, "Volumes": {"/data": {}}}});
    write_layout(&layout, "latest", &layers, cfg, &Tamper::default());
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "localhost/five", layout.to_str().unwrap()]);
    let b = t.path().join("bundle");
    store_ok(&root, &["bundle", "localhost/five:latest", b.to_str().unwrap()]);
    // Overlay whiteouts in the snapshot of layer 4 (index 3 after the base).
    let inspect: serde_json::Value = serde_json::from_str(&store_ok(&root, &["inspect", "localhost/five:latest"])).unwrap();
    let chains: Vec<String> = inspect["ChainIds"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()[7..].to_owned()).collect();
    let snap = |i: usize| root.join("snapshots").join(&chains[i]).join("fs");
    let wh = std::fs::symlink_metadata(snap(3).join("opt/data/delete-me.txt")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "whiteout must be a 0/0 char device");
    let out = Command::new("getfattr").args(["--only-values", "-n", "trusted.overlay.opaque"]).arg(snap(4).join("usr/share/zoneinfo")).output();
    if let Ok(o) = out {
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "y");
        }
    }
    // The mounted rootfs shows the merged image.
    assert!(!b.join("rootfs/opt/data/delete-me.txt").exists());
    assert_eq!(std::fs::read_dir(b.join("rootfs/usr/share/zoneinfo")).unwrap().count(), 2);
    assert_eq!(std::fs::read(b.join("rootfs/opt/dir2file")).unwrap(), b"now a file");
    // config.json from the image config.
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], serde_json::json!(["/bin/sh", "-c", "cat /opt/data/modify-me.txt"]));
    assert_eq!(spec["process"]["cwd"], "/opt");
    assert_eq!(spec["process"]["user"]["uid"], 1000);
    assert_eq!(spec["process"]["user"]["gid"], 1000);
    assert_eq!(spec["process"]["user"]["additionalGids"], serde_json::json!([2000]));
    assert!(spec["process"]["env"].as_array().unwrap().contains(&serde_json::json!("FOO=bar")));
    assert_eq!(spec["annotations"]["org.opencontainers.image.exposedPorts"], "80/tcp");
    assert_eq!(spec["annotations"]["org.example"], "yes");
    assert!(spec["mounts"].as_array().unwrap().iter().any(|m| m["destination"] == "/data"));
    assert_eq!(spec["root"]["path"], "rootfs");
    // Shared snapshots: a second bundle reuses them (no new snapshot dirs).
    let n_snaps = std::fs::read_dir(root.join("snapshots")).unwrap().count();
    let b2 = t.path().join("bundle2");
    store_ok(&root, &["bundle", "--user", "0", "localhost/five:latest", b2.to_str().unwrap(), "--", "id", "-u"]);
    assert_eq!(std::fs::read_dir(root.join("snapshots")).unwrap().count(), n_snaps);
    // An unknown user is a one-line error naming the image as given and the user; no bundle.
    let b3 = t.path().join("bundle3");
    let err = store_err(&root, &["bundle", "--copy", "--user", "nosuchuser", "localhost/five:latest", b3.to_str().unwrap()]);
    assert!(err.trim().lines().count() == 1 && err.contains("localhost/five:latest") && err.contains("nosuchuser"), "{err}");
    assert!(!b3.exists());
    // `-- CMD` replaces Cmd (the entrypoint stays), `--user 0` replaces User.
    let spec2: serde_json::Value = serde_json::from_slice(&std::fs::read(b2.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec2["process"]["args"], serde_json::json!(["/bin/sh", "-c", "id", "-u"]));
    assert_eq!(spec2["process"]["user"]["uid"], 0);
    if have("runc") {
        let id = berth_integration::unique_id("bs");
        let state = t.path().join("runc-state");
        let o = Command::new("runc").arg("--root").arg(&state).arg("run").arg("--bundle").arg(&b).arg(&id).output().unwrap();
        let _ = Command::new("runc").arg("--root").arg(&state).args(["delete", "-f", &id]).output();
        assert!(o.status.success(), "runc run failed: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "v2\n");
    }
    // gc keeps leased snapshots, unbundle releases them, rmi + gc frees everything.
    store_ok(&root, &["rmi", "localhost/five:latest"]);
    store_ok(&root, &["gc"]);
    assert_eq!(std::fs::read_dir(root.join("snapshots")).unwrap().count(), n_snaps, "gc removed snapshots a bundle uses");
    store_ok(&root, &["unbundle", b.to_str().unwrap()]);
    store_ok(&root, &["unbundle", b2.to_str().unwrap()]);
    assert!(!b.exists());
    store_ok(&root, &["gc"]);
    assert_eq!(std::fs::read_dir(root.join("snapshots")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(root.join("blobs/sha256")).unwrap().count(), 0);
}
