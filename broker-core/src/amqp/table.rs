//! Field tables and arrays with every value type RabbitMQ uses
//! (`t b B s u I i l f d D S A T F V x`; `L` is read as `l`, as RabbitMQ
//! does). Nesting is capped at [`MAX_TABLE_DEPTH`]; decoding allocates at
//! most in proportion to the octets actually present.

use bytes::{BufMut, Bytes};

use super::wire::{Reader, ShortStr};
use super::DecodeError;

/// Deepest nesting of tables and arrays accepted from a peer.
pub const MAX_TABLE_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Bool(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    F32(f32),
    F64(f64),
    Decimal {
        scale: u8,
        value: u32,
    },
    /// `S`: RabbitMQ's string type, opaque octets on the wire.
    LongStr(Bytes),
    Array(Vec<FieldValue>),
    Timestamp(u64),
    Table(FieldTable),
    Void,
    /// `x`: byte array.
    Bytes(Bytes),
}

impl FieldValue {
    pub fn tag(&self) -> u8 {
        match self {
            FieldValue::Bool(_) => b't',
            FieldValue::I8(_) => b'b',
            FieldValue::U8(_) => b'B',
            FieldValue::I16(_) => b's',
            FieldValue::U16(_) => b'u',
            FieldValue::I32(_) => b'I',
            FieldValue::U32(_) => b'i',
            FieldValue::I64(_) => b'l',
            FieldValue::F32(_) => b'f',
            FieldValue::F64(_) => b'd',
            FieldValue::Decimal { .. } => b'D',
            FieldValue::LongStr(_) => b'S',
            FieldValue::Array(_) => b'A',
            FieldValue::Timestamp(_) => b'T',
            FieldValue::Table(_) => b'F',
            FieldValue::Void => b'V',
            FieldValue::Bytes(_) => b'x',
        }
    }

    /// Any integer type as i64, as RabbitMQ accepts for numeric arguments.
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            FieldValue::I8(v) => v.into(),
            FieldValue::U8(v) => v.into(),
            FieldValue::I16(v) => v.into(),
            FieldValue::U16(v) => v.into(),
            FieldValue::I32(v) => v.into(),
            FieldValue::U32(v) => v.into(),
            FieldValue::I64(v) => v,
            FieldValue::Timestamp(v) => i64::try_from(v).ok()?,
            _ => return None,
        })
    }

    /// A string value (`S` or `x`) as UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::LongStr(b) | FieldValue::Bytes(b) => core::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            FieldValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn str(s: &str) -> FieldValue {
        FieldValue::LongStr(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn read(r: &mut Reader, depth: usize) -> Result<FieldValue, DecodeError> {
        let tag = r.u8()?;
        Ok(match tag {
            b't' => FieldValue::Bool(r.u8()? != 0),
            b'b' => FieldValue::I8(r.u8()? as i8),
            b'B' => FieldValue::U8(r.u8()?),
            b's' => FieldValue::I16(r.u16()? as i16),
            b'u' => FieldValue::U16(r.u16()?),
            b'I' => FieldValue::I32(r.u32()? as i32),
            b'i' => FieldValue::U32(r.u32()?),
            // RabbitMQ reads 'L' as a signed 64-bit int too (rabbitmq-server#1093).
            b'l' | b'L' => FieldValue::I64(r.u64()? as i64),
            b'f' => FieldValue::F32(f32::from_bits(r.u32()?)),
            b'd' => FieldValue::F64(f64::from_bits(r.u64()?)),
            b'D' => FieldValue::Decimal { scale: r.u8()?, value: r.u32()? },
            b'S' => FieldValue::LongStr(r.long_str()?),
            b'x' => FieldValue::Bytes(r.long_str()?),
            b'T' => FieldValue::Timestamp(r.u64()?),
            b'V' => FieldValue::Void,
            b'F' => FieldValue::Table(FieldTable::read(r, depth + 1)?),
            b'A' => FieldValue::Array(read_array(r, depth + 1)?),
            other => return Err(DecodeError::BadFieldType(other)),
        })
    }

    /// Validates one value without building it (no allocation).
    fn skip(r: &mut Reader, depth: usize) -> Result<(), DecodeError> {
        let tag = r.u8()?;
        let n = match tag {
            b't' | b'b' | b'B' => 1,
            b's' | b'u' => 2,
            b'I' | b'i' | b'f' => 4,
            b'l' | b'L' | b'd' | b'T' => 8,
            b'D' => 5,
            b'V' => 0,
            b'S' | b'x' => r.u32()? as usize,
            b'F' => return FieldTable::skip(r, depth + 1),
            b'A' => {
                if depth + 1 > MAX_TABLE_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
                let len = r.u32()? as usize;
                let mut sub = Reader::new(r.bytes(len)?);
                while sub.remaining() > 0 {
                    FieldValue::skip(&mut sub, depth + 1)?;
                }
                return Ok(());
            }
            other => return Err(DecodeError::BadFieldType(other)),
        };
        r.bytes(n).map(|_| ())
    }

    fn encoded_len(&self) -> usize {
        1 + match self {
            FieldValue::Bool(_) | FieldValue::I8(_) | FieldValue::U8(_) => 1,
            FieldValue::I16(_) | FieldValue::U16(_) => 2,
            FieldValue::I32(_) | FieldValue::U32(_) | FieldValue::F32(_) => 4,
            FieldValue::I64(_) | FieldValue::F64(_) | FieldValue::Timestamp(_) => 8,
            FieldValue::Decimal { .. } => 5,
            FieldValue::LongStr(b) | FieldValue::Bytes(b) => 4 + b.len(),
            FieldValue::Array(a) => 4 + a.iter().map(FieldValue::encoded_len).sum::<usize>(),
            FieldValue::Table(t) => t.encoded_len(),
            FieldValue::Void => 0,
        }
    }

    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.tag());
        match self {
            FieldValue::Bool(v) => buf.put_u8(*v as u8),
            FieldValue::I8(v) => buf.put_i8(*v),
            FieldValue::U8(v) => buf.put_u8(*v),
            FieldValue::I16(v) => buf.put_i16(*v),
            FieldValue::U16(v) => buf.put_u16(*v),
            FieldValue::I32(v) => buf.put_i32(*v),
            FieldValue::U32(v) => buf.put_u32(*v),
            FieldValue::I64(v) => buf.put_i64(*v),
            FieldValue::F32(v) => buf.put_f32(*v),
            FieldValue::F64(v) => buf.put_f64(*v),
            FieldValue::Decimal { scale, value } => {
                buf.put_u8(*scale);
                buf.put_u32(*value);
            }
            FieldValue::LongStr(b) | FieldValue::Bytes(b) => {
                buf.put_u32(b.len() as u32);
                buf.put_slice(b);
            }
            FieldValue::Array(a) => {
                buf.put_u32(a.iter().map(FieldValue::encoded_len).sum::<usize>() as u32);
                for v in a {
                    v.encode(buf);
                }
            }
            FieldValue::Timestamp(v) => buf.put_u64(*v),
            FieldValue::Table(t) => t.encode(buf),
            FieldValue::Void => {}
        }
    }
}

fn read_array(r: &mut Reader, depth: usize) -> Result<Vec<FieldValue>, DecodeError> {
    if depth > MAX_TABLE_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let len = r.u32()? as usize;
    let mut sub = Reader::new(r.bytes(len)?);
    let mut out = Vec::new();
    while sub.remaining() > 0 {
        out.push(FieldValue::read(&mut sub, depth)?);
    }
    Ok(out)
}

/// An AMQP field table: ordered `(name, value)` pairs. Lookups are linear,
/// which beats hashing for the handful of entries tables carry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldTable(pub Vec<(ShortStr, FieldValue)>);

impl FieldTable {
    pub fn new() -> Self {
        FieldTable(Vec::new())
    }

    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }

    /// Sets `key`, replacing an existing entry in place.
    pub fn insert(&mut self, key: &str, value: FieldValue) {
        match self.0.iter_mut().find(|(k, _)| &**k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((ShortStr::from(key), value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<FieldValue> {
        let i = self.0.iter().position(|(k, _)| &**k == key)?;
        Some(self.0.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    pub(crate) fn read(r: &mut Reader, depth: usize) -> Result<FieldTable, DecodeError> {
        if depth > MAX_TABLE_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let len = r.u32()? as usize;
        let mut sub = Reader::new(r.bytes(len)?);
        let mut out = Vec::new();
        while sub.remaining() > 0 {
            let key = sub.short_str()?;
            let value = FieldValue::read(&mut sub, depth)?;
            out.push((key, value));
        }
        Ok(FieldTable(out))
    }

    /// Checks that a table is well formed without building it.
    pub(crate) fn skip(r: &mut Reader, depth: usize) -> Result<(), DecodeError> {
        if depth > MAX_TABLE_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let len = r.u32()? as usize;
        let mut sub = Reader::new(r.bytes(len)?);
        while sub.remaining() > 0 {
            let klen = sub.u8()? as usize;
            let key = sub.bytes(klen)?;
            if core::str::from_utf8(&key).is_err() {
                return Err(DecodeError::InvalidUtf8);
            }
            FieldValue::skip(&mut sub, depth)?;
        }
        Ok(())
    }

    /// Octets this table takes on the wire, including its length prefix.
    pub fn encoded_len(&self) -> usize {
        // Keys are cut as `encode` cuts them, on a character boundary.
        let key_len = |k: &str| super::wire::truncate_utf8(k, 255).len();
        4 + self.0.iter().map(|(k, v)| 1 + key_len(k) + v.encoded_len()).sum::<usize>()
    }

    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u32((self.encoded_len() - 4) as u32);
        for (k, v) in &self.0 {
            let k = super::wire::truncate_utf8(k, 255);
            buf.put_u8(k.len() as u8);
            buf.put_slice(k.as_bytes());
            v.encode(buf);
        }
    }
}

impl<const N: usize> From<[(&str, FieldValue); N]> for FieldTable {
    fn from(entries: [(&str, FieldValue); N]) -> Self {
        FieldTable(entries.into_iter().map(|(k, v)| (ShortStr::from(k), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn every_type() -> FieldTable {
        FieldTable::from([
            ("t", FieldValue::Bool(true)),
            ("b", FieldValue::I8(-5)),
            ("B", FieldValue::U8(250)),
            ("s", FieldValue::I16(-300)),
            ("u", FieldValue::U16(60000)),
            ("I", FieldValue::I32(-70000)),
            ("i", FieldValue::U32(4_000_000_000)),
            ("l", FieldValue::I64(-1 << 40)),
            ("f", FieldValue::F32(1.5)),
            ("d", FieldValue::F64(-2.25)),
            ("D", FieldValue::Decimal { scale: 2, value: 12345 }),
            ("S", FieldValue::str("hello")),
            ("A", FieldValue::Array(vec![FieldValue::I32(1), FieldValue::str("x"), FieldValue::Void])),
            ("T", FieldValue::Timestamp(1_700_000_000)),
            ("F", FieldValue::Table(FieldTable::from([("inner", FieldValue::Bool(false))]))),
            ("V", FieldValue::Void),
            ("x", FieldValue::Bytes(Bytes::from_static(&[0, 1, 2]))),
        ])
    }

    #[test]
    fn every_type_round_trips() {
        let t = every_type();
        let mut buf = BytesMut::new();
        t.encode(&mut buf);
        assert_eq!(buf.len(), t.encoded_len());
        let bytes = buf.freeze();
        let mut r = Reader::new(bytes.clone());
        assert_eq!(FieldTable::read(&mut r, 0).unwrap(), t);
        assert_eq!(r.remaining(), 0);
        let mut r = Reader::new(bytes);
        FieldTable::skip(&mut r, 0).unwrap();
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn nesting_beyond_the_cap_is_refused() {
        let mut t = FieldTable::new();
        for _ in 0..MAX_TABLE_DEPTH + 1 {
            t = FieldTable::from([("n", FieldValue::Table(t))]);
        }
        let mut buf = BytesMut::new();
        t.encode(&mut buf);
        let bytes = buf.freeze();
        assert_eq!(FieldTable::read(&mut Reader::new(bytes.clone()), 0), Err(DecodeError::TooDeep));
        assert_eq!(FieldTable::skip(&mut Reader::new(bytes), 0), Err(DecodeError::TooDeep));
    }

    #[test]
    fn declared_length_beyond_payload_is_truncated_not_allocated() {
        let bytes = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 1, b'a']);
        assert_eq!(FieldTable::read(&mut Reader::new(bytes), 0), Err(DecodeError::Truncated));
    }

    #[test]
    fn unknown_type_tag_is_an_error() {
        let bytes = Bytes::from_static(&[0, 0, 0, 3, 1, b'a', b'Z']);
        assert_eq!(FieldTable::read(&mut Reader::new(bytes.clone()), 0), Err(DecodeError::BadFieldType(b'Z')));
        assert_eq!(FieldTable::skip(&mut Reader::new(bytes), 0), Err(DecodeError::BadFieldType(b'Z')));
    }

    #[test]
    fn insert_replaces_and_remove_removes() {
        let mut t = FieldTable::from([("a", FieldValue::I32(1))]);
        t.insert("a", FieldValue::I32(2));
        t.insert("b", FieldValue::I32(3));
        assert_eq!(t.get("a"), Some(&FieldValue::I32(2)));
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove("a"), Some(FieldValue::I32(2)));
        assert_eq!(t.get("a"), None);
    }
}
