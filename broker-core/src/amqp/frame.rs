//! Frames: the protocol header, splitting a byte stream into frames, and
//! writing method, content-header, body and heartbeat frames.
//!
//! Splitting freezes each complete frame out of the read buffer, so bodies and
//! strings are slices of the octets the peer sent, never copies.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::method::Method;
use super::wire::Reader;
use super::DecodeError;

/// `AMQP 0 0 9 1`: what a 0-9-1 client sends first, and what the server
/// answers to a header it does not speak.
pub const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";
pub const FRAME_END: u8 = 0xCE;
/// Type, channel and size before the payload, plus the end octet after it.
pub const FRAME_OVERHEAD: usize = 8;
/// The smallest frame_max a peer may negotiate (spec: frame-min-size).
pub const FRAME_MIN_SIZE: u32 = 4096;

/// Frame type octet, with unknown values kept as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    Method,
    Header,
    Body,
    Heartbeat,
    Unknown(u8),
}

impl From<u8> for FrameType {
    fn from(v: u8) -> Self {
        match v {
            1 => FrameType::Method,
            2 => FrameType::Header,
            3 => FrameType::Body,
            8 => FrameType::Heartbeat,
            other => FrameType::Unknown(other),
        }
    }
}

impl From<FrameType> for u8 {
    fn from(t: FrameType) -> u8 {
        match t {
            FrameType::Method => 1,
            FrameType::Header => 2,
            FrameType::Body => 3,
            FrameType::Heartbeat => 8,
            FrameType::Unknown(v) => v,
        }
    }
}

/// Why the byte stream could not be split into frames. Both are fatal to the
/// connection (501 FRAME_ERROR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The payload is larger than the negotiated frame_max allows.
    TooLarge { size: u32, max: u32 },
    /// The octet after the payload is not 0xCE.
    BadFrameEnd(u8),
}

/// One frame as it came off the wire, payload not yet decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFrame {
    pub kind: FrameType,
    pub channel: u16,
    pub payload: Bytes,
}

/// Total length of the frame whose first octets are `head`, once its size
/// field has arrived. `frame_max` bounds the whole frame (0 = no bound).
pub fn frame_len(head: &[u8], frame_max: u32) -> Result<Option<usize>, FrameError> {
    if head.len() < 7 {
        return Ok(None);
    }
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]);
    if frame_max != 0 && size as u64 + FRAME_OVERHEAD as u64 > frame_max as u64 {
        return Err(FrameError::TooLarge { size, max: frame_max });
    }
    Ok(Some(size as usize + FRAME_OVERHEAD))
}

fn raw_from(mut frame: Bytes) -> Result<RawFrame, FrameError> {
    let total = frame.len();
    if frame[total - 1] != FRAME_END {
        return Err(FrameError::BadFrameEnd(frame[total - 1]));
    }
    let kind = FrameType::from(frame[0]);
    let channel = u16::from_be_bytes([frame[1], frame[2]]);
    frame.advance(7);
    frame.truncate(total - FRAME_OVERHEAD);
    Ok(RawFrame { kind, channel, payload: frame })
}

/// Most [`take_frame`] reserves ahead for a partial frame; larger frames
/// grow the buffer as their octets arrive.
pub const RESERVE_MAX: usize = 1 << 20;

/// Splits one complete frame off the front of `buf`, or returns `None` when
/// more bytes are needed.
pub fn take_frame(buf: &mut BytesMut, frame_max: u32) -> Result<Option<RawFrame>, FrameError> {
    let Some(total) = frame_len(buf, frame_max)? else { return Ok(None) };
    if buf.len() < total {
        // Reserve once for the rest of the frame so a large body is read
        // without repeated growth; bounded by frame_max above, and by
        // RESERVE_MAX when frame_max is 0 (unbounded): a bare header must
        // not make us allocate the 4 GiB it claims (found by fuzzing).
        buf.reserve((total - buf.len()).min(RESERVE_MAX));
        return Ok(None);
    }
    raw_from(buf.split_to(total).freeze()).map(Some)
}

/// Like [`take_frame`] on an immutable buffer: the frame is a zero-copy
/// slice of `buf`.
pub fn take_frame_bytes(buf: &mut Bytes, frame_max: u32) -> Result<Option<RawFrame>, FrameError> {
    let Some(total) = frame_len(buf, frame_max)? else { return Ok(None) };
    if buf.len() < total {
        return Ok(None);
    }
    raw_from(buf.split_to(total)).map(Some)
}

/// A content header payload: class, body size and the raw property octets
/// (flags and list), kept as received so they can be re-sent verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentHeader {
    pub class_id: u16,
    pub body_size: u64,
    pub properties: Bytes,
}

impl ContentHeader {
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        let class_id = r.u16()?;
        let _weight = r.u16()?;
        let body_size = r.u64()?;
        let rest = r.remaining();
        let properties = r.bytes(rest)?;
        Ok(ContentHeader { class_id, body_size, properties })
    }
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Method { channel: u16, method: Method },
    Header { channel: u16, header: ContentHeader },
    Body { channel: u16, payload: Bytes },
    Heartbeat { channel: u16 },
}

impl Frame {
    /// Decodes a raw frame's payload. Unknown frame types are reported with
    /// their type octet.
    pub fn decode(raw: RawFrame) -> Result<Frame, DecodeError> {
        let channel = raw.channel;
        Ok(match raw.kind {
            FrameType::Method => Frame::Method { channel, method: Method::decode(raw.payload)? },
            FrameType::Header => Frame::Header { channel, header: ContentHeader::decode(raw.payload)? },
            FrameType::Body => Frame::Body { channel, payload: raw.payload },
            FrameType::Heartbeat => Frame::Heartbeat { channel },
            FrameType::Unknown(t) => return Err(DecodeError::UnknownFrameType(t)),
        })
    }

    /// Encodes this frame (bodies are written as one frame whatever their size).
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Method { channel, method } => write_method(out, *channel, method),
            Frame::Header { channel, header } => write_content_header(out, *channel, header.class_id, header.body_size, &header.properties),
            Frame::Body { channel, payload } => write_frame(out, FrameType::Body, *channel, payload),
            Frame::Heartbeat { channel } => write_frame(out, FrameType::Heartbeat, *channel, &[]),
        }
    }
}

fn write_frame(out: &mut BytesMut, kind: FrameType, channel: u16, payload: &[u8]) {
    out.reserve(payload.len() + FRAME_OVERHEAD);
    out.put_u8(kind.into());
    out.put_u16(channel);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
    out.put_u8(FRAME_END);
}

/// Appends a method frame.
pub fn write_method(out: &mut BytesMut, channel: u16, method: &Method) {
    out.put_u8(FrameType::Method.into());
    out.put_u16(channel);
    let size_at = out.len();
    out.put_u32(0);
    method.encode(out);
    let size = (out.len() - size_at - 4) as u32;
    out[size_at..size_at + 4].copy_from_slice(&size.to_be_bytes());
    out.put_u8(FRAME_END);
}

/// Appends a content header frame carrying raw property octets.
pub fn write_content_header(out: &mut BytesMut, channel: u16, class_id: u16, body_size: u64, properties: &[u8]) {
    out.reserve(properties.len() + 12 + FRAME_OVERHEAD);
    out.put_u8(FrameType::Header.into());
    out.put_u16(channel);
    out.put_u32(12 + properties.len() as u32);
    out.put_u16(class_id);
    out.put_u16(0);
    out.put_u64(body_size);
    out.put_slice(properties);
    out.put_u8(FRAME_END);
}

/// Appends body frames, splitting `body` so no frame exceeds `frame_max`.
/// An empty body writes no frame, as the spec says.
pub fn write_body(out: &mut BytesMut, channel: u16, body: &[u8], frame_max: u32) {
    let chunk = (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1);
    for part in body.chunks(chunk) {
        write_frame(out, FrameType::Body, channel, part);
    }
}

pub fn write_heartbeat(out: &mut BytesMut) {
    write_frame(out, FrameType::Heartbeat, 0, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::method::{BasicPublish, ChannelOpenOk};

    #[test]
    fn splits_frames_across_arbitrary_chunk_boundaries() {
        let mut wire = BytesMut::new();
        let publish: Method = BasicPublish { exchange: "x".into(), routing_key: "k".into(), ..Default::default() }.into();
        write_method(&mut wire, 1, &publish);
        write_content_header(&mut wire, 1, 60, 5, &[0, 0]);
        write_body(&mut wire, 1, b"hello", 131072);
        write_heartbeat(&mut wire);
        let wire = wire.freeze();
        for step in 1..wire.len() {
            let mut buf = BytesMut::new();
            let mut frames = Vec::new();
            for piece in wire.chunks(step) {
                buf.extend_from_slice(piece);
                while let Some(raw) = take_frame(&mut buf, 131072).unwrap() {
                    frames.push(Frame::decode(raw).unwrap());
                }
            }
            assert_eq!(frames.len(), 4, "step {step}");
            assert_eq!(frames[0], Frame::Method { channel: 1, method: publish.clone() });
            assert_eq!(
                frames[1],
                Frame::Header { channel: 1, header: ContentHeader { class_id: 60, body_size: 5, properties: Bytes::from_static(&[0, 0]) } }
            );
            assert_eq!(frames[2], Frame::Body { channel: 1, payload: Bytes::from_static(b"hello") });
            assert_eq!(frames[3], Frame::Heartbeat { channel: 0 });
        }
    }

    #[test]
    fn body_is_split_at_frame_max() {
        let mut out = BytesMut::new();
        write_body(&mut out, 3, &[7u8; 25], 18);
        let mut sizes = Vec::new();
        while let Some(raw) = take_frame(&mut out, 18).unwrap() {
            sizes.push(raw.payload.len());
        }
        assert_eq!(sizes, vec![10, 10, 5]);
    }

    #[test]
    fn oversize_and_bad_end_are_frame_errors() {
        let mut out = BytesMut::new();
        write_method(&mut out, 0, &ChannelOpenOk::default().into());
        let mut big = out.clone();
        assert_eq!(take_frame(&mut big, 10), Err(FrameError::TooLarge { size: 8, max: 10 }));
        let last = out.len() - 1;
        out[last] = 0;
        assert_eq!(take_frame(&mut out, 0), Err(FrameError::BadFrameEnd(0)));
    }

    #[test]
    fn unknown_frame_type_is_reported() {
        let raw = RawFrame { kind: FrameType::from(9), channel: 0, payload: Bytes::new() };
        assert_eq!(Frame::decode(raw), Err(DecodeError::UnknownFrameType(9)));
    }

    #[test]
    fn decoded_body_shares_the_read_buffer() {
        let mut wire = BytesMut::new();
        write_body(&mut wire, 1, b"zero-copy", 4096);
        let base = wire.as_ptr() as usize;
        let raw = take_frame(&mut wire, 4096).unwrap().unwrap();
        assert_eq!(raw.payload.as_ptr() as usize, base + 7);
    }
}
