//! Bad input and refused operations: each gets the reply code RabbitMQ
//! gives, on the channel (soft) or the connection (hard), and the broker
//! keeps serving other connections.

mod support;

use broker_core::amqp::frame::{write_body, write_content_header, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, Method};
use bytes::{BufMut, Bytes, BytesMut};
use support::Harness;

#[test]
fn declare_rules() {
    let mut h = Harness::new();
    let c = h.connect();
    // Passive declare of a missing queue / exchange: 404.
    h.send(c, 1, QueueDeclare { queue: "missing".into(), passive: true, ..Default::default() });
    let close = h.expect_channel_close(c, 1, 404);
    assert_eq!(&*close.reply_text, "NOT_FOUND - no queue 'missing' in vhost '/'");
    assert_eq!((close.class_id, close.method_id), (50, 10));
    h.open_channel(c, 1);
    h.send(c, 1, ExchangeDeclare { exchange: "missing".into(), passive: true, ..Default::default() });
    h.expect_channel_close(c, 1, 404);
    h.open_channel(c, 1);
    // Reserved names: 403.
    h.send(c, 1, QueueDeclare { queue: "amq.mine".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 403);
    assert_eq!(&*close.reply_text, "ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'");
    h.open_channel(c, 1);
    h.send(c, 1, ExchangeDeclare { exchange: "amq.mine".into(), kind: "direct".into(), ..Default::default() });
    h.expect_channel_close(c, 1, 403);
    h.open_channel(c, 1);
    // Redeclaring a standard exchange with its own properties is fine.
    h.send(c, 1, ExchangeDeclare { exchange: "amq.direct".into(), kind: "direct".into(), durable: true, ..Default::default() });
    assert_eq!(h.expect_method(c), (1, ExchangeDeclareOk {}.into()));
    // Inequivalent redeclare: 406.
    h.declare_exchange(c, 1, "logs", "fanout");
    h.send(c, 1, ExchangeDeclare { exchange: "logs".into(), kind: "direct".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(
        &*close.reply_text,
        "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'logs' in vhost '/': received 'direct' but current is 'fanout'"
    );
    h.open_channel(c, 1);
    h.declare_queue(c, 1, "q");
    h.send(c, 1, QueueDeclare { queue: "q".into(), durable: true, ..Default::default() });
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(
        &*close.reply_text,
        "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'"
    );
    // Unknown exchange type: a connection error.
    h.open_channel(c, 1);
    h.send(c, 1, ExchangeDeclare { exchange: "x".into(), kind: "weird".into(), ..Default::default() });
    let close = h.expect_connection_close(c, 503);
    assert_eq!(&*close.reply_text, "COMMAND_INVALID - unknown exchange type 'weird'");
}

#[test]
fn server_named_queues_and_the_empty_name_shortcut() {
    let mut h = Harness::new();
    let c = h.connect();
    let name = h.declare_queue(c, 1, "");
    assert!(name.starts_with("amq.gen-") && name.len() == 8 + 22, "{name}");
    // Empty queue name (and key) in bind mean the last declared queue.
    h.send(c, 1, QueueBind { exchange: "amq.direct".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (1, QueueBindOk {}.into()));
    h.publish(c, 1, "amq.direct", &name, b"via shortcut");
    assert_eq!(h.get_body(c, 1, "").as_deref(), Some(&b"via shortcut"[..]));
}

#[test]
fn exclusive_queues_belong_to_their_connection() {
    let mut h = Harness::new();
    let a = h.connect();
    let b = h.connect();
    h.send(a, 1, QueueDeclare { queue: "excl".into(), exclusive: true, ..Default::default() });
    h.expect_method(a);
    h.send(b, 1, QueueDeclare { queue: "excl".into(), passive: true, ..Default::default() });
    let close = h.expect_channel_close(b, 1, 405);
    assert!(close.reply_text.starts_with("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'excl' in vhost '/'"));
    h.open_channel(b, 1);
    h.send(b, 1, BasicConsume { queue: "excl".into(), ..Default::default() });
    h.expect_channel_close(b, 1, 405);
}

#[test]
fn delete_rules() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.publish(c, 1, "", "q", b"x");
    h.send(c, 1, QueueDelete { queue: "q".into(), if_empty: true, ..Default::default() });
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty");
    h.open_channel(c, 1);
    h.consume(c, 1, "q", "c", false);
    h.drain(c);
    h.send(c, 1, QueueDelete { queue: "q".into(), if_unused: true, ..Default::default() });
    h.expect_channel_close(c, 1, 406);
    h.open_channel(c, 1);
    h.publish(c, 1, "", "q", b"y");
    h.publish(c, 1, "", "q", b"z");
    h.send(c, 1, QueuePurge { queue: "q".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (1, QueuePurgeOk { message_count: 3 }.into()));
    h.publish(c, 1, "", "q", b"w");
    h.send(c, 1, QueueDelete { queue: "q".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (1, QueueDeleteOk { message_count: 1 }.into()));
    // Deleting what does not exist succeeds.
    h.send(c, 1, QueueDelete { queue: "q".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (1, QueueDeleteOk { message_count: 0 }.into()));
    h.send(c, 1, ExchangeDelete { exchange: "nope".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (1, ExchangeDeleteOk {}.into()));
    h.declare_exchange(c, 1, "busy", "direct");
    h.declare_queue(c, 1, "q2");
    h.bind(c, 1, "q2", "busy", "k", Default::default());
    h.send(c, 1, ExchangeDelete { exchange: "busy".into(), if_unused: true, ..Default::default() });
    h.expect_channel_close(c, 1, 406);
    h.open_channel(c, 1);
    h.send(c, 1, ExchangeDelete { exchange: "busy".into(), ..Default::default() });
    h.expect_method(c);
    h.publish(c, 1, "", "q2", b"still routable by name");
    assert!(h.get_body(c, 1, "q2").is_some());
}

#[test]
fn publish_errors() {
    let mut h = Harness::new();
    let c = h.connect();
    let other = h.connect();
    h.publish(c, 1, "missing", "k", b"x");
    let close = h.expect_channel_close(c, 1, 404);
    assert_eq!(&*close.reply_text, "NOT_FOUND - no exchange 'missing' in vhost '/'");
    assert_eq!((close.class_id, close.method_id), (60, 40));
    h.open_channel(c, 1);
    h.send(c, 1, ExchangeDeclare { exchange: "inner".into(), kind: "fanout".into(), internal: true, ..Default::default() });
    h.expect_method(c);
    h.publish(c, 1, "inner", "", b"x");
    h.expect_channel_close(c, 1, 403);
    h.open_channel(c, 1);
    let props = BasicProperties { user_id: Some("mallory".into()), ..Default::default() };
    h.publish_with(c, 1, "", "q", &props, b"x", false);
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'");
    h.open_channel(c, 1);
    let mut buf = BytesMut::new();
    write_method(&mut buf, 1, &BasicPublish { immediate: true, ..Default::default() }.into());
    h.send_bytes(c, buf.freeze());
    h.expect_connection_close(c, 540);
    // The other connection is unaffected.
    h.declare_queue(other, 1, "fine");
}

fn frame_case(bytes: impl FnOnce(&mut BytesMut)) -> (Harness, broker_core::ConnectionId, broker_core::ConnectionId) {
    let mut h = Harness::new();
    let c = h.connect();
    let bystander = h.connect();
    let mut buf = BytesMut::new();
    bytes(&mut buf);
    h.send_bytes(c, buf.freeze());
    (h, c, bystander)
}

fn assert_hard(code: u16, bytes: impl FnOnce(&mut BytesMut)) {
    let (mut h, c, bystander) = frame_case(bytes);
    h.expect_connection_close(c, code);
    h.send(c, 0, ConnectionCloseOk {});
    assert!(h.closed.contains(&c));
    h.declare_queue(bystander, 1, "alive");
    h.publish(bystander, 1, "", "alive", b"ok");
    assert!(h.get_body(bystander, 1, "alive").is_some());
}

#[test]
fn bad_frames_close_the_connection_with_the_right_code() {
    // Frame end octet is not 0xCE.
    assert_hard(501, |b| {
        write_method(b, 1, &QueueDeclare { queue: "q".into(), ..Default::default() }.into());
        let last = b.len() - 1;
        b[last] = 0;
    });
    // Payload beyond frame_max.
    assert_hard(501, |b| {
        b.put_u8(3);
        b.put_u16(1);
        b.put_u32(1 << 20);
    });
    // Unknown frame type.
    assert_hard(501, |b| b.extend_from_slice(&[9, 0, 1, 0, 0, 0, 0, 0xCE]));
    // Unknown class / method.
    assert_hard(540, |b| b.extend_from_slice(&[1, 0, 1, 0, 0, 0, 4, 0, 99, 0, 1, 0xCE]));
    // Undecodable method arguments: 501, as RabbitMQ 3.10 ("FRAME_ERROR -
    // cannot decode ..."), whether truncated, a shortstr that is not UTF-8
    // ("Malformed UTF-8 in shortstr"), or a field table with an unknown type.
    assert_hard(501, |b| b.extend_from_slice(&[1, 0, 1, 0, 0, 0, 5, 0, 50, 0, 10, 0, 0xCE]));
    assert_hard(501, |b| {
        // queue.declare "q" with arguments {"k": type 'Z'}.
        let payload = [0, 50, 0, 10, 0, 0, 1, b'q', 0, 0, 0, 0, 3, 1, b'k', b'Z'];
        b.extend_from_slice(&[1, 0, 1, 0, 0, 0, payload.len() as u8]);
        b.extend_from_slice(&payload);
        b.put_u8(0xCE);
    });
    assert_hard(501, |b| {
        // queue.declare of a name that is not UTF-8.
        let payload = [0, 50, 0, 10, 0, 0, 2, 0xFF, 0xFE, 0, 0, 0, 0, 0];
        b.extend_from_slice(&[1, 0, 1, 0, 0, 0, payload.len() as u8]);
        b.extend_from_slice(&payload);
        b.put_u8(0xCE);
    });
    // Content header with no publish.
    assert_hard(505, |b| write_content_header(b, 1, 60, 3, &[0, 0]));
    // Body with no header.
    assert_hard(505, |b| write_body(b, 1, b"abc", 4096));
    // A method in the middle of a content.
    assert_hard(505, |b| {
        write_method(b, 1, &BasicPublish::default().into());
        write_method(b, 1, &QueueDeclare::default().into());
    });
    // Body longer than the header declared.
    assert_hard(501, |b| {
        write_method(b, 1, &BasicPublish { routing_key: "q".into(), ..Default::default() }.into());
        write_content_header(b, 1, 60, 2, &[0, 0]);
        write_body(b, 1, b"abc", 4096);
    });
    // A heartbeat on a non-zero channel.
    assert_hard(505, |b| b.extend_from_slice(&[8, 0, 1, 0, 0, 0, 0, 0xCE]));
    // A frame on a channel never opened.
    assert_hard(504, |b| write_method(b, 9, &QueueDeclare::default().into()));
    // A second channel.open.
    assert_hard(504, |b| write_method(b, 1, &ChannelOpen::default().into()));
}

/// A frame of any kind on a channel above the negotiated channel_max is a
/// 530 connection error (class and method 0, as RabbitMQ sends its channel
/// limit error); within range, an unopened channel stays 504.
#[test]
fn frames_above_channel_max_are_530() {
    let above = "NOT_ALLOWED - channel number 2048 is above the negotiated channel_max (2047)";
    let cases: [fn(&mut BytesMut); 4] = [
        |b| write_method(b, 2048, &ChannelOpen::default().into()),
        |b| write_method(b, 2048, &QueueDeclare::default().into()),
        |b| write_content_header(b, 2048, 60, 3, &[0, 0]),
        |b| write_body(b, 2048, b"abc", 4096),
    ];
    for bytes in cases {
        let (mut h, c, _) = frame_case(bytes);
        let close = h.expect_connection_close(c, 530);
        assert_eq!((&*close.reply_text, close.class_id, close.method_id), (above, 0, 0));
    }
    assert_hard(504, |b| write_method(b, 2047, &QueueDeclare::default().into()));
    // RabbitMQ's text once channel_max channels are open.
    let mut h = Harness::with_config(broker_core::Config { channel_max: 2, ..Default::default() });
    let c = h.connect();
    h.open_channel(c, 2);
    h.send(c, 3, ChannelOpen::default());
    let close = h.expect_connection_close(c, 530);
    assert_eq!(&*close.reply_text, "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)");
}

#[test]
fn frames_after_channel_close_are_discarded_until_close_ok() {
    let mut h = Harness::new();
    let c = h.connect();
    h.publish(c, 1, "missing", "k", b"x");
    let (1, Method::ChannelClose(_)) = h.expect_method(c) else { panic!() };
    // The client has not seen the close yet and keeps publishing.
    h.publish(c, 1, "missing", "k", b"y");
    h.send(c, 1, QueueDeclare { queue: "q".into(), ..Default::default() });
    assert!(h.nothing_pending(c));
    h.send(c, 1, ChannelCloseOk {});
    h.open_channel(c, 1);
}

#[test]
fn message_larger_than_the_limit_is_refused_at_the_header() {
    let config = broker_core::Config { max_message_size: 1000, ..Default::default() };
    let mut h = Harness::with_config(config);
    let c = h.connect();
    let mut b = BytesMut::new();
    write_method(&mut b, 1, &BasicPublish { routing_key: "q".into(), ..Default::default() }.into());
    write_content_header(&mut b, 1, 60, 1_000_000_000, &[0, 0]);
    h.send_bytes(c, b.freeze());
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - message size 1000000000 is larger than configured max size 1000");
    let _ = Bytes::new();
}

/// Each expectation here was checked against RabbitMQ 3.10 with pika.
#[test]
fn rabbitmq_compatible_edge_cases() {
    use broker_core::amqp::{FieldTable, FieldValue};
    let mut h = Harness::new();
    let c = h.connect();
    // channel.flow(active=false) is refused like RabbitMQ does (hard 540).
    h.send(c, 1, ChannelFlow { active: false });
    let close = h.expect_connection_close(c, 540);
    assert_eq!(&*close.reply_text, "NOT_IMPLEMENTED - active=false");

    let c = h.connect();
    // Redeclaring with a different exclusive flag is 405, in both directions.
    h.declare_queue(c, 1, "shared");
    h.send(c, 1, QueueDeclare { queue: "shared".into(), exclusive: true, ..Default::default() });
    h.expect_channel_close(c, 1, 405);
    h.open_channel(c, 1);
    h.send(c, 1, QueueDeclare { queue: "mine".into(), exclusive: true, ..Default::default() });
    h.expect_method(c);
    h.send(c, 1, QueueDeclare { queue: "mine".into(), ..Default::default() });
    h.expect_channel_close(c, 1, 405);
    h.open_channel(c, 1);
    // Argument inequivalence texts.
    let ttl = |v| FieldTable::from([("x-message-ttl", FieldValue::I32(v))]);
    h.send(c, 1, QueueDeclare { queue: "ttl".into(), arguments: ttl(1000), ..Default::default() });
    h.expect_method(c);
    h.send(
        c,
        1,
        QueueDeclare { queue: "ttl".into(), arguments: FieldTable::from([("x-message-ttl", FieldValue::I64(1000))]), ..Default::default() },
    );
    h.expect_method(c); // same value, another integer width: equivalent
    h.send(c, 1, QueueDeclare { queue: "ttl".into(), arguments: ttl(2000), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(
        &*close.reply_text,
        "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'ttl' in vhost '/': received '2000' but current is '1000'"
    );
    h.open_channel(c, 1);
    h.send(c, 1, QueueDeclare { queue: "ttl".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'ttl' in vhost '/': received none but current is the value '1000' of type 'signedint'");
    h.open_channel(c, 1);
    // Unbinding is idempotent, even when the exchange is missing.
    h.send(c, 1, QueueUnbind { queue: "shared".into(), exchange: "nope".into(), routing_key: "k".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (1, QueueUnbindOk {}.into()));
    h.send(
        c,
        1,
        ExchangeUnbind { destination: "amq.topic".into(), source: "amq.fanout".into(), routing_key: "zz".into(), ..Default::default() },
    );
    assert_eq!(h.expect_method(c), (1, ExchangeUnbindOk {}.into()));
    // The exchange is looked up before the queue; the source before the destination.
    h.send(c, 1, QueueBind { queue: "nope-q".into(), exchange: "nope-x".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 404);
    assert_eq!(&*close.reply_text, "NOT_FOUND - no exchange 'nope-x' in vhost '/'");
    h.open_channel(c, 1);
    h.send(c, 1, ExchangeBind { destination: "nope-y".into(), source: "nope-x".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 404);
    assert_eq!(&*close.reply_text, "NOT_FOUND - no exchange 'nope-x' in vhost '/'");
    h.open_channel(c, 1);
    h.send(c, 1, ExchangeDelete { exchange: "amq.direct".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 403);
    assert_eq!(&*close.reply_text, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed");
}

#[test]
fn vhost_and_user_limits_refuse_like_rabbitmq() {
    use broker_core::{Config, Limits, Permission, User};
    let mut config = Config::default();
    config.users.push(User::new("limu", "limu", [1, 1, 1, 1]));
    config.permissions.push(Permission::all("limu", "/"));
    let mut h = Harness::with_config(config);
    h.broker.set_vhost_limits("/", Limits { max_connections: Some(2), max_queues: Some(1), max_channels: None });
    h.broker.set_user_limits("limu", Limits { max_connections: Some(1), max_channels: Some(1), max_queues: None });
    let c = h.connect();
    h.declare_queue(c, 1, "only");
    h.declare_queue(c, 1, "only"); // redeclaring an existing queue is fine
    h.send(c, 1, QueueDeclare { queue: "second".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - cannot declare queue 'second': queue limit in vhost '/' (1) is reached");
    let login = |h: &mut Harness, user: &str| {
        let c = h.raw_connect(true);
        h.send_bytes(c, Bytes::from_static(&broker_core::amqp::PROTOCOL_HEADER));
        h.expect_method(c);
        h.send(
            c,
            0,
            ConnectionStartOk {
                mechanism: "PLAIN".into(),
                response: format!("\0{user}\0{user}").into_bytes().into(),
                ..Default::default()
            },
        );
        h.expect_method(c);
        h.send(c, 0, ConnectionTuneOk { channel_max: 2047, frame_max: 131_072, heartbeat: 0 });
        h.send(c, 0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
        c
    };
    let u1 = login(&mut h, "limu");
    assert!(matches!(h.expect_method(u1).1, Method::ConnectionOpenOk(_)));
    h.open_channel(u1, 1);
    h.send(u1, 2, ChannelOpen::default());
    let close = h.expect_connection_close(u1, 530);
    assert_eq!(
        &*close.reply_text,
        "NOT_ALLOWED - number of channels opened for user 'limu' has reached the maximum allowed user limit of (1)"
    );
    // The vhost already holds 2 connections (c and u1, closing): a third is refused.
    let g = login(&mut h, "guest");
    let close = h.expect_connection_close(g, 530);
    assert_eq!(&*close.reply_text, "NOT_ALLOWED - access to vhost '/' refused for user 'guest': connection limit (2) is reached");
    // Once u1 is gone, limu may connect again, but only once.
    h.send(u1, 0, ConnectionCloseOk {});
    let u2 = login(&mut h, "limu");
    assert!(matches!(h.expect_method(u2).1, Method::ConnectionOpenOk(_)));
    h.broker.set_vhost_limits("/", Limits::default());
    let u3 = login(&mut h, "limu");
    let close = h.expect_connection_close(u3, 530);
    assert_eq!(&*close.reply_text, "NOT_ALLOWED - connection refused for user 'limu': user connection limit (1) is reached");
}

#[test]
fn a_peer_that_never_reads_is_no_longer_read_from() {
    let config = broker_core::Config { output_hard_limit: 100_000, ..broker_core::Config::default() };
    let mut h = Harness::with_config(config);
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.publish(c, 1, "", "q", &[0u8; 20_000]);
    h.auto_written = false;
    // Browsing the same message again and again without reading the replies.
    for _ in 0..10 {
        h.send(c, 1, BasicGet { queue: "q".into(), ..Default::default() });
        h.send(c, 1, BasicRecover { requeue: true });
    }
    assert_eq!(h.events, [broker_core::Event::PauseReading { connection: c }]);
    h.auto_written = true;
    h.broker.handle_written(c, usize::MAX);
    h.pump();
    assert_eq!(h.events.last(), Some(&broker_core::Event::ResumeReading { connection: c }));
}
