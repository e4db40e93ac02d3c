//! Wire compatibility with containerd: every ttrpc frame recorded between containerd 1.6 and its
//! Go runc shim (fixtures/ttrpc, see fixtures/README.md) decodes with our generated types and
//! re-encodes to the same bytes, and the decoded fields hold what `ctr` asked for.

use berth_proto::events::ForwardRequest;
use berth_proto::names::{self, type_url};
use berth_proto::protobuf::Message;
use berth_proto::shim::*;
use berth_proto::task_events::*;
use berth_proto::ttrpc::{Request, Response};
use berth_proto::{cgroups_v1, Empty};
use std::path::{Path, PathBuf};

struct Fixture {
    file: String,
    method: String,
    is_request: bool,
    topic: Option<String>,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ttrpc");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            // NNN-Service.Method.req|resp[.topic].bin
            let parts: Vec<&str> = file.trim_end_matches(".bin").splitn(2, '-').nth(1).unwrap().split('.').collect();
            Fixture {
                method: format!("{}.{}", parts[0], parts[1]),
                is_request: parts[2] == "req",
                topic: parts.get(3).map(|t| format!("/{}", t.replacen('-', "/", 1))),
                bytes: std::fs::read(&p).unwrap(),
                file,
            }
        })
        .collect()
}

/// Decode as `M`, re-encode, require identical bytes; return the message.
fn round_trip<M: Message>(bytes: &[u8], what: &str) -> M {
    let m = M::parse_from_bytes(bytes).unwrap_or_else(|e| panic!("{what}: decode: {e}"));
    let again = m.write_to_bytes().unwrap();
    assert_eq!(again, bytes, "{what}: re-encoding differs");
    m
}

fn check_payload(method: &str, is_request: bool, payload: &[u8], what: &str) {
    macro_rules! rt {
        ($req:ty, $resp:ty) => {
            if is_request {
                round_trip::<$req>(payload, what);
            } else {
                round_trip::<$resp>(payload, what);
            }
        };
    }
    match method {
        "Task.State" => rt!(StateRequest, StateResponse),
        "Task.Create" => rt!(CreateTaskRequest, CreateTaskResponse),
        "Task.Start" => rt!(StartRequest, StartResponse),
        "Task.Delete" => rt!(DeleteRequest, DeleteResponse),
        "Task.Pids" => rt!(PidsRequest, PidsResponse),
        "Task.Pause" => rt!(PauseRequest, Empty),
        "Task.Resume" => rt!(ResumeRequest, Empty),
        "Task.Checkpoint" => rt!(CheckpointTaskRequest, Empty),
        "Task.Kill" => rt!(KillRequest, Empty),
        "Task.Exec" => rt!(ExecProcessRequest, Empty),
        "Task.ResizePty" => rt!(ResizePtyRequest, Empty),
        "Task.CloseIO" => rt!(CloseIORequest, Empty),
        "Task.Update" => rt!(UpdateTaskRequest, Empty),
        "Task.Wait" => rt!(WaitRequest, WaitResponse),
        "Task.Stats" => rt!(StatsRequest, StatsResponse),
        "Task.Connect" => rt!(ConnectRequest, ConnectResponse),
        "Task.Shutdown" => rt!(ShutdownRequest, Empty),
        "Events.Forward" => rt!(ForwardRequest, Empty),
        other => panic!("{what}: unknown method {other}"),
    }
}

#[test]
fn every_recorded_frame_round_trips() {
    let all = fixtures();
    assert!(all.len() > 100, "fixtures missing: {}", all.len());
    let mut methods = std::collections::BTreeSet::new();
    let mut errors = 0;
    for f in &all {
        let payload = if f.is_request {
            let r: Request = round_trip(&f.bytes, &f.file);
            let (svc, m) = f.method.split_once('.').unwrap();
            let want_svc = if svc == "Task" { names::TASK_SERVICE } else { names::EVENTS_SERVICE };
            assert_eq!(r.service, want_svc, "{}", f.file);
            assert_eq!(r.method, m, "{}", f.file);
            r.payload
        } else {
            let r: Response = round_trip(&f.bytes, &f.file);
            let code = r.status.as_ref().map(|s| s.code).unwrap_or(0);
            if code != names::code::OK {
                // an error reply: a status, no payload (the runc shim refusing a late resize)
                assert!(r.payload.is_empty() && !r.status.message.is_empty(), "{}: {:?}", f.file, r);
                errors += 1;
                continue;
            }
            r.payload
        };
        check_payload(&f.method, f.is_request, &payload, &f.file);
        methods.insert(f.method.clone());
    }
    for m in ["Task.Create", "Task.Start", "Task.Wait", "Task.State", "Task.Delete", "Task.Exec", "Task.Kill",
        "Task.Pids", "Task.Pause", "Task.Resume", "Task.Stats", "Task.ResizePty", "Task.CloseIO", "Task.Connect",
        "Task.Shutdown", "Events.Forward"]
    {
        assert!(methods.contains(m), "no fixture for {m}");
    }
    assert!(errors < all.len() / 10, "{errors} error replies");
}

fn request_payloads(method: &str) -> Vec<(Request, String)> {
    fixtures()
        .into_iter()
        .filter(|f| f.is_request && f.method == method)
        .map(|f| (Request::parse_from_bytes(&f.bytes).unwrap(), f.file))
        .collect()
}

fn response_payloads(method: &str) -> Vec<Vec<u8>> {
    fixtures()
        .into_iter()
        .filter(|f| !f.is_request && f.method == method)
        .map(|f| Response::parse_from_bytes(&f.bytes).unwrap())
        .filter(|r| r.status.is_none())
        .map(|r| r.payload)
        .collect()
}

#[test]
fn error_replies_carry_a_grpc_status() {
    let f = fixtures().into_iter().find(|f| f.file.contains("ResizePty.resp") && {
        Response::parse_from_bytes(&f.bytes).unwrap().status.is_some()
    });
    let r = Response::parse_from_bytes(&f.expect("an error reply fixture").bytes).unwrap();
    let st = r.status.unwrap();
    assert_eq!(st.code, names::code::UNKNOWN);
    assert_eq!(st.message, "cannot resize a stopped container");
}

#[test]
fn create_request_carries_bundle_rootfs_and_fifos() {
    let (r, _) = &request_payloads("Task.Create")[0];
    // containerd 1.6 sends no ttrpc metadata to shims: the namespace comes from `-namespace`
    assert!(r.metadata.is_empty(), "{:?}", r.metadata);
    let c = CreateTaskRequest::parse_from_bytes(&r.payload).unwrap();
    assert_eq!(c.id, "cap-echo");
    assert!(c.bundle.ends_with("/io.containerd.runtime.v2.task/capture/cap-echo"), "{}", c.bundle);
    assert_eq!(c.rootfs.len(), 1);
    assert_eq!(c.rootfs[0].type_, "overlay");
    assert_eq!(c.rootfs[0].source, "overlay");
    assert!(c.rootfs[0].options.iter().any(|o| o.starts_with("lowerdir=")), "{:?}", c.rootfs[0].options);
    assert!(!c.terminal);
    assert!(c.stdout.ends_with("/cap-echo-stdout"), "{}", c.stdout);
    assert!(c.stderr.ends_with("/cap-echo-stderr"), "{}", c.stderr);
}

#[test]
fn tty_run_asks_for_a_terminal_and_resizes() {
    let creates: Vec<CreateTaskRequest> = request_payloads("Task.Create")
        .iter()
        .map(|(r, _)| CreateTaskRequest::parse_from_bytes(&r.payload).unwrap())
        .collect();
    let tty = creates.iter().find(|c| c.id == "cap-tty").expect("cap-tty create");
    assert!(tty.terminal);
    assert!(tty.stderr.is_empty(), "a terminal has no separate stderr");
    let resizes: Vec<ResizePtyRequest> = request_payloads("Task.ResizePty")
        .iter()
        .map(|(r, _)| ResizePtyRequest::parse_from_bytes(&r.payload).unwrap())
        .collect();
    assert!(resizes.iter().any(|r| r.exec_id == "cap-tty" && r.id == "cap-long"), "{resizes:?}");
}

#[test]
fn exec_carries_the_oci_process_as_json() {
    let (r, _) = &request_payloads("Task.Exec")[0];
    let e = ExecProcessRequest::parse_from_bytes(&r.payload).unwrap();
    assert_eq!((e.id.as_str(), e.exec_id.as_str(), e.terminal), ("cap-long", "cap-exec1", false));
    let spec = e.spec.as_ref().unwrap();
    assert_eq!(spec.type_url, type_url::OCI_PROCESS);
    let json = String::from_utf8(spec.value.clone()).unwrap();
    assert!(json.contains(r#""args":["/bin/echo","exec-out"]"#), "{json}");
}

#[test]
fn wait_and_delete_report_the_exit_status() {
    let waits: Vec<WaitResponse> =
        response_payloads("Task.Wait").iter().map(|p| WaitResponse::parse_from_bytes(p).unwrap()).collect();
    assert!(waits.iter().any(|w| w.exit_status == 3), "sh -c 'exit 3': {waits:?}");
    assert!(waits.iter().all(|w| w.exited_at.as_ref().is_some_and(|t| t.seconds > 1_600_000_000)));
    let deletes: Vec<DeleteResponse> =
        response_payloads("Task.Delete").iter().map(|p| DeleteResponse::parse_from_bytes(p).unwrap()).collect();
    assert!(deletes.iter().any(|d| d.exit_status == 137 && d.pid > 0), "SIGKILLed task: {deletes:?}");
    let kill = KillRequest::parse_from_bytes(&request_payloads("Task.Kill")[0].0.payload).unwrap();
    assert_eq!((kill.id.as_str(), kill.signal, kill.all), ("cap-long", 9, false));
}

#[test]
fn stats_are_cgroup_v1_metrics() {
    let s = StatsResponse::parse_from_bytes(&response_payloads("Task.Stats")[0]).unwrap();
    let any = s.stats.as_ref().unwrap();
    assert_eq!(any.type_url, type_url::CGROUPS_V1_METRICS);
    let m: cgroups_v1::Metrics = round_trip(&any.value, "stats");
    assert!(m.memory.as_ref().unwrap().usage.as_ref().unwrap().usage > 0, "{m:?}");
    assert!(m.pids.as_ref().unwrap().current >= 1);
}

#[test]
fn pids_and_state_describe_the_running_task() {
    let p = PidsResponse::parse_from_bytes(&response_payloads("Task.Pids")[0]).unwrap();
    assert!(!p.processes.is_empty() && p.processes[0].pid > 0, "{p:?}");
    let states: Vec<StateResponse> =
        response_payloads("Task.State").iter().map(|b| StateResponse::parse_from_bytes(b).unwrap()).collect();
    use berth_proto::task_types::Status;
    assert!(states.iter().any(|s| s.id == "cap-long" && s.status.enum_value() == Ok(Status::RUNNING)));
    assert!(states.iter().any(|s| s.status.enum_value() == Ok(Status::PAUSED)));
    assert!(states.iter().any(|s| s.status.enum_value() == Ok(Status::STOPPED)));
}

#[test]
fn forwarded_events_name_their_topic_type_and_namespace() {
    let want = [
        (names::topic::TASK_CREATE, type_url::TASK_CREATE),
        (names::topic::TASK_START, type_url::TASK_START),
        (names::topic::TASK_EXIT, type_url::TASK_EXIT),
        (names::topic::TASK_DELETE, type_url::TASK_DELETE),
        (names::topic::TASK_EXEC_ADDED, type_url::TASK_EXEC_ADDED),
        (names::topic::TASK_EXEC_STARTED, type_url::TASK_EXEC_STARTED),
        (names::topic::TASK_PAUSED, type_url::TASK_PAUSED),
        (names::topic::TASK_RESUMED, type_url::TASK_RESUMED),
    ];
    let all = fixtures();
    for (topic, url) in want {
        let f = all
            .iter()
            .find(|f| f.is_request && f.topic.as_deref() == Some(topic))
            .unwrap_or_else(|| panic!("no {topic} event"));
        let r = Request::parse_from_bytes(&f.bytes).unwrap();
        let env = ForwardRequest::parse_from_bytes(&r.payload).unwrap().envelope.unwrap();
        assert_eq!(env.topic, topic);
        assert_eq!(env.namespace, "capture");
        let ev = env.event.as_ref().unwrap();
        assert_eq!(ev.type_url, url, "{}", f.file);
        match topic {
            names::topic::TASK_CREATE => {
                let e: TaskCreate = round_trip(&ev.value, "TaskCreate");
                assert!(e.pid > 0 && !e.bundle.is_empty() && e.io.is_some(), "{e:?}");
            }
            names::topic::TASK_EXIT => {
                let e: TaskExit = round_trip(&ev.value, "TaskExit");
                assert!(e.pid > 0 && e.exited_at.is_some(), "{e:?}");
            }
            names::topic::TASK_EXEC_STARTED => {
                let e: TaskExecStarted = round_trip(&ev.value, "TaskExecStarted");
                assert!(e.pid > 0 && !e.exec_id.is_empty(), "{e:?}");
            }
            names::topic::TASK_DELETE => {
                let e: TaskDelete = round_trip(&ev.value, "TaskDelete");
                assert!(!e.container_id.is_empty(), "{e:?}");
            }
            _ => {}
        }
    }
}
