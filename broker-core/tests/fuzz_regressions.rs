//! Every input in `fuzz/regressions/<target>/` (crashes the fuzzers found,
//! see `fuzz/regressions/README.md`) replayed through the same target code
//! the fuzzers run, plus the seed corpus in `fuzz/corpus/<target>/`, as plain
//! tests on stable Rust.

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Runs every file under `dir/<target>/` through its target; returns how many.
fn replay(dir: &Path) -> usize {
    let mut count = 0;
    for (name, target) in targets::TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(name)) else { continue };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panics (replay with `cargo +nightly fuzz run {name} {}`)", file.display(), file.display());
            count += 1;
        }
    }
    count
}

#[test]
fn fuzz_regressions_do_not_crash() {
    let n = replay(&fuzz_dir().join("regressions"));
    eprintln!("replayed {n} regression inputs");
}

#[test]
fn fuzz_seed_corpus_does_not_crash() {
    let n = replay(&fuzz_dir().join("corpus"));
    eprintln!("replayed {n} corpus inputs");
}

#[test]
fn handshake_prefix_opens_a_channel() {
    // The prefix the connection target and its seeds start with really
    // completes the handshake: channel.open-ok comes back.
    let data = [&[0x01u8][..], &[0x05, 0x00]].concat();
    targets::connection(&data);
    let mut b = broker_core::Broker::new(broker_core::Config::default(), 0).expect("the default configuration is valid");
    let peer = broker_core::PeerInfo {
        address: broker_core::PeerAddress::Named("x".into()),
        loopback: true,
        transport: broker_core::Transport::Tcp,
    };
    let c = b.handle_connect(0, peer);
    b.handle_bytes(c, 0, targets::handshake_prefix());
    let mut out = bytes::BytesMut::new();
    while let Some(t) = b.poll_transmit() {
        out.extend_from_slice(&t.data);
    }
    let mut frames = Vec::new();
    while let Ok(Some(raw)) = broker_core::amqp::frame::take_frame(&mut out, 0) {
        frames.push(broker_core::amqp::Frame::decode(raw).expect("broker output decodes"));
    }
    let last = frames.last().expect("replies");
    assert!(
        matches!(last, broker_core::amqp::Frame::Method { channel: 1, method: broker_core::amqp::Method::ChannelOpenOk(_) }),
        "{frames:?}"
    );
}

/// Rewrites `fuzz/corpus/<target>/seed-*`: valid frames, tables, properties
/// and client sessions for the fuzzers to start from. Run with
/// `cargo test -p broker-core --test fuzz_regressions -- --ignored`.
#[test]
#[ignore]
fn write_seed_corpus() {
    use broker_core::amqp::frame::{write_body, write_content_header, write_heartbeat, write_method};
    use broker_core::amqp::method::*;
    use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, Method};
    use bytes::{Bytes, BytesMut};

    let props = BasicProperties {
        content_type: Some("text/plain".into()),
        content_encoding: Some("gzip".into()),
        headers: Some(FieldTable::from([
            ("x-death", FieldValue::Array(vec![FieldValue::Table(FieldTable::from([("count", FieldValue::I64(1))]))])),
            ("s", FieldValue::str("v")),
            ("n", FieldValue::I32(-7)),
            ("f", FieldValue::F64(0.5)),
            ("d", FieldValue::Decimal { scale: 2, value: 5 }),
            ("t", FieldValue::Timestamp(1)),
            ("b", FieldValue::Bool(true)),
            ("x", FieldValue::Bytes(Bytes::from_static(b"\0\x01"))),
            ("v", FieldValue::Void),
        ])),
        delivery_mode: Some(2),
        priority: Some(3),
        correlation_id: Some("c".into()),
        reply_to: Some("amq.rabbitmq.reply-to".into()),
        expiration: Some("100".into()),
        message_id: Some("m".into()),
        timestamp: Some(5),
        kind: Some("k".into()),
        user_id: Some("guest".into()),
        app_id: Some("a".into()),
        cluster_id: None,
    };
    let method = |ch: u16, m: Method| {
        let mut b = BytesMut::new();
        write_method(&mut b, ch, &m);
        b.to_vec()
    };
    let publish = |ex: &str, key: &str, p: &BasicProperties, body: &[u8]| {
        let mut b = BytesMut::new();
        write_method(&mut b, 1, &BasicPublish { exchange: ex.into(), routing_key: key.into(), ..Default::default() }.into());
        write_content_header(&mut b, 1, 60, body.len() as u64, &p.to_bytes());
        write_body(&mut b, 1, body, 4096);
        b.to_vec()
    };
    let declare = |q: &str, args: FieldTable| method(1, QueueDeclare { queue: q.into(), arguments: args, ..Default::default() }.into());

    let dir = fuzz_dir().join("corpus");
    let write = |target: &str, name: &str, data: &[u8]| {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("seed-{name}")), data).unwrap();
    };

    // frame: two octets of frame_max choice, then frames.
    let hs = targets::handshake_prefix();
    write("frame", "handshake", &[&[0u8, 0][..], &hs[8..]].concat());
    let mut hb = BytesMut::new();
    write_heartbeat(&mut hb);
    write("frame", "publish", &[&[4u8, 0][..], &publish("amq.direct", "k", &props, b"hello"), &hb].concat());
    write(
        "frame",
        "methods",
        &[
            &[0u8, 0][..],
            &declare("q", FieldTable::from([("x-max-length", FieldValue::I32(1))])),
            &method(1, BasicConsume { queue: "q".into(), ..Default::default() }.into()),
        ]
        .concat(),
    );

    // field_table: a table's octets; properties: a property list.
    let mut t = BytesMut::new();
    props.headers.as_ref().unwrap().encode(&mut t);
    write("field_table", "every-type", &t);
    write("field_table", "empty", &[0, 0, 0, 0]);
    write("properties", "full", &props.to_bytes());
    write("properties", "persistent", &BasicProperties { delivery_mode: Some(2), ..Default::default() }.to_bytes());

    // connection: setup octet, then ops (see `targets::connection`).
    let send = |slot: u8, data: &[u8]| {
        let mut ops = Vec::new();
        for chunk in data.chunks(256) {
            ops.push(slot << 3);
            ops.push((chunk.len() - 1) as u8);
            ops.extend_from_slice(chunk);
        }
        ops
    };
    let wait = |ms: u16| [&[4u8][..], &ms.to_be_bytes()].concat();
    let session = [
        declare("q", FieldTable::from([("x-message-ttl", FieldValue::I32(500)), ("x-dead-letter-exchange", FieldValue::str(""))])),
        method(1, QueueBind { queue: "q".into(), exchange: "amq.topic".into(), routing_key: "a.*.#".into(), ..Default::default() }.into()),
        method(1, ConfirmSelect { nowait: false }.into()),
        publish("amq.topic", "a.b.c", &props, b"one"),
        publish("", "q", &BasicProperties::default(), &[7u8; 300]),
        method(1, BasicGet { queue: "q".into(), no_ack: false, ..Default::default() }.into()),
        method(1, BasicAck { delivery_tag: 1, multiple: false }.into()),
        method(1, BasicQos { prefetch_count: 1, ..Default::default() }.into()),
        method(1, BasicConsume { queue: "q".into(), consumer_tag: "c".into(), ..Default::default() }.into()),
    ]
    .concat();
    write("connection", "session", &[&[0x05u8][..], &send(0, &session), &wait(2000)].concat());
    write("connection", "session-durable-paged", &[&[0xA5u8][..], &send(0, &session), &wait(100)].concat());
    write("connection", "handshake-by-hand", &[&[0x00u8][..], &send(0, &hs), &send(0, &session)].concat());
    let two = [
        &[0x0Eu8][..],
        &send(0, &declare("shared", FieldTable::new())),
        &send(1, &method(1, BasicConsume { queue: "shared".into(), ..Default::default() }.into())),
        &send(0, &publish("", "shared", &props, b"x")),
        &[6u8],
        &send(0, &publish("", "shared", &props, b"y")),
        &[6u8],
        &send(1, &method(0, ConnectionClose { reply_code: 200, ..Default::default() }.into())),
        &wait(65_000),
    ]
    .concat();
    write("connection", "two-connections-alarm", &two);
}
