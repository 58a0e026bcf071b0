//! Criterion micro-benchmarks of the core, no I/O: the codec, topic routing
//! with many bindings, and a publish → deliver round trip through
//! `Broker::handle_bytes` / `poll_transmit`, the ceiling for any driver.
//!
//! Run with `cargo bench -p broker-core --bench core`.

use std::hint::black_box;

use broker_core::amqp::frame::{take_frame, take_frame_bytes, write_body, write_content_header, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, Frame, Method, CLASS_BASIC, PROTOCOL_HEADER};
use broker_core::{Broker, Config, ConnectionId, PeerAddress, PeerInfo, Transport};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const FRAME_MAX: u32 = 131_072;

// ---------------------------------------------------------------------------
// A minimal driver: handshake, RPCs, and encoded publishes.
// ---------------------------------------------------------------------------

struct Driver {
    broker: Broker,
    now: u64,
}

impl Driver {
    fn new() -> Driver {
        Driver { broker: Broker::new(Config::default(), 1_000_000).expect("the default configuration is valid"), now: 1_000_000 }
    }

    /// Everything the broker has to send to `c` (other output is discarded);
    /// all of it is reported written so deliveries never pause.
    fn output(&mut self, c: ConnectionId) -> BytesMut {
        let mut out = BytesMut::new();
        while let Some(t) = self.broker.poll_transmit() {
            self.broker.handle_written(t.connection, t.data.len());
            if t.connection == c {
                out.extend_from_slice(&t.data);
            }
        }
        while self.broker.poll_event().is_some() {}
        out
    }

    fn send(&mut self, c: ConnectionId, channel: u16, m: impl Into<Method>) {
        let mut b = BytesMut::new();
        write_method(&mut b, channel, &m.into());
        self.broker.handle_bytes(c, self.now, b.freeze());
    }

    /// Sends `m` on channel 1 and returns the first method the broker answers.
    fn rpc(&mut self, c: ConnectionId, m: impl Into<Method>) -> Method {
        self.send(c, 1, m);
        let mut out = self.output(c);
        let raw = take_frame(&mut out, 0).expect("frame").expect("a reply");
        match Frame::decode(raw).expect("decodable") {
            Frame::Method { method: Method::ChannelClose(cl), .. } => panic!("channel closed: {}", cl.reply_text),
            Frame::Method { method: Method::ConnectionClose(cl), .. } => panic!("connection closed: {}", cl.reply_text),
            Frame::Method { method, .. } => method,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A connection past the handshake as guest on `/`, channel 1 open.
    fn connect(&mut self) -> ConnectionId {
        let peer = PeerInfo {
            address: PeerAddress::Socket { peer: ([127, 0, 0, 1], 40000).into(), local: None },
            loopback: true,
            transport: Transport::Tcp,
        };
        let c = self.broker.handle_connect(self.now, peer);
        self.broker.handle_bytes(c, self.now, Bytes::from_static(&PROTOCOL_HEADER));
        self.output(c);
        self.send(
            c,
            0,
            ConnectionStartOk {
                client_properties: FieldTable::new(),
                mechanism: "PLAIN".into(),
                response: Bytes::from_static(b"\0guest\0guest"),
                locale: "en_US".into(),
            },
        );
        self.output(c);
        self.send(c, 0, ConnectionTuneOk { channel_max: 2047, frame_max: FRAME_MAX, heartbeat: 0 });
        self.send(c, 0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
        self.output(c);
        assert!(matches!(self.rpc(c, ChannelOpen::default()), Method::ChannelOpenOk(_)));
        c
    }

    fn declare_queue(&mut self, c: ConnectionId, name: &str, arguments: FieldTable) {
        let m = self.rpc(c, QueueDeclare { queue: name.into(), arguments, ..Default::default() });
        assert!(matches!(m, Method::QueueDeclareOk(_)), "{m:?}");
    }
}

fn publish_frames(out: &mut BytesMut, exchange: &str, key: &str, body: &[u8]) {
    let m = BasicPublish { exchange: exchange.into(), routing_key: key.into(), ..Default::default() };
    write_method(out, 1, &m.into());
    write_content_header(out, 1, CLASS_BASIC, body.len() as u64, &BasicProperties::default().to_bytes());
    write_body(out, 1, body, FRAME_MAX);
}

// ---------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));

    let mut wire = BytesMut::new();
    let publish = BasicPublish { exchange: "amq.topic".into(), routing_key: "orders.eu.created".into(), ..Default::default() };
    write_method(&mut wire, 1, &publish.into());
    let wire = wire.freeze();
    g.bench_function("decode basic.publish frame", |b| {
        b.iter(|| {
            let mut buf = wire.clone();
            let raw = take_frame_bytes(&mut buf, FRAME_MAX).unwrap().unwrap();
            black_box(Frame::decode(raw).unwrap())
        })
    });

    let deliver: Method = BasicDeliver {
        consumer_tag: "amq.ctag-3Fq1b8kLzJ0w2xZk".into(),
        delivery_tag: 123_456,
        redelivered: false,
        exchange: "amq.topic".into(),
        routing_key: "orders.eu.created".into(),
    }
    .into();
    let props = BasicProperties::default().to_bytes();
    let body = [7u8; 16];
    let mut out = BytesMut::with_capacity(4096);
    g.bench_function("encode basic.deliver+header+16 B body", |b| {
        b.iter(|| {
            out.clear();
            write_method(&mut out, 1, black_box(&deliver));
            write_content_header(&mut out, 1, CLASS_BASIC, 16, &props);
            write_body(&mut out, 1, black_box(&body), FRAME_MAX);
            black_box(out.len())
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------------
// Topic routing
// ---------------------------------------------------------------------------

/// A binding key of varied shape for index `i`: exact, `*` and `#` patterns.
fn pattern(i: usize) -> String {
    match i % 5 {
        0 => format!("r{}.s{}.t{}", i % 97, i % 89, i),
        1 => format!("r{}.*.t{}", i % 97, i % 83),
        2 => format!("r{}.#", i % 997),
        3 => format!("*.s{}.#", i % 991),
        _ => format!("#.t{}", i),
    }
}

/// A broker with a topic exchange `t` holding `bindings` bindings spread
/// over 10 queues capped at one message (so routed messages do not pile
/// up), and a publishing connection.
fn topic_broker(bindings: usize) -> (Driver, ConnectionId) {
    let mut d = Driver::new();
    let c = d.connect();
    let m = d.rpc(c, ExchangeDeclare { exchange: "t".into(), kind: "topic".into(), ..Default::default() });
    assert!(matches!(m, Method::ExchangeDeclareOk(_)));
    for q in 0..10 {
        d.declare_queue(c, &format!("q{q}"), FieldTable::from([("x-max-length", FieldValue::I32(1))]));
    }
    for i in 0..bindings {
        let m = d.rpc(
            c,
            QueueBind { queue: format!("q{}", i % 10).into(), exchange: "t".into(), routing_key: pattern(i).into(), ..Default::default() },
        );
        assert!(matches!(m, Method::QueueBindOk(_)));
    }
    (d, c)
}

fn topic_routing(c: &mut Criterion) {
    let mut g = c.benchmark_group("topic_routing");
    g.throughput(Throughput::Elements(1));
    for (bindings, key, label) in [
        (1, "x.y.z", "publish 16 B, 1 binding, no match"),
        (10_000, "x.y.z", "publish 16 B, 10k bindings, no match"),
        (10_000, "r7.s7.t7", "publish 16 B, 10k bindings, 5 match (4 queues)"),
    ] {
        let (mut d, conn) = topic_broker(bindings);
        let mut one = BytesMut::new();
        publish_frames(&mut one, "t", key, &[0u8; 16]);
        let one = one.freeze();
        g.bench_function(label, |b| {
            b.iter(|| {
                d.broker.handle_bytes(conn, d.now, one.clone());
                while let Some(t) = d.broker.poll_transmit() {
                    d.broker.handle_written(t.connection, t.data.len());
                }
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// Publish -> deliver round trip
// ---------------------------------------------------------------------------

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip");
    for batch in [1usize, 100] {
        let mut d = Driver::new();
        let publisher = d.connect();
        let consumer = d.connect();
        d.declare_queue(publisher, "rt", FieldTable::new());
        let m = d.rpc(consumer, BasicConsume { queue: "rt".into(), consumer_tag: "c".into(), no_ack: true, ..Default::default() });
        assert!(matches!(m, Method::BasicConsumeOk(_)));
        let mut frames = BytesMut::new();
        for _ in 0..batch {
            publish_frames(&mut frames, "", "rt", &[0u8; 16]);
        }
        let frames = frames.freeze();

        // Sanity: one batch in, `batch` deliveries out.
        d.broker.handle_bytes(publisher, d.now, frames.clone());
        let mut out = d.output(consumer);
        let mut delivers = 0;
        while let Some(raw) = take_frame(&mut out, 0).unwrap() {
            if let Frame::Method { method: Method::BasicDeliver(_), .. } = Frame::decode(raw).unwrap() {
                delivers += 1;
            }
        }
        assert_eq!(delivers, batch);

        g.throughput(Throughput::Elements(batch as u64));
        let label = format!("publish+deliver 16 B no-ack, {batch} per handle_bytes");
        g.bench_function(label, |b| {
            b.iter_batched(
                || frames.clone(),
                |input| {
                    d.broker.handle_bytes(publisher, d.now, input);
                    let mut octets = 0;
                    while let Some(t) = d.broker.poll_transmit() {
                        octets += t.data.len();
                        d.broker.handle_written(t.connection, t.data.len());
                    }
                    black_box(octets)
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, codec, topic_routing, round_trip);
criterion_main!(benches);
