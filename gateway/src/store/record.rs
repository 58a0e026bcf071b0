//! The on-disk encoding of the message log: segment headers, record frames
//! and record payloads. Pure functions over byte slices; no file I/O.
//!
//! A segment file is a 32-byte [segment header](encode_segment_header)
//! followed by frames. Every frame is
//!
//! ```text
//! offset 0   u32 LE  payload length (> 0)
//! offset 4   u32 LE  CRC32C of the payload
//! offset 8   u32 LE  CRC32C of bytes 0..8, xor HEADER_MASK
//! offset 12  payload: one kind byte, then the fields of that kind
//! ```
//!
//! The frame header carries its own checksum so that recovery can tell a
//! damaged length from a real one: a flipped bit in a length field is
//! reported as corruption instead of being mistaken for a record running
//! past the end of the file (which would read as a torn tail and silently
//! drop everything after it). Payload fields are little endian; strings are
//! length-prefixed (u8 for AMQP short strings, u16 for queue and vhost
//! names); the body takes the rest of the payload.

use broker_core::amqp::ShortStr;
use bytes::Bytes;

/// Size of a frame header (length, payload CRC, header CRC).
pub const FRAME_HEADER_LEN: usize = 12;
/// Size of a segment file header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Largest payload a frame may carry: lengths and offsets are u32 on disk.
pub const MAX_PAYLOAD: usize = (i32::MAX as usize) - FRAME_HEADER_LEN;

const SEGMENT_MAGIC: &[u8; 8] = b"WRNSEG01";
/// Masks the header checksum so an all-zero region never looks valid.
const HEADER_MASK: u32 = 0xa282_ead8;

const KIND_QUEUE_NAME: u8 = 1;
const KIND_MESSAGE: u8 = 2;
const KIND_DELIVERED: u8 = 3;
const KIND_ACK: u8 = 4;
const KIND_QUEUE_PURGED: u8 = 5;
const KIND_QUEUE_DELETED: u8 = 6;
const KIND_SEGMENT_STATE: u8 = 7;
const KIND_ACK_RANGE: u8 = 8;

/// A decoded record, borrowing from the buffer it was read from.
///
/// Queues are named by a segment-local number (`qid`): the first record in
/// a segment that mentions a queue is preceded by a `QueueName` record
/// binding the number to (vhost, name), so every segment can be read on its
/// own and deleting an old segment never orphans a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    QueueName {
        qid: u32,
        vhost: &'a str,
        name: &'a str,
    },
    Message(MessageRecord<'a>),
    Delivered {
        id: u64,
        qid: u32,
    },
    Ack {
        id: u64,
        qid: u32,
    },
    /// Acks, by queue `qid`, of every message in `first..=last` it held
    /// (written only when it was acking all of them).
    AckRange {
        qid: u32,
        first: u64,
        last: u64,
    },
    QueuePurged {
        qid: u32,
    },
    QueueDeleted {
        qid: u32,
    },
    /// The complete state of an older segment's messages: only those listed
    /// are live, with exactly the listed queue references (`qid`, with
    /// bit 31 for delivered). Supersedes every earlier tombstone about that
    /// segment, so the segments holding those tombstones can be deleted
    /// (see `ledger`).
    SegmentState(SegmentState<'a>),
}

/// The fields of a `SegmentState` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentState<'a> {
    pub segment: u64,
    /// `count` entries of `id u64 | n u16 | n x u32`, checked on decode.
    entries: &'a [u8],
    count: u32,
}

impl SegmentState<'_> {
    pub fn entries(&self) -> impl Iterator<Item = (u64, Vec<u32>)> + '_ {
        let mut rest = self.entries;
        (0..self.count).map(move |_| {
            let id = u64_at(rest, 0);
            let n = u16::from_le_bytes([rest[8], rest[9]]) as usize;
            let refs = (0..n).map(|i| u32_at(rest, 10 + 4 * i)).collect();
            rest = &rest[10 + 4 * n..];
            (id, refs)
        })
    }
}

/// The fields of a `Message` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord<'a> {
    pub id: u64,
    /// Queue numbers, 4 bytes each, little endian (see [`MessageRecord::qids`]).
    qids: &'a [u8],
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub properties: &'a [u8],
    pub body: &'a [u8],
}

impl MessageRecord<'_> {
    pub fn qids(&self) -> impl Iterator<Item = u32> + '_ {
        self.qids.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
    }
}

/// What [`check_frame`] found at an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameCheck<'a> {
    /// A whole frame with valid checksums; the next frame starts at `next`.
    Valid { payload: &'a [u8], next: usize },
    /// Fewer bytes remain than the frame needs. `header_ok` tells whether a
    /// valid header announced a payload running past the end.
    Incomplete { header_ok: bool },
    /// The header checksum does not match (or the length is impossible).
    BadHeader,
    /// The header is valid but the payload checksum is not; the frame would
    /// end at `end`.
    BadPayload { end: usize },
}

/// Checks the frame starting at `at` in `buf`.
pub fn check_frame(buf: &[u8], at: usize) -> FrameCheck<'_> {
    let rest = &buf[at.min(buf.len())..];
    if rest.len() < FRAME_HEADER_LEN {
        return FrameCheck::Incomplete { header_ok: false };
    }
    let len = u32_at(rest, 0) as usize;
    let crc = u32_at(rest, 4);
    if header_check(&rest[..8]) != u32_at(rest, 8) || len == 0 || len > MAX_PAYLOAD {
        return FrameCheck::BadHeader;
    }
    let end = at + FRAME_HEADER_LEN + len;
    if end > buf.len() {
        return FrameCheck::Incomplete { header_ok: true };
    }
    let payload = &buf[at + FRAME_HEADER_LEN..end];
    if crc32c::crc32c(payload) != crc {
        return FrameCheck::BadPayload { end };
    }
    FrameCheck::Valid { payload, next: end }
}

/// Whether any valid frame starts anywhere in `buf[from..]`. Recovery asks
/// this after a bad frame in the last segment: a valid frame later on
/// means the damage is in the middle of the log, not a torn tail.
pub fn valid_frame_after(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len().saturating_sub(FRAME_HEADER_LEN - 1)).find(|&at| matches!(check_frame(buf, at), FrameCheck::Valid { .. }))
}

fn header_check(len_and_crc: &[u8]) -> u32 {
    crc32c::crc32c(len_and_crc) ^ HEADER_MASK
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Appends one frame to `out`: reserves the header, lets `payload` write
/// the payload, then fills in the length and checksums. Returns the frame
/// length.
fn frame(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    payload(out);
    let len = out.len() - start - FRAME_HEADER_LEN;
    debug_assert!(len > 0 && len <= MAX_PAYLOAD, "callers check sizes");
    let crc = crc32c::crc32c(&out[start + FRAME_HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    let check = header_check(&out[start..start + 8]);
    out[start + 8..start + 12].copy_from_slice(&check.to_le_bytes());
    out.len() - start
}

/// Frame length of a `QueueName` record.
pub fn queue_name_len(vhost: &str, name: &str) -> usize {
    FRAME_HEADER_LEN + 1 + 4 + 2 + vhost.len() + 2 + name.len()
}

pub fn encode_queue_name(out: &mut Vec<u8>, qid: u32, vhost: &str, name: &str) -> usize {
    frame(out, |out| {
        out.push(KIND_QUEUE_NAME);
        out.extend_from_slice(&qid.to_le_bytes());
        put_str16(out, vhost);
        put_str16(out, name);
    })
}

/// Frame length of a `Message` record.
pub fn message_len(queues: usize, exchange: &str, routing_key: &str, properties: &[u8], body: &[u8]) -> usize {
    FRAME_HEADER_LEN + message_payload_len(queues, exchange, routing_key, properties, body)
}

fn message_payload_len(queues: usize, exchange: &str, routing_key: &str, properties: &[u8], body: &[u8]) -> usize {
    1 + 8 + 2 + 4 * queues + 1 + exchange.len() + 1 + routing_key.len() + 4 + properties.len() + body.len()
}

/// Whether a message with these fields can be encoded: short strings fit
/// a u8 length, the queue list a u16 count, the payload a frame.
pub fn message_fits(queues: usize, exchange: &str, routing_key: &str, properties: &[u8], body: &[u8]) -> bool {
    exchange.len() <= 255
        && routing_key.len() <= 255
        && queues <= u16::MAX as usize
        && message_payload_len(queues, exchange, routing_key, properties, body) <= MAX_PAYLOAD
}

pub fn encode_message(
    out: &mut Vec<u8>,
    id: u64,
    qids: &[u32],
    exchange: &str,
    routing_key: &str,
    properties: &[u8],
    body: &[u8],
) -> usize {
    frame(out, |out| {
        out.push(KIND_MESSAGE);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(qids.len() as u16).to_le_bytes());
        for qid in qids {
            out.extend_from_slice(&qid.to_le_bytes());
        }
        put_str8(out, exchange);
        put_str8(out, routing_key);
        out.extend_from_slice(&(properties.len() as u32).to_le_bytes());
        out.extend_from_slice(properties);
        out.extend_from_slice(body);
    })
}

/// Frame length of a `Delivered` or `Ack` record.
pub const MESSAGE_EVENT_LEN: usize = FRAME_HEADER_LEN + 1 + 8 + 4;
/// An `AckRange` covers fewer ids than this (replay walks them).
pub const MAX_ACK_RANGE: u64 = 1 << 20;
/// Frame length of an `AckRange` record.
pub const ACK_RANGE_LEN: usize = FRAME_HEADER_LEN + 1 + 4 + 8 + 8;
/// Frame length of a `QueuePurged` or `QueueDeleted` record.
pub const QUEUE_EVENT_LEN: usize = FRAME_HEADER_LEN + 1 + 4;

pub fn encode_delivered(out: &mut Vec<u8>, id: u64, qid: u32) -> usize {
    encode_message_event(out, KIND_DELIVERED, id, qid)
}

pub fn encode_ack(out: &mut Vec<u8>, id: u64, qid: u32) -> usize {
    encode_message_event(out, KIND_ACK, id, qid)
}

fn encode_message_event(out: &mut Vec<u8>, kind: u8, id: u64, qid: u32) -> usize {
    frame(out, |out| {
        out.push(kind);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&qid.to_le_bytes());
    })
}

pub fn encode_ack_range(out: &mut Vec<u8>, qid: u32, first: u64, last: u64) -> usize {
    frame(out, |out| {
        out.push(KIND_ACK_RANGE);
        out.extend_from_slice(&qid.to_le_bytes());
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&last.to_le_bytes());
    })
}

pub fn encode_queue_event(out: &mut Vec<u8>, deleted: bool, qid: u32) -> usize {
    frame(out, |out| {
        out.push(if deleted { KIND_QUEUE_DELETED } else { KIND_QUEUE_PURGED });
        out.extend_from_slice(&qid.to_le_bytes());
    })
}

/// Frame length of a `SegmentState` record.
pub fn segment_state_len(entries: &[(u64, Vec<u32>)]) -> usize {
    FRAME_HEADER_LEN + 1 + 8 + 4 + entries.iter().map(|(_, refs)| 10 + 4 * refs.len()).sum::<usize>()
}

pub fn encode_segment_state(out: &mut Vec<u8>, segment: u64, entries: &[(u64, Vec<u32>)]) -> usize {
    frame(out, |out| {
        out.push(KIND_SEGMENT_STATE);
        out.extend_from_slice(&segment.to_le_bytes());
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for (id, refs) in entries {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&(refs.len() as u16).to_le_bytes());
            for r in refs {
                out.extend_from_slice(&r.to_le_bytes());
            }
        }
    })
}

fn put_str8(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

fn put_str16(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Decodes a payload whose checksum was verified. An error here means the
/// writer and reader disagree about the format (a bug or a newer version),
/// never a torn write; the message says what did not parse.
pub fn decode(payload: &[u8]) -> Result<Record<'_>, String> {
    let mut r = Reader { buf: payload, at: 1 };
    let kind = *payload.first().ok_or("empty payload")?;
    let record = match kind {
        KIND_QUEUE_NAME => Record::QueueName { qid: r.u32()?, vhost: r.str16()?, name: r.str16()? },
        KIND_MESSAGE => {
            let id = r.u64()?;
            let count = r.u16()? as usize;
            let qids = r.take(4 * count)?;
            let exchange = r.str8()?;
            let routing_key = r.str8()?;
            let props_len = r.u32()? as usize;
            let properties = r.take(props_len)?;
            let body = &payload[r.at..];
            r.at = payload.len();
            Record::Message(MessageRecord { id, qids, exchange, routing_key, properties, body })
        }
        KIND_DELIVERED => Record::Delivered { id: r.u64()?, qid: r.u32()? },
        KIND_ACK => Record::Ack { id: r.u64()?, qid: r.u32()? },
        KIND_ACK_RANGE => {
            let (qid, first, last) = (r.u32()?, r.u64()?, r.u64()?);
            if last < first || last - first >= MAX_ACK_RANGE {
                return Err(format!("ack range {first}..={last} is empty or too long"));
            }
            Record::AckRange { qid, first, last }
        }
        KIND_QUEUE_PURGED => Record::QueuePurged { qid: r.u32()? },
        KIND_QUEUE_DELETED => Record::QueueDeleted { qid: r.u32()? },
        KIND_SEGMENT_STATE => {
            let segment = r.u64()?;
            let count = r.u32()?;
            let start = r.at;
            for _ in 0..count {
                r.u64()?;
                let n = r.u16()? as usize;
                r.take(4 * n)?;
            }
            Record::SegmentState(SegmentState { segment, entries: &payload[start..r.at], count })
        }
        other => return Err(format!("unknown record kind {other}")),
    };
    if r.at != payload.len() {
        return Err(format!("{} unexpected trailing bytes in record", payload.len() - r.at));
    }
    Ok(record)
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("record field runs past its end")?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32_at(self.take(4)?, 0))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64_at(self.take(8)?, 0))
    }
    fn str8(&mut self) -> Result<&'a str, String> {
        let n = self.take(1)?[0] as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| "string is not UTF-8".to_string())
    }
    fn str16(&mut self) -> Result<&'a str, String> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| "string is not UTF-8".to_string())
    }
}

/// The fields a segment header records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub segment: u64,
    /// The next message id when the segment was created: ids never go
    /// backwards across restarts even when older segments are deleted.
    pub first_message_id: u64,
}

/// `magic(8) | segment id u64 | first message id u64 | reserved u32 | CRC32C of bytes 0..28`.
pub fn encode_segment_header(out: &mut Vec<u8>, header: SegmentHeader) {
    let start = out.len();
    out.extend_from_slice(SEGMENT_MAGIC);
    out.extend_from_slice(&header.segment.to_le_bytes());
    out.extend_from_slice(&header.first_message_id.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

pub fn decode_segment_header(buf: &[u8]) -> Option<SegmentHeader> {
    let h = buf.get(..SEGMENT_HEADER_LEN)?;
    if &h[..8] != SEGMENT_MAGIC || crc32c::crc32c(&h[..28]) != u32_at(h, 28) {
        return None;
    }
    Some(SegmentHeader { segment: u64_at(h, 8), first_message_id: u64_at(h, 16) })
}

/// A message read back from the log. `properties` and `body` share the
/// buffer the record was read into (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: u64,
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    /// Raw AMQP content-header property octets (flags and list).
    pub properties: Bytes,
    pub body: Bytes,
}

/// Decodes a whole frame read back from `buf` (exactly one frame) as a
/// message, without copying anything: every field is a slice of `buf`.
pub fn decode_stored_message(buf: Bytes) -> Result<StoredMessage, String> {
    let payload = match check_frame(&buf, 0) {
        FrameCheck::Valid { payload, next } if next == buf.len() => payload,
        FrameCheck::Valid { .. } => return Err("location length does not match the record".into()),
        other => return Err(format!("bad record at location: {other:?}")),
    };
    let Record::Message(m) = decode(payload)? else {
        return Err("record at location is not a message".into());
    };
    let slice = |part: &[u8]| buf.slice_ref(part);
    // `decode` checked both are UTF-8.
    let text = |part: &str| ShortStr::try_from(slice(part.as_bytes())).expect("validated by decode");
    Ok(StoredMessage {
        id: m.id,
        exchange: text(m.exchange),
        routing_key: text(m.routing_key),
        properties: slice(m.properties),
        body: slice(m.body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_lengths_are_predicted() {
        let mut out = Vec::new();
        let n = encode_queue_name(&mut out, 7, "/", "orders");
        assert_eq!(n, queue_name_len("/", "orders"));
        let m = encode_message(&mut out, 42, &[7, 9], "amq.direct", "rk", &[0x80, 0], b"hello");
        assert_eq!(m, message_len(2, "amq.direct", "rk", &[0x80, 0], b"hello"));
        assert_eq!(encode_delivered(&mut out, 42, 7), MESSAGE_EVENT_LEN);
        assert_eq!(encode_ack(&mut out, 42, 9), MESSAGE_EVENT_LEN);
        assert_eq!(encode_ack_range(&mut out, 9, 40, 4000), ACK_RANGE_LEN);
        assert_eq!(encode_queue_event(&mut out, false, 7), QUEUE_EVENT_LEN);
        assert_eq!(encode_queue_event(&mut out, true, 9), QUEUE_EVENT_LEN);
        let state = vec![(40, vec![7 | 1 << 31, 9]), (41, vec![])];
        assert_eq!(encode_segment_state(&mut out, 3, &state), segment_state_len(&state));

        let mut at = 0;
        let mut records = Vec::new();
        while at < out.len() {
            let FrameCheck::Valid { payload, next } = check_frame(&out, at) else { panic!("bad frame at {at}") };
            records.push(decode(payload).unwrap());
            at = next;
        }
        assert_eq!(records[0], Record::QueueName { qid: 7, vhost: "/", name: "orders" });
        let Record::Message(msg) = &records[1] else { panic!() };
        assert_eq!((msg.id, msg.qids().collect::<Vec<_>>()), (42, vec![7, 9]));
        assert_eq!((msg.exchange, msg.routing_key, msg.properties, msg.body), ("amq.direct", "rk", &[0x80, 0][..], &b"hello"[..]));
        assert_eq!(records[2], Record::Delivered { id: 42, qid: 7 });
        assert_eq!(records[3], Record::Ack { id: 42, qid: 9 });
        assert_eq!(records[4], Record::AckRange { qid: 9, first: 40, last: 4000 });
        assert_eq!(records[5], Record::QueuePurged { qid: 7 });
        assert_eq!(records[6], Record::QueueDeleted { qid: 9 });
        let Record::SegmentState(decoded) = &records[7] else { panic!() };
        assert_eq!((decoded.segment, decoded.entries().collect::<Vec<_>>()), (3, state));
    }

    #[test]
    fn damage_is_classified() {
        let mut out = Vec::new();
        encode_ack(&mut out, 1, 1);
        let good = out.clone();
        assert_eq!(check_frame(&good[..good.len() - 1], 0), FrameCheck::Incomplete { header_ok: true });
        assert_eq!(check_frame(&good[..5], 0), FrameCheck::Incomplete { header_ok: false });
        let mut bad = good.clone();
        bad[1] ^= 1; // the length
        assert_eq!(check_frame(&bad, 0), FrameCheck::BadHeader);
        let mut bad = good.clone();
        bad[14] ^= 1; // the payload
        assert_eq!(check_frame(&bad, 0), FrameCheck::BadPayload { end: good.len() });
        assert_eq!(check_frame(&[0u8; 64], 0), FrameCheck::BadHeader, "zeros are never a frame");
        let mut two = vec![0xee; 5];
        encode_ack(&mut two, 2, 2);
        assert_eq!(valid_frame_after(&two, 0), Some(5));
        assert_eq!(valid_frame_after(&two, 6), None);
    }

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let mut out = Vec::new();
        let h = SegmentHeader { segment: 3, first_message_id: 99 };
        encode_segment_header(&mut out, h);
        assert_eq!(out.len(), SEGMENT_HEADER_LEN);
        assert_eq!(decode_segment_header(&out), Some(h));
        out[12] ^= 1;
        assert_eq!(decode_segment_header(&out), None);
    }

    #[test]
    fn stored_message_shares_the_read_buffer() {
        let mut out = Vec::new();
        encode_message(&mut out, 5, &[1], "", "q", &[0, 0], b"body");
        let buf = Bytes::from(out);
        let m = decode_stored_message(buf.clone()).unwrap();
        assert_eq!((m.id, &*m.routing_key, &m.body[..]), (5, "q", &b"body"[..]));
        assert_eq!(m.body.as_ptr(), buf[buf.len() - 4..].as_ptr());
    }
}
