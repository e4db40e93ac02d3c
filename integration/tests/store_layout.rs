//! The store root is an OCI layout other tools read, and berth's archives load elsewhere:
//! umoci unpacks from the root; `ctr image import` and `buildah pull oci-archive:` load
//! berth's exports; docker-save archives go both ways (skopeo's docker-archive as the peer);
//! podman loads docker exports and its own saves (docker- and oci-archive) import.

use std::process::Command;

use berth_integration::containerd_peer::Containerd;
use berth_integration::image_fixture::{sha256, write_layout, Tamper, TarBuilder};
use berth_integration::store::{assert_same_tree, describe, have, store, store_err, store_ok};
use berth_integration::TempDir;

fn image(t: &TempDir) -> (std::path::PathBuf, berth_integration::image_fixture::FixtureImage) {
    let bb = std::fs::read(berth_integration::busybox()).unwrap();
    let l1 = TarBuilder::new().dir("bin/", 0o755).file("bin/busybox", &bb, 0o755).symlink("bin/sh", "busybox").dir("etc/", 0o755).file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644).finish();
    let l2 = TarBuilder::new().dir("etc/", 0o755).file("etc/motd", b"hello from berth\n", 0o644).file("etc/.wh.passwd", b"", 0o644).finish();
    let layout = t.path().join("layout");
    let img = write_layout(&layout, "v1", &[l1, l2], serde_json::json!({"config": {"Cmd": ["/bin/sh"], "Labels": {"a": "b"}}}), &Tamper::default());
    (layout, img)
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn umoci_reads_the_store_root() {
    let t = TempDir::new("layout-umoci");
    let (layout, _) = image(&t);
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "example.com/app", layout.to_str().unwrap()]);
    let b = t.path().join("umoci-bundle");
    run(Command::new("umoci").arg("unpack").arg("--image").arg(format!("{}:example.com/app:v1", root.display())).arg(&b));
    let ours = t.path().join("ours");
    store_ok(&root, &["unpack", "example.com/app:v1", ours.to_str().unwrap()]);
    let (mut a, mut c) = (describe(&ours), describe(&b.join("rootfs")));
    a.remove("");
    c.remove("");
    assert_same_tree(&a, &c, "umoci from berth's root vs berth unpack");
    // umoci's own tools agree the layout is valid.
    let ls = run(Command::new("umoci").arg("ls").arg("--layout").arg(&root));
    assert!(ls.contains("example.com/app:v1"), "{ls}");
}

#[test]
fn oci_archive_round_trip_and_peers_load_it() {
    let t = TempDir::new("layout-oci");
    let (layout, img) = image(&t);
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "example.com/app", layout.to_str().unwrap()]);
    let archive = t.path().join("app.tar");
    store_ok(&root, &["export", "example.com/app:v1", archive.to_str().unwrap()]);
    // Back into a fresh store: same manifest digest.
    let root2 = t.path().join("store2");
    let out = store_ok(&root2, &["import", archive.to_str().unwrap()]);
    assert!(out.contains("example.com/app:v1") && out.contains(&img.manifest_digest), "{out}");
    // skopeo and buildah read it.
    let raw = run(Command::new("skopeo").args(["inspect", "--raw"]).arg(format!("oci-archive:{}", archive.display())));
    assert_eq!(sha256(raw.as_bytes()), img.manifest_digest);
    if have("buildah") {
        let bd = t.path().join("buildah");
        let storage = ["--root", bd.join("root").to_str().unwrap().to_owned().leak(), "--runroot", bd.join("runroot").to_str().unwrap().to_owned().leak(), "--storage-driver", "vfs"];
        let id = run(Command::new("buildah").args(storage).args(["pull", "-q"]).arg(format!("oci-archive:{}", archive.display())));
        assert!(!id.trim().is_empty());
        let images = run(Command::new("buildah").args(storage).args(["images", "--format", "{{.Digest}}"]));
        assert!(images.contains(&img.manifest_digest), "buildah images: {images}");
        let _ = Command::new("buildah").args(storage).args(["rmi", "-af"]).output();
    }
}

#[test]
fn ctr_imports_oci_and_docker_exports() {
    assert!(have("containerd") && have("ctr"), "containerd is required");
    let t = TempDir::new("layout-ctr");
    let (layout, img) = image(&t);
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "example.com/app", layout.to_str().unwrap()]);
    let oci = t.path().join("oci.tar");
    let docker = t.path().join("docker.tar");
    store_ok(&root, &["export", "example.com/app:v1", oci.to_str().unwrap()]);
    store_ok(&root, &["export", "--format", "docker", "example.com/app:v1", docker.to_str().unwrap()]);
    let c = Containerd::start();
    let o = c.ctr(&["images", "import", "--all-platforms", oci.to_str().unwrap()]);
    assert!(o.status.success(), "ctr import oci: {}", String::from_utf8_lossy(&o.stderr));
    let list = String::from_utf8_lossy(&c.ctr(&["images", "ls"]).stdout).into_owned();
    assert!(list.contains("example.com/app:v1") && list.contains(&img.manifest_digest), "ctr images: {list}");
    let o = c.ctr(&["images", "rm", "example.com/app:v1"]);
    assert!(o.status.success());
    let o = c.ctr(&["images", "import", docker.to_str().unwrap()]);
    assert!(o.status.success(), "ctr import docker: {}", String::from_utf8_lossy(&o.stderr));
    let list = String::from_utf8_lossy(&c.ctr(&["images", "ls"]).stdout).into_owned();
    assert!(list.contains("example.com/app:v1"), "ctr images after docker import: {list}");
    // containerd unpacks what it imported (verifies diff_ids against the config).
    let o = c.ctr(&["images", "check"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("complete"), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn docker_archives_both_ways() {
    let t = TempDir::new("layout-docker");
    let (layout, img) = image(&t);
    // A genuine docker-archive written by skopeo, imported by berth.
    let da = t.path().join("skopeo-docker.tar");
    run(Command::new("skopeo").arg("copy").arg("-q").arg(format!("oci:{}:v1", layout.display())).arg(format!("docker-archive:{}:example.com/app:v1", da.display())));
    let root = t.path().join("store");
    let out = store_ok(&root, &["import", da.to_str().unwrap()]);
    assert!(out.contains("example.com/app:v1"), "{out}");
    let listed: serde_json::Value = serde_json::from_str(&store_ok(&root, &["inspect", "example.com/app:v1"])).unwrap();
    assert_eq!(listed["Id"], img.config_digest.as_str(), "config (image id) survives docker-archive");
    let a = t.path().join("a");
    store_ok(&root, &["unpack", "example.com/app:v1", a.to_str().unwrap()]);
    assert_eq!(std::fs::read(a.join("etc/motd")).unwrap(), b"hello from berth\n");
    assert!(!a.join("etc/passwd").exists());
    // berth's docker export read by skopeo, and re-imported by berth with the same image id.
    let ours = t.path().join("berth-docker.tar");
    store_ok(&root, &["export", "--format", "docker", "example.com/app:v1", ours.to_str().unwrap()]);
    let cfg = run(Command::new("skopeo").args(["inspect", "--config", "--raw"]).arg(format!("docker-archive:{}", ours.display())));
    assert_eq!(sha256(cfg.as_bytes()), img.config_digest);
    let root2 = t.path().join("store2");
    store_ok(&root2, &["import", ours.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&store_ok(&root2, &["inspect", "example.com/app:v1"])).unwrap();
    assert_eq!(v["Id"], img.config_digest.as_str());
}

#[test]
fn podman_loads_docker_exports_and_its_saves_import() {
    assert!(have("podman"), "podman is required");
    let t = TempDir::new("layout-podman");
    let (layout, img) = image(&t);
    let root = t.path().join("store");
    let name = format!("localhost/{}:v1", berth_integration::unique_id("pm"));
    store_ok(&root, &["import", "--name", "localhost/fx", layout.to_str().unwrap()]);
    store_ok(&root, &["tag", "localhost/fx:v1", &name]);
    let ours = t.path().join("berth-docker.tar");
    store_ok(&root, &["export", "--format", "docker", &name, ours.to_str().unwrap()]);
    // A private podman storage (vfs, own root and runroot): parallel-safe, nothing shared touched.
    let podman = |args: &[&str]| {
        run(Command::new("podman").arg("--root").arg(t.path().join("p-root")).arg("--runroot").arg(t.path().join("p-run")).args(["--storage-driver", "vfs"]).args(args))
    };
    let out = podman(&["load", "-i", ours.to_str().unwrap()]);
    assert!(out.contains(&name), "{out}");
    let id = podman(&["image", "inspect", "--format", "{{.Id}}", &name]);
    assert_eq!(format!("sha256:{}", id.trim()), img.config_digest, "podman sees the same image id");
    // podman save (docker-archive and oci-archive) back into a fresh berth store.
    for (fmt, file) in [("docker-archive", "p-docker.tar"), ("oci-archive", "p-oci.tar")] {
        let f = t.path().join(file);
        podman(&["save", "-q", "--format", fmt, "-o", f.to_str().unwrap(), &name]);
        let r = t.path().join(format!("store-{fmt}"));
        let out = store_ok(&r, &["import", f.to_str().unwrap()]);
        assert!(out.contains(&name), "{fmt}: {out}");
        let v: serde_json::Value = serde_json::from_str(&store_ok(&r, &["inspect", &name])).unwrap();
        // docker-archive keeps the config byte for byte; podman rewrites it for oci-archive
        // (the layers, diff_ids, stay the same).
        if fmt == "docker-archive" {
            assert_eq!(v["Id"], img.config_digest.as_str(), "{fmt}");
        }
        assert_eq!(v["Config"]["rootfs"]["diff_ids"].as_array().map(|a| a.len()), Some(2), "{fmt}: {v}");
        let a = t.path().join(format!("unpacked-{fmt}"));
        store_ok(&r, &["unpack", &name, a.to_str().unwrap()]);
        assert_eq!(std::fs::read(a.join("etc/motd")).unwrap(), b"hello from berth\n");
        store_ok(&r, &["fsck"]);
    }
}

#[test]
fn cli_verbs_and_errors() {
    let t = TempDir::new("layout-cli");
    let (layout, img) = image(&t);
    let root = t.path().join("store");
    store_ok(&root, &["import", "--name", "example.com/app", layout.to_str().unwrap()]);
    store_ok(&root, &["tag", "example.com/app:v1", "mine:latest"]);
    let table = store_ok(&root, &["images"]);
    let header: Vec<&str> = table.lines().next().unwrap().split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "SIZE", "CREATED"], "{table}");
    // Tables say how long ago (as docker does); JSON keeps the timestamp.
    assert!(table.lines().nth(1).unwrap().trim_end().ends_with(" ago"), "{table}");
    assert!(table.contains("mine") && table.contains("example.com/app"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&store_ok(&root, &["images", "--format", "json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    // By short id.
    let short = &img.config_digest[7..19];
    store_ok(&root, &["inspect", short]);
    let hist = store_ok(&root, &["history", "mine"]);
    assert!(hist.contains("fixture"), "{hist}");
    let err = store_err(&root, &["inspect", "nope:latest"]);
    assert!(err.contains("nope:latest") && err.contains("not found"), "{err}");
    let err = store_err(&root, &["pull", "Foo"]);
    assert!(err.contains("invalid reference"), "{err}");
    // An export that cannot be written names the destination (not a temp file) and leaves nothing.
    let dest = t.path().join("no-such-dir/out.tar");
    let err = store_err(&root, &["export", "mine:latest", dest.to_str().unwrap()]);
    assert!(err.contains(dest.to_str().unwrap()) && !err.contains(".berth-export"), "{err}");
    let o = store(&root, &["rmi", "mine"]);
    assert!(o.status.success());
    store_ok(&root, &["fsck"]);
    let gc: serde_json::Value = serde_json::from_str(&store_ok(&root, &["gc", "--format", "json"])).unwrap();
    assert_eq!(gc["blobs_removed"].as_array().unwrap().len(), 0, "still tagged as example.com/app");
    store_ok(&root, &["rmi", "example.com/app:v1"]);
    let gc: serde_json::Value = serde_json::from_str(&store_ok(&root, &["gc", "--format", "json"])).unwrap();
    assert_eq!(gc["blobs_removed"].as_array().unwrap().len(), 4);
}
