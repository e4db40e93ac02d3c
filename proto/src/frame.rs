//! ttrpc framing: every message on the socket is a 10-byte header followed by `length` bytes of a
//! protobuf [`crate::ttrpc::Request`] (type 1) or [`crate::ttrpc::Response`] (type 2).
//!
//! Header: length u32 big-endian, stream id u32 big-endian, message type u8, flags u8. Clients use
//! odd stream ids; a response reuses its request's id. ttrpc caps a message at 4 MiB.

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 10;
/// Largest payload ttrpc accepts (containerd's `messageLengthMax`).
pub const MAX_LEN: usize = 4 << 20;
/// Message type of a request frame.
pub const TYPE_REQUEST: u8 = 1;
/// Message type of a response frame.
pub const TYPE_RESPONSE: u8 = 2;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub length: u32,
    pub stream_id: u32,
    pub kind: u8,
    pub flags: u8,
}

impl Header {
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            length: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            stream_id: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            kind: b[8],
            flags: b[9],
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.length.to_be_bytes());
        b[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        b[8] = self.kind;
        b[9] = self.flags;
        b
    }
}

/// Append one complete frame (header + payload) to `out`.
pub fn push_frame(out: &mut Vec<u8>, stream_id: u32, kind: u8, payload: &[u8]) {
    let h = Header { length: payload.len() as u32, stream_id, kind, flags: 0 };
    out.extend_from_slice(&h.encode());
    out.extend_from_slice(payload);
}

/// Split the first complete frame off `buf`: `Some((header, payload_range_end))` when `buf`
/// holds at least one whole frame. A length over [`MAX_LEN`] is an error (the peer is broken or
/// hostile; the connection should be dropped).
pub fn next_frame(buf: &[u8]) -> Result<Option<(Header, usize)>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let h = Header::parse(buf[..HEADER_LEN].try_into().expect("10 bytes"));
    if h.length as usize > MAX_LEN {
        return Err(FrameError::TooLong(h.length));
    }
    let end = HEADER_LEN + h.length as usize;
    Ok(if buf.len() >= end { Some((h, end)) } else { None })
}

#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    TooLong(u32),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong(n) => write!(f, "ttrpc frame of {n} bytes exceeds the 4 MiB limit"),
        }
    }
}

impl std::error::Error for FrameError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header { length: 0x0102_0304, stream_id: 7, kind: TYPE_RESPONSE, flags: 0 };
        let b = h.encode();
        assert_eq!(b, [1, 2, 3, 4, 0, 0, 0, 7, 2, 0]);
        assert_eq!(Header::parse(&b), h);
    }

    #[test]
    fn partial_and_whole_frames() {
        let mut buf = Vec::new();
        push_frame(&mut buf, 3, TYPE_REQUEST, b"abc");
        assert_eq!(next_frame(&buf[..9]).unwrap(), None);
        assert_eq!(next_frame(&buf[..12]).unwrap(), None);
        let (h, end) = next_frame(&buf).unwrap().unwrap();
        assert_eq!((h.stream_id, h.kind, h.length, end), (3, 1, 3, 13));
        assert_eq!(&buf[HEADER_LEN..end], b"abc");
    }

    #[test]
    fn oversized_frame_is_rejected() {
        let h = Header { length: (MAX_LEN + 1) as u32, stream_id: 1, kind: 1, flags: 0 };
        assert_eq!(next_frame(&h.encode()), Err(FrameError::TooLong(MAX_LEN as u32 + 1)));
    }
}
