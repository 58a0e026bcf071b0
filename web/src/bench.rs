//! The routing benchmark's client side, as octets: the same bytes drive the
//! core natively (`cargo run --release -p web --example bench`) and in the
//! tab (`tests/playground/bench.js`), so the two figures compare the core,
//! not two clients. One connection publishes small messages to a topic
//! exchange with N bindings (one matches); another consumes them no-ack.

use broker_core::amqp::frame::{write_body, write_content_header, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, Method, PROTOCOL_HEADER};
use bytes::{Bytes, BytesMut};

pub const EXCHANGE: &str = "bench.topic";
pub const QUEUE: &str = "bench.q";
pub const ROUTING_KEY: &str = "k.0.x";

fn method(out: &mut BytesMut, channel: u16, m: impl Into<Method>) {
    write_method(out, channel, &m.into());
}

/// Protocol header through channel.open(1), as guest on `/`, pipelined.
pub fn handshake() -> Vec<u8> {
    let mut out = BytesMut::new();
    out.extend_from_slice(&PROTOCOL_HEADER);
    method(
        &mut out,
        0,
        ConnectionStartOk {
            client_properties: FieldTable::new(),
            mechanism: "PLAIN".into(),
            response: Bytes::from_static(b"\0guest\0guest"),
            locale: "en_US".into(),
        },
    );
    method(&mut out, 0, ConnectionTuneOk { channel_max: 2047, frame_max: 131_072, heartbeat: 0 });
    method(&mut out, 0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
    method(&mut out, 1, ChannelOpen::default());
    out.to_vec()
}

/// The topic exchange, the queue and `bindings` bindings `k.{i}.*` (only
/// `k.0.*` matches [`ROUTING_KEY`]).
pub fn setup(bindings: u32) -> Vec<u8> {
    let mut out = BytesMut::new();
    method(&mut out, 1, ExchangeDeclare { exchange: EXCHANGE.into(), kind: "topic".into(), ..Default::default() });
    method(&mut out, 1, QueueDeclare { queue: QUEUE.into(), ..Default::default() });
    for i in 0..bindings.max(1) {
        method(
            &mut out,
            1,
            QueueBind { queue: QUEUE.into(), exchange: EXCHANGE.into(), routing_key: format!("k.{i}.*").into(), ..Default::default() },
        );
    }
    out.to_vec()
}

/// basic.consume no-ack on the bench queue.
pub fn consume() -> Vec<u8> {
    let mut out = BytesMut::new();
    method(&mut out, 1, BasicConsume { queue: QUEUE.into(), consumer_tag: "bench".into(), no_ack: true, ..Default::default() });
    out.to_vec()
}

/// `count` publishes of `size`-octet bodies, back to back.
pub fn publishes(count: u32, size: u32) -> Vec<u8> {
    let mut out = BytesMut::new();
    let props = BasicProperties::default().to_bytes();
    let body = vec![b'x'; size as usize];
    for _ in 0..count {
        method(&mut out, 1, BasicPublish { exchange: EXCHANGE.into(), routing_key: ROUTING_KEY.into(), ..Default::default() });
        write_content_header(&mut out, 1, 60, body.len() as u64, &props);
        write_body(&mut out, 1, &body, 131_072);
    }
    out.to_vec()
}
