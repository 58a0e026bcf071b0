//! One client connection: its handshake state, negotiated limits, input
//! reassembly, output buffer and channels. This module frames bytes and
//! writes frames; what a method *means* lives in `crate::class`.

mod backpressure;
pub mod channel;

use core::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::amqp::frame::{self, take_frame, take_frame_bytes, FrameError, RawFrame};
use crate::amqp::{FieldTable, FieldValue, Method, ShortStr, CLASS_BASIC};
use crate::ids::{ConnectionId, QueueId};
use crate::message::Message;
pub use backpressure::{Backpressure, Pause};
pub use channel::Channel;

/// How the peer reached the broker. The core never looks at sockets; the
/// driver says what the transport is so limits and logs can differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    WebSocket,
    /// A client inside the same process (the browser playground).
    InProcess,
}

/// Who is on the other end, as the driver knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub address: PeerAddress,
    /// Whether the peer address (not the listener) is loopback.
    pub loopback: bool,
    pub transport: Transport,
}

/// Where a peer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAddress {
    /// A peer on a socket, and the local address it reached when the driver
    /// knows it.
    Socket { peer: SocketAddr, local: Option<SocketAddr> },
    /// A client inside the process (the playground's), by the name the
    /// driver gave it.
    Named(String),
}

impl PeerAddress {
    /// The connection's name as RabbitMQ gives it: `peer -> local` (or the
    /// peer alone, or the given name).
    pub fn connection_name(&self) -> String {
        match self {
            PeerAddress::Socket { peer, local: Some(local) } => format!("{peer} -> {local}"),
            PeerAddress::Socket { peer, local: None } => peer.to_string(),
            PeerAddress::Named(name) => name.clone(),
        }
    }

    /// The peer's host as the management API shows it (an IPv4-mapped IPv6
    /// address as IPv4), or the given name.
    pub fn peer_host(&self) -> String {
        match self {
            PeerAddress::Socket { peer, .. } => peer.ip().to_canonical().to_string(),
            PeerAddress::Named(name) => name.clone(),
        }
    }

    pub fn peer_port(&self) -> Option<u16> {
        match self {
            PeerAddress::Socket { peer, .. } => Some(peer.port()),
            PeerAddress::Named(_) => None,
        }
    }

    /// The local address the peer reached, when known.
    pub fn local(&self) -> Option<SocketAddr> {
        match self {
            PeerAddress::Socket { local, .. } => *local,
            PeerAddress::Named(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    AwaitingHeader,
    AwaitingStartOk,
    AwaitingTuneOk,
    AwaitingOpen,
    Open,
    /// Login refused; the refusal goes out after a delay. Input is ignored.
    Refusing,
    /// We sent connection.close and wait for close-ok until the deadline.
    Closing {
        deadline: u64,
    },
    /// Finished: output is flushed, then the driver closes the socket.
    Closed,
}

/// Capabilities the client announced in start-ok.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCapabilities {
    pub consumer_cancel_notify: bool,
    pub connection_blocked: bool,
    pub authentication_failure_close: bool,
}

impl ClientCapabilities {
    pub fn from_properties(props: &FieldTable) -> Self {
        let Some(FieldValue::Table(caps)) = props.get("capabilities") else { return Self::default() };
        let on = |k| caps.get(k).and_then(FieldValue::as_bool).unwrap_or(false);
        ClientCapabilities {
            consumer_cancel_notify: on("consumer_cancel_notify"),
            connection_blocked: on("connection.blocked"),
            authentication_failure_close: on("authentication_failure_close"),
        }
    }
}

/// Largest frame accepted before tune-ok fixes frame_max.
pub const PRE_TUNE_FRAME_MAX: u32 = 8192;

pub struct Connection {
    pub id: ConnectionId,
    pub peer: PeerInfo,
    pub state: ConnState,
    pub connected_at: u64,
    /// A partial frame carried over from the previous read.
    inbuf: BytesMut,
    /// Frames waiting for the driver to take them with `poll_transmit`.
    pub out: BytesMut,
    /// Octets handed to the driver and not yet reported written.
    pub in_flight: usize,
    /// Set while waiting in the broker's transmit queue.
    pub transmit_queued: bool,
    /// Why the driver is not to read from it, and whether deliveries to it
    /// are held back.
    pub backpressure: Backpressure,
    pub frame_max: u32,
    pub channel_max: u16,
    /// Negotiated heartbeat in seconds (0 = off).
    pub heartbeat: u16,
    pub last_recv: u64,
    pub last_sent: u64,
    pub user: String,
    pub vhost: String,
    pub client_properties: FieldTable,
    pub capabilities: ClientCapabilities,
    /// Indexed by channel number; `None` for channels not open.
    channels: Vec<Option<Channel>>,
    pub exclusive_queues: Vec<QueueId>,
    /// Mechanism the client picked, kept for the refusal text.
    pub mechanism: ShortStr,
    /// Why the connection ended, for the driver's log.
    pub close_reason: String,
    /// How long the driver waits for the peer to close its side once the
    /// connection is finished (see `Event::Closed`).
    pub linger_ms: u64,
    /// Octets received from and sent to the peer.
    pub recv_octets: u64,
    pub sent_octets: u64,
    /// It has sent basic.publish: a resource alarm blocks it.
    pub has_published: bool,
    /// The identity in a verified TLS client certificate, for EXTERNAL.
    pub certificate_user: Option<String>,
    pub permit_cache: PermitCache,
}

/// Recently allowed (access, is-queue, name) checks, valid for one
/// definitions version.
#[derive(Debug, Default)]
pub struct PermitCache {
    pub version: u64,
    pub allowed: Vec<(crate::permissions::Access, bool, ShortStr)>,
}

impl Connection {
    pub fn new(id: ConnectionId, peer: PeerInfo, now: u64) -> Self {
        Connection {
            id,
            peer,
            state: ConnState::AwaitingHeader,
            connected_at: now,
            inbuf: BytesMut::new(),
            out: BytesMut::new(),
            in_flight: 0,
            transmit_queued: false,
            backpressure: Backpressure::default(),
            frame_max: PRE_TUNE_FRAME_MAX,
            channel_max: 0,
            heartbeat: 0,
            last_recv: now,
            last_sent: now,
            user: String::new(),
            vhost: String::new(),
            client_properties: FieldTable::new(),
            capabilities: ClientCapabilities::default(),
            channels: Vec::new(),
            exclusive_queues: Vec::new(),
            mechanism: ShortStr::new(),
            close_reason: String::new(),
            linger_ms: 0,
            recv_octets: 0,
            sent_octets: 0,
            has_published: false,
            certificate_user: None,
            permit_cache: PermitCache::default(),
        }
    }

    /// Consumes the protocol header. Returns `Some(true)` when it is AMQP
    /// 0-9-1, `Some(false)` when it is something else, `None` until 8 octets
    /// arrived. Leftover octets stay in `data`.
    pub fn take_protocol_header(&mut self, data: &mut Bytes) -> Option<bool> {
        let need = 8 - self.inbuf.len();
        let n = need.min(data.len());
        self.inbuf.extend_from_slice(&data.split_to(n));
        // A mismatch can be reported as soon as the first wrong octet arrives.
        if self.inbuf[..] != frame::PROTOCOL_HEADER[..self.inbuf.len()] {
            return Some(false);
        }
        if self.inbuf.len() < 8 {
            return None;
        }
        self.inbuf.clear();
        Some(true)
    }

    /// Splits the next frame out of the carried-over bytes and `data`.
    /// Frames that lie wholly within `data` are zero-copy slices of it; only
    /// a frame straddling two reads is copied.
    pub fn next_frame(&mut self, data: &mut Bytes) -> Result<Option<RawFrame>, FrameError> {
        let limit = self.frame_max;
        if self.inbuf.is_empty() {
            if let Some(f) = take_frame_bytes(data, limit)? {
                return Ok(Some(f));
            }
            self.inbuf.extend_from_slice(data);
            data.clear();
            return Ok(None);
        }
        if self.inbuf.len() < 7 {
            let n = (7 - self.inbuf.len()).min(data.len());
            self.inbuf.extend_from_slice(&data.split_to(n));
        }
        let Some(total) = frame::frame_len(&self.inbuf, limit)? else { return Ok(None) };
        let n = (total - self.inbuf.len().min(total)).min(data.len());
        self.inbuf.extend_from_slice(&data.split_to(n));
        take_frame(&mut self.inbuf, limit)
    }

    /// Discards any partial input (after a framing error).
    pub fn discard_input(&mut self) {
        self.inbuf = BytesMut::new();
    }

    /// Octets queued or in flight to the socket.
    pub fn pending_output(&self) -> usize {
        self.out.len() + self.in_flight
    }

    pub fn channel(&self, id: u16) -> Option<&Channel> {
        self.channels.get(id as usize)?.as_ref()
    }

    pub fn channel_mut(&mut self, id: u16) -> Option<&mut Channel> {
        self.channels.get_mut(id as usize)?.as_mut()
    }

    pub fn open_channel(&mut self, id: u16) -> &mut Channel {
        let i = id as usize;
        if self.channels.len() <= i {
            self.channels.resize_with(i + 1, || None);
        }
        self.channels[i].insert(Channel::new(id))
    }

    pub fn remove_channel(&mut self, id: u16) -> Option<Channel> {
        self.channels.get_mut(id as usize)?.take()
    }

    pub fn take_all_channels(&mut self) -> Vec<Channel> {
        core::mem::take(&mut self.channels).into_iter().flatten().collect()
    }

    pub fn channel_count(&self) -> usize {
        self.channels.iter().filter(|c| c.is_some()).count()
    }

    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.channels.iter().flatten()
    }

    pub fn channels_mut(&mut self) -> impl Iterator<Item = &mut Channel> {
        self.channels.iter_mut().flatten()
    }

    // --- output ---

    pub fn send_method(&mut self, channel: u16, method: &Method) {
        frame::write_method(&mut self.out, channel, method);
    }

    /// Writes a content header and body frames for `message` after the method
    /// that carries it.
    pub fn send_content(&mut self, channel: u16, message: &Message) {
        frame::write_content_header(&mut self.out, channel, CLASS_BASIC, message.body.len() as u64, &message.properties);
        frame::write_body(&mut self.out, channel, &message.body, self.frame_max);
    }

    /// basic.deliver, header and body, encoded straight into the output
    /// buffer without building a method value.
    pub fn send_delivery(&mut self, channel: u16, consumer_tag: &str, delivery_tag: u64, redelivered: bool, message: &Message) {
        let out = &mut self.out;
        out.reserve(64 + consumer_tag.len() + message.exchange.len() + message.routing_key.len());
        out.put_u8(1);
        out.put_u16(channel);
        let size_at = out.len();
        out.put_u32(0);
        out.put_u16(60);
        out.put_u16(60);
        put_short_str(out, consumer_tag);
        out.put_u64(delivery_tag);
        out.put_u8(redelivered as u8);
        put_short_str(out, &message.exchange);
        put_short_str(out, &message.routing_key);
        let size = (out.len() - size_at - 4) as u32;
        out[size_at..size_at + 4].copy_from_slice(&size.to_be_bytes());
        out.put_u8(frame::FRAME_END);
        self.send_content(channel, message);
    }

    pub fn send_heartbeat(&mut self) {
        frame::write_heartbeat(&mut self.out);
    }
}

fn put_short_str(out: &mut BytesMut, s: &str) {
    let s = crate::amqp::wire::truncate_utf8(s, 255);
    out.put_u8(s.len() as u8);
    out.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::method::{BasicDeliver, ChannelOpen};
    use crate::amqp::{Frame, PropertiesScan};
    use crate::ids::SlabId;

    fn conn() -> Connection {
        let peer = PeerInfo {
            address: PeerAddress::Socket { peer: "127.0.0.1:1".parse().unwrap(), local: None },
            loopback: true,
            transport: Transport::Tcp,
        };
        Connection::new(ConnectionId::new(0, 0), peer, 0)
    }

    #[test]
    fn frames_straddling_reads_are_reassembled() {
        let mut wire = BytesMut::new();
        for i in 0..5u16 {
            frame::write_method(&mut wire, i, &ChannelOpen::default().into());
        }
        let wire = wire.freeze();
        for step in 1..wire.len() {
            let mut c = conn();
            let mut seen = Vec::new();
            for piece in wire.chunks(step) {
                let mut data = Bytes::copy_from_slice(piece);
                while let Some(f) = c.next_frame(&mut data).unwrap() {
                    seen.push(f.channel);
                }
                assert!(data.is_empty());
            }
            assert_eq!(seen, vec![0, 1, 2, 3, 4], "step {step}");
        }
    }

    #[test]
    fn protocol_header_mismatch_is_seen_early() {
        let mut c = conn();
        let mut d = Bytes::from_static(b"AMQ");
        assert_eq!(c.take_protocol_header(&mut d), None);
        let mut d = Bytes::from_static(b"P\x00\x00\x09\x01\x01\x00");
        assert_eq!(c.take_protocol_header(&mut d), Some(true));
        assert_eq!(&d[..], b"\x01\x00");
        let mut c = conn();
        assert_eq!(c.take_protocol_header(&mut Bytes::from_static(b"GET / HTTP/1.1")), Some(false));
    }

    #[test]
    fn hand_encoded_delivery_matches_the_generic_encoder() {
        let mut c = conn();
        c.frame_max = 4096;
        let m = Message {
            exchange: "ex".into(),
            routing_key: "rk".into(),
            properties: Bytes::from_static(&[0, 0]),
            scan: PropertiesScan::default(),
            body: Bytes::from_static(b"body"),
            expiration_ms: None,
            trace: 0,
        };
        c.send_delivery(7, "ctag", 42, true, &m);
        let mut expected = BytesMut::new();
        let d = BasicDeliver {
            consumer_tag: "ctag".into(),
            delivery_tag: 42,
            redelivered: true,
            exchange: "ex".into(),
            routing_key: "rk".into(),
        };
        Frame::Method { channel: 7, method: d.into() }.encode(&mut expected);
        frame::write_content_header(&mut expected, 7, 60, 4, &[0, 0]);
        frame::write_body(&mut expected, 7, b"body", 4096);
        assert_eq!(c.out, expected);
    }
}
