//! Builds without RUN: COPY/ADD/WORKDIR layers written directly, config instructions, the
//! cache, reproducibility, the context boundary, .dockerignore, stages and outputs.

use berth_integration::build::{berth_build, built_id, import_busybox, inspect, store_root, unpack_listing, write_context};
use berth_integration::TempDir;

fn ctx_with(tmp: &TempDir, files: &[(&str, &str)]) -> std::path::PathBuf {
    let ctx = tmp.path().join("ctx");
    write_context(&ctx, files);
    ctx
}

#[test]
fn scratch_copy_tree_config_and_cache() {
    let tmp = TempDir::new("build-copy");
    let ctx = ctx_with(
        &tmp,
        &[
            ("Dockerfile", "FROM scratch\nENV A=1 B=\"two words\"\nWORKDIR /app\nCOPY app/ ./\nCOPY --chmod=600 app/a.txt /etc/x\nCOPY <<EOF /etc/motd\nhi $A\nEOF\nLABEL k=v \"with space\"=\"v 2\"\nEXPOSE 80 53/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\nUSER 1000:1000\nENTRYPOINT [\"/bin/app\"]\nCMD [\"--help\"]\n"),
            ("app/a.txt", "hello\n"),
            ("app/sub/b.txt", "b\n"),
        ],
    );
    let r = berth_build(tmp.path(), &["-t", "localhost/copy:1", ctx.to_str().unwrap()]);
    let id = built_id(&r);
    let root = store_root(tmp.path());
    let listing = unpack_listing(&root, "localhost/copy:1", &tmp.path().join("un"));
    assert_eq!(
        listing,
        vec![
            ". d 755 0:0",
            "./app d 755 0:0",
            "./app/a.txt f 644 0:0 6",
            "./app/sub d 755 0:0",
            "./app/sub/b.txt f 644 0:0 2",
            "./etc d 755 0:0",
            "./etc/motd f 644 0:0 5",
            "./etc/x f 600 0:0 6",
        ]
    );
    assert_eq!(std::fs::read_to_string(tmp.path().join("un/etc/motd")).unwrap(), "hi 1\n");
    let c = &inspect(&root, "localhost/copy:1")["Config"];
    let cfg = &c["config"];
    assert_eq!(cfg["Env"], serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two words"]));
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["Labels"], serde_json::json!({"k": "v", "with space": "v 2"}));
    assert_eq!(cfg["ExposedPorts"], serde_json::json!({"80/tcp": {}, "53/udp": {}}));
    assert_eq!(cfg["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(cfg["User"], "1000:1000");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/app"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["--help"]));
    assert_eq!(c["rootfs"]["diff_ids"].as_array().unwrap().len(), 4, "WORKDIR, COPY, COPY, COPY");
    // A no-op rebuild hits the cache everywhere and gives the same image.
    let r2 = berth_build(tmp.path(), &["-t", "localhost/copy:1", ctx.to_str().unwrap()]);
    assert_eq!(built_id(&r2), id);
    assert_eq!(r2.stderr().matches(" CACHED").count(), 4, "{}", r2.stderr());
    // One edited file: only the steps from there on run again.
    std::fs::write(ctx.join("app/a.txt"), "HELLO\n").unwrap();
    let r3 = berth_build(tmp.path(), &["-t", "localhost/copy:1", ctx.to_str().unwrap()]);
    assert_ne!(built_id(&r3), id);
    assert_eq!(r3.stderr().matches(" CACHED").count(), 1, "{}", r3.stderr());
    // --no-cache runs everything.
    let r4 = berth_build(tmp.path(), &["--no-cache", ctx.to_str().unwrap()]);
    built_id(&r4);
    assert_eq!(r4.stderr().matches(" CACHED").count(), 0);
}

#[test]
fn reproducible_with_source_date_epoch_in_two_directories() {
    let df = "FROM scratch\nCOPY . /src/\nCOPY <<EOF /gen\nx\nEOF\nWORKDIR /w\n";
    let mut ids = Vec::new();
    for n in 0..2 {
        let tmp = TempDir::new(&format!("build-repro{n}"));
        let ctx = ctx_with(&tmp, &[("Dockerfile", df), ("a", "a"), ("d/b", "b")]);
        // Different mtimes in each checkout.
        let t = std::process::Command::new("touch").args(["-d", if n == 0 { "2001-01-01" } else { "2011-01-01" }]).arg(ctx.join("a")).status().unwrap();
        assert!(t.success());
        let out = std::process::Command::new(berth_integration::bin("berth-build"))
            .args(["--root", store_root(tmp.path()).to_str().unwrap(), ctx.to_str().unwrap()])
            .env("SOURCE_DATE_EPOCH", "946684800")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn busybox_base_chown_workdir_owner_and_stages() {
    let tmp = TempDir::new("build-bb");
    let root = store_root(tmp.path());
    std::fs::create_dir_all(&root).unwrap();
    let base = import_busybox(tmp.path(), &root);
    let df = format!(
        "ARG BASE={base}\nFROM ${{BASE}} AS files\nCOPY --chown=berth app/ /out/\nFROM $BASE\nUSER berth\nWORKDIR /home/berth/w2\nWORKDIR /home/berth/work\nCOPY --from=files /out/ ./\nCOPY --from=files --chown=0:0 /out/a.txt /root/a.txt\n"
    );
    let ctx = ctx_with(&tmp, &[("Dockerfile", &df), ("app/a.txt", "a\n")]);
    let r = berth_build(tmp.path(), &["-t", "localhost/bb:1", ctx.to_str().unwrap()]);
    built_id(&r);
    let l = unpack_listing(&root, "localhost/bb:1", &tmp.path().join("un"));
    assert!(l.contains(&"./home/berth/w2 d 755 1000:1000".to_string()), "WORKDIR makes its dir as USER: {l:#?}");
    assert!(l.contains(&"./home/berth/work d 755 1000:1000".to_string()), "COPY --from keeps owners: {l:#?}");
    assert!(l.contains(&"./home/berth/work/a.txt f 644 1000:1000 2".to_string()), "{l:#?}");
    assert!(l.contains(&"./root/a.txt f 644 0:0 2".to_string()), "{l:#?}");
    assert!(l.iter().any(|x| x.starts_with("./bin/busybox f 755")), "the base is there");
    let c = inspect(&root, "localhost/bb:1");
    assert_eq!(c["Config"]["config"]["User"], "berth");
    assert_eq!(c["Config"]["config"]["Cmd"], serde_json::json!(["/bin/sh"]), "inherited from the base");
}

#[test]
fn context_boundary_and_dockerignore() {
    let tmp = TempDir::new("build-bound");
    let outside = tmp.path().join("secret.txt");
    std::fs::write(&outside, "SECRET").unwrap();
    let ctx = ctx_with(&tmp, &[("Dockerfile", "FROM scratch\nCOPY . /c/\nCOPY link /link-target\n"), ("keep.txt", "k"), ("skip.log", "s"), ("logs/x.log", "x"), (".dockerignore", "*.log\nlogs\n"), ("etc/passwd", "inside")]);
    std::os::unix::fs::symlink("/etc/passwd", ctx.join("link")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", ctx.join("up")).unwrap();
    let r = berth_build(tmp.path(), &["-t", "localhost/bound:1", ctx.to_str().unwrap()]);
    built_id(&r);
    let un = tmp.path().join("un");
    let l = unpack_listing(&store_root(tmp.path()), "localhost/bound:1", &un);
    assert!(!l.iter().any(|x| x.contains(".log") || x.contains("logs")), "{l:#?}");
    assert!(l.iter().any(|x| x.starts_with("./c/up l 777")), "symlinks are copied as symlinks: {l:#?}");
    assert_eq!(std::fs::read_to_string(un.join("link-target")).unwrap(), "inside", "a followed symlink stays inside the context");
    for bad in ["COPY ../secret.txt /x", "COPY up /x"] {
        let ctx2 = tmp.path().join(format!("ctx-{}", bad.len()));
        write_context(&ctx2, &[("Dockerfile", &format!("FROM scratch\n{bad}\n"))]);
        std::os::unix::fs::symlink("../secret.txt", ctx2.join("up")).unwrap();
        let r = berth_build(tmp.path(), &[ctx2.to_str().unwrap()]);
        assert!(!r.ok(), "{bad} must fail");
        assert!(r.stderr().contains("Dockerfile:2: COPY:"), "{}", r.stderr());
        assert!(!r.stderr().contains("SECRET"));
    }
}

#[test]
fn missing_source_names_file_line_and_path() {
    let tmp = TempDir::new("build-missing");
    let ctx = ctx_with(&tmp, &[("Dockerfile", "FROM scratch\nENV X=1\nCOPY app/ /app/\n")]);
    let r = berth_build(tmp.path(), &[ctx.to_str().unwrap()]);
    assert!(!r.ok());
    let last = r.stderr().lines().last().unwrap().to_string();
    assert_eq!(last, "berth-build: Dockerfile:3: COPY: source \"app/\" not found in the build context");
}

#[test]
fn oci_and_docker_outputs_load_elsewhere() {
    let tmp = TempDir::new("build-out");
    let ctx = ctx_with(&tmp, &[("Dockerfile", "FROM scratch\nCOPY a /a\nCMD [\"/a\"]\n"), ("a", "a")]);
    let oci = tmp.path().join("img.oci.tar");
    let r = berth_build(tmp.path(), &["-t", "localhost/out:1", "--output", &format!("type=oci,dest={}", oci.display()), ctx.to_str().unwrap()]);
    built_id(&r);
    assert!(oci.exists());
    if berth_integration::store::have("skopeo") {
        let out = std::process::Command::new("skopeo").arg("inspect").arg(format!("oci-archive:{}", oci.display())).output().unwrap();
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
    }
    let docker = tmp.path().join("img.docker.tar");
    let r = berth_build(tmp.path(), &["-t", "localhost/out:1", "--output", &format!("type=docker,dest={}", docker.display()), ctx.to_str().unwrap()]);
    built_id(&r);
    let list = std::process::Command::new("tar").arg("-tf").arg(&docker).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("manifest.json"));
}

/// A private containerd (CRI off, its own root/state/socket), killed by pid on drop.
struct Containerd {
    child: std::process::Child,
    sock: std::path::PathBuf,
}

impl Containerd {
    fn start(dir: &std::path::Path) -> Containerd {
        let sock = dir.join("containerd.sock");
        let cfg = dir.join("config.toml");
        std::fs::write(
            &cfg,
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{1}\"\n[ttrpc]\n  address = \"{1}.ttrpc\"\n",
                dir.display(),
                sock.display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new("containerd")
            .arg("--config")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("containerd.log")).unwrap())
            .spawn()
            .expect("start containerd");
        for _ in 0..100 {
            if sock.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(sock.exists(), "containerd did not start: {}", std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default());
        Containerd { child, sock }
    }
    fn ctr(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("ctr").arg("--address").arg(&self.sock).args(["-n", "berth-test"]).args(args).output().unwrap()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn oci_output_imports_into_containerd_and_buildah() {
    let tmp = TempDir::new("build-load");
    let ctx = ctx_with(&tmp, &[("Dockerfile", "FROM scratch\nCOPY a /a\nCMD [\"/a\"]\n"), ("a", "a")]);
    let oci = tmp.path().join("img.oci.tar");
    let r = berth_build(tmp.path(), &["-t", "localhost/load:1", "--output", &format!("type=oci,dest={}", oci.display()), ctx.to_str().unwrap()]);
    built_id(&r);
    if berth_integration::store::have("containerd") && berth_integration::store::have("ctr") {
        let cd_dir = tmp.path().join("containerd");
        std::fs::create_dir_all(&cd_dir).unwrap();
        let cd = Containerd::start(&cd_dir);
        let out = cd.ctr(&["image", "import", oci.to_str().unwrap()]);
        assert!(out.status.success(), "ctr import: {}", String::from_utf8_lossy(&out.stderr));
        let ls = cd.ctr(&["image", "ls", "-q"]);
        assert!(String::from_utf8_lossy(&ls.stdout).contains("localhost/load:1"), "{}", String::from_utf8_lossy(&ls.stdout));
    } else {
        assert!(std::env::var_os("BERTH_SKIP_CONTAINERD").is_some(), "containerd/ctr not installed (apt-get install containerd)");
    }
    if berth_integration::store::have("buildah") {
        let out = std::process::Command::new("buildah")
            .arg("--root")
            .arg(tmp.path().join("bah/root"))
            .arg("--runroot")
            .arg(tmp.path().join("bah/runroot"))
            .args(["--storage-driver", "vfs", "pull", "--quiet"])
            .arg(format!("oci-archive:{}", oci.display()))
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "buildah pull: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn dockerfile_specific_dockerignore_wins() {
    let tmp = TempDir::new("build-dfignore");
    let ctx = ctx_with(
        &tmp,
        &[
            ("build/app.Dockerfile", "FROM scratch\nCOPY . /c/\n"),
            ("build/app.Dockerfile.dockerignore", "secret.txt\nbuild\n"),
            (".dockerignore", "public.txt\n"),
            ("secret.txt", "s"),
            ("public.txt", "p"),
        ],
    );
    let df = ctx.join("build/app.Dockerfile");
    let r = berth_build(tmp.path(), &["-t", "localhost/dfi:1", "-f", df.to_str().unwrap(), ctx.to_str().unwrap()]);
    built_id(&r);
    let l = unpack_listing(&store_root(tmp.path()), "localhost/dfi:1", &tmp.path().join("un"));
    assert!(l.iter().any(|x| x.starts_with("./c/public.txt")), "the context's .dockerignore is not used: {l:#?}");
    assert!(!l.iter().any(|x| x.contains("secret.txt") || x.contains("./c/build")), "{l:#?}");
}
