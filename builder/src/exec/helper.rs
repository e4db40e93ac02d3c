//! RUN containers through berth's runtime library, in-process. The library forks each
//! container's init from its caller, and a fork must come from a single-threaded process;
//! berth-build has threads (parallel stages, output readers). So before any thread exists,
//! the build forks this helper: single-threaded for its whole life, it creates and starts
//! containers on request, is their parent, reaps them (a pidfd per container in one poll
//! loop, so RUNs of parallel stages run side by side) and answers with their exit codes.
//!
//! The protocol is one datagram per message on a `SOCK_SEQPACKET` socketpair: a JSON request
//! (`run`: id, bundle, with the step's stdout and stderr fds attached; `kill`: id) and a JSON
//! reply (`code` or `error`, matched by request number). The helper dies with the build
//! (`PR_SET_PDEATHSIG`) and kills its containers when the socket closes.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Request {
    Run { req: u64, id: String, bundle: PathBuf },
    Kill { id: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Reply {
    req: u64,
    code: Option<i32>,
    error: Option<String>,
}

/// The build's end of the helper.
pub struct Helper {
    sock: OwnedFd,
    next: AtomicU64,
    send: Mutex<()>,
    waiting: Mutex<HashMap<u64, mpsc::Sender<Reply>>>,
    reader: Mutex<bool>,
    pid: i32,
}

fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the pair.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fds owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn send_msg(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
    let space = unsafe { libc::CMSG_SPACE((fds.len() * std::mem::size_of::<RawFd>()) as u32) } as usize;
    let mut cbuf = vec![0u8; space.max(1)];
    // SAFETY: msghdr is plain data; the control buffer is sized with CMSG_SPACE for the fds.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((fds.len() * std::mem::size_of::<RawFd>()) as u32) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast::<RawFd>(), fds.len());
        }
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One datagram and the fds that came with it; `None` when the peer closed.
fn recv_msg(sock: RawFd) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut cbuf = vec![0u8; 256];
    // SAFETY: as in send_msg; the kernel fills at most the given lengths.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = cbuf.len();
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break n;
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(None);
        }
        let mut fds = Vec::new();
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                let p = libc::CMSG_DATA(c).cast::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(*p.add(i)));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        buf.truncate(n as usize);
        Ok(Some((buf, fds)))
    }
}

impl Helper {
    /// Fork the helper. Call while the process is still single-threaded.
    pub fn spawn(state: &Path) -> io::Result<Helper> {
        let (ours, theirs) = socketpair()?;
        // SAFETY: the caller is single-threaded (nothing else can hold a lock at the fork).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            drop(ours);
            // SAFETY: plain prctl; then check the parent did not die before it took effect.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            let code = serve(theirs, state);
            // SAFETY: leave without running the parent's atexit handlers or destructors.
            unsafe { libc::_exit(code) };
        }
        drop(theirs);
        Ok(Helper { sock: ours, next: AtomicU64::new(1), send: Mutex::new(()), waiting: Mutex::new(HashMap::new()), reader: Mutex::new(false), pid })
    }

    fn ensure_reader(&'static self) {
        let mut started = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        if *started {
            return;
        }
        *started = true;
        std::thread::spawn(move || loop {
            match recv_msg(self.sock.as_raw_fd()) {
                Ok(Some((b, _))) => {
                    if let Ok(r) = serde_json::from_slice::<Reply>(&b) {
                        if let Some(tx) = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&r.req) {
                            let _ = tx.send(r);
                        }
                    }
                }
                _ => {
                    // The helper is gone: fail everyone still waiting.
                    for (req, tx) in self.waiting.lock().unwrap_or_else(|e| e.into_inner()).drain() {
                        let _ = tx.send(Reply { req, code: None, error: Some("the runtime helper process exited".into()) });
                    }
                    return;
                }
            }
        });
    }

    fn send(&self, r: &Request, fds: &[RawFd]) -> io::Result<()> {
        let _g = self.send.lock().unwrap_or_else(|e| e.into_inner());
        send_msg(self.sock.as_raw_fd(), &serde_json::to_vec(r).map_err(io::Error::other)?, fds)
    }

    /// Run the bundle to completion; its exit code.
    pub fn run(&'static self, id: &str, bundle: &Path, stdout: OwnedFd, stderr: OwnedFd) -> io::Result<i32> {
        self.ensure_reader();
        let req = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(req, tx);
        self.send(&Request::Run { req, id: id.to_string(), bundle: bundle.to_path_buf() }, &[stdout.as_raw_fd(), stderr.as_raw_fd()])?;
        // Our copies go: the container holds the pipe ends now, so EOF means it is done.
        drop(stdout);
        drop(stderr);
        let mut killed = false;
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(r) => {
                    if killed {
                        return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
                    }
                    return match (r.code, r.error) {
                        (Some(c), _) => Ok(c),
                        (None, e) => Err(io::Error::other(e.unwrap_or_else(|| "no exit code".into()))),
                    };
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if super::interrupted() && !killed {
                        killed = true;
                        let _ = self.send(&Request::Kill { id: id.to_string() }, &[]);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(io::Error::other("the runtime helper process exited")),
            }
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // SAFETY: reaping our own child after closing its socket (it exits on EOF).
        unsafe {
            libc::shutdown(self.sock.as_raw_fd(), libc::SHUT_RDWR);
            let mut st = 0;
            libc::waitpid(self.pid, &mut st, 0);
        }
    }
}

struct Running {
    req: u64,
    container: berth_runtime::Container,
    pidfd: OwnedFd,
}

/// The helper's loop: requests in, containers started, exits reaped, replies out.
fn serve(sock: OwnedFd, state: &Path) -> i32 {
    // main() already made /proc/self/exe read-only (protect_exe re-executes the process, so
    // it cannot be called here, in a fork).
    let rt = berth_runtime::Runtime::new(state);
    let mut running: Vec<Running> = Vec::new();
    let reply = |r: Reply| {
        let _ = send_msg(sock.as_raw_fd(), &serde_json::to_vec(&r).unwrap_or_default(), &[]);
    };
    loop {
        let mut pfds: Vec<libc::pollfd> = vec![libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        pfds.extend(running.iter().map(|r| libc::pollfd { fd: r.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }));
        // SAFETY: pfds is a valid array of its length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return 1;
        }
        // Exits first, so a kill and its exit are seen in order.
        let exited: Vec<usize> = pfds[1..].iter().enumerate().filter(|(_, p)| p.revents != 0).map(|(i, _)| i).collect();
        for i in exited.into_iter().rev() {
            let mut r = running.remove(i);
            let mut st = 0;
            // SAFETY: the container's init is our child.
            unsafe { libc::waitpid(r.container.pid, &mut st, 0) };
            let code = if libc::WIFEXITED(st) { libc::WEXITSTATUS(st) } else { 128 + libc::WTERMSIG(st) };
            let _ = r.container.delete(true);
            reply(Reply { req: r.req, code: Some(code), error: None });
        }
        if pfds[0].revents == 0 {
            continue;
        }
        let msg = match recv_msg(sock.as_raw_fd()) {
            Ok(Some(m)) => m,
            _ => {
                // The build is gone: take the containers with us.
                for mut r in running {
                    let _ = r.container.delete(true);
                }
                return 0;
            }
        };
        let (bytes, mut fds) = msg;
        match serde_json::from_slice::<Request>(&bytes) {
            Ok(Request::Run { req, id, bundle }) => {
                if fds.len() != 2 {
                    reply(Reply { req, code: None, error: Some("run request without its stdio".into()) });
                    continue;
                }
                let err = fds.pop().unwrap();
                let out = fds.pop().unwrap();
                let null = match std::fs::File::open("/dev/null") {
                    Ok(f) => OwnedFd::from(f),
                    Err(e) => {
                        reply(Reply { req, code: None, error: Some(format!("/dev/null: {e}")) });
                        continue;
                    }
                };
                let opts = berth_runtime::CreateOptions { stdio: Some([null.as_raw_fd(), out.as_raw_fd(), err.as_raw_fd()]), start_now: true, ..Default::default() };
                let started = rt.create(&id, &bundle, &opts).and_then(|mut c| match c.start() {
                    Ok(()) => Ok(c),
                    Err(e) => {
                        let _ = c.delete(true);
                        Err(e)
                    }
                });
                // The container has its own copies of the stdio now.
                drop((null, out, err));
                match started {
                    Ok(c) => match berth_runtime::sys::pidfd_open(c.pid) {
                        Ok(pidfd) => running.push(Running { req, container: c, pidfd }),
                        Err(e) => {
                            let mut c = c;
                            let _ = c.delete(true);
                            reply(Reply { req, code: None, error: Some(format!("pidfd_open: {e}")) });
                        }
                    },
                    Err(e) => reply(Reply { req, code: None, error: Some(format!("starting the container: {e}")) }),
                }
            }
            Ok(Request::Kill { id }) => {
                if let Some(r) = running.iter().find(|r| r.container.id == id) {
                    let _ = r.container.kill(libc::SIGKILL, true);
                }
            }
            Err(e) => log::warn!("runtime helper: bad request: {e}"),
        }
    }
}
