//! The raw client's protocol pieces, built on Warren's own codec
//! (`broker_core::amqp`): a blocking connection for the handshake and the
//! set-up RPCs, pre-encoded publish frames patched in place, and the few
//! fields the hot path reads out of raw frames without decoding them.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use broker_core::amqp::frame::{take_frame, write_body, write_content_header, write_method, FRAME_OVERHEAD};
use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, Frame, Method, CLASS_BASIC, PROTOCOL_HEADER};
use bytes::{Bytes, BytesMut};

use crate::track::STAMP_LEN;

/// Login and vhost.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub vhost: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials { user: "guest".into(), password: "guest".into(), vhost: "/".into() }
    }
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// A blocking AMQP connection with channel 1 open, used for the handshake
/// and for declarations; the hot path takes its socket afterwards.
pub struct SyncConn {
    pub stream: TcpStream,
    /// Octets read but not yet consumed (may hold deliveries that arrived
    /// right after basic.consume-ok).
    pub buf: BytesMut,
    pub frame_max: u32,
    /// `product version` from the broker's connection.start.
    pub server: String,
}

impl SyncConn {
    pub fn open(addr: SocketAddr, creds: &Credentials, name: &str) -> io::Result<SyncConn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut c = SyncConn { stream, buf: BytesMut::with_capacity(64 * 1024), frame_max: 131_072, server: String::new() };
        c.stream.write_all(&PROTOCOL_HEADER)?;
        match c.recv()? {
            (0, Method::ConnectionStart(start)) => {
                let prop = |k: &str| start.server_properties.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                c.server = format!("{} {}", prop("product").unwrap_or_default(), prop("version").unwrap_or_default());
            }
            (_, other) => return Err(err(format!("expected connection.start, got {}", other.name()))),
        }
        let mut caps = FieldTable::new();
        for cap in ["publisher_confirms", "basic.nack", "consumer_cancel_notify", "connection.blocked"] {
            caps.insert(cap, FieldValue::Bool(true));
        }
        let mut props = FieldTable::new();
        props.insert("product", FieldValue::str("warren-bench"));
        props.insert("connection_name", FieldValue::str(name));
        props.insert("capabilities", FieldValue::Table(caps));
        let mut response = Vec::new();
        response.push(0);
        response.extend_from_slice(creds.user.as_bytes());
        response.push(0);
        response.extend_from_slice(creds.password.as_bytes());
        c.send(
            0,
            ConnectionStartOk {
                client_properties: props,
                mechanism: "PLAIN".into(),
                response: Bytes::from(response),
                locale: "en_US".into(),
            },
        )?;
        let tune = match c.recv()? {
            (0, Method::ConnectionTune(t)) => t,
            (_, other) => return Err(err(format!("expected connection.tune, got {}", other.name()))),
        };
        c.frame_max = if tune.frame_max == 0 { 131_072 } else { tune.frame_max.min(131_072) };
        // No heartbeats: the run is short and the hot path never sends them.
        c.send(0, ConnectionTuneOk { channel_max: tune.channel_max, frame_max: c.frame_max, heartbeat: 0 })?;
        c.send(0, ConnectionOpen { virtual_host: creds.vhost.as_str().into(), ..Default::default() })?;
        match c.recv()? {
            (0, Method::ConnectionOpenOk(_)) => {}
            (_, other) => return Err(err(format!("expected connection.open-ok, got {}", other.name()))),
        }
        c.rpc(ChannelOpen::default())?;
        Ok(c)
    }

    pub fn send(&mut self, channel: u16, m: impl Into<Method>) -> io::Result<()> {
        let mut out = BytesMut::new();
        write_method(&mut out, channel, &m.into());
        self.stream.write_all(&out)
    }

    /// The next method frame (content and heartbeat frames are skipped).
    pub fn recv(&mut self) -> io::Result<(u16, Method)> {
        loop {
            while let Some(raw) = take_frame(&mut self.buf, 0).map_err(|e| err(format!("frame error: {e:?}")))? {
                match Frame::decode(raw).map_err(|e| err(format!("decode error: {e}")))? {
                    Frame::Method { channel, method } => return Ok((channel, method)),
                    _ => continue,
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(err("broker closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `m` on channel 1 and returns the reply; a channel or connection
    /// close becomes an error carrying the broker's reply text.
    pub fn rpc(&mut self, m: impl Into<Method>) -> io::Result<Method> {
        let m = m.into();
        let name = m.name();
        self.send(1, m)?;
        match self.recv()? {
            (_, Method::ChannelClose(c)) => {
                let _ = self.send(1, ChannelCloseOk {});
                Err(err(format!("{name}: channel closed {} {}", c.reply_code, c.reply_text)))
            }
            (_, Method::ConnectionClose(c)) => Err(err(format!("{name}: connection closed {} {}", c.reply_code, c.reply_text))),
            (_, reply) => Ok(reply),
        }
    }

    /// connection.close and wait for close-ok (best effort).
    pub fn close(mut self) {
        let _ = self.send(0, ConnectionClose { reply_code: 200, reply_text: "bye".into(), class_id: 0, method_id: 0 });
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(2)));
        for _ in 0..100 {
            match self.recv() {
                Ok((0, Method::ConnectionCloseOk(_))) | Err(_) => break,
                _ => {}
            }
        }
    }
}

/// `count` copies of one publish (method, header and body frames) laid out
/// back to back, with the stamp of each message patched in place before it
/// is written: nothing is encoded on the hot path.
pub struct PublishBlock {
    pub buf: Vec<u8>,
    pub stride: usize,
    /// Offset of the body (the stamp) within one message.
    stamp_at: usize,
    pub count: usize,
}

impl PublishBlock {
    pub fn new(exchange: &str, routing_key: &str, size: usize, persistent: bool, frame_max: u32, target: usize) -> PublishBlock {
        assert!(size >= STAMP_LEN, "bodies carry a {STAMP_LEN}-octet stamp");
        let mut one = BytesMut::new();
        let publish = BasicPublish { exchange: exchange.into(), routing_key: routing_key.into(), ..Default::default() };
        write_method(&mut one, 1, &publish.into());
        // Like PerfTest: no properties at all unless persistent.
        let props = BasicProperties { delivery_mode: persistent.then_some(2), ..Default::default() };
        write_content_header(&mut one, 1, CLASS_BASIC, size as u64, &props.to_bytes());
        let body_frame_at = one.len();
        write_body(&mut one, 1, &vec![0u8; size], frame_max);
        let stamp_at = body_frame_at + 7;
        debug_assert!(frame_max as usize - FRAME_OVERHEAD >= STAMP_LEN);
        let stride = one.len();
        let count = (target / stride).clamp(1, 1024);
        let mut buf = Vec::with_capacity(stride * count);
        for _ in 0..count {
            buf.extend_from_slice(&one);
        }
        PublishBlock { buf, stride, stamp_at, count }
    }

    /// Writes the stamp of message `i` of the block.
    #[inline]
    pub fn patch(&mut self, i: usize, ts_ns: u64, producer: u32, seq: u32) {
        let at = i * self.stride + self.stamp_at;
        crate::track::write_stamp(&mut self.buf[at..at + STAMP_LEN], ts_ns, producer, seq);
    }
}

/// A frame's type, channel and payload range at the front of `buf`, if
/// the whole frame is there.
#[inline]
pub fn peek_frame(buf: &[u8]) -> Option<(u8, usize, usize)> {
    if buf.len() < 7 {
        return None;
    }
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
    let total = size + FRAME_OVERHEAD;
    if buf.len() < total {
        return None;
    }
    Some((buf[0], total, size))
}

/// basic.ack (multiple) encoded with the codec.
pub fn encode_ack(out: &mut Vec<u8>, delivery_tag: u64) {
    let mut b = BytesMut::with_capacity(24);
    write_method(&mut b, 1, &BasicAck { delivery_tag, multiple: true }.into());
    out.extend_from_slice(&b);
}

/// Decodes a method payload for a readable error message.
pub fn describe_close(payload: &[u8]) -> String {
    match Method::decode(Bytes::copy_from_slice(payload)) {
        Ok(Method::ChannelClose(c)) => format!("channel closed by broker: {} {}", c.reply_code, c.reply_text),
        Ok(Method::ConnectionClose(c)) => format!("connection closed by broker: {} {}", c.reply_code, c.reply_text),
        Ok(m) => format!("unexpected {}", m.name()),
        Err(e) => format!("undecodable method: {e}"),
    }
}
