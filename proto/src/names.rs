//! The strings containerd matches on: service names, event topics and `Any` type URLs.

/// The ttrpc service name of the shim's Task service.
pub const TASK_SERVICE: &str = "containerd.task.v2.Task";
/// The ttrpc service containerd serves for event forwarding, and its one method.
pub const EVENTS_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";
pub const EVENTS_FORWARD: &str = "Forward";
/// The ttrpc metadata key carrying the containerd namespace of a call.
pub const NAMESPACE_METADATA: &str = "containerd-namespace-ttrpc";

/// Event topics (containerd's `runtime.Task*EventTopic`).
pub mod topic {
    pub const TASK_CREATE: &str = "/tasks/create";
    pub const TASK_START: &str = "/tasks/start";
    pub const TASK_OOM: &str = "/tasks/oom";
    pub const TASK_EXIT: &str = "/tasks/exit";
    pub const TASK_DELETE: &str = "/tasks/delete";
    pub const TASK_EXEC_ADDED: &str = "/tasks/exec-added";
    pub const TASK_EXEC_STARTED: &str = "/tasks/exec-started";
    pub const TASK_PAUSED: &str = "/tasks/paused";
    pub const TASK_RESUMED: &str = "/tasks/resumed";
    pub const TASK_CHECKPOINTED: &str = "/tasks/checkpointed";
}

/// `Any.type_url` values. containerd's typeurl registry uses the bare protobuf full name for its
/// own messages and a `types.containerd.io/...` path for JSON-encoded OCI spec types.
pub mod type_url {
    pub const TASK_CREATE: &str = "containerd.events.TaskCreate";
    pub const TASK_START: &str = "containerd.events.TaskStart";
    pub const TASK_OOM: &str = "containerd.events.TaskOOM";
    pub const TASK_EXIT: &str = "containerd.events.TaskExit";
    pub const TASK_DELETE: &str = "containerd.events.TaskDelete";
    pub const TASK_EXEC_ADDED: &str = "containerd.events.TaskExecAdded";
    pub const TASK_EXEC_STARTED: &str = "containerd.events.TaskExecStarted";
    pub const TASK_PAUSED: &str = "containerd.events.TaskPaused";
    pub const TASK_RESUMED: &str = "containerd.events.TaskResumed";
    pub const TASK_CHECKPOINTED: &str = "containerd.events.TaskCheckpointed";
    pub const CGROUPS_V1_METRICS: &str = "io.containerd.cgroups.v1.Metrics";
    pub const CGROUPS_V2_METRICS: &str = "io.containerd.cgroups.v2.Metrics";
    pub const RUNC_OPTIONS: &str = "containerd.runc.v1.Options";
    pub const RUNC_PROCESS_DETAILS: &str = "containerd.runc.v1.ProcessDetails";
    pub const OCI_PROCESS: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";
    pub const OCI_LINUX_RESOURCES: &str = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
}

/// gRPC status codes (google.golang.org/grpc/codes) as containerd's errdefs maps them.
pub mod code {
    pub const OK: i32 = 0;
    pub const CANCELLED: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const ABORTED: i32 = 10;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}
