//! Builds with RUN: containers over the parent's layers, their changes as layers (with
//! whiteouts), mounts, failures, the peers' multi-stage Dockerfile, and the result run.

use berth_integration::build::{berth_build, built_id, fixture, import_busybox, inspect, run_image, store_root, unpack_listing, write_context};
use berth_integration::TempDir;

fn setup(name: &str) -> (TempDir, std::path::PathBuf, String) {
    let tmp = TempDir::new(name);
    let root = store_root(tmp.path());
    std::fs::create_dir_all(&root).unwrap();
    let base = import_busybox(tmp.path(), &root);
    (tmp, root, base)
}

#[test]
fn run_changes_env_user_workdir_and_whiteouts() {
    let (tmp, root, base) = setup("build-run");
    let ctx = tmp.path().join("ctx");
    let df = format!(
        "FROM {base}\nARG GREETING=hi\nENV TARGET=world\nWORKDIR /work\nRUN echo \"$GREETING $TARGET from $(pwd) as $(id -u)\" > /greeting && rm /etc/group\nRUN [\"/bin/sh\", \"-c\", \"echo exec-form > /exec\"]\nUSER berth\nRUN touch /tmp/owned && echo \"user $(id -un)\"\nRUN <<EOF\nset -e\necho heredoc > /tmp/heredoc\nEOF\nCMD [\"/bin/sh\", \"-c\", \"cat /greeting /exec /tmp/heredoc\"]\n"
    );
    write_context(&ctx, &[("Dockerfile", &df)]);
    let r = berth_build(tmp.path(), &["-t", "localhost/run:1", ctx.to_str().unwrap()]);
    built_id(&r);
    assert!(r.stderr().contains("user berth"), "RUN output is shown: {}", r.stderr());
    let l = unpack_listing(&root, "localhost/run:1", &tmp.path().join("un"));
    assert!(!l.iter().any(|x| x.starts_with("./etc/group")), "deleted in a RUN: {l:#?}");
    assert!(l.contains(&"./tmp/owned f 644 1000:1000 0".to_string()), "{l:#?}");
    assert!(!l.iter().any(|x| x.starts_with("./etc/resolv.conf") || x.starts_with("./etc/hosts")), "no mount-point stubs: {l:#?}");
    let (code, out) = run_image(tmp.path(), &root, "localhost/run:1");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "hi world from /work as 0\nexec-form\nheredoc\n");
    let cfg = inspect(&root, "localhost/run:1");
    let h: Vec<String> = cfg["Config"]["history"].as_array().unwrap().iter().map(|x| x["created_by"].as_str().unwrap_or("").to_string()).collect();
    assert!(h.iter().any(|x| x.starts_with("RUN |1 GREETING=hi /bin/sh -c echo")), "{h:#?}");
}

#[test]
fn failing_run_names_step_and_code_and_store_stays_usable() {
    let (tmp, root, base) = setup("build-runfail");
    let ctx = tmp.path().join("ctx");
    write_context(&ctx, &[("Dockerfile", &format!("FROM {base}\nRUN echo before > /b\nRUN echo failing-output; exit 3\n"))]);
    let r = berth_build(tmp.path(), &["-t", "localhost/fail:1", ctx.to_str().unwrap()]);
    assert!(!r.ok());
    let err = r.stderr();
    assert!(err.contains("failing-output"), "{err}");
    assert_eq!(
        err.lines().last().unwrap(),
        "berth-build: Dockerfile:3: RUN: process \"/bin/sh -c echo failing-output; exit 3\" did not complete successfully: exit code: 3"
    );
    assert!(berth_integration::store::store(&root, &["inspect", "localhost/fail:1"]).status.code() != Some(0));
    // The step before the failure is cached; the store still verifies.
    write_context(&ctx, &[("Dockerfile", &format!("FROM {base}\nRUN echo before > /b\nRUN echo fixed\n"))]);
    let r = berth_build(tmp.path(), &["-t", "localhost/fail:1", ctx.to_str().unwrap()]);
    built_id(&r);
    assert_eq!(r.stderr().matches(" CACHED").count(), 1, "{}", r.stderr());
    berth_integration::store::store_ok(&root, &["fsck"]);
}

#[test]
fn mounts_cache_secret_tmpfs_bind_and_network_none() {
    let (tmp, root, base) = setup("build-mounts");
    let ctx = tmp.path().join("ctx");
    let secret = tmp.path().join("token");
    std::fs::write(&secret, "s3cr3t").unwrap();
    let df = format!(
        "FROM {base} AS src\nRUN mkdir /data && echo from-stage > /data/x\nFROM {base}\nARG N=1\nRUN --mount=type=cache,target=/var/cache/app,id=app echo $N >> /var/cache/app/runs && wc -l < /var/cache/app/runs > /cache-runs\nRUN --mount=type=secret,id=tok,required cat /run/secrets/tok > /seen-secret-len && wc -c < /run/secrets/tok > /secret-len && rm /seen-secret-len\nRUN --mount=type=tmpfs,target=/scratch touch /scratch/t && test ! -e /nothing\nRUN --mount=type=bind,source=files,target=/ctx cat /ctx/a > /from-ctx\nRUN --mount=from=src,source=/data,target=/m cat /m/x > /from-stage\nRUN --network=none cat /proc/net/dev | grep -v -e lo: -e Inter -e face > /netdevs || true\n"
    );
    write_context(&ctx, &[("Dockerfile", &df), ("files/a", "context-file\n")]);
    let sec = format!("id=tok,src={}", secret.display());
    let r = berth_build(tmp.path(), &["-t", "localhost/m:1", "--secret", &sec, ctx.to_str().unwrap()]);
    built_id(&r);
    let un = tmp.path().join("un");
    let l = unpack_listing(&root, "localhost/m:1", &un);
    let read = |p: &str| std::fs::read_to_string(un.join(p)).unwrap();
    assert_eq!(read("cache-runs").trim(), "1");
    assert_eq!(read("secret-len").trim(), "6");
    assert!(!l.iter().any(|x| x.contains("run/secrets") || x.contains("scratch") || x.contains("./ctx") || x.starts_with("./m ")), "mount points are not layer content: {l:#?}");
    assert_eq!(read("from-ctx"), "context-file\n");
    assert_eq!(read("from-stage"), "from-stage\n");
    assert_eq!(read("netdevs"), "", "only lo in a --network=none RUN");
    // The cache directory persists: a rebuild with another arg runs the step again and sees it.
    let r = berth_build(tmp.path(), &["-t", "localhost/m:2", "--build-arg", "N=2", "--secret", &sec, ctx.to_str().unwrap()]);
    built_id(&r);
    let un2 = tmp.path().join("un2");
    unpack_listing(&root, "localhost/m:2", &un2);
    assert_eq!(std::fs::read_to_string(un2.join("cache-runs")).unwrap().trim(), "2");
    // A required secret that is not given fails the step with a clear message.
    let r = berth_build(tmp.path(), &["--no-cache", ctx.to_str().unwrap()]);
    assert!(!r.ok());
    assert!(r.stderr().contains("secret tok: not provided"), "{}", r.stderr());
}

#[test]
fn peers_multistage_builds_caches_and_runs() {
    let (tmp, root, base) = setup("build-ms");
    let ctx = tmp.path().join("multistage");
    fixture("multistage", &ctx);
    let arg = format!("BASE={base}");
    let build = |extra: &[&str]| {
        let mut a = vec!["-t", "localhost/ms:1", "--build-arg", arg.as_str()];
        a.extend_from_slice(extra);
        a.push(ctx.to_str().unwrap());
        berth_build(tmp.path(), &a)
    };
    let id1 = built_id(&build(&[]));
    let r2 = build(&[]);
    assert_eq!(built_id(&r2), id1, "no-op rebuild gives the same image");
    std::fs::write(ctx.join("app/config.txt"), "edited\n").unwrap();
    let r3 = build(&[]);
    assert_ne!(built_id(&r3), id1);
    assert!(r3.stderr().contains("COPY app/ ./\n#") && !r3.stderr().contains("RUN test -f config.txt && sha256sum config.txt >config.sha256 && chown -R 1000 /app\n#13 CACHED"), "{}", r3.stderr());
    let (code, out) = run_image(tmp.path(), &root, "localhost/ms:1");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "edited\ntool: ok\n");
    let c = inspect(&root, "localhost/ms:1");
    let cfg = &c["Config"]["config"];
    assert_eq!(cfg["User"], "1000");
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["Labels"]["org.opencontainers.image.version"], "1.0");
    assert!(cfg["Env"].as_array().unwrap().contains(&serde_json::json!("APP_VERSION=1.0")));
    let l = unpack_listing(&root, "localhost/ms:1", &tmp.path().join("un"));
    assert!(l.contains(&"./app/data/gen-199.dat f 644 1000:0 14".to_string()), "{:#?}", l.iter().filter(|x| x.contains("gen-19")).collect::<Vec<_>>());
    assert!(l.iter().any(|x| x.starts_with("./usr/local/bin/hello f 755")));
}

#[test]
fn peers_scratch_busybox_install() {
    let tmp = TempDir::new("build-scratch");
    let ctx = tmp.path().join("scratch");
    fixture("scratch", &ctx);
    std::fs::copy(berth_integration::busybox(), ctx.join("busybox")).unwrap();
    let r = berth_build(tmp.path(), &["-t", "localhost/scratch:1", ctx.to_str().unwrap()]);
    built_id(&r);
    let root = store_root(tmp.path());
    let l = unpack_listing(&root, "localhost/scratch:1", &tmp.path().join("un"));
    assert!(l.iter().any(|x| x.starts_with("./bin/sh l 777 0:0")), "busybox --install -s made the applet links");
    let c = inspect(&root, "localhost/scratch:1");
    assert_eq!(c["Config"]["config"]["Env"], serde_json::json!(["PATH=/bin"]));
}

#[test]
fn independent_stages_run_side_by_side() {
    let (tmp, _root, base) = setup("build-par");
    let ctx = tmp.path().join("ctx");
    // Each stage waits (up to 20 s) for the other's marker in a shared cache mount: built one
    // after the other, the first would give up and fail.
    let wait = |me: &str, other: &str| {
        format!("RUN --mount=type=cache,target=/sync,id=sync-{{ID}} touch /sync/{me}; i=0; while [ ! -e /sync/{other} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; test -e /sync/{other} && echo {me} > /{me}")
    };
    let id = berth_integration::unique_id("s");
    let df = format!(
        "FROM {base} AS a\n{}\nFROM {base} AS b\n{}\nFROM {base}\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
        wait("a", "b").replace("{ID}", &id),
        wait("b", "a").replace("{ID}", &id)
    );
    write_context(&ctx, &[("Dockerfile", &df)]);
    let r = berth_build(tmp.path(), &[ctx.to_str().unwrap()]);
    built_id(&r);
}

#[test]
fn sigint_mid_run_stops_the_container_and_keeps_the_store_consistent() {
    use std::io::{BufRead, BufReader};
    let (tmp, root, base) = setup("build-sigint");
    let ctx = tmp.path().join("ctx");
    write_context(&ctx, &[("Dockerfile", &format!("FROM {base}\nRUN echo one > /one\nRUN echo started-long; sleep 60\n"))]);
    let mut child = std::process::Command::new(berth_integration::bin("berth-build"))
        .args(["--root", root.to_str().unwrap(), "--progress", "plain", ctx.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        // The container's own output line, not the step title that also names it.
        if line.contains("started-long") && !line.contains("RUN") {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("started-long"), "{seen}");
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130), "{seen}{rest}");
    assert!(start.elapsed() < std::time::Duration::from_secs(30), "the container was stopped, not waited for");
    assert!(rest.contains("interrupted"), "{rest}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(root.to_str().unwrap()), "no mount left under the store");
    let left: Vec<_> = std::fs::read_dir(root.join("build-tmp")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "work directories removed: {left:?}");
    berth_integration::store::store_ok(&root, &["fsck"]);
    // The finished step is still cached.
    write_context(&ctx, &[("Dockerfile", &format!("FROM {base}\nRUN echo one > /one\nRUN echo done\n"))]);
    let r = berth_build(tmp.path(), &[ctx.to_str().unwrap()]);
    built_id(&r);
    assert_eq!(r.stderr().matches(" CACHED").count(), 1, "{}", r.stderr());
}

#[test]
fn copy_follows_destination_symlinks_but_link_does_not() {
    let (tmp, root, base) = setup("build-link");
    let ctx = tmp.path().join("ctx");
    write_context(&ctx, &[("Dockerfile", &format!("FROM {base}\nRUN mkdir /srv && ln -s /srv /opt\nCOPY a /opt/x\nCOPY --link a /opt/y\n")), ("a", "a\n")]);
    let r = berth_build(tmp.path(), &["-t", "localhost/link:1", ctx.to_str().unwrap()]);
    built_id(&r);
    let l = unpack_listing(&root, "localhost/link:1", &tmp.path().join("un"));
    assert!(l.contains(&"./srv/x f 644 0:0 2".to_string()), "COPY follows /opt -> /srv inside the image: {l:#?}");
    assert!(l.contains(&"./opt/y f 644 0:0 2".to_string()), "--link writes its own /opt: {l:#?}");
}

#[test]
fn copy_and_mount_from_an_image() {
    let (tmp, root, base) = setup("build-fromimg");
    let ctx = tmp.path().join("ctx");
    write_context(&ctx, &[("Dockerfile", &format!("FROM scratch\nCOPY --from={base} /bin/busybox /bin/busybox\nCOPY --from={base} /etc/passwd /etc/passwd\nRUN --mount=from={base},source=/etc,target=/img-etc [\"/bin/busybox\", \"cp\", \"/img-etc/group\", \"/group-copy\"]\n"))]);
    let r = berth_build(tmp.path(), &["-t", "localhost/fromimg:1", ctx.to_str().unwrap()]);
    built_id(&r);
    let l = unpack_listing(&root, "localhost/fromimg:1", &tmp.path().join("un"));
    assert!(l.iter().any(|x| x.starts_with("./bin/busybox f 755 0:0")), "{l:#?}");
    assert_eq!(std::fs::read_to_string(tmp.path().join("un/group-copy")).unwrap(), "root:x:0:\nberth:x:1000:\nnogroup:x:65534:\n");
}

#[test]
fn many_layers_fit_the_overlay_mount() {
    let (tmp, root, base) = setup("build-layers");
    let ctx = tmp.path().join("ctx");
    // 80 layers on the base (store paths would overflow the one-page mount options).
    let mut df = format!("FROM {base}\n");
    for i in 0..80 {
        df.push_str(&format!("WORKDIR /layers/d{i}\n"));
    }
    df.push_str("RUN ls /layers | wc -l > /count\n");
    write_context(&ctx, &[("Dockerfile", &df)]);
    let r = berth_build(tmp.path(), &["-t", "localhost/layers:1", ctx.to_str().unwrap()]);
    built_id(&r);
    let c = inspect(&root, "localhost/layers:1");
    assert_eq!(c["Config"]["rootfs"]["diff_ids"].as_array().unwrap().len(), 82);
    unpack_listing(&root, "localhost/layers:1", &tmp.path().join("un"));
    assert_eq!(std::fs::read_to_string(tmp.path().join("un/count")).unwrap().trim(), "80");
}
