//! Side by side with buildah: the same Dockerfiles built by both (buildah with private
//! storage, chroot isolation), both images imported into one berth store and unpacked the
//! same way, then compared: file tree (paths, types, modes, owners, sizes, link targets,
//! contents) and config fields (Env, Entrypoint, Cmd, WorkingDir, User, ExposedPorts,
//! Volumes, Labels, StopSignal, Healthcheck, OnBuild).
//!
//! Known, deliberate differences are normalised away: buildah leaves the mount points of
//! its RUN containers in the layers (/dev, /proc, /sys, /run, and empty /etc/hosts,
//! /etc/hostname, /etc/resolv.conf) where BuildKit and berth do not, adds an
//! `io.buildah.version` label, and writes empty lists/maps where berth writes nothing.

use berth_integration::build::{berth_build, built_id, fixture, import_busybox, inspect, store_root};
use berth_integration::TempDir;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn have_buildah() -> bool {
    if berth_integration::store::have("buildah") {
        return true;
    }
    assert!(std::env::var_os("BERTH_SKIP_BUILDAH").is_some(), "buildah is not installed (apt-get install buildah, or set BERTH_SKIP_BUILDAH=1)");
    false
}

fn buildah(tmp: &Path, args: &[&str]) {
    let out = Command::new("buildah")
        .arg("--root")
        .arg(tmp.join("buildah/root"))
        .arg("--runroot")
        .arg(tmp.join("buildah/runroot"))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .expect("run buildah");
    assert!(out.status.success(), "buildah {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// path -> "type mode uid:gid size target sha256"
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let out = Command::new("find").arg(".").arg("-printf").arg("%p\t%y %m %U:%G %s %l\n").current_dir(dir).output().unwrap();
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (p, rest) = line.split_once('\t').unwrap();
        let f: Vec<&str> = rest.split(' ').collect();
        let desc = match f[0] {
            "d" => format!("d {} {}", f[1], f[2]),
            "f" => {
                let data = std::fs::read(dir.join(p)).unwrap();
                format!("f {} {} {} {}", f[1], f[2], f[3], berth_integration::image_fixture::sha256(&data))
            }
            _ => rest.trim_end().to_string(),
        };
        m.insert(p.to_string(), desc);
    }
    m
}

fn drop_buildah_artifacts(t: &mut BTreeMap<String, String>, ours: &BTreeMap<String, String>) {
    for p in ["./dev", "./proc", "./sys", "./run"] {
        if !ours.contains_key(p) && t.keys().filter(|k| k.starts_with(&format!("{p}/"))).count() == 0 {
            t.remove(p);
        }
    }
    for p in ["./etc/hosts", "./etc/hostname", "./etc/resolv.conf"] {
        if !ours.contains_key(p) && t.get(p).is_some_and(|d| d.starts_with("f ") && d.contains(" 0 ")) {
            t.remove(p);
        }
    }
}

fn config_fields(c: &serde_json::Value) -> BTreeMap<&'static str, serde_json::Value> {
    let cfg = &c["Config"]["config"];
    let mut out = BTreeMap::new();
    for k in ["Env", "Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal", "Healthcheck", "OnBuild"] {
        let mut v = cfg[k].clone();
        if let serde_json::Value::Object(m) = &mut v {
            m.remove("io.buildah.version");
        }
        let empty = match &v {
            serde_json::Value::Null => true,
            serde_json::Value::Array(a) => a.is_empty(),
            serde_json::Value::Object(o) => o.is_empty(),
            serde_json::Value::String(s) => s.is_empty(),
            _ => false,
        };
        out.insert(k, if empty { serde_json::Value::Null } else { v });
    }
    out
}

/// `time_dependent`: files whose bytes embed build-time metadata (a tar made by RUN records
/// mtimes); their type, mode, owner and size are still compared.
fn compare(name: &str, extra_args: &[(&str, &str)], time_dependent: &[&str]) {
    if !have_buildah() {
        return;
    }
    let tmp = TempDir::new(&format!("build-vs-buildah-{name}"));
    let root = store_root(tmp.path());
    std::fs::create_dir_all(&root).unwrap();
    let base = import_busybox(tmp.path(), &root);
    let ctx = tmp.path().join(name);
    fixture(name, &ctx);

    // berth
    let mut args: Vec<String> = vec!["-t".into(), format!("localhost/{name}:berth"), "--build-arg".into(), format!("BASE={base}")];
    for (k, v) in extra_args {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    }
    args.push(ctx.to_str().unwrap().into());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    built_id(&berth_build(tmp.path(), &a));

    // buildah, from the same base (an OCI layout of it)
    let layout = tmp.path().join("busybox-layout");
    let mut b: Vec<String> = vec!["build".into(), "--quiet".into(), "--isolation".into(), "chroot".into(), "--format".into(), "docker".into()];
    b.extend(["--build-arg".into(), format!("BASE=oci:{}:latest", layout.display())]);
    for (k, v) in extra_args {
        b.extend(["--build-arg".into(), format!("{k}={v}")]);
    }
    b.extend(["-t".into(), format!("localhost/{name}:buildah"), ctx.to_str().unwrap().into()]);
    buildah(tmp.path(), &b.iter().map(String::as_str).collect::<Vec<_>>());
    let archive = tmp.path().join("buildah.tar");
    buildah(tmp.path(), &["push", "--quiet", &format!("localhost/{name}:buildah"), &format!("docker-archive:{}:localhost/{name}:buildah", archive.display())]);
    berth_integration::store::store_ok(&root, &["import", archive.to_str().unwrap()]);

    let ours_dir = tmp.path().join("ours");
    let theirs_dir = tmp.path().join("theirs");
    berth_integration::store::store_ok(&root, &["unpack", &format!("localhost/{name}:berth"), ours_dir.to_str().unwrap()]);
    berth_integration::store::store_ok(&root, &["unpack", &format!("localhost/{name}:buildah"), theirs_dir.to_str().unwrap()]);
    let strip = |mut t: BTreeMap<String, String>| {
        for p in time_dependent {
            if let Some(v) = t.get_mut(*p) {
                *v = v.rsplit_once(' ').map(|(a, _)| a.to_string()).unwrap_or_default();
            }
        }
        t
    };
    let ours = strip(tree(&ours_dir));
    let mut theirs = strip(tree(&theirs_dir));
    drop_buildah_artifacts(&mut theirs, &ours);
    let only_ours: Vec<_> = ours.iter().filter(|(k, v)| theirs.get(*k) != Some(v)).collect();
    let only_theirs: Vec<_> = theirs.iter().filter(|(k, v)| ours.get(*k) != Some(v)).collect();
    assert!(only_ours.is_empty() && only_theirs.is_empty(), "{name}: trees differ\nberth:   {only_ours:#?}\nbuildah: {only_theirs:#?}");

    let co = config_fields(&inspect(&root, &format!("localhost/{name}:berth")));
    let ct = config_fields(&inspect(&root, &format!("localhost/{name}:buildah")));
    assert_eq!(co, ct, "{name}: config fields differ");
}

#[test]
fn multistage_matches_buildah() {
    compare("multistage", &[], &["./app/data/src.tar", "./app/data/SHA256SUMS"]);
}

#[test]
fn every_instruction_matches_buildah() {
    compare("every", &[("FLAVOR", "special")], &[]);
}
