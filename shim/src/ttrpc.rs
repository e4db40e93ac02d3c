//! Our own ttrpc server side, single-threaded. The `ttrpc` crate's server spawns a thread per
//! connection plus worker threads, each with its own stack and allocator arena: several MiB of
//! RSS for a process that mostly sleeps. The protocol is small (see `berth_proto::frame`), so
//! connections here are plain non-blocking sockets in the shim's one epoll loop: bytes in,
//! complete frames out, each request dispatched synchronously, responses queued per connection.
//! A request that must wait (Task.Wait) is answered later on the same stream id.

use berth_proto::frame::{self, FrameError, TYPE_REQUEST, TYPE_RESPONSE};
use berth_proto::names::code;
use berth_proto::protobuf::Message;
use berth_proto::ttrpc::{Request, Response, Status};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

/// A gRPC status returned by a handler; containerd's errdefs turns the code back into its
/// error kinds (NotFound, AlreadyExists, FailedPrecondition, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into() }
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(code::NOT_FOUND, m)
    }
    pub fn exists(m: impl Into<String>) -> Self {
        Self::new(code::ALREADY_EXISTS, m)
    }
    pub fn precondition(m: impl Into<String>) -> Self {
        Self::new(code::FAILED_PRECONDITION, m)
    }
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::new(code::INVALID_ARGUMENT, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(code::UNKNOWN, m)
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

pub type RpcResult<T> = Result<T, RpcError>;

/// Decode a request payload.
pub fn decode<M: Message>(payload: &[u8]) -> RpcResult<M> {
    M::parse_from_bytes(payload).map_err(|e| RpcError::invalid(format!("malformed {}: {e}", std::any::type_name::<M>())))
}

/// Encode a handler's result as a ttrpc Response message.
pub fn response_bytes(result: RpcResult<Vec<u8>>) -> Vec<u8> {
    let mut r = Response::new();
    match result {
        Ok(payload) => r.payload = payload,
        Err(e) => {
            let mut st = Status::new();
            st.code = e.code;
            st.message = e.message;
            r.status = Some(st).into();
        }
    }
    r.write_to_bytes().unwrap_or_default()
}

/// One client connection (containerd or ctr) to the shim's socket.
pub struct Conn {
    pub stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    pub closed: bool,
}

/// What the read side produced.
pub struct Incoming {
    pub stream_id: u32,
    pub request: Request,
}

impl Conn {
    pub fn new(stream: UnixStream) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn { stream, rbuf: Vec::new(), wbuf: Vec::new(), closed: false })
    }

    /// Read what is available; return the complete requests. Sets `closed` on EOF or a
    /// protocol error (the connection is then dropped by the caller).
    pub fn read_requests(&mut self) -> Vec<Incoming> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        let mut start = 0;
        loop {
            match frame::next_frame(&self.rbuf[start..]) {
                Ok(Some((h, end))) => {
                    let body = &self.rbuf[start + frame::HEADER_LEN..start + end];
                    if h.kind == TYPE_REQUEST {
                        match Request::parse_from_bytes(body) {
                            Ok(request) => out.push(Incoming { stream_id: h.stream_id, request }),
                            Err(e) => {
                                log::warn!("dropping connection: malformed ttrpc request: {e}");
                                self.closed = true;
                            }
                        }
                    }
                    start += end;
                }
                Ok(None) => break,
                Err(e @ FrameError::TooLong(_)) => {
                    log::warn!("dropping connection: {e}");
                    self.closed = true;
                    break;
                }
            }
        }
        self.rbuf.drain(..start);
        if self.rbuf.capacity() > 64 << 10 && self.rbuf.is_empty() {
            self.rbuf = Vec::new();
        }
        out
    }

    /// Queue a response frame and try to send everything queued.
    pub fn respond(&mut self, stream_id: u32, response: &[u8]) {
        frame::push_frame(&mut self.wbuf, stream_id, TYPE_RESPONSE, response);
        self.flush();
    }

    /// Write as much as the socket takes; true when something is still queued.
    pub fn flush(&mut self) -> bool {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.closed = true;
                    self.wbuf.clear();
                    break;
                }
            }
        }
        !self.wbuf.is_empty()
    }

    /// Block until the queue is written (used just before the shim exits).
    pub fn flush_blocking(&mut self) {
        if self.stream.set_nonblocking(false).is_ok() {
            let _ = self.stream.set_write_timeout(Some(std::time::Duration::from_secs(1)));
            let _ = self.stream.write_all(&self.wbuf);
            self.wbuf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_split_from_a_byte_stream_and_answered_on_their_stream() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut conn = Conn::new(a).unwrap();
        let mut req = Request::new();
        req.service = "containerd.task.v2.Task".into();
        req.method = "Connect".into();
        req.payload = vec![10, 1, b'x'];
        let body = req.write_to_bytes().unwrap();
        let mut bytes = Vec::new();
        frame::push_frame(&mut bytes, 1, TYPE_REQUEST, &body);
        frame::push_frame(&mut bytes, 3, TYPE_REQUEST, &body);
        // first frame and a half: one request now, the second after the rest arrives
        let cut = frame::HEADER_LEN + body.len() + 4;
        b.write_all(&bytes[..cut]).unwrap();
        let got = conn.read_requests();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].stream_id, got[0].request.method.as_str()), (1, "Connect"));
        b.write_all(&bytes[cut..]).unwrap();
        let got = conn.read_requests();
        assert_eq!(got.iter().map(|g| g.stream_id).collect::<Vec<_>>(), vec![3]);

        conn.respond(3, &response_bytes(Err(RpcError::not_found("container \"x\" not found"))));
        let mut hdr = [0u8; frame::HEADER_LEN];
        b.read_exact(&mut hdr).unwrap();
        let h = frame::Header::parse(&hdr);
        assert_eq!((h.stream_id, h.kind), (3, TYPE_RESPONSE));
        let mut body = vec![0u8; h.length as usize];
        b.read_exact(&mut body).unwrap();
        let resp = Response::parse_from_bytes(&body).unwrap();
        assert_eq!(resp.status.code, code::NOT_FOUND);
        assert_eq!(resp.status.message, "container \"x\" not found");
    }

    #[test]
    fn oversized_or_garbage_frames_drop_the_connection() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut conn = Conn::new(a).unwrap();
        b.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 0]).unwrap();
        assert!(conn.read_requests().is_empty());
        assert!(conn.closed);

        let (a, mut b) = UnixStream::pair().unwrap();
        let mut conn = Conn::new(a).unwrap();
        let mut bytes = Vec::new();
        frame::push_frame(&mut bytes, 1, TYPE_REQUEST, &[0xff, 0xff, 0xff]);
        b.write_all(&bytes).unwrap();
        assert!(conn.read_requests().is_empty());
        assert!(conn.closed);
    }
}
