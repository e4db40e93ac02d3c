//! Every instruction and its flags in one place, checked in the image config and tree:
//! ADD (archives, URLs with --checksum), HEALTHCHECK, SHELL, ONBUILD triggers in a later
//! build, ARG scoping and build args, EXPOSE/VOLUME/STOPSIGNAL/MAINTAINER, --target.

use berth_integration::build::{berth_build, built_id, import_busybox, inspect, store_root, unpack_listing, write_context};
use berth_integration::TempDir;
use std::io::{Read, Write};

/// A one-shot HTTP server on loopback serving `body` for every request; returns its URL base.
fn serve(body: Vec<u8>, requests: usize) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}")
}

fn sha256_hex(b: &[u8]) -> String {
    berth_integration::image_fixture::sha256(b)[7..].to_string()
}

#[test]
fn add_archives_and_urls() {
    let tmp = TempDir::new("build-add");
    let ctx = tmp.path().join("ctx");
    write_context(&ctx, &[("tree/x/y.txt", "in the archive\n")]);
    let st = std::process::Command::new("tar").args(["-czf"]).arg(ctx.join("t.tar.gz")).arg("-C").arg(ctx.join("tree")).arg(".").status().unwrap();
    assert!(st.success());
    let body = b"downloaded\n".to_vec();
    let url = serve(body.clone(), 4);
    let df = format!(
        "FROM scratch\nADD t.tar.gz /unpacked/\nADD --unpack=false t.tar.gz /packed/\nADD --checksum=sha256:{} {url}/files/dl.txt /web/\nADD --chmod=644 {url}/other /web/renamed\n",
        sha256_hex(&body)
    );
    write_context(&ctx, &[("Dockerfile", &df)]);
    let r = berth_build(tmp.path(), &["-t", "localhost/add:1", ctx.to_str().unwrap()]);
    built_id(&r);
    let un = tmp.path().join("un");
    let l = unpack_listing(&store_root(tmp.path()), "localhost/add:1", &un);
    assert_eq!(std::fs::read_to_string(un.join("unpacked/x/y.txt")).unwrap(), "in the archive\n");
    assert!(l.iter().any(|x| x.starts_with("./packed/t.tar.gz f")), "{l:#?}");
    assert!(l.contains(&"./web/dl.txt f 600 0:0 11".to_string()), "URL files are 0600: {l:#?}");
    assert!(l.contains(&"./web/renamed f 644 0:0 11".to_string()), "{l:#?}");
    let m = std::fs::metadata(un.join("web/dl.txt")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::mtime(&m), 784111777, "Last-Modified becomes the mtime");
    // A wrong checksum fails the step and names the URL.
    let url2 = serve(body, 1);
    write_context(&ctx, &[("Dockerfile", &format!("FROM scratch\nADD --checksum=sha256:{} {url2}/f /f\n", "0".repeat(64)))]);
    let r = berth_build(tmp.path(), &[ctx.to_str().unwrap()]);
    assert!(!r.ok());
    assert!(r.stderr().contains("Dockerfile:2: ADD:") && r.stderr().contains("digest mismatch"), "{}", r.stderr());
}

#[test]
fn config_instructions_healthcheck_shell_onbuild_args_target() {
    let tmp = TempDir::new("build-instr");
    let root = store_root(tmp.path());
    std::fs::create_dir_all(&root).unwrap();
    let base = import_busybox(tmp.path(), &root);
    let ctx = tmp.path().join("ctx");
    let df = format!(
        "# syntax=docker/dockerfile:1\nARG BASE={base}\nARG VERSION=0.1\nFROM $BASE AS first\nARG VERSION\nLABEL version=$VERSION\nRUN echo first > /first\n\nFROM ${{BASE}}\nMAINTAINER someone@example.com\nSHELL [\"/bin/sh\", \"-ec\"]\nRUN echo \"shell $0\" > /shell\nHEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD wget -q -O- http://localhost/ || exit 1\nEXPOSE 8080/tcp 9000-9001/udp\nVOLUME [\"/data\"]\nSTOPSIGNAL SIGQUIT\nONBUILD RUN echo triggered > /onbuild\nONBUILD ENV FROM_TRIGGER=yes\nENTRYPOINT exec /bin/sh\n"
    );
    write_context(&ctx, &[("Dockerfile", &df)]);
    let r = berth_build(tmp.path(), &["-t", "localhost/parent:1", "--build-arg", "VERSION=9", "--build-arg", "UNUSED=1", ctx.to_str().unwrap()]);
    built_id(&r);
    assert!(r.stderr().contains("UNUSED"), "unused build args are reported: {}", r.stderr());
    let c = inspect(&root, "localhost/parent:1");
    let cfg = &c["Config"]["config"];
    assert_eq!(c["Config"]["author"], "someone@example.com");
    assert_eq!(cfg["Healthcheck"], serde_json::json!({"Test": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"], "Interval": 5_000_000_000i64, "Timeout": 2_000_000_000i64, "StartPeriod": 1_000_000_000i64, "Retries": 4}));
    assert_eq!(cfg["ExposedPorts"], serde_json::json!({"8080/tcp": {}, "9000/udp": {}, "9001/udp": {}}));
    assert_eq!(cfg["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(cfg["StopSignal"], "SIGQUIT");
    assert_eq!(cfg["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-ec", "exec /bin/sh"]));
    assert_eq!(cfg["Cmd"], serde_json::Value::Null, "ENTRYPOINT drops the inherited CMD");
    assert_eq!(cfg["OnBuild"], serde_json::json!(["RUN echo triggered > /onbuild", "ENV FROM_TRIGGER=yes"]));
    let un = tmp.path().join("un");
    unpack_listing(&root, "localhost/parent:1", &un);
    assert_eq!(std::fs::read_to_string(un.join("shell")).unwrap(), "shell /bin/sh\n", "RUN uses SHELL");
    assert!(!un.join("first").exists(), "only the stages the target needs");

    // --target builds the first stage, with the build arg through the global ARG.
    let r = berth_build(tmp.path(), &["-t", "localhost/first:1", "--target", "first", "--build-arg", "VERSION=9", ctx.to_str().unwrap()]);
    built_id(&r);
    assert_eq!(inspect(&root, "localhost/first:1")["Config"]["config"]["Labels"]["version"], "9");

    // A build FROM the parent runs its triggers first, and they are not inherited further.
    let child = tmp.path().join("child");
    write_context(&child, &[("Dockerfile", "FROM localhost/parent:1\nRUN test \"$FROM_TRIGGER\" = yes\n")]);
    let r = berth_build(tmp.path(), &["-t", "localhost/child:1", child.to_str().unwrap()]);
    built_id(&r);
    let c = inspect(&root, "localhost/child:1");
    assert_eq!(c["Config"]["config"]["OnBuild"], serde_json::Value::Null);
    assert!(c["Config"]["config"]["Env"].as_array().unwrap().contains(&serde_json::json!("FROM_TRIGGER=yes")));
    let un2 = tmp.path().join("un2");
    unpack_listing(&root, "localhost/child:1", &un2);
    assert_eq!(std::fs::read_to_string(un2.join("onbuild")).unwrap(), "triggered\n");
}
