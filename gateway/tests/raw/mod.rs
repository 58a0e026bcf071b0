//! A raw AMQP 0-9-1 client on a blocking socket, for tests that need to
//! send exactly the octets they choose (bad input, closing) and see exactly
//! what comes back.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use broker_core::amqp::frame::{take_frame, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{FieldTable, Frame, Method, PROTOCOL_HEADER};
use bytes::{BufMut, BytesMut};

use crate::common::Broker;

pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A raw AMQP client on a blocking socket.
pub struct Raw {
    pub sock: TcpStream,
    pub buf: BytesMut,
    /// frame_max from connection.tune.
    pub frame_max: u32,
    pub channel_max: u16,
}

/// How far a case takes the handshake before its bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Nothing sent.
    Connected,
    /// Protocol header sent, connection.start read.
    Started,
    /// start-ok sent, connection.tune read; no tune-ok yet.
    Tuned,
    /// tune-ok and open sent, open-ok read, channel 1 open.
    Channel,
}

impl Raw {
    pub fn connect(broker: &Broker) -> Raw {
        let sock = TcpStream::connect((broker.host.as_str(), broker.port)).expect("connect");
        sock.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        sock.set_nodelay(true).unwrap();
        Raw { sock, buf: BytesMut::new(), frame_max: 0, channel_max: 0 }
    }

    pub fn open(broker: &Broker, stage: Stage) -> Raw {
        let mut c = Raw::connect(broker);
        if stage >= Stage::Started {
            c.send(&PROTOCOL_HEADER);
            assert!(matches!(c.method(), (0, Method::ConnectionStart(_))));
        }
        if stage >= Stage::Tuned {
            let mut response = BytesMut::new();
            response.put_u8(0);
            response.put_slice(broker.user.as_bytes());
            response.put_u8(0);
            response.put_slice(broker.password.as_bytes());
            c.send_method(
                0,
                ConnectionStartOk {
                    client_properties: FieldTable::new(),
                    mechanism: "PLAIN".into(),
                    response: response.freeze(),
                    locale: "en_US".into(),
                },
            );
            let (0, Method::ConnectionTune(t)) = c.method() else { panic!("expected connection.tune") };
            c.frame_max = t.frame_max;
            c.channel_max = t.channel_max;
        }
        if stage >= Stage::Channel {
            c.send_method(0, ConnectionTuneOk { channel_max: c.channel_max, frame_max: c.frame_max, heartbeat: 0 });
            c.send_method(0, ConnectionOpen { virtual_host: broker.vhost.as_str().into(), ..Default::default() });
            assert!(matches!(c.method(), (0, Method::ConnectionOpenOk(_))));
            c.send_method(1, ChannelOpen::default());
            assert!(matches!(c.method(), (1, Method::ChannelOpenOk(_))));
        }
        c
    }

    /// From `Stage::Tuned`: tune-ok with this channel_max, open "/".
    pub fn open_with_channel_max(&mut self, channel_max: u16) {
        self.send_method(0, ConnectionTuneOk { channel_max, frame_max: self.frame_max, heartbeat: 0 });
        self.send_method(0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
        assert!(matches!(self.method(), (0, Method::ConnectionOpenOk(_))));
        self.channel_max = channel_max;
    }

    pub fn send(&mut self, bytes: &[u8]) {
        // The broker may already have closed: a failed write shows up as EOF
        // on the next read, which is what the cases check.
        let _ = self.sock.write_all(bytes);
    }

    pub fn send_method(&mut self, channel: u16, m: impl Into<Method>) {
        let mut b = BytesMut::new();
        write_method(&mut b, channel, &m.into());
        self.send(&b);
    }

    /// Reads more octets; `false` on EOF (or a reset).
    pub fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.sock.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe) => false,
            Err(e) => panic!("read failed (no reply within {READ_TIMEOUT:?}?): {e}"),
        }
    }

    pub fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(raw) = take_frame(&mut self.buf, 0).expect("well-formed frame from the broker") {
                return Some(Frame::decode(raw).expect("decodable frame from the broker"));
            }
            if !self.fill() {
                assert!(self.buf.is_empty(), "connection closed inside a frame: {:?}", self.buf);
                return None;
            }
        }
    }

    pub fn method(&mut self) -> (u16, Method) {
        match self.frame() {
            Some(Frame::Method { channel, method }) => (channel, method),
            other => panic!("expected a method, got {other:?}"),
        }
    }
}
