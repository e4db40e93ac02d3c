//! The seccomp agent protocol (runc's, as the runtime-spec describes it): connect to
//! `listenerPath` (unix stream), send one container process state JSON with the listener fd
//! attached (SCM_RIGHTS, named "seccompFd" in `fds`), close.

use super::Error;
use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The message body for [`send_listener`]: runc's `specs.ContainerProcessState` with
/// `ociVersion`, `fds: ["seccompFd"]`, `pid` (the container process as the runtime sees it),
/// `metadata` (`listenerMetadata`, omitted when empty) and `state` (status "creating").
pub fn container_process_state(state: &State, metadata: Option<&str>) -> Vec<u8> {
    let mut cps = ContainerProcessState::default();
    cps.set_version(state.version().clone());
    cps.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    cps.set_pid(state.pid().unwrap_or(0));
    cps.set_metadata(metadata.filter(|m| !m.is_empty()).map(str::to_string));
    cps.set_state(state.clone());
    serde_json::to_vec(&cps).expect("container process state serialises")
}

/// [`container_process_state`] from a state already serialised (the runtime-spec state JSON
/// the hooks get); its fields are kept as they are. Unparseable input becomes `{}`.
pub fn container_process_state_json(state_json: &[u8], metadata: Option<&str>) -> Vec<u8> {
    let state: serde_json::Value = serde_json::from_slice(state_json).unwrap_or_else(|_| serde_json::json!({}));
    let mut m = serde_json::json!({
        "ociVersion": state.get("ociVersion").cloned().unwrap_or_else(|| oci_spec::runtime::VERSION.into()),
        "fds": [SECCOMP_FD_NAME],
        "pid": state.get("pid").cloned().unwrap_or(0.into()),
        "state": state,
    });
    if let Some(meta) = metadata.filter(|m| !m.is_empty()) {
        m["metadata"] = meta.into();
    }
    serde_json::to_vec(&m).expect("json serialises")
}

/// Hand a notify listener fd and the container state to the agent at `listener_path`: one
/// connection, one message (`message`, normally [`SeccompFilter::agent_message`]) carrying
/// the fd, then close. For a runtime process that sees `listenerPath` (the host's mounts).
///
/// [`SeccompFilter::agent_message`]: super::SeccompFilter::agent_message
pub fn send_listener(listener_path: &Path, listener: &OwnedFd, message: &[u8]) -> Result<(), Error> {
    let conn = connect_agent(listener_path)?;
    send_listener_over(conn.as_fd(), listener, message).map_err(|e| match e {
        Error::ListenerSend(source) => Error::Listener { path: listener_path.to_path_buf(), source },
        other => other,
    })
}

/// Connect to the agent at `listener_path` now, to send the listener later with
/// [`send_listener_over`] from a process that can no longer reach the path (the container's
/// init after pivot_root). The fd is close-on-exec; sends stalling for 30 s fail.
pub fn connect_agent(listener_path: &Path) -> Result<OwnedFd, Error> {
    let err = |source| Error::Listener { path: listener_path.to_path_buf(), source };
    let stream = UnixStream::connect(listener_path).map_err(err)?;
    stream.set_write_timeout(Some(Duration::from_secs(30))).map_err(err)?;
    Ok(stream.into())
}

/// Send `message` with the listener fd attached over a connection from [`connect_agent`].
/// Raw syscalls only (sendmsg, then send for a remainder; no allocation unless it fails): fit
/// for the init between loading the filter and exec. The caller closes `conn` afterwards.
pub fn send_listener_over(conn: BorrowedFd<'_>, listener: &OwnedFd, message: &[u8]) -> Result<(), Error> {
    let mut sent = send_with_fd(conn, message, listener.as_raw_fd()).map_err(Error::ListenerSend)?;
    while sent < message.len() {
        let rest = &message[sent..];
        // SAFETY: valid socket fd and buffer; MSG_NOSIGNAL: a vanished agent is an error, not SIGPIPE.
        let n = unsafe { libc::send(conn.as_raw_fd(), rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::ListenerSend(e));
        }
        sent += n as usize;
    }
    Ok(())
}

/// One sendmsg(2) of `data` (at least one byte, so the fd travels) with `fd` attached.
fn send_with_fd(conn: BorrowedFd<'_>, data: &[u8], fd: i32) -> std::io::Result<usize> {
    let body: &[u8] = if data.is_empty() { b"\0" } else { data };
    let mut iov = libc::iovec { iov_base: body.as_ptr() as *mut libc::c_void, iov_len: body.len() };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
    let mut cmsg_buf = [0u64; 4]; // u64: cmsghdr alignment; 32 bytes >= CMSG_SPACE(4)
    debug_assert!(space <= std::mem::size_of_val(&cmsg_buf));
    // SAFETY: zeroed msghdr is a valid empty header; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at `space` bytes, enough for one cmsghdr carrying an int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut i32, fd);
    }
    loop {
        // SAFETY: valid socket fd and message header.
        let n = unsafe { libc::sendmsg(conn.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(if data.is_empty() { 0 } else { n as usize });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
