//! A minimal D-Bus client over a unix socket: EXTERNAL authentication, method calls, signals.
//! Enough for systemd's manager API; only the `--systemd-cgroup` path links it in at run time.
//!
//! Wire format: little-endian messages, a fixed 12-byte header, header fields as
//! `a(yv)`, the body padded to 8; every value aligned to its natural size.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A D-Bus value (the subset systemd's manager calls use).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Str(String),
    ObjPath(String),
    Sig(String),
    /// Element signature, elements.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::ObjPath(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(v) => format!("({})", v.iter().map(Value::signature).collect::<String>()),
            Value::Variant(_) => "v".into(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::ObjPath(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }
}

fn align_of(sig: u8) -> usize {
    match sig {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' | b'h' => 4,
        _ => 8, // x t d ( {
    }
}

/// Serialise values; offsets are relative to the message start (the body starts 8-aligned).
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, n: usize) {
        let padded = self.buf.len().div_ceil(n) * n;
        self.buf.resize(padded, 0);
    }

    pub fn put(&mut self, v: &Value) {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::I32(i) => self.u32(*i as u32),
            Value::U32(u) => self.u32(*u),
            Value::I64(i) => self.u64(*i as u64),
            Value::U64(u) => self.u64(*u),
            Value::Str(s) | Value::ObjPath(s) => {
                self.u32(s.len() as u32);
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.push(0);
            }
            Value::Sig(s) => {
                self.buf.push(s.len() as u8);
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.push(0);
            }
            Value::Array(elem, items) => {
                self.pad(4);
                let len_at = self.buf.len();
                self.buf.extend_from_slice(&[0; 4]);
                self.pad(align_of(elem.as_bytes()[0]));
                let start = self.buf.len();
                for i in items {
                    self.put(i);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => {
                self.pad(8);
                for f in fields {
                    self.put(f);
                }
            }
            Value::Variant(inner) => {
                self.put(&Value::Sig(inner.signature()));
                self.put(inner);
            }
        }
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.pad(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// Parse values by signature.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed D-Bus message: {what}"))
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { buf, pos }
    }

    fn align(&mut self, n: usize) {
        self.pos = self.pos.div_ceil(n) * n;
    }

    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| bad("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> io::Result<u32> {
        self.align(4);
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| bad("u32"))?))
    }

    fn u64(&mut self) -> io::Result<u64> {
        self.align(8);
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| bad("u64"))?))
    }

    fn string(&mut self, len: usize) -> io::Result<String> {
        let s = self.take(len)?;
        self.take(1)?; // NUL
        String::from_utf8(s.to_vec()).map_err(|_| bad("utf-8"))
    }

    /// Parse every complete type in `sig`.
    pub fn values(&mut self, sig: &str) -> io::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut rest = sig;
        while !rest.is_empty() {
            let one = single_type(rest)?;
            out.push(self.value(one, 0)?);
            rest = &rest[one.len()..];
        }
        Ok(out)
    }

    fn value(&mut self, sig: &str, depth: u32) -> io::Result<Value> {
        if depth > 32 {
            return Err(bad("nesting too deep"));
        }
        let c = sig.as_bytes()[0];
        Ok(match c {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'n' | b'q' => {
                self.align(2);
                let b = self.take(2)?;
                Value::U32(u32::from(u16::from_le_bytes([b[0], b[1]])))
            }
            b'i' => Value::I32(self.u32()? as i32),
            b'u' | b'h' => Value::U32(self.u32()?),
            b'x' => Value::I64(self.u64()? as i64),
            b't' | b'd' => Value::U64(self.u64()?),
            b's' | b'o' => {
                let len = self.u32()? as usize;
                let s = self.string(len)?;
                if c == b's' {
                    Value::Str(s)
                } else {
                    Value::ObjPath(s)
                }
            }
            b'g' => {
                let len = self.take(1)?[0] as usize;
                Value::Sig(self.string(len)?)
            }
            b'v' => {
                let len = self.take(1)?[0] as usize;
                let inner = self.string(len)?;
                let one = single_type(&inner)?;
                Value::Variant(Box::new(self.value(one, depth + 1)?))
            }
            b'a' => {
                let len = self.u32()? as usize;
                let elem = single_type(&sig[1..])?;
                self.align(align_of(elem.as_bytes()[0]));
                let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len()).ok_or_else(|| bad("array length"))?;
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.value(elem, depth + 1)?);
                }
                Value::Array(elem.to_string(), items)
            }
            b'(' | b'{' => {
                self.align(8);
                let inner = &sig[1..sig.len() - 1];
                let mut fields = Vec::new();
                let mut rest = inner;
                while !rest.is_empty() {
                    let one = single_type(rest)?;
                    fields.push(self.value(one, depth + 1)?);
                    rest = &rest[one.len()..];
                }
                Value::Struct(fields)
            }
            _ => return Err(bad("unsupported type")),
        })
    }
}

/// The first complete type of a signature.
fn single_type(sig: &str) -> io::Result<&str> {
    let b = sig.as_bytes();
    match b.first() {
        None => Err(bad("empty signature")),
        Some(b'a') => Ok(&sig[..1 + single_type(&sig[1..])?.len()]),
        Some(&open @ (b'(' | b'{')) => {
            let close = if open == b'(' { b')' } else { b'}' };
            let mut depth = 0;
            for (i, &c) in b.iter().enumerate() {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(&sig[..=i]);
                    }
                }
            }
            Err(bad("unbalanced signature"))
        }
        Some(_) => Ok(&sig[..1]),
    }
}

pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

/// A received message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: u8,
    pub serial: u32,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub body: Vec<Value>,
}

/// A method call, serialised.
pub fn method_call(serial: u32, dest: Option<&str>, path: &str, iface: &str, member: &str, args: &[Value]) -> Vec<u8> {
    let mut fields = vec![(1, Value::ObjPath(path.into())), (2, Value::Str(iface.into())), (3, Value::Str(member.into()))];
    if let Some(d) = dest {
        fields.push((6, Value::Str(d.into())));
    }
    encode(METHOD_CALL, serial, fields, args)
}

/// Any message: kind, serial, header fields (code, value), body.
pub fn encode(kind: u8, serial: u32, mut fields: Vec<(u8, Value)>, args: &[Value]) -> Vec<u8> {
    let mut body = Writer::default();
    for a in args {
        body.put(a);
    }
    let sig: String = args.iter().map(Value::signature).collect();
    if !sig.is_empty() {
        fields.push((8, Value::Sig(sig)));
    }
    let fields = fields.into_iter().map(|(c, v)| Value::Struct(vec![Value::Byte(c), Value::Variant(Box::new(v))])).collect();
    let mut w = Writer::default();
    w.buf.extend_from_slice(&[b'l', kind, 0, 1]);
    w.buf.extend_from_slice(&(body.buf.len() as u32).to_le_bytes());
    w.buf.extend_from_slice(&serial.to_le_bytes());
    w.put(&Value::Array("(yv)".into(), fields));
    w.pad(8);
    w.buf.extend_from_slice(&body.buf);
    w.buf
}

/// Parse one complete message from `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_message(buf: &[u8]) -> io::Result<Option<(Message, usize)>> {
    if buf.len() < 16 {
        return Ok(None);
    }
    if buf[0] != b'l' {
        return Err(bad("big-endian messages are not supported"));
    }
    let body_len = u32::from_le_bytes(buf[4..8].try_into().map_err(|_| bad("header"))?) as usize;
    let serial = u32::from_le_bytes(buf[8..12].try_into().map_err(|_| bad("header"))?);
    let fields_len = u32::from_le_bytes(buf[12..16].try_into().map_err(|_| bad("header"))?) as usize;
    let header_end = (16 + fields_len).div_ceil(8) * 8;
    let total = header_end.checked_add(body_len).ok_or_else(|| bad("length"))?;
    if total > 128 << 20 {
        return Err(bad("message too large"));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let mut r = Reader::new(&buf[..16 + fields_len], 12);
    let fields = r.values("a(yv)")?;
    let mut m = Message { kind: buf[1], serial, reply_serial: None, path: None, interface: None, member: None, error_name: None, body: vec![] };
    let mut sig = String::new();
    if let Some(Value::Array(_, items)) = fields.first() {
        for f in items {
            let Value::Struct(kv) = f else { continue };
            let (Some(Value::Byte(code)), Some(Value::Variant(v))) = (kv.first(), kv.get(1)) else { continue };
            match (code, v.as_ref()) {
                (1, v) => m.path = v.as_str().map(str::to_string),
                (2, v) => m.interface = v.as_str().map(str::to_string),
                (3, v) => m.member = v.as_str().map(str::to_string),
                (4, v) => m.error_name = v.as_str().map(str::to_string),
                (5, Value::U32(s)) => m.reply_serial = Some(*s),
                (8, Value::Sig(s)) => sig = s.clone(),
                _ => {}
            }
        }
    }
    let mut body = Reader::new(&buf[..total], header_end);
    m.body = body.values(&sig)?;
    Ok(Some((m, total)))
}

/// A connection to a bus (or to systemd's private socket, a direct peer).
pub struct Connection {
    sock: UnixStream,
    serial: u32,
    inbuf: Vec<u8>,
    /// Signals that arrived while waiting for a reply.
    pub pending_signals: Vec<Message>,
}

impl Connection {
    /// Connect and authenticate; `hello` for a message bus (not for a direct peer).
    pub fn connect(path: &Path, hello: bool, timeout: Duration) -> io::Result<Connection> {
        let sock = UnixStream::connect(path)?;
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        let mut c = Connection { sock, serial: 0, inbuf: Vec::new(), pending_signals: Vec::new() };
        c.auth()?;
        if hello {
            c.call(Some("org.freedesktop.DBus"), "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", &[])?;
        }
        Ok(c)
    }

    fn auth(&mut self) -> io::Result<()> {
        // SAFETY: no preconditions.
        let uid = unsafe { libc::geteuid() };
        let hex: String = uid.to_string().bytes().map(|b| format!("{b:02x}")).collect();
        self.sock.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        let line = self.read_line()?;
        if !line.starts_with("OK ") {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("D-Bus authentication refused: {}", line.trim())));
        }
        self.sock.write_all(b"BEGIN\r\n")
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if self.sock.read(&mut b)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "D-Bus peer closed during authentication"));
            }
            line.push(b[0]);
            if line.len() > 4096 {
                return Err(bad("authentication line too long"));
            }
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    /// Call a method and wait for its reply; a D-Bus error reply becomes an `Err` carrying
    /// the error name and message.
    pub fn call(&mut self, dest: Option<&str>, path: &str, iface: &str, member: &str, args: &[Value]) -> io::Result<Vec<Value>> {
        self.serial += 1;
        let serial = self.serial;
        self.sock.write_all(&method_call(serial, dest, path, iface, member, args))?;
        loop {
            let m = self.next_message(None)?;
            match m.kind {
                METHOD_RETURN if m.reply_serial == Some(serial) => return Ok(m.body),
                ERROR if m.reply_serial == Some(serial) => {
                    let text = m.body.first().and_then(Value::as_str).unwrap_or("");
                    return Err(io::Error::other(format!("{}: {text}", m.error_name.unwrap_or_default())));
                }
                SIGNAL => self.pending_signals.push(m),
                _ => {}
            }
        }
    }

    /// The next message (signals queued earlier first); `deadline` bounds the wait.
    pub fn next_message(&mut self, deadline: Option<Instant>) -> io::Result<Message> {
        if deadline.is_some() && !self.pending_signals.is_empty() {
            return Ok(self.pending_signals.remove(0));
        }
        loop {
            if let Some((m, used)) = parse_message(&self.inbuf)? {
                self.inbuf.drain(..used);
                return Ok(m);
            }
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for systemd"));
                }
                self.sock.set_read_timeout(Some(left))?;
            }
            let mut chunk = [0u8; 4096];
            let n = self.sock.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "D-Bus connection closed"));
            }
            self.inbuf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marshal_matches_the_spec_layout() {
        // Hello on the bus: the canonical first message.
        let m = method_call(1, Some("org.freedesktop.DBus"), "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", &[]);
        assert_eq!(&m[..4], b"l\x01\x00\x01");
        assert_eq!(u32::from_le_bytes(m[4..8].try_into().unwrap()), 0, "no body");
        assert_eq!(m.len() % 8, 0);
        let (parsed, used) = parse_message(&m).unwrap().unwrap();
        assert_eq!(used, m.len());
        assert_eq!(parsed.member.as_deref(), Some("Hello"));
        assert_eq!(parsed.path.as_deref(), Some("/org/freedesktop/DBus"));
    }

    #[test]
    fn round_trip_of_start_transient_unit_arguments() {
        let props = Value::Array(
            "(sv)".into(),
            vec![
                Value::Struct(vec![Value::Str("Delegate".into()), Value::Variant(Box::new(Value::Bool(true)))]),
                Value::Struct(vec![Value::Str("PIDs".into()), Value::Variant(Box::new(Value::Array("u".into(), vec![Value::U32(42)])))]),
                Value::Struct(vec![Value::Str("MemoryMax".into()), Value::Variant(Box::new(Value::U64(1 << 30)))]),
                Value::Struct(vec![Value::Str("AllowedCPUs".into()), Value::Variant(Box::new(Value::Array("y".into(), vec![Value::Byte(3)])))]),
            ],
        );
        let args = vec![Value::Str("berth-x.scope".into()), Value::Str("replace".into()), props, Value::Array("(sa(sv))".into(), vec![])];
        let m = method_call(7, None, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "StartTransientUnit", &args);
        let (parsed, _) = parse_message(&m).unwrap().unwrap();
        assert_eq!(parsed.serial, 7);
        assert_eq!(parsed.body, args);
        // partial input waits for more
        assert!(parse_message(&m[..m.len() - 1]).unwrap().is_none());
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        let mut m = method_call(1, None, "/a", "b.c", "D", &[Value::Str("x".into())]);
        // claim a huge string length inside the body
        let n = m.len();
        m[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_message(&m).is_err());
        let mut junk = vec![b'l', 2, 0, 1];
        junk.extend_from_slice(&[0xff; 12]);
        assert!(parse_message(&junk).is_err() || parse_message(&junk).unwrap().is_none());
    }
}
