//! Kubernetes' path: containerd's CRI plugin with a `berth` runtime handler
//! (`runtime_type = "io.containerd.berth.v2"`, the shim found on containerd's PATH), driven by a
//! CRI client the way kubelet drives it: RunPodSandbox -> CreateContainer -> StartContainer ->
//! ContainerStatus -> StopContainer -> RemoveContainer -> StopPodSandbox -> RemovePodSandbox.
//! The pod's sandbox and its container share one shim (grouped by the sandbox id).

use berth_integration::containerd::{Containerd, Options};
use berth_integration::cri::{api::*, Cri};
use berth_integration::unique_id;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn retry<T>(what: &str, secs: u64, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() < deadline => {
                eprintln!("{what}: {e} (retrying)");
                std::thread::sleep(Duration::from_millis(300));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

#[test]
fn cri_pod_lifecycle_through_the_berth_runtime_handler() {
    let scratch = berth_integration::TempDir::new("cri");
    let (cni_bin, cni_conf, logs) = (scratch.path().join("cni-bin"), scratch.path().join("cni-conf"), scratch.path().join("logs"));
    for d in [&cni_bin, &cni_conf, &logs] {
        std::fs::create_dir_all(d).unwrap();
    }
    let extra = format!(
        r#"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/library/berth-pause:latest"
  # CAP_SYS_RESOURCE is missing here: never ask for a lower oom_score_adj than containerd's
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.berth.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{}"
    conf_dir = "{}"
"#,
        cni_bin.display(),
        cni_conf.display()
    );
    let c = Containerd::start_with(Options { cri: true, extra_config: extra, path_prepend: Some(berth_integration::bin_dir()) });
    assert!(berth_integration::bin_dir().join("containerd-shim-berth-v2").exists());
    // a pause-like sandbox image (exits on SIGTERM) and the app image, in CRI's namespace
    c.import_image("berth-pause", &["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 1; done"], &[], "k8s.io");
    let app_image = c.import_image("berth-busybox", &[], &["/bin/sh"], "k8s.io");
    let cri = Cri::new(&c.sock);

    let v: VersionResponse = retry("Version", 20, || cri.call("Version", &VersionRequest { version: "v1".into() }));
    assert_eq!(v.runtime_name, "containerd");

    let cgroup_parent = format!("/{}", unique_id("bertcri").replace('-', ""));
    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata { name: "web".into(), uid: unique_id("uid"), namespace: "default".into(), attempt: 0 }),
        hostname: String::new(),
        log_directory: logs.to_string_lossy().into_owned(),
        labels: HashMap::new(),
        annotations: HashMap::new(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.clone(),
            security_context: Some(LinuxSandboxSecurityContext {
                // host network: no CNI plugin needed; pid per container (kubelet's default)
                namespace_options: Some(NamespaceOption { network: NAMESPACE_NODE, pid: 1, ipc: 0 }),
            }),
        }),
    };
    let pod: RunPodSandboxResponse = retry("RunPodSandbox", 30, || {
        cri.call("RunPodSandbox", &RunPodSandboxRequest { config: Some(sandbox_config.clone()), runtime_handler: "berth".into() })
    });
    let pod_id = pod.pod_sandbox_id;
    let shims = c.shim_pids();
    assert_eq!(shims.len(), 1, "one shim for the pod");
    let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/cmdline", shims[0])).unwrap()).replace('\0', " ");
    assert!(cmdline.contains("containerd-shim-berth-v2"), "{cmdline}");

    let created: CreateContainerResponse = cri
        .call(
            "CreateContainer",
            &CreateContainerRequest {
                pod_sandbox_id: pod_id.clone(),
                config: Some(ContainerConfig {
                    metadata: Some(ContainerMetadata { name: "app".into(), attempt: 0 }),
                    image: Some(ImageSpec { image: app_image }),
                    command: vec!["/bin/sh".into(), "-c".into()],
                    args: vec!["echo hello-from-cri $GREETING; exec sleep 1000".into()],
                    working_dir: "/".into(),
                    envs: vec![KeyValue { key: "GREETING".into(), value: "berth".into() }],
                    log_path: "app.log".into(),
                }),
                sandbox_config: Some(sandbox_config.clone()),
            },
        )
        .expect("CreateContainer");
    let cid = created.container_id;
    let _: Empty = cri.call("StartContainer", &ContainerIdRequest { container_id: cid.clone() }).expect("StartContainer");
    assert_eq!(c.shim_pids(), shims, "the container joined the pod's shim");

    let status = |cri: &Cri| -> ContainerStatus {
        let r: ContainerStatusResponse =
            cri.call("ContainerStatus", &ContainerStatusRequest { container_id: cid.clone(), verbose: false }).expect("ContainerStatus");
        r.status.expect("status")
    };
    let st = status(&cri);
    assert_eq!(st.state, CONTAINER_RUNNING, "{st:?}");
    assert!(st.started_at > 0);
    // the container's stdout went through the shim's FIFOs into CRI's log file
    let log = logs.join("app.log");
    c.wait_for("the container's output in its CRI log", 20, || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.contains("stdout F hello-from-cri berth"))
    });

    // The container joined the sandbox's namespaces by path (CRI's default: pid and ipc of the
    // pod), the network is the host's (NODE).
    let k8s_tasks = String::from_utf8_lossy(
        &std::process::Command::new("ctr").arg("-a").arg(&c.sock).args(["-n", "k8s.io", "task", "ls"]).output().unwrap().stdout,
    )
    .into_owned();
    let pid_of = |id: &str| -> String {
        k8s_tasks.lines().find(|l| l.starts_with(id)).and_then(|l| l.split_whitespace().nth(1)).unwrap_or_else(|| panic!("{id} in {k8s_tasks}")).to_owned()
    };
    let ns = |pid: &str, n: &str| std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap();
    let (sandbox_pid, app_pid) = (pid_of(&pod_id), pid_of(&cid));
    for n in ["pid", "ipc"] {
        assert_eq!(ns(&sandbox_pid, n), ns(&app_pid, n), "{n} namespace not shared with the pod");
        assert_ne!(ns(&app_pid, n), ns("self", n));
    }
    assert_eq!(ns(&app_pid, "net"), ns("self", "net"));

    let _: Empty = cri.call("StopContainer", &StopContainerRequest { container_id: cid.clone(), timeout: 5 }).expect("StopContainer");
    let st = status(&cri);
    assert_eq!(st.state, CONTAINER_EXITED, "{st:?}");
    // sleep is not the init of the shared pid namespace, so SIGTERM ends it: 128 + 15
    assert_eq!(st.exit_code, 143, "{st:?}");
    assert!(st.finished_at >= st.started_at);
    let _: Empty = cri.call("RemoveContainer", &ContainerIdRequest { container_id: cid.clone() }).expect("RemoveContainer");
    let _: Empty = cri.call("StopPodSandbox", &PodSandboxIdRequest { pod_sandbox_id: pod_id.clone() }).expect("StopPodSandbox");
    let _: Empty = cri.call("RemovePodSandbox", &PodSandboxIdRequest { pod_sandbox_id: pod_id.clone() }).expect("RemovePodSandbox");

    c.wait_for("the pod's shim to exit", 20, || c.shim_pids().is_empty());
    assert!(c.mounts().iter().all(|m| !m.contains(&pod_id) && !m.contains(&cid)), "{:?}", c.mounts());
    for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let parent = ctrl.path().join(cgroup_parent.trim_start_matches('/'));
        if parent.exists() {
            for id in [&pod_id, &cid] {
                assert!(!parent.join(id).exists(), "cgroup left: {}", parent.join(id).display());
            }
            let _ = std::fs::remove_dir(&parent);
        }
    }
    assert!(!std::path::Path::new("/run/containerd/berth/k8s.io").join(&cid).exists(), "runtime state left");
    // the namespace's runtime root, if no one else's container is in it
    let _ = std::fs::remove_dir("/run/containerd/berth/k8s.io");
}
