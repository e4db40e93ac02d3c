//! Typed messages between the runtime (parent) and the container's init or exec child,
//! over a `SOCK_SEQPACKET` socketpair: one message per datagram, fds passed with SCM_RIGHTS,
//! and EOF when the other side exits or execs (both ends are close-on-exec).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug)]
pub enum Msg {
    /// child: my new user namespace is ready for uid/gid maps.
    NeedMaps,
    /// parent: maps written.
    MapsDone,
    /// child (fork path): the container's init is this pid (in the parent's pid namespace).
    Pid(i32),
    /// child: namespaces are set; put me into the cgroup.
    Waiting,
    /// parent: cgroup joined, go on.
    Go,
    /// child: mounts are ready; run prestart/createRuntime hooks.
    MountsReady,
    /// parent: hooks done; the state JSON for the container-side hooks.
    Continue(Vec<u8>),
    /// child: set up; waiting for start.
    Ready,
    /// parent: the container is recorded (state.json): the init may now outlive the runtime.
    Committed,
    /// child: death signal cleared, so the runtime may exit (the reply to `Committed`).
    Detached,
    /// parent: start the user process (`run`, `exec`: no fifo).
    Start,
    /// child: the pty master (fd attached).
    Pty,
    /// either side: a failure, one line.
    Error(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let (tag, body): (u8, &[u8]) = match self {
            Msg::NeedMaps => (1, &[]),
            Msg::MapsDone => (2, &[]),
            Msg::Pid(p) => return [&[3u8][..], &p.to_le_bytes()].concat(),
            Msg::Waiting => (4, &[]),
            Msg::Go => (5, &[]),
            Msg::MountsReady => (6, &[]),
            Msg::Continue(b) => (7, b),
            Msg::Ready => (8, &[]),
            Msg::Start => (9, &[]),
            Msg::Pty => (10, &[]),
            Msg::Error(s) => (11, s.as_bytes()),
            Msg::Committed => (12, &[]),
            Msg::Detached => (13, &[]),
        };
        let mut v = Vec::with_capacity(1 + body.len());
        v.push(tag);
        v.extend_from_slice(body);
        v
    }

    fn decode(b: &[u8]) -> io::Result<Msg> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad message on the init channel");
        let (&tag, body) = b.split_first().ok_or_else(bad)?;
        Ok(match tag {
            1 => Msg::NeedMaps,
            2 => Msg::MapsDone,
            3 => Msg::Pid(i32::from_le_bytes(body.try_into().map_err(|_| bad())?)),
            4 => Msg::Waiting,
            5 => Msg::Go,
            6 => Msg::MountsReady,
            7 => Msg::Continue(body.to_vec()),
            8 => Msg::Ready,
            9 => Msg::Start,
            10 => Msg::Pty,
            11 => Msg::Error(String::from_utf8_lossy(body).into_owned()),
            12 => Msg::Committed,
            13 => Msg::Detached,
            _ => return Err(bad()),
        })
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

const MAX_MSG: usize = 1 << 16;

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Channel {
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid out array of two ints.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: two fresh fds.
        unsafe { Ok((Channel { fd: OwnedFd::from_raw_fd(fds[0]) }, Channel { fd: OwnedFd::from_raw_fd(fds[1]) })) }
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, m: &Msg) -> io::Result<()> {
        self.send_with_fd(m, None)
    }

    pub fn send_with_fd(&self, m: &Msg, fd: Option<RawFd>) -> io::Result<()> {
        send_msg(self.fd.as_raw_fd(), &m.encode(), fd)
    }

    /// The next message; `Ok(None)` on EOF (the other side exited or exec'd).
    pub fn recv(&self) -> io::Result<Option<(Msg, Option<OwnedFd>)>> {
        // Uninitialised: zeroing 64 KiB per message would make every page of it resident
        // (in the runtime and in the init) for messages of a few bytes.
        let mut buf: Vec<u8> = Vec::with_capacity(MAX_MSG);
        // SAFETY: the kernel writes at most MAX_MSG bytes into the spare capacity; only the
        // n it wrote are made part of the vector.
        let (n, fd) = unsafe { recv_msg_raw(self.fd.as_raw_fd(), buf.as_mut_ptr(), MAX_MSG)? };
        unsafe { buf.set_len(n) };
        if n == 0 {
            return Ok(None);
        }
        Ok(Some((Msg::decode(&buf[..n])?, fd)))
    }

    /// Receive, treating EOF and `Error` as failures; `what` names the step for messages.
    pub fn expect(&self, what: &str) -> Result<(Msg, Option<OwnedFd>), String> {
        match self.recv() {
            Ok(Some((Msg::Error(e), _))) => Err(e),
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(format!("init exited unexpectedly while waiting for {what}")),
            Err(e) => Err(format!("init channel: {e}")),
        }
    }
}

/// sendmsg with an optional fd attached (SCM_RIGHTS); also used for console sockets.
pub fn send_msg(sock: RawFd, data: &[u8], fd: Option<RawFd>) -> io::Result<()> {
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; all pointers below outlive the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        // SAFETY: CMSG_* compute offsets inside cbuf, which is large enough for one int.
        unsafe {
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        }
    }
    loop {
        // SAFETY: msg is fully initialised above.
        let r = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

pub fn recv_msg(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    // SAFETY: buf is valid for writes of its length.
    unsafe { recv_msg_raw(sock, buf.as_mut_ptr(), buf.len()) }
}

/// # Safety
/// `buf` must be valid for writes of `len` bytes (it need not be initialised).
unsafe fn recv_msg_raw(sock: RawFd, buf: *mut u8, len: usize) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec { iov_base: buf as *mut libc::c_void, iov_len: len };
    let mut cbuf = [0u64; 8];
    // SAFETY: as in send_msg; the kernel fills msg within the given sizes.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let n = loop {
        // SAFETY: msg points at live buffers.
        let r = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut fd = None;
    // SAFETY: walking the control messages the kernel wrote into cbuf.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n, fd))
}
