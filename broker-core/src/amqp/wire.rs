//! Primitive wire types: a bounds-checked reader over a frame payload and a
//! writer onto any `BufMut`, both packing consecutive `bit` fields into octets
//! as AMQP 0-9-1 requires.

use bytes::{BufMut, Bytes};
use bytestring::ByteString;

use super::table::FieldTable;
use super::DecodeError;

/// Short string: at most 255 octets of UTF-8, shared with the frame it came from.
pub type ShortStr = ByteString;
/// Long string: opaque octets (SASL responses, bodies of `S` table values).
pub type LongStr = Bytes;

/// Reads one frame payload. Every read checks the remaining length first, so
/// decoding never indexes out of bounds and never allocates more than the
/// payload holds.
pub struct Reader {
    buf: Bytes,
    pos: usize,
    /// Octet holding the bits being unpacked and how many of them are used;
    /// `bit_used == 8` means the next bit starts a new octet.
    bit_octet: u8,
    bit_used: u8,
}

impl Reader {
    pub fn new(buf: Bytes) -> Self {
        Reader { buf, pos: 0, bit_octet: 0, bit_used: 8 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        self.bit_used = 8;
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes `n` octets as a zero-copy slice of the payload.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        self.bit_used = 8;
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let b = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }

    pub fn bit(&mut self) -> Result<bool, DecodeError> {
        if self.bit_used == 8 {
            self.bit_octet = self.u8()?;
            self.bit_used = 0;
        }
        let v = self.bit_octet & (1 << self.bit_used) != 0;
        self.bit_used += 1;
        Ok(v)
    }

    pub fn short_str(&mut self) -> Result<ShortStr, DecodeError> {
        let len = self.u8()? as usize;
        let b = self.bytes(len)?;
        ByteString::try_from(b).map_err(|_| DecodeError::InvalidUtf8)
    }

    pub fn long_str(&mut self) -> Result<LongStr, DecodeError> {
        let len = self.u32()? as usize;
        self.bytes(len)
    }
}

/// Writes AMQP primitives, packing consecutive bits. Call [`Writer::finish`]
/// after the last field so a trailing bit octet is flushed.
pub struct Writer<'a, B: BufMut> {
    pub buf: &'a mut B,
    bit_octet: u8,
    bit_used: u8,
}

impl<'a, B: BufMut> Writer<'a, B> {
    pub fn new(buf: &'a mut B) -> Self {
        Writer { buf, bit_octet: 0, bit_used: 0 }
    }

    fn flush_bits(&mut self) {
        if self.bit_used > 0 {
            self.buf.put_u8(self.bit_octet);
            self.bit_octet = 0;
            self.bit_used = 0;
        }
    }

    pub fn finish(&mut self) {
        self.flush_bits();
    }

    pub fn bit(&mut self, v: bool) {
        if self.bit_used == 8 {
            self.flush_bits();
        }
        if v {
            self.bit_octet |= 1 << self.bit_used;
        }
        self.bit_used += 1;
    }

    pub fn u8(&mut self, v: u8) {
        self.flush_bits();
        self.buf.put_u8(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.flush_bits();
        self.buf.put_u16(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.flush_bits();
        self.buf.put_u32(v);
    }
    pub fn u64(&mut self, v: u64) {
        self.flush_bits();
        self.buf.put_u64(v);
    }
    pub fn raw(&mut self, v: &[u8]) {
        self.flush_bits();
        self.buf.put_slice(v);
    }

    /// Writes a short string, cutting it at 255 octets on a character
    /// boundary: a server must never emit an undecodable shortstr.
    pub fn short_str(&mut self, s: &str) {
        let s = truncate_utf8(s, 255);
        self.u8(s.len() as u8);
        self.raw(s.as_bytes());
    }

    pub fn long_str(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.raw(v);
    }
}

/// Longest prefix of `s` that fits in `max` octets and ends on a char boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A type that appears as a method argument.
pub trait Field: Sized {
    fn read(r: &mut Reader) -> Result<Self, DecodeError>;
    fn write<B: BufMut>(&self, w: &mut Writer<'_, B>);
}

impl Field for bool {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.bit()
    }
    fn write<B: BufMut>(&self, w: &mut Writer<'_, B>) {
        w.bit(*self)
    }
}
impl Field for u8 {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.u8()
    }
    fn write<B: BufMut>(&self, w: &mut Writer<'_, B>) {
        w.u8(*self)
    }
}
impl Field for u16 {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.u16()
    }
    fn write<B: BufMut>(&self, w: &mut Writer<'_, B>) {
        w.u16(*self)
    }
}
impl Field for u32 {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.u32()
    }
    fn write<B: BufMut>(&self, w: &mut Writer<'_, B>) {
        w.u32(*self)
    }
}
impl Field for u64 {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.u64()
    }
    fn write<B: BufMut>(&self, w: &mut Writer<'_, B>) {
        w.u64(*self)
    }
}
impl Field for ShortStr {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.short_str()
    }
    fn write<B: BufMut>(&self, w: &mut Writer<'_, B>) {
        w.short_str(self)
    }
}
impl Field for LongStr {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.long_str()
    }
    fn write<B: BufMut>(&self, w: &mut Writer<'_, B>) {
        w.long_str(self)
    }
}
impl Field for FieldTable {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        FieldTable::read(r, 0)
    }
    fn write<B: BufMut>(&self, w: &mut Writer<'_, B>) {
        w.flush_bits();
        self.encode(w.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn bits_pack_into_octets_and_reset_after_other_fields() {
        let mut buf = BytesMut::new();
        let mut w = Writer::new(&mut buf);
        for i in 0..10 {
            w.bit(i % 3 == 0);
        }
        w.u8(7);
        w.bit(true);
        w.finish();
        assert_eq!(&buf[..], &[0b0100_1001, 0b0000_0010, 7, 1]);
        let mut r = Reader::new(buf.freeze());
        let bits: Vec<bool> = (0..10).map(|_| r.bit().unwrap()).collect();
        assert_eq!(bits, (0..10).map(|i| i % 3 == 0).collect::<Vec<_>>());
        assert_eq!(r.u8().unwrap(), 7);
        assert!(r.bit().unwrap());
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.u8(), Err(DecodeError::Truncated));
    }

    #[test]
    fn short_str_is_truncated_on_a_char_boundary() {
        let long = "é".repeat(200); // 400 octets
        let mut buf = BytesMut::new();
        let mut w = Writer::new(&mut buf);
        w.short_str(&long);
        assert_eq!(buf[0], 254);
        let mut r = Reader::new(buf.freeze());
        assert_eq!(r.short_str().unwrap().len(), 254);
    }

    #[test]
    fn invalid_utf8_short_str_is_an_error() {
        let mut r = Reader::new(Bytes::from_static(&[2, 0xff, 0xfe]));
        assert_eq!(r.short_str(), Err(DecodeError::InvalidUtf8));
    }
}
