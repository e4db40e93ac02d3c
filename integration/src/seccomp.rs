//! Seccomp test harness: run code in a forked child under a compiled filter and collect what
//! it reports; pass fds over unix sockets; a minimal seccomp agent (runc's protocol).
//!
//! The child of `fork` in a multi-threaded test binary may only make raw syscalls (no
//! allocation, no locks): children here use `libc` directly and report `i64`s through a pipe.

use berth_runtime::seccomp::SeccompFilter;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// What a filtered child did: the values it reported and its wait status.
#[derive(Debug)]
pub struct ChildResult {
    pub reports: Vec<i64>,
    pub status: i32,
}

impl ChildResult {
    pub fn exited(&self) -> Option<i32> {
        libc::WIFEXITED(self.status).then(|| libc::WEXITSTATUS(self.status))
    }
    pub fn signal(&self) -> Option<i32> {
        libc::WIFSIGNALED(self.status).then(|| libc::WTERMSIG(self.status))
    }
}

/// Child side: send one `i64` to the parent.
pub fn report(fd: RawFd, v: i64) {
    let b = v.to_ne_bytes();
    // SAFETY: plain write of a stack buffer.
    unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
}

/// Child side: `-errno` of a failed raw syscall, else its result.
pub fn errno_or(r: i64) -> i64 {
    // SAFETY: reading this thread's errno.
    if r < 0 { -i64::from(unsafe { *libc::__errno_location() }) } else { r }
}

/// Fork; in the child set no_new_privs, install `filter`, run `body(report_fd, extra)`, exit 0.
/// Returns once the child is gone. `extra` is any fd the child should keep (or -1).
pub fn run_filtered(filter: &SeccompFilter, extra: RawFd, body: fn(RawFd, RawFd)) -> ChildResult {
    let mut p = [0; 2];
    // SAFETY: pipe2 into a local array.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the child only makes raw syscalls until _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        unsafe {
            libc::close(p[0]);
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(120);
            }
            if filter.install().is_err() {
                libc::_exit(121);
            }
            body(p[1], extra);
            libc::_exit(0);
        }
    }
    // SAFETY: we own both ends; the write end closes so reads see EOF when the child ends.
    unsafe { libc::close(p[1]) };
    let mut r = unsafe { std::fs::File::from_raw_fd(p[0]) };
    let mut buf = Vec::new();
    r.read_to_end(&mut buf).unwrap();
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let reports = buf.chunks_exact(8).map(|c| i64::from_ne_bytes(c.try_into().unwrap())).collect();
    ChildResult { reports, status }
}

/// Send `fd` with a one-byte message (raw sendmsg: safe in a forked child).
pub fn send_fd(sock: RawFd, fd: RawFd) -> bool {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = [0u64; 4];
    // SAFETY: msghdr pointing at locals that outlive the call; one cmsg with one int.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut i32, fd);
        libc::sendmsg(sock, &msg, 0) == 1
    }
}

/// Receive one message with at most one fd attached.
pub fn recv_with_fd(sock: &UnixStream) -> (Vec<u8>, Option<OwnedFd>) {
    let mut data = vec![0u8; 1 << 16];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr pointing at live buffers; the fd, if any, is taken over once.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
        data.truncate(n as usize);
        let c = libc::CMSG_FIRSTHDR(&msg);
        let fd = (!c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS)
            .then(|| OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32)));
        (data, fd)
    }
}

/// `struct seccomp_notif`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SeccompNotif {
    pub id: u64,
    pub pid: u32,
    pub flags: u32,
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SeccompNotifResp {
    pub id: u64,
    pub val: i64,
    pub error: i32,
    pub flags: u32,
}

const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// Agent side: wait for the next notification.
pub fn notif_recv(listener: &OwnedFd) -> std::io::Result<SeccompNotif> {
    let mut n = SeccompNotif::default(); // the kernel wants it zeroed
    // SAFETY: ioctl filling a correctly sized struct.
    let r = unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n) }
}

/// Agent side: answer notification `id` with a return value, or a (positive) errno.
pub fn notif_send(listener: &OwnedFd, id: u64, result: Result<i64, i32>) -> std::io::Result<()> {
    let mut resp = SeccompNotifResp { id, ..Default::default() };
    match result {
        Ok(v) => resp.val = v,
        Err(errno) => resp.error = -errno,
    }
    // SAFETY: ioctl reading a correctly sized struct.
    let r = unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}
