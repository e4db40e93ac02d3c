//! A minimal CRI client (kubelet's side of `runtime.v1.RuntimeService`), enough to drive a pod
//! through containerd's CRI plugin: gRPC unary calls over HTTP/2 on the unix socket (the `h2`
//! crate does HTTP/2; the gRPC framing is a 5-byte prefix), and the CRI messages the calls
//! need written as prost structs with the field numbers of cri-api's `api.proto`.
//! (Debian 12 has no crictl.)

use bytes::Bytes;
use prost::Message;
use std::path::{Path, PathBuf};

pub mod api {
    //! CRI v1 messages (k8s.io/cri-api/pkg/apis/runtime/v1/api.proto), the fields used here.
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionRequest {
        #[prost(string, tag = "1")]
        pub version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionResponse {
        #[prost(string, tag = "1")]
        pub version: String,
        #[prost(string, tag = "2")]
        pub runtime_name: String,
        #[prost(string, tag = "3")]
        pub runtime_version: String,
        #[prost(string, tag = "4")]
        pub runtime_api_version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub uid: String,
        #[prost(string, tag = "3")]
        pub namespace: String,
        #[prost(uint32, tag = "4")]
        pub attempt: u32,
    }
    /// NamespaceMode: POD = 0, CONTAINER = 1, NODE = 2, TARGET = 3.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NamespaceOption {
        #[prost(int32, tag = "1")]
        pub network: i32,
        #[prost(int32, tag = "2")]
        pub pid: i32,
        #[prost(int32, tag = "3")]
        pub ipc: i32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LinuxSandboxSecurityContext {
        #[prost(message, optional, tag = "1")]
        pub namespace_options: Option<NamespaceOption>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LinuxPodSandboxConfig {
        #[prost(string, tag = "1")]
        pub cgroup_parent: String,
        #[prost(message, optional, tag = "2")]
        pub security_context: Option<LinuxSandboxSecurityContext>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxConfig {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<PodSandboxMetadata>,
        #[prost(string, tag = "2")]
        pub hostname: String,
        #[prost(string, tag = "3")]
        pub log_directory: String,
        #[prost(map = "string, string", tag = "6")]
        pub labels: HashMap<String, String>,
        #[prost(map = "string, string", tag = "7")]
        pub annotations: HashMap<String, String>,
        #[prost(message, optional, tag = "8")]
        pub linux: Option<LinuxPodSandboxConfig>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RunPodSandboxRequest {
        #[prost(message, optional, tag = "1")]
        pub config: Option<PodSandboxConfig>,
        #[prost(string, tag = "2")]
        pub runtime_handler: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RunPodSandboxResponse {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxIdRequest {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Empty {}
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(uint32, tag = "2")]
        pub attempt: u32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ImageSpec {
        #[prost(string, tag = "1")]
        pub image: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerConfig {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<ContainerMetadata>,
        #[prost(message, optional, tag = "2")]
        pub image: Option<ImageSpec>,
        #[prost(string, repeated, tag = "3")]
        pub command: Vec<String>,
        #[prost(string, repeated, tag = "4")]
        pub args: Vec<String>,
        #[prost(string, tag = "5")]
        pub working_dir: String,
        #[prost(message, repeated, tag = "6")]
        pub envs: Vec<KeyValue>,
        #[prost(string, tag = "11")]
        pub log_path: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CreateContainerRequest {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
        #[prost(message, optional, tag = "2")]
        pub config: Option<ContainerConfig>,
        #[prost(message, optional, tag = "3")]
        pub sandbox_config: Option<PodSandboxConfig>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CreateContainerResponse {
        #[prost(string, tag = "1")]
        pub container_id: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerIdRequest {
        #[prost(string, tag = "1")]
        pub container_id: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StopContainerRequest {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(int64, tag = "2")]
        pub timeout: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerStatusRequest {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(bool, tag = "2")]
        pub verbose: bool,
    }
    /// ContainerState: CREATED = 0, RUNNING = 1, EXITED = 2, UNKNOWN = 3.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerStatus {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(message, optional, tag = "2")]
        pub metadata: Option<ContainerMetadata>,
        #[prost(int32, tag = "3")]
        pub state: i32,
        #[prost(int64, tag = "4")]
        pub created_at: i64,
        #[prost(int64, tag = "5")]
        pub started_at: i64,
        #[prost(int64, tag = "6")]
        pub finished_at: i64,
        #[prost(int32, tag = "7")]
        pub exit_code: i32,
        #[prost(string, tag = "10")]
        pub reason: String,
        #[prost(string, tag = "11")]
        pub message: String,
        #[prost(string, tag = "15")]
        pub log_path: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerStatusResponse {
        #[prost(message, optional, tag = "1")]
        pub status: Option<ContainerStatus>,
    }
    pub const CONTAINER_RUNNING: i32 = 1;
    pub const CONTAINER_EXITED: i32 = 2;
    pub const NAMESPACE_NODE: i32 = 2;
}

pub const RUNTIME_SERVICE: &str = "runtime.v1.RuntimeService";

/// A CRI client on a unix socket.
pub struct Cri {
    sock: PathBuf,
    rt: tokio::runtime::Runtime,
}

impl Cri {
    pub fn new(sock: &Path) -> Cri {
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build().expect("tokio runtime");
        Cri { sock: sock.to_path_buf(), rt }
    }

    /// One unary call of `RuntimeService/<method>`; Err carries the gRPC status and message.
    pub fn call<Req: Message, Resp: Message + Default>(&self, method: &str, req: &Req) -> Result<Resp, String> {
        let path = format!("/{RUNTIME_SERVICE}/{method}");
        let body = req.encode_to_vec();
        let mut framed = Vec::with_capacity(body.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
        framed.extend_from_slice(&body);
        let sock = self.sock.clone();
        let bytes = self.rt.block_on(async move {
            let io = tokio::net::UnixStream::connect(&sock).await.map_err(|e| format!("connect {}: {e}", sock.display()))?;
            let (client, conn) = h2::client::handshake(io).await.map_err(|e| format!("http2 handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut client = client.ready().await.map_err(|e| e.to_string())?;
            let request = http::Request::builder()
                .method("POST")
                .uri(format!("http://localhost{path}"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .map_err(|e| e.to_string())?;
            let (resp, mut send) = client.send_request(request, false).map_err(|e| e.to_string())?;
            send.send_data(Bytes::from(framed), true).map_err(|e| e.to_string())?;
            let resp = resp.await.map_err(|e| format!("{path}: {e}"))?;
            let (parts, mut body) = resp.into_parts();
            grpc_status(&parts.headers)?;
            let mut data = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                let _ = body.flow_control().release_capacity(chunk.len());
                data.extend_from_slice(&chunk);
            }
            if let Some(t) = body.trailers().await.map_err(|e| e.to_string())? {
                grpc_status(&t)?;
            }
            Ok::<Vec<u8>, String>(data)
        })?;
        if bytes.len() < 5 {
            return Err(format!("{method}: empty gRPC response"));
        }
        Resp::decode(&bytes[5..]).map_err(|e| format!("{method}: decode response: {e}"))
    }
}

fn grpc_status(h: &http::HeaderMap) -> Result<(), String> {
    match h.get("grpc-status").and_then(|v| v.to_str().ok()) {
        None | Some("0") => Ok(()),
        Some(code) => {
            let msg = h.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or("");
            Err(format!("grpc status {code}: {}", percent_decode(msg)))
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
