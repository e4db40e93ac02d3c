//! The binary contract: `start` (find or make the server for this container's group, print its
//! address), `delete` (clean up after a server that died), and `serve` (the server process).

use crate::service::{self, Service};
use crate::{sys, Args};
use berth_proto::protobuf::{Message, MessageField};
use berth_proto::shim::DeleteResponse;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The annotation CRI puts on every container of a pod: one shim serves the whole pod.
const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
/// containerd 1.6 puts shim sockets here whatever its own state dir is.
const SOCKET_DIR: &str = "/run/containerd/s";
/// The listening socket is handed to the server process as this fd.
const LISTEN_FD: RawFd = 3;

fn bundle_dir(args: &Args) -> Result<PathBuf, String> {
    match &args.bundle {
        Some(b) => Ok(b.clone()),
        // containerd runs the shim with the bundle as its working directory
        None => std::env::current_dir().map_err(|e| format!("current directory: {e}")),
    }
}

/// The group a container's shim serves: the pod (sandbox id) under CRI, else the container.
fn group_id(bundle: &Path, id: &str) -> String {
    let Ok(raw) = std::fs::read(bundle.join("config.json")) else { return id.to_owned() };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&raw) else { return id.to_owned() };
    v.get("annotations")
        .and_then(|a| a.get(SANDBOX_ID))
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(id)
        .to_owned()
}

/// containerd's convention: sha256 of "<containerd address>/<namespace>/<group id>".
pub fn socket_path(address: &str, namespace: &str, group: &str) -> PathBuf {
    let joined = format!("{}/{}/{}", address.trim_end_matches('/'), namespace, group);
    let digest = Sha256::digest(joined.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Path::new(SOCKET_DIR).join(hex)
}

pub fn start(args: &Args) -> Result<(), String> {
    if args.id.is_empty() {
        return Err("start needs -id".into());
    }
    let bundle = bundle_dir(args)?;
    let group = group_id(&bundle, &args.id);
    let path = socket_path(&args.address, &args.namespace, &group);
    let address = format!("unix://{}", path.display());
    std::fs::create_dir_all(SOCKET_DIR).map_err(|e| format!("create {SOCKET_DIR}: {e}"))?;

    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if UnixStream::connect(&path).is_ok() {
                // The pod's shim is already running: it will serve this container too.
                write_address(&bundle, &address)?;
                print!("{address}");
                return Ok(());
            }
            let _ = std::fs::remove_file(&path);
            UnixListener::bind(&path).map_err(|e| format!("listen on {}: {e}", path.display()))?
        }
        Err(e) => return Err(format!("listen on {}: {e}", path.display())),
    };
    let pid = match spawn_server(&listener, &bundle) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    drop(listener);
    let _ = std::fs::write(bundle.join("shim.pid"), pid.to_string());
    write_address(&bundle, &address)?;
    print!("{address}");
    let _ = std::io::stdout().flush();
    Ok(())
}

fn write_address(bundle: &Path, address: &str) -> Result<(), String> {
    let tmp = bundle.join(".address.tmp");
    std::fs::write(&tmp, address).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, bundle.join("address")).map_err(|e| format!("write address file: {e}"))
}

/// fork + setsid + exec ourselves without `start`: the server, with the listener as fd 3,
/// stdin/stdout on /dev/null and stderr on the bundle's `log` FIFO (containerd reads it).
fn spawn_server(listener: &UnixListener, bundle: &Path) -> Result<i32, String> {
    let exe = std::ffi::CString::new("/proc/self/exe").expect("static");
    let mut args: Vec<String> = std::env::args().collect();
    if args.last().map(String::as_str) == Some("start") {
        args.pop();
    }
    let argv: Vec<std::ffi::CString> = args
        .into_iter()
        .map(|a| std::ffi::CString::new(a).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let null = sys::open(Path::new("/dev/null"), libc::O_RDWR, 0).map_err(|e| format!("open /dev/null: {e}"))?;
    let log = sys::open(&bundle.join("log"), libc::O_WRONLY | libc::O_NONBLOCK, 0).ok();
    let err_fd = log.as_ref().map_or(null.as_raw_fd(), |l| l.as_raw_fd());
    let (lfd, nfd) = (listener.as_raw_fd(), null.as_raw_fd());
    // SAFETY: the child only calls async-signal-safe functions before execv.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        unsafe {
            libc::setsid();
            // fd 3 is the listener (dup2 clears close-on-exec); 0-2 as above
            let l = libc::fcntl(lfd, libc::F_DUPFD_CLOEXEC, 10);
            let e = libc::fcntl(err_fd, libc::F_DUPFD_CLOEXEC, 10);
            libc::dup2(l, LISTEN_FD);
            libc::dup2(nfd, 0);
            libc::dup2(nfd, 1);
            libc::dup2(e, 2);
            libc::execv(exe.as_ptr(), argv_ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    Ok(pid)
}

pub fn serve(args: &Args) -> Result<(), String> {
    // CVE-2019-5736: the runtime code runs in this process, so its exe must be unwritable from
    // containers. Re-executes once through a read-only view when needed (fds are kept).
    berth_runtime::protect_exe().map_err(|e| format!("protect the shim binary: {e}"))?;
    sys::set_child_subreaper().map_err(|e| format!("become child subreaper: {e}"))?;
    // SAFETY: fd 3 was set up by `start`; checked to be a listening unix socket below.
    let listener = unsafe { UnixListener::from_raw_fd(LISTEN_FD) };
    let path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_path_buf))
        .ok_or("fd 3 is not a listening unix socket: run this binary through `start`")?;
    let ttrpc_address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
    let svc = Service::new(&args.namespace, &ttrpc_address);
    log::debug!("serving {} for namespace {}", path.display(), args.namespace);
    let server = crate::server::Server::new(listener, path, svc).map_err(|e| format!("event loop: {e}"))?;
    server.run().map_err(|e| format!("event loop: {e}"))
}

/// containerd calls this when the server is gone: kill and delete the container, unmount its
/// rootfs, and report it as killed.
pub fn delete(args: &Args) -> Result<(), String> {
    let bundle = bundle_dir(args)?;
    let id = if args.id.is_empty() { bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default() } else { args.id.clone() };
    let root = std::fs::read_to_string(bundle.join(service::ROOT_FILE))
        .map(PathBuf::from)
        .unwrap_or_else(|_| service::runtime_root("", &args.namespace));
    // The dead server's socket, unless it still answers (a pod's shim serving other
    // containers). From the bundle's address file, or recomputed: containerd may already have
    // removed the bundle when a client's task delete raced this cleanup.
    let mut sockets = vec![socket_path(&args.address, &args.namespace, &group_id(&bundle, &id))];
    if let Ok(address) = std::fs::read_to_string(bundle.join("address")) {
        sockets.push(PathBuf::from(address.trim().trim_start_matches("unix://")));
    }
    for path in sockets {
        if path.exists() && UnixStream::connect(&path).is_err() {
            let _ = std::fs::remove_file(&path);
        }
    }
    let rt = berth_runtime::Runtime::new(&root);
    match rt.load(&id) {
        Ok(mut c) => {
            if let Err(e) = c.delete(true) {
                log::warn!("delete container {id:?}: {e}");
            }
        }
        Err(berth_runtime::Error::NotFound(_)) => {}
        Err(e) => log::warn!("load container {id:?}: {e}"),
    }
    crate::mount::unmount_all(&bundle.join("rootfs"));
    let mut resp = DeleteResponse::new();
    resp.exit_status = 128 + libc::SIGKILL as u32;
    resp.exited_at = MessageField::some(crate::task::now());
    let bytes = resp.write_to_bytes().map_err(|e| e.to_string())?;
    std::io::stdout().write_all(&bytes).map_err(|e| format!("write delete response: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_follows_containerds_convention() {
        // sha256("/run/containerd/containerd.sock/default/abc")
        let p = socket_path("/run/containerd/containerd.sock", "default", "abc");
        let want = Sha256::digest(b"/run/containerd/containerd.sock/default/abc");
        let hex: String = want.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(p, Path::new("/run/containerd/s").join(hex));
        assert_ne!(p, socket_path("/run/containerd/containerd.sock", "default", "abd"));
    }

    #[test]
    fn pods_share_a_group() {
        let d = std::env::temp_dir().join(format!("berth-shim-group-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        assert_eq!(group_id(&d, "c1"), "c1");
        std::fs::write(d.join("config.json"), r#"{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}"#).unwrap();
        assert_eq!(group_id(&d, "c1"), "pod1");
        let _ = std::fs::remove_dir_all(&d);
    }
}
