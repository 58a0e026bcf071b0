//! The 14 basic-class content properties and their flag bits.
//!
//! The broker keeps a message's properties as the raw octets of its content
//! header and re-sends them untouched; [`PropertiesScan`] reads the few fields
//! routing needs without allocating, and [`BasicProperties`] is the full,
//! decoded form for the slow paths (headers exchange, dead-lettering, tests).

use bytes::{BufMut, Bytes, BytesMut};

use super::table::FieldTable;
use super::wire::{Reader, ShortStr, Writer};
use super::DecodeError;

const CONTENT_TYPE: u16 = 1 << 15;
const CONTENT_ENCODING: u16 = 1 << 14;
const HEADERS: u16 = 1 << 13;
const DELIVERY_MODE: u16 = 1 << 12;
const PRIORITY: u16 = 1 << 11;
const CORRELATION_ID: u16 = 1 << 10;
const REPLY_TO: u16 = 1 << 9;
const EXPIRATION: u16 = 1 << 8;
const MESSAGE_ID: u16 = 1 << 7;
const TIMESTAMP: u16 = 1 << 6;
const TYPE: u16 = 1 << 5;
const USER_ID: u16 = 1 << 4;
const APP_ID: u16 = 1 << 3;
const CLUSTER_ID: u16 = 1 << 2;
/// Bits 1 and 0: unused and "another flag word follows"; basic has no more
/// than 14 properties, so a peer setting them sends something we cannot parse.
const RESERVED: u16 = 0b11;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BasicProperties {
    pub content_type: Option<ShortStr>,
    pub content_encoding: Option<ShortStr>,
    pub headers: Option<FieldTable>,
    pub delivery_mode: Option<u8>,
    pub priority: Option<u8>,
    pub correlation_id: Option<ShortStr>,
    pub reply_to: Option<ShortStr>,
    pub expiration: Option<ShortStr>,
    pub message_id: Option<ShortStr>,
    pub timestamp: Option<u64>,
    pub kind: Option<ShortStr>,
    pub user_id: Option<ShortStr>,
    pub app_id: Option<ShortStr>,
    pub cluster_id: Option<ShortStr>,
}

impl BasicProperties {
    /// Decodes the property flags and list of a content header.
    pub fn decode(raw: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(raw);
        let flags = r.u16()?;
        if flags & RESERVED != 0 {
            return Err(DecodeError::BadPropertyFlags);
        }
        let s = |r: &mut Reader, bit: u16| -> Result<Option<ShortStr>, DecodeError> {
            if flags & bit != 0 {
                r.short_str().map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(BasicProperties {
            content_type: s(&mut r, CONTENT_TYPE)?,
            content_encoding: s(&mut r, CONTENT_ENCODING)?,
            headers: if flags & HEADERS != 0 { Some(FieldTable::read(&mut r, 0)?) } else { None },
            delivery_mode: if flags & DELIVERY_MODE != 0 { Some(r.u8()?) } else { None },
            priority: if flags & PRIORITY != 0 { Some(r.u8()?) } else { None },
            correlation_id: s(&mut r, CORRELATION_ID)?,
            reply_to: s(&mut r, REPLY_TO)?,
            expiration: s(&mut r, EXPIRATION)?,
            message_id: s(&mut r, MESSAGE_ID)?,
            timestamp: if flags & TIMESTAMP != 0 { Some(r.u64()?) } else { None },
            kind: s(&mut r, TYPE)?,
            user_id: s(&mut r, USER_ID)?,
            app_id: s(&mut r, APP_ID)?,
            cluster_id: s(&mut r, CLUSTER_ID)?,
        })
    }

    fn flags(&self) -> u16 {
        let mut f = 0;
        let mut set = |present: bool, bit: u16| {
            if present {
                f |= bit
            }
        };
        set(self.content_type.is_some(), CONTENT_TYPE);
        set(self.content_encoding.is_some(), CONTENT_ENCODING);
        set(self.headers.is_some(), HEADERS);
        set(self.delivery_mode.is_some(), DELIVERY_MODE);
        set(self.priority.is_some(), PRIORITY);
        set(self.correlation_id.is_some(), CORRELATION_ID);
        set(self.reply_to.is_some(), REPLY_TO);
        set(self.expiration.is_some(), EXPIRATION);
        set(self.message_id.is_some(), MESSAGE_ID);
        set(self.timestamp.is_some(), TIMESTAMP);
        set(self.kind.is_some(), TYPE);
        set(self.user_id.is_some(), USER_ID);
        set(self.app_id.is_some(), APP_ID);
        set(self.cluster_id.is_some(), CLUSTER_ID);
        f
    }

    /// Writes the flags and property list (the raw form kept by the broker).
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        let mut w = Writer::new(buf);
        w.u16(self.flags());
        let s = |w: &mut Writer<'_, B>, v: &Option<ShortStr>| {
            if let Some(v) = v {
                w.short_str(v)
            }
        };
        s(&mut w, &self.content_type);
        s(&mut w, &self.content_encoding);
        if let Some(h) = &self.headers {
            h.encode(w.buf);
        }
        if let Some(v) = self.delivery_mode {
            w.u8(v);
        }
        if let Some(v) = self.priority {
            w.u8(v);
        }
        s(&mut w, &self.correlation_id);
        s(&mut w, &self.reply_to);
        s(&mut w, &self.expiration);
        s(&mut w, &self.message_id);
        if let Some(v) = self.timestamp {
            w.u64(v);
        }
        s(&mut w, &self.kind);
        s(&mut w, &self.user_id);
        s(&mut w, &self.app_id);
        s(&mut w, &self.cluster_id);
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }
}

/// What the broker needs from a message's properties on the hot path,
/// read without allocating. Offsets point into the raw property octets.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PropertiesScan {
    pub delivery_mode: u8,
    pub priority: Option<u8>,
    pub has_headers: bool,
    /// Range of the `expiration` shortstr's text within the raw octets.
    pub expiration: Option<(u32, u32)>,
    /// Range of the `reply_to` shortstr's text within the raw octets.
    pub reply_to: Option<(u32, u32)>,
    /// Range of the `user_id` shortstr's text within the raw octets.
    pub user_id: Option<(u32, u32)>,
}

impl PropertiesScan {
    /// Validates the raw flags and property list and notes the routing fields.
    pub fn scan(raw: &Bytes) -> Result<PropertiesScan, DecodeError> {
        // A slice cursor: this runs once per publish, so it avoids the
        // refcounted `Reader` except for a headers table.
        let mut c = Cursor { b: raw, at: 0 };
        let flags = u16::from_be_bytes([c.u8()?, c.u8()?]);
        if flags & RESERVED != 0 {
            return Err(DecodeError::BadPropertyFlags);
        }
        let mut out = PropertiesScan::default();
        let short = |c: &mut Cursor, bit: u16| if flags & bit == 0 { Ok(None) } else { c.short_str().map(Some) };
        short(&mut c, CONTENT_TYPE)?;
        short(&mut c, CONTENT_ENCODING)?;
        if flags & HEADERS != 0 {
            let mut r = Reader::new(raw.slice(c.at..));
            FieldTable::skip(&mut r, 0)?;
            c.at = raw.len() - r.remaining();
            out.has_headers = true;
        }
        if flags & DELIVERY_MODE != 0 {
            out.delivery_mode = c.u8()?;
        }
        if flags & PRIORITY != 0 {
            out.priority = Some(c.u8()?);
        }
        short(&mut c, CORRELATION_ID)?;
        out.reply_to = short(&mut c, REPLY_TO)?;
        out.expiration = short(&mut c, EXPIRATION)?;
        short(&mut c, MESSAGE_ID)?;
        if flags & TIMESTAMP != 0 {
            c.take(8)?;
        }
        short(&mut c, TYPE)?;
        out.user_id = short(&mut c, USER_ID)?;
        short(&mut c, APP_ID)?;
        short(&mut c, CLUSTER_ID)?;
        Ok(out)
    }

    /// Text of a field range noted by [`PropertiesScan::scan`].
    pub fn text(raw: &[u8], range: Option<(u32, u32)>) -> Option<&str> {
        let (a, b) = range?;
        core::str::from_utf8(raw.get(a as usize..b as usize)?).ok()
    }

    pub fn persistent(&self) -> bool {
        self.delivery_mode == 2
    }
}

/// Reads a property list in place for [`PropertiesScan::scan`].
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<core::ops::Range<usize>, DecodeError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len()).ok_or(DecodeError::Truncated)?;
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.b[self.take(1)?.start])
    }

    /// A short string, validated as the decoder would; its octet range.
    fn short_str(&mut self) -> Result<(u32, u32), DecodeError> {
        let len = self.u8()? as usize;
        let range = self.take(len)?;
        core::str::from_utf8(&self.b[range.clone()]).map_err(|_| DecodeError::InvalidUtf8)?;
        Ok((range.start as u32, range.end as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::table::FieldValue;

    fn full() -> BasicProperties {
        BasicProperties {
            content_type: Some("text/plain".into()),
            content_encoding: Some("gzip".into()),
            headers: Some(FieldTable::from([("k", FieldValue::str("v"))])),
            delivery_mode: Some(2),
            priority: Some(7),
            correlation_id: Some("corr".into()),
            reply_to: Some("amq.rabbitmq.reply-to".into()),
            expiration: Some("60000".into()),
            message_id: Some("m1".into()),
            timestamp: Some(1_700_000_000),
            kind: Some("t".into()),
            user_id: Some("guest".into()),
            app_id: Some("app".into()),
            cluster_id: Some("c".into()),
        }
    }

    #[test]
    fn every_property_round_trips() {
        let p = full();
        let raw = p.to_bytes();
        assert_eq!(u16::from_be_bytes([raw[0], raw[1]]), 0xfffc);
        assert_eq!(BasicProperties::decode(raw).unwrap(), p);
        let empty = BasicProperties::default();
        assert_eq!(&empty.to_bytes()[..], &[0, 0]);
        assert_eq!(BasicProperties::decode(empty.to_bytes()).unwrap(), empty);
    }

    #[test]
    fn each_flag_bit_alone_round_trips() {
        let f = full();
        let singles = [
            BasicProperties { content_type: f.content_type.clone(), ..Default::default() },
            BasicProperties { headers: f.headers.clone(), ..Default::default() },
            BasicProperties { priority: Some(3), ..Default::default() },
            BasicProperties { timestamp: Some(5), ..Default::default() },
            BasicProperties { cluster_id: f.cluster_id.clone(), ..Default::default() },
        ];
        for p in singles {
            assert_eq!(BasicProperties::decode(p.to_bytes()).unwrap(), p);
        }
    }

    #[test]
    fn scan_reads_routing_fields() {
        let raw = full().to_bytes();
        let s = PropertiesScan::scan(&raw).unwrap();
        assert_eq!(s.delivery_mode, 2);
        assert!(s.persistent());
        assert_eq!(s.priority, Some(7));
        assert!(s.has_headers);
        assert_eq!(PropertiesScan::text(&raw, s.expiration), Some("60000"));
        assert_eq!(PropertiesScan::text(&raw, s.reply_to), Some("amq.rabbitmq.reply-to"));
        assert_eq!(PropertiesScan::text(&raw, s.user_id), Some("guest"));
    }

    #[test]
    fn the_scan_refuses_exactly_what_the_decoder_refuses() {
        let raw = full().to_bytes();
        for len in 0..=raw.len() {
            let cut = raw.slice(..len);
            let scanned = PropertiesScan::scan(&cut).map(|_| ());
            let decoded = BasicProperties::decode(cut).map(|_| ());
            assert_eq!(scanned, decoded, "first {len} octets");
        }
        // A property string that is not UTF-8.
        let mut bad = BytesMut::new();
        bad.put_u16(CONTENT_TYPE);
        bad.put_u8(2);
        bad.put_slice(&[0xff, 0xfe]);
        assert_eq!(PropertiesScan::scan(&bad.freeze()), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn truncated_and_reserved_flags_are_errors() {
        let raw = full().to_bytes();
        let cut = raw.slice(..raw.len() - 1);
        assert_eq!(PropertiesScan::scan(&cut), Err(DecodeError::Truncated));
        assert_eq!(BasicProperties::decode(cut), Err(DecodeError::Truncated));
        let bad = Bytes::from_static(&[0, 1]);
        assert_eq!(PropertiesScan::scan(&bad), Err(DecodeError::BadPropertyFlags));
    }
}
