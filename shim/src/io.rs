//! A process's stdio. Output is not copied: the container gets the stdout/stderr FIFOs (or log
//! file, or pipes to a logging binary) as its own fds 1/2, so output flows straight from the
//! container to containerd. The shim holds a reader on each output FIFO so the container never
//! gets EPIPE while containerd is away (dropped at exit, so containerd then sees EOF).
//!
//! Input is copied, because a FIFO read end given to the container would report EOF before the
//! client has even opened its end: the shim reads the stdin FIFO non-blocking from its event
//! loop (Linux reports HUP on it only once a writer has come and gone, which is exactly the
//! client's EOF) into a pipe that is the container's fd 0, closed on that EOF or on CloseIO.
//! With a terminal, the runtime returns the pty master and the loop copies stdin FIFO -> master
//! and master -> stdout FIFO, all non-blocking (no thread per stream).

use crate::sys;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Where a process's stdio goes, as containerd names it.
#[derive(Debug, Clone, Default)]
pub struct StdioSpec {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// The fds handed to the runtime for the new process (closed once it has been created).
pub struct ChildStdio {
    pub fds: [OwnedFd; 3],
}

impl ChildStdio {
    pub fn raw(&self) -> [RawFd; 3] {
        [self.fds[0].as_raw_fd(), self.fds[1].as_raw_fd(), self.fds[2].as_raw_fd()]
    }
}

/// The shim's side of a process's stdio while it runs.
#[derive(Default)]
pub struct ProcessIo {
    /// Copying the stdin FIFO into the container's stdin pipe (non-tty).
    pub stdin: Option<StdinPipe>,
    /// Our readers on the stdout/stderr FIFOs (non-tty); dropped when the process exits.
    out_keep: Vec<OwnedFd>,
    /// Terminal copying state.
    pub tty: Option<Tty>,
    /// A `binary://` logger we started (reaped like any child).
    pub logger_pid: Option<i32>,
}

/// stdin FIFO -> pipe. `dst` is dropped (the container sees EOF) on the FIFO's EOF or CloseIO.
pub struct StdinPipe {
    pub src: OwnedFd,
    pub dst: OwnedFd,
    pub buf: Vec<u8>,
    /// EOF or CloseIO seen: close `dst` once `buf` is written.
    pub closing: bool,
}

/// Copying between the pty master and the FIFOs.
pub struct Tty {
    pub master: OwnedFd,
    /// The stdin FIFO, read side, non-blocking (dropped at the client's EOF).
    pub stdin: Option<OwnedFd>,
    /// The stdout FIFO, write side, non-blocking.
    pub stdout: Option<OwnedFd>,
    /// Output read from the master not yet written to stdout.
    pub out_buf: Vec<u8>,
    /// Input read from stdin not yet written to the master.
    pub in_buf: Vec<u8>,
    pub master_eof: bool,
}

/// Output buffered for a slow reader before the shim stops reading the master.
pub const TTY_BUF_MAX: usize = 256 << 10;

fn open_stdin_fifo(path: &str) -> Result<OwnedFd, String> {
    sys::open(Path::new(path), libc::O_RDONLY | libc::O_NONBLOCK, 0).map_err(|e| format!("open stdin {path}: {e}"))
}

fn open_fifo_rdwr(path: &Path) -> Result<OwnedFd, String> {
    sys::open(path, libc::O_RDWR | libc::O_NONBLOCK, 0).map_err(|e| format!("open {}: {e}", path.display()))
}

/// Re-open an fd we hold through /proc with other flags (a FIFO opened for writing once we hold a
/// reader, or the other way round, never blocks).
fn reopen(fd: &OwnedFd, flags: i32) -> Result<OwnedFd, String> {
    let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
    sys::open(Path::new(&p), flags, 0).map_err(|e| format!("reopen {p}: {e}"))
}

fn dev_null(flags: i32) -> Result<OwnedFd, String> {
    sys::open(Path::new("/dev/null"), flags, 0).map_err(|e| format!("open /dev/null: {e}"))
}

/// A parsed stdout URI: a FIFO path, `file:///path`, or `binary:///path?arg=val`.
#[derive(Debug, PartialEq, Eq)]
pub enum OutTarget {
    None,
    Fifo(String),
    File(String),
    Binary { path: String, args: Vec<String> },
}

pub fn parse_out(uri: &str) -> Result<OutTarget, String> {
    if uri.is_empty() {
        return Ok(OutTarget::None);
    }
    let Some((scheme, rest)) = uri.split_once("://") else { return Ok(OutTarget::Fifo(uri.to_owned())) };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = percent_decode(path);
    match scheme {
        "fifo" => Ok(OutTarget::Fifo(path)),
        "file" => Ok(OutTarget::File(path)),
        "binary" => {
            // containerd passes each query pair as two arguments: key, value
            let mut args = Vec::new();
            for kv in query.split('&').filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                args.push(percent_decode(k));
                if !v.is_empty() {
                    args.push(percent_decode(v));
                }
            }
            Ok(OutTarget::Binary { path, args })
        }
        other => Err(format!("unsupported stdio uri scheme {other:?} in {uri:?}")),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
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

/// Set up stdio for a new process. Returns the fds for the runtime (None with a terminal: the
/// runtime makes the pty) and the shim's side.
pub fn prepare(spec: &StdioSpec, id: &str, namespace: &str) -> Result<(Option<ChildStdio>, ProcessIo), String> {
    let mut io = ProcessIo::default();
    if spec.terminal {
        let mut tty = Tty { master: dev_null(libc::O_RDONLY)?, stdin: None, stdout: None, out_buf: Vec::new(), in_buf: Vec::new(), master_eof: false };
        if !spec.stdin.is_empty() {
            tty.stdin = Some(open_stdin_fifo(&spec.stdin)?);
        }
        match parse_out(&spec.stdout)? {
            OutTarget::None => {}
            OutTarget::Fifo(p) => {
                let rw = open_fifo_rdwr(Path::new(&p))?;
                tty.stdout = Some(reopen(&rw, libc::O_WRONLY | libc::O_NONBLOCK)?);
                io.out_keep.push(rw);
            }
            OutTarget::File(p) => tty.stdout = Some(open_log_file(&p)?),
            OutTarget::Binary { .. } => return Err("a binary:// logger cannot be used with a terminal".into()),
        }
        io.tty = Some(tty);
        return Ok((None, io));
    }

    let stdin = if spec.stdin.is_empty() {
        dev_null(libc::O_RDONLY)?
    } else {
        let src = open_stdin_fifo(&spec.stdin)?;
        let (r, w) = sys::pipe().map_err(|e| format!("stdin pipe: {e}"))?;
        sys::set_nonblocking(w.as_raw_fd(), true).map_err(|e| e.to_string())?;
        io.stdin = Some(StdinPipe { src, dst: w, buf: Vec::new(), closing: false });
        r
    };
    let (stdout, stderr) = match parse_out(&spec.stdout)? {
        OutTarget::Binary { path, args } => {
            let (o, e, pid) = spawn_logger(&path, &args, id, namespace)?;
            io.logger_pid = Some(pid);
            (o, e)
        }
        OutTarget::File(p) => {
            let f = open_log_file(&p)?;
            let f2 = f.try_clone().map_err(|e| e.to_string())?;
            (f, f2)
        }
        OutTarget::None => (dev_null(libc::O_WRONLY)?, stderr_target(&spec.stderr, &mut io)?),
        OutTarget::Fifo(p) => (out_fifo(&p, &mut io)?, stderr_target(&spec.stderr, &mut io)?),
    };
    Ok((Some(ChildStdio { fds: [stdin, stdout, stderr] }), io))
}

fn out_fifo(path: &str, io: &mut ProcessIo) -> Result<OwnedFd, String> {
    let rw = open_fifo_rdwr(Path::new(path))?;
    let w = reopen(&rw, libc::O_WRONLY)?;
    io.out_keep.push(rw);
    Ok(w)
}

fn stderr_target(uri: &str, io: &mut ProcessIo) -> Result<OwnedFd, String> {
    match parse_out(uri)? {
        OutTarget::None => dev_null(libc::O_WRONLY),
        OutTarget::Fifo(p) => out_fifo(&p, io),
        OutTarget::File(p) => open_log_file(&p),
        OutTarget::Binary { .. } => Err("stderr cannot be a binary:// logger on its own".into()),
    }
}

fn open_log_file(path: &str) -> Result<OwnedFd, String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(format!("log file path {path:?} must be absolute"));
    }
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("create {}: {e}", d.display()))?;
    }
    sys::open(p, libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND, 0o640).map_err(|e| format!("open log file {path}: {e}"))
}

/// Start a `binary://` logger as containerd defines it: fd 3 and 4 are the read ends of the
/// container's stdout and stderr, fd 5 is a pipe it closes (or writes to) once ready;
/// CONTAINER_ID and CONTAINER_NAMESPACE name the container. Returns the write ends and its pid.
fn spawn_logger(path: &str, args: &[String], id: &str, ns: &str) -> Result<(OwnedFd, OwnedFd, i32), String> {
    use std::os::unix::process::CommandExt;
    let (out_r, out_w) = sys::pipe().map_err(|e| e.to_string())?;
    let (err_r, err_w) = sys::pipe().map_err(|e| e.to_string())?;
    let (ready_r, ready_w) = sys::pipe().map_err(|e| e.to_string())?;
    let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    let mut cmd = std::process::Command::new(path);
    cmd.args(args)
        .env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", ns)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Move the three fds out of the 3..5 range first, then into place.
            let mut tmp = [0; 3];
            for (i, fd) in fds.iter().enumerate() {
                tmp[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 10);
                if tmp[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, fd) in tmp.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| format!("start logging binary {path}: {e}"))?;
    drop((out_r, err_r, ready_w));
    // Wait (bounded) for the logger to signal readiness by closing or writing fd 5.
    let mut pfd = libc::pollfd { fd: ready_r.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, 10_000) };
    Ok((out_w, err_w, child.id() as i32))
}

impl ProcessIo {
    /// CloseIO: the client has no more input; the container sees EOF once its writers are gone.
    pub fn close_stdin(&mut self) {
        if let Some(p) = self.stdin.as_mut() {
            p.closing = true;
            p.flush();
            if p.buf.is_empty() {
                self.stdin = None;
            }
        }
        if let Some(t) = self.tty.as_mut() {
            t.stdin = None;
        }
    }

    /// Move stdin input along (called when the FIFO is readable or the pipe writable).
    pub fn pump_stdin(&mut self) {
        if let Some(p) = self.stdin.as_mut() {
            p.pump();
            if p.closing && p.buf.is_empty() {
                self.stdin = None;
            }
        }
    }

    /// The process exited: let the readers see EOF.
    pub fn on_exit(&mut self) {
        if let Some(t) = self.tty.as_mut() {
            t.drain_master();
        }
        self.stdin = None;
        self.out_keep.clear();
        self.tty = None;
    }
}

/// Has a writer of this FIFO come and gone? (Linux sets POLLHUP on a FIFO's read side only
/// once a writer has opened it since we did: a plain read returns 0 before that too.)
fn writer_gone(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, no wait.
    unsafe { libc::poll(&mut pfd, 1, 0) > 0 && pfd.revents & libc::POLLHUP != 0 && pfd.revents & libc::POLLIN == 0 }
}

/// Read a non-blocking FIFO into `buf` (bounded); true at EOF (the writer came and went).
fn read_fifo(fd: RawFd, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    while buf.len() < TTY_BUF_MAX {
        match sys::read(fd, &mut chunk) {
            Ok(0) => return writer_gone(fd),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
    false
}

/// Write as much of `buf` as `fd` takes; false when the reader is gone for good.
fn write_some(fd: RawFd, buf: &mut Vec<u8>) -> bool {
    while !buf.is_empty() {
        match sys::write(fd, buf) {
            Ok(n) => {
                buf.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => {
                buf.clear();
                return false;
            }
        }
    }
    true
}

impl StdinPipe {
    fn pump(&mut self) {
        if !self.closing && read_fifo(self.src.as_raw_fd(), &mut self.buf) {
            self.closing = true;
        }
        self.flush();
    }

    fn flush(&mut self) {
        if !write_some(self.dst.as_raw_fd(), &mut self.buf) {
            self.closing = true;
        }
    }
}

impl Tty {
    /// Read what the master has (up to the buffer limit) and push it to stdout.
    pub fn pump_out(&mut self) {
        let mut chunk = [0u8; 8192];
        while self.out_buf.len() < TTY_BUF_MAX && !self.master_eof {
            match sys::read(self.master.as_raw_fd(), &mut chunk) {
                Ok(0) => self.master_eof = true,
                Ok(n) => {
                    if self.stdout.is_some() {
                        self.out_buf.extend_from_slice(&chunk[..n]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // EIO: every slave fd is closed (the process and its children are gone)
                Err(_) => self.master_eof = true,
            }
        }
        self.flush_out();
    }

    pub fn flush_out(&mut self) {
        let Some(out) = self.stdout.as_ref().map(|o| o.as_raw_fd()) else {
            self.out_buf.clear();
            return;
        };
        while !self.out_buf.is_empty() {
            match sys::write(out, &self.out_buf) {
                Ok(n) => {
                    self.out_buf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // the reader went away for good
                    self.out_buf.clear();
                    self.stdout = None;
                    break;
                }
            }
        }
    }

    /// Read client input from stdin and push it into the master.
    pub fn pump_in(&mut self) {
        if let Some(inp) = self.stdin.as_ref() {
            if read_fifo(inp.as_raw_fd(), &mut self.in_buf) {
                // the client closed its input: nothing more to read (the terminal stays)
                self.stdin = None;
            }
        }
        write_some(self.master.as_raw_fd(), &mut self.in_buf);
    }

    /// At exit: copy whatever output is left (bounded, non-blocking) so it is not lost.
    fn drain_master(&mut self) {
        for _ in 0..64 {
            let before = self.out_buf.len();
            self.pump_out();
            if self.master_eof || self.out_buf.len() == before && self.out_buf.is_empty() {
                break;
            }
            if !self.out_buf.is_empty() {
                // reader slow: give it a moment, then give up rather than hang the shim
                let Some(out) = self.stdout.as_ref() else { break };
                let mut pfd = libc::pollfd { fd: out.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_uris() {
        assert_eq!(parse_out("").unwrap(), OutTarget::None);
        assert_eq!(parse_out("/run/containerd/fifo/1/x-stdout").unwrap(), OutTarget::Fifo("/run/containerd/fifo/1/x-stdout".into()));
        assert_eq!(parse_out("file:///var/log/c%201.log").unwrap(), OutTarget::File("/var/log/c 1.log".into()));
        assert_eq!(
            parse_out("binary:///usr/bin/logger?tag=web&verbose").unwrap(),
            OutTarget::Binary { path: "/usr/bin/logger".into(), args: vec!["tag".into(), "web".into(), "verbose".into()] }
        );
        assert!(parse_out("http://x/y").unwrap_err().contains("unsupported"));
    }

    #[test]
    fn fifo_stdio_passes_fds_and_keeps_fifos_usable() {
        let dir = std::env::temp_dir().join(format!("berth-shim-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mk = |n: &str| {
            let p = dir.join(n);
            let c = sys::cpath(&p).unwrap();
            unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
            p.to_string_lossy().into_owned()
        };
        let spec = StdioSpec { stdin: mk("in"), stdout: mk("out"), stderr: mk("err"), terminal: false };
        let (child, mut io) = prepare(&spec, "c1", "ns").unwrap();
        let child = child.unwrap();
        // the "container" writes to its stdout; a client reading the FIFO gets it
        let reader = sys::open(Path::new(&spec.stdout), libc::O_RDONLY | libc::O_NONBLOCK, 0).unwrap();
        sys::write(child.fds[1].as_raw_fd(), b"hello").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(sys::read(reader.as_raw_fd(), &mut buf).unwrap(), 5);
        // stdin: before the client opens its end the container sees no EOF ...
        sys::set_nonblocking(child.fds[0].as_raw_fd(), true).unwrap();
        io.pump_stdin();
        assert_eq!(sys::read(child.fds[0].as_raw_fd(), &mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        // ... it gets what the client writes, then EOF when the client closes
        let w = sys::open(Path::new(&spec.stdin), libc::O_WRONLY, 0).unwrap();
        sys::write(w.as_raw_fd(), b"in!").unwrap();
        io.pump_stdin();
        assert_eq!(sys::read(child.fds[0].as_raw_fd(), &mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"in!");
        drop(w);
        io.pump_stdin();
        assert!(io.stdin.is_none());
        assert_eq!(sys::read(child.fds[0].as_raw_fd(), &mut buf).unwrap(), 0);
        // at exit the client sees EOF on stdout once the container's fd is gone
        io.on_exit();
        drop(child);
        assert_eq!(sys::read(reader.as_raw_fd(), &mut buf).unwrap(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
