//! Publishing task events to containerd, in order: each event becomes a
//! `containerd.services.events.ttrpc.v1.Events/Forward` request on one connection to
//! containerd's ttrpc socket (`TTRPC_ADDRESS`), the next one sent only once containerd has
//! answered the previous. An event stays queued until answered, so a containerd restart loses
//! nothing: the connection is re-made and the unanswered events are sent again, oldest first.

use berth_proto::events::{Envelope, ForwardRequest};
use berth_proto::frame::{self, TYPE_REQUEST, TYPE_RESPONSE};
use berth_proto::names;
use berth_proto::protobuf::{Message, MessageField};
use berth_proto::ttrpc::{Request, Response};
use berth_proto::Any;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

struct Pending {
    stream_id: u32,
    frame: Vec<u8>,
    sent: bool,
}

pub struct Publisher {
    address: String,
    namespace: String,
    conn: Option<UnixStream>,
    rbuf: Vec<u8>,
    queue: VecDeque<Pending>,
    next_stream: u32,
    retry_at: Option<Instant>,
}

impl Publisher {
    pub fn new(address: &str, namespace: &str) -> Publisher {
        Publisher {
            address: address.trim_start_matches("unix://").to_owned(),
            namespace: namespace.to_owned(),
            conn: None,
            rbuf: Vec::new(),
            queue: VecDeque::new(),
            next_stream: 1,
            retry_at: None,
        }
    }

    /// Queue `event` on `topic` and send it (and anything still unsent) if connected.
    pub fn publish<M: Message>(&mut self, topic: &str, type_url: &str, event: &M) {
        let mut any = Any::new();
        any.type_url = type_url.to_owned();
        any.value = event.write_to_bytes().unwrap_or_default();
        let mut env = Envelope::new();
        env.timestamp = MessageField::some(crate::task::now());
        env.namespace = self.namespace.clone();
        env.topic = topic.to_owned();
        env.event = MessageField::some(any);
        let mut fwd = ForwardRequest::new();
        fwd.envelope = MessageField::some(env);
        let mut req = Request::new();
        req.service = names::EVENTS_SERVICE.to_owned();
        req.method = names::EVENTS_FORWARD.to_owned();
        req.payload = fwd.write_to_bytes().unwrap_or_default();
        // as containerd's own shims do: the namespace also rides in the ttrpc metadata
        let mut kv = berth_proto::ttrpc::KeyValue::new();
        kv.key = names::NAMESPACE_METADATA.to_owned();
        kv.value = self.namespace.clone();
        req.metadata.push(kv);
        let body = req.write_to_bytes().unwrap_or_default();
        let stream_id = self.next_stream;
        self.next_stream = self.next_stream.wrapping_add(2);
        let mut f = Vec::with_capacity(body.len() + frame::HEADER_LEN);
        frame::push_frame(&mut f, stream_id, TYPE_REQUEST, &body);
        log::debug!("event {topic}");
        self.queue.push_back(Pending { stream_id, frame: f, sent: false });
        self.send();
    }

    /// The connection's fd when connected (the server polls it for containerd's answers).
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.conn.as_ref().map(|c| c.as_raw_fd())
    }

    /// When the caller's loop should wake up to retry (events queued but not connected).
    pub fn wants_retry(&self) -> bool {
        !self.queue.is_empty()
    }

    fn connect(&mut self) -> bool {
        if self.conn.is_some() {
            return true;
        }
        if self.address.is_empty() {
            // No TTRPC_ADDRESS: nobody to tell (running outside containerd).
            self.queue.clear();
            return false;
        }
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match UnixStream::connect(&self.address) {
            Ok(s) => {
                let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                self.conn = Some(s);
                self.rbuf.clear();
                self.retry_at = None;
                for p in self.queue.iter_mut() {
                    p.sent = false;
                }
                true
            }
            Err(e) => {
                log::warn!("cannot connect to containerd at {} to publish events: {e}", self.address);
                self.retry_at = Some(Instant::now() + Duration::from_millis(500));
                false
            }
        }
    }

    fn drop_conn(&mut self, why: &dyn std::fmt::Display) {
        if self.conn.take().is_some() {
            log::warn!("event connection to containerd lost: {why}");
        }
        self.retry_at = Some(Instant::now() + Duration::from_millis(200));
    }

    /// Send the oldest queued event unless one is awaiting containerd's answer. One at a time:
    /// containerd handles each ttrpc request in its own goroutine, so pipelined events could be
    /// published out of order (an exit before its start). A blocking write of a small frame,
    /// bounded by the write timeout.
    pub fn send(&mut self) {
        if self.queue.front().is_none_or(|p| p.sent) || !self.connect() {
            return;
        }
        let mut err = None;
        if let (Some(c), Some(p)) = (self.conn.as_mut(), self.queue.front_mut()) {
            match c.write_all(&p.frame) {
                Ok(()) => p.sent = true,
                Err(e) => err = Some(e),
            }
        }
        if let Some(e) = err {
            self.drop_conn(&e);
        }
    }

    /// Read containerd's answers (non-blocking); each one retires its event.
    pub fn on_readable(&mut self) {
        let Some(c) = self.conn.as_mut() else { return };
        let _ = c.set_nonblocking(true);
        let mut chunk = [0u8; 1024];
        let mut lost: Option<io::Error> = None;
        loop {
            match c.read(&mut chunk) {
                Ok(0) => {
                    lost = Some(io::Error::from(io::ErrorKind::UnexpectedEof));
                    break;
                }
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    lost = Some(e);
                    break;
                }
            }
        }
        let _ = c.set_nonblocking(false);
        self.retire_answered();
        if let Some(e) = lost {
            self.drop_conn(&e);
        }
        self.send();
    }

    fn retire_answered(&mut self) {
        let mut start = 0;
        while let Ok(Some((h, end))) = frame::next_frame(&self.rbuf[start..]) {
            if h.kind == TYPE_RESPONSE {
                if let Ok(r) = Response::parse_from_bytes(&self.rbuf[start + frame::HEADER_LEN..start + end]) {
                    if let Some(st) = r.status.as_ref().filter(|s| s.code != 0) {
                        log::warn!("containerd rejected an event: {}", st.message);
                    }
                }
                self.queue.retain(|p| p.stream_id != h.stream_id);
            }
            start += end;
        }
        self.rbuf.drain(..start);
    }

    /// Before exiting: wait (up to `limit`) until containerd has answered every event.
    pub fn drain(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.queue.is_empty() && Instant::now() < deadline {
            self.send();
            let Some(c) = self.conn.as_mut() else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let mut chunk = [0u8; 1024];
            match c.read(&mut chunk) {
                Ok(0) | Err(_) => self.drop_conn(&"closed while draining"),
                Ok(n) => {
                    self.rbuf.extend_from_slice(&chunk[..n]);
                    self.retire_answered();
                }
            }
        }
    }
}
