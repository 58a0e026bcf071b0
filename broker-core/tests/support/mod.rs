//! A test driver for the core: in-process clients that speak AMQP through
//! the codec, a virtual clock, and helpers that read back what the broker
//! sent. No sockets, no sleeping.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};

use broker_core::amqp::frame::{take_frame, write_body, write_content_header, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER};
use broker_core::{Broker, Config, ConnectionId, Event, PeerAddress, PeerInfo, Transport};
use bytes::{Bytes, BytesMut};

pub struct Harness {
    pub broker: Broker,
    pub now: u64,
    inboxes: HashMap<ConnectionId, (BytesMut, VecDeque<Frame>)>,
    pub closed: Vec<ConnectionId>,
    /// Why each connection in `closed` ended, in the same order.
    pub close_reasons: Vec<String>,
    /// Their `linger_ms`, in the same order.
    pub close_lingers: Vec<u64>,
    /// Events other than `Closed`, in order.
    pub events: Vec<Event>,
    /// When false, output handed out by the broker is not reported written.
    pub auto_written: bool,
}

/// A delivered message as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub channel: u16,
    pub method: Method,
    pub properties: BasicProperties,
    pub body: Bytes,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Self {
        Harness {
            broker: Broker::new(config, 1_000_000).expect("a valid configuration"),
            now: 1_000_000,
            inboxes: HashMap::new(),
            closed: vec![],
            close_reasons: vec![],
            close_lingers: vec![],
            events: vec![],
            auto_written: true,
        }
    }

    pub fn raw_connect(&mut self, loopback: bool) -> ConnectionId {
        let peer = PeerInfo {
            address: PeerAddress::Socket { peer: ([127, 0, 0, 1], 40000).into(), local: None },
            loopback,
            transport: Transport::Tcp,
        };
        let id = self.broker.handle_connect(self.now, peer);
        self.inboxes.insert(id, (BytesMut::new(), VecDeque::new()));
        id
    }

    /// Connects and completes the handshake as guest on `/` with the given
    /// client capabilities; returns the connection with channel 1 open.
    pub fn connect_with(&mut self, caps: &[&str], heartbeat: u16) -> ConnectionId {
        let c = self.raw_connect(true);
        self.send_bytes(c, Bytes::from_static(&PROTOCOL_HEADER));
        assert!(matches!(self.expect_method(c).1, Method::ConnectionStart(_)));
        let mut capabilities = FieldTable::new();
        for cap in caps {
            capabilities.insert(cap, FieldValue::Bool(true));
        }
        let props = FieldTable::from([("capabilities", FieldValue::Table(capabilities))]);
        self.send(
            c,
            0,
            ConnectionStartOk {
                client_properties: props,
                mechanism: "PLAIN".into(),
                response: Bytes::from_static(b"\0guest\0guest"),
                locale: "en_US".into(),
            },
        );
        let Method::ConnectionTune(t) = self.expect_method(c).1 else { panic!("expected tune") };
        self.send(c, 0, ConnectionTuneOk { channel_max: t.channel_max, frame_max: t.frame_max, heartbeat });
        self.send(c, 0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
        assert!(matches!(self.expect_method(c).1, Method::ConnectionOpenOk(_)));
        self.open_channel(c, 1);
        c
    }

    pub fn connect(&mut self) -> ConnectionId {
        self.connect_with(&["consumer_cancel_notify", "authentication_failure_close", "basic.nack", "publisher_confirms"], 0)
    }

    pub fn open_channel(&mut self, c: ConnectionId, ch: u16) {
        self.send(c, ch, ChannelOpen::default());
        assert_eq!(self.expect_method(c), (ch, ChannelOpenOk::default().into()));
    }

    pub fn send_bytes(&mut self, c: ConnectionId, data: Bytes) {
        self.broker.handle_bytes(c, self.now, data);
        self.pump();
    }

    pub fn send(&mut self, c: ConnectionId, channel: u16, m: impl Into<Method>) {
        let mut buf = BytesMut::new();
        write_method(&mut buf, channel, &m.into());
        self.send_bytes(c, buf.freeze());
    }

    /// Encodes a publish with its header and body (split at `frame_max`).
    pub fn publish_bytes(channel: u16, exchange: &str, key: &str, props: &BasicProperties, body: &[u8], mandatory: bool) -> BytesMut {
        let mut buf = BytesMut::new();
        let m = BasicPublish { exchange: exchange.into(), routing_key: key.into(), mandatory, ..Default::default() };
        write_method(&mut buf, channel, &m.into());
        write_content_header(&mut buf, channel, 60, body.len() as u64, &props.to_bytes());
        write_body(&mut buf, channel, body, 131072);
        buf
    }

    pub fn publish(&mut self, c: ConnectionId, channel: u16, exchange: &str, key: &str, body: &[u8]) {
        let b = Self::publish_bytes(channel, exchange, key, &BasicProperties::default(), body, false);
        self.send_bytes(c, b.freeze());
    }

    #[allow(clippy::too_many_arguments)] // basic.publish's fields, properties and body
    pub fn publish_with(
        &mut self,
        c: ConnectionId,
        channel: u16,
        exchange: &str,
        key: &str,
        props: &BasicProperties,
        body: &[u8],
        mandatory: bool,
    ) {
        let b = Self::publish_bytes(channel, exchange, key, props, body, mandatory);
        self.send_bytes(c, b.freeze());
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.broker.handle_timeout(self.now);
        self.pump();
    }

    /// Moves the broker's output into per-connection inboxes.
    pub fn pump(&mut self) {
        while let Some(t) = self.broker.poll_transmit() {
            if let Some((buf, frames)) = self.inboxes.get_mut(&t.connection) {
                buf.extend_from_slice(&t.data);
                while let Some(raw) = take_frame(buf, 0).expect("broker sent a bad frame") {
                    frames.push_back(Frame::decode(raw).expect("broker sent an undecodable frame"));
                }
                // A raw protocol header reply is not a frame: keep it visible.
                if buf.starts_with(b"AMQP") {
                    frames.push_back(Frame::Heartbeat { channel: u16::MAX });
                    buf.clear();
                }
            }
            if self.auto_written {
                self.broker.handle_written(t.connection, t.data.len());
            }
        }
        while let Some(e) = self.broker.poll_event() {
            match e {
                Event::Closed { connection, reason, linger_ms } => {
                    self.closed.push(connection);
                    self.close_reasons.push(reason);
                    self.close_lingers.push(linger_ms);
                }
                other => self.events.push(other),
            }
        }
    }

    pub fn next_frame(&mut self, c: ConnectionId) -> Option<Frame> {
        self.pump();
        self.inboxes.get_mut(&c)?.1.pop_front()
    }

    pub fn expect_method(&mut self, c: ConnectionId) -> (u16, Method) {
        match self.next_frame(c) {
            Some(Frame::Method { channel, method }) => (channel, method),
            other => panic!("expected a method frame, got {other:?}"),
        }
    }

    /// Reads a content-carrying method (deliver, get-ok, return) with its content.
    pub fn expect_delivery(&mut self, c: ConnectionId) -> Delivery {
        let (channel, method) = self.expect_method(c);
        assert!(method.has_content(), "expected content method, got {method:?}");
        let Some(Frame::Header { header, .. }) = self.next_frame(c) else { panic!("expected content header") };
        let mut body = BytesMut::new();
        while (body.len() as u64) < header.body_size {
            match self.next_frame(c) {
                Some(Frame::Body { payload, .. }) => body.extend_from_slice(&payload),
                other => panic!("expected body, got {other:?}"),
            }
        }
        let properties = BasicProperties::decode(header.properties).unwrap();
        Delivery { channel, method, properties, body: body.freeze() }
    }

    pub fn nothing_pending(&mut self, c: ConnectionId) -> bool {
        self.pump();
        self.inboxes.get(&c).is_none_or(|(_, f)| f.is_empty())
    }

    pub fn drain(&mut self, c: ConnectionId) -> Vec<Frame> {
        self.pump();
        self.inboxes.get_mut(&c).map(|(_, f)| f.drain(..).collect()).unwrap_or_default()
    }

    // --- shorthands ---

    pub fn declare_queue(&mut self, c: ConnectionId, ch: u16, name: &str) -> String {
        self.send(c, ch, QueueDeclare { queue: name.into(), ..Default::default() });
        match self.expect_method(c).1 {
            Method::QueueDeclareOk(ok) => ok.queue.to_string(),
            other => panic!("declare {name}: {other:?}"),
        }
    }

    pub fn declare_exchange(&mut self, c: ConnectionId, ch: u16, name: &str, kind: &str) {
        self.send(c, ch, ExchangeDeclare { exchange: name.into(), kind: kind.into(), ..Default::default() });
        assert_eq!(self.expect_method(c), (ch, ExchangeDeclareOk {}.into()), "declare exchange {name}");
    }

    pub fn bind(&mut self, c: ConnectionId, ch: u16, queue: &str, exchange: &str, key: &str, args: FieldTable) {
        self.send(
            c,
            ch,
            QueueBind { queue: queue.into(), exchange: exchange.into(), routing_key: key.into(), arguments: args, ..Default::default() },
        );
        assert_eq!(self.expect_method(c), (ch, QueueBindOk {}.into()));
    }

    pub fn consume(&mut self, c: ConnectionId, ch: u16, queue: &str, tag: &str, no_ack: bool) {
        self.send(c, ch, BasicConsume { queue: queue.into(), consumer_tag: tag.into(), no_ack, ..Default::default() });
        assert_eq!(self.expect_method(c), (ch, BasicConsumeOk { consumer_tag: tag.into() }.into()));
    }

    /// basic.get with no-ack; returns the body or None for get-empty.
    pub fn get_body(&mut self, c: ConnectionId, ch: u16, queue: &str) -> Option<Bytes> {
        self.send(c, ch, BasicGet { queue: queue.into(), no_ack: true, ..Default::default() });
        self.pump();
        let front = self.inboxes.get(&c).and_then(|(_, f)| f.front().cloned());
        if let Some(Frame::Method { method: Method::BasicGetEmpty(_), .. }) = front {
            self.next_frame(c);
            return None;
        }
        Some(self.expect_delivery(c).body)
    }

    /// Expects channel.close with `code` on `ch`, answers close-ok.
    pub fn expect_channel_close(&mut self, c: ConnectionId, ch: u16, code: u16) -> ChannelClose {
        match self.expect_method(c) {
            (n, Method::ChannelClose(close)) if n == ch => {
                assert_eq!(close.reply_code, code, "{}", close.reply_text);
                self.send(c, ch, ChannelCloseOk {});
                close
            }
            other => panic!("expected channel.close {code}, got {other:?}"),
        }
    }

    pub fn expect_connection_close(&mut self, c: ConnectionId, code: u16) -> ConnectionClose {
        match self.expect_method(c) {
            (0, Method::ConnectionClose(close)) => {
                assert_eq!(close.reply_code, code, "{}", close.reply_text);
                close
            }
            other => panic!("expected connection.close {code}, got {other:?}"),
        }
    }
}

pub fn body_of(d: &Delivery) -> &str {
    std::str::from_utf8(&d.body).unwrap()
}
