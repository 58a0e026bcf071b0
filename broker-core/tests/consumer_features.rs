//! Consumer-side extensions: single active consumer, consumer priorities,
//! the consumer timeout, quorum queues' delivery count and limit, direct
//! reply-to, and per-vhost permissions. Virtual clock; behaviour checked
//! against RabbitMQ 3.10.

mod support;

use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, Method};
use broker_core::{Config, Permission, User};
use support::{body_of, Delivery, Harness};

fn args(pairs: &[(&str, FieldValue)]) -> FieldTable {
    let mut t = FieldTable::new();
    for (k, v) in pairs {
        t.insert(k, v.clone());
    }
    t
}

fn consumer_of(d: &Delivery) -> String {
    match &d.method {
        Method::BasicDeliver(m) => m.consumer_tag.to_string(),
        other => panic!("{other:?}"),
    }
}

fn tag_of(d: &Delivery) -> u64 {
    match &d.method {
        Method::BasicDeliver(m) => m.delivery_tag,
        Method::BasicGetOk(m) => m.delivery_tag,
        other => panic!("{other:?}"),
    }
}

#[test]
fn single_active_consumer_hands_over_on_cancel_and_channel_close() {
    let mut h = Harness::new();
    let c = h.connect();
    h.send(
        c,
        1,
        QueueDeclare {
            queue: "sac".into(),
            arguments: args(&[("x-single-active-consumer", FieldValue::Bool(true))]),
            ..Default::default()
        },
    );
    h.expect_method(c);
    h.open_channel(c, 2);
    h.consume(c, 1, "sac", "first", true);
    h.consume(c, 2, "sac", "second", true);
    h.consume(c, 1, "sac", "third", true);
    for i in 0..3 {
        h.publish(c, 1, "", "sac", format!("a{i}").as_bytes());
    }
    let got: Vec<String> = (0..3).map(|_| consumer_of(&h.expect_delivery(c))).collect();
    assert_eq!(got, ["first", "first", "first"]);
    h.send(c, 1, BasicCancel { consumer_tag: "first".into(), nowait: false });
    h.expect_method(c);
    h.publish(c, 1, "", "sac", b"b");
    assert_eq!(consumer_of(&h.expect_delivery(c)), "second");
    h.send(c, 2, ChannelClose::default());
    assert_eq!(h.expect_method(c), (2, ChannelCloseOk {}.into()));
    h.publish(c, 1, "", "sac", b"c");
    assert_eq!(consumer_of(&h.expect_delivery(c)), "third");
}

#[test]
fn higher_priority_consumers_receive_first_while_they_have_credit() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.send(c, 1, BasicQos { prefetch_count: 2, ..Default::default() });
    h.expect_method(c);
    h.consume(c, 1, "q", "low", false);
    h.send(
        c,
        1,
        BasicConsume {
            queue: "q".into(),
            consumer_tag: "high".into(),
            arguments: args(&[("x-priority", FieldValue::I32(10))]),
            ..Default::default()
        },
    );
    h.expect_method(c);
    for i in 0..3 {
        h.publish(c, 1, "", "q", format!("m{i}").as_bytes());
    }
    let got: Vec<(String, String)> = (0..3).map(|_| h.expect_delivery(c)).map(|d| (consumer_of(&d), body_of(&d).to_string())).collect();
    assert_eq!(got, [("high".into(), "m0".into()), ("high".into(), "m1".into()), ("low".into(), "m2".into())]);
    h.send(
        c,
        1,
        BasicConsume {
            queue: "q".into(),
            consumer_tag: "bad".into(),
            arguments: args(&[("x-priority", FieldValue::str("high"))]),
            ..Default::default()
        },
    );
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(
        &*close.reply_text,
        "PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'q' in vhost '/': \"expected integer, got longstr\""
    );
}

#[test]
fn unacknowledged_deliveries_time_out_and_close_the_channel() {
    let config = Config { consumer_timeout_ms: Some(60_000), ..Config::default() };
    let mut h = Harness::with_config(config);
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.consume(c, 1, "q", "slow", false);
    h.publish(c, 1, "", "q", b"a");
    let d = h.expect_delivery(c);
    h.advance(30_000);
    h.publish(c, 1, "", "q", b"b");
    h.expect_delivery(c);
    h.send(c, 1, BasicAck { delivery_tag: tag_of(&d), multiple: false });
    // The first was acked in time; the second times out 60 s after its delivery.
    h.advance(59_999);
    assert!(h.nothing_pending(c));
    h.advance(2);
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(
        &*close.reply_text,
        "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 60000 ms. This timeout value can be configured, see consumers doc guide to learn more"
    );
    assert_eq!(h.broker.queue_counts("/", "q"), Some((1, 0, 0)), "returned to the queue");
}

#[test]
fn quorum_queues_count_deliveries_and_dead_letter_at_the_limit() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "qq_dl");
    let a = args(&[
        ("x-queue-type", FieldValue::str("quorum")),
        ("x-delivery-limit", FieldValue::I32(2)),
        ("x-dead-letter-exchange", FieldValue::str("")),
        ("x-dead-letter-routing-key", FieldValue::str("qq_dl")),
    ]);
    h.send(c, 1, QueueDeclare { queue: "qq".into(), durable: true, arguments: a.clone(), ..Default::default() });
    h.expect_method(c);
    h.publish(c, 1, "", "qq", b"qmsg");
    // RabbitMQ 3.10: basic.get shows x-delivery-count from the first
    // delivery (0), then 1, 2; the third return exceeds the limit of 2.
    // (Consumer deliveries only carry it from the first return on.)
    for expected in 0..3 {
        h.send(c, 1, BasicGet { queue: "qq".into(), ..Default::default() });
        let d = h.expect_delivery(c);
        let count = d.properties.headers.as_ref().and_then(|h| h.get("x-delivery-count").cloned());
        assert_eq!(count, Some(FieldValue::I64(expected)));
        let Method::BasicGetOk(ok) = &d.method else { panic!() };
        assert_eq!(ok.redelivered, expected > 0);
        h.send(c, 1, BasicNack { delivery_tag: ok.delivery_tag, multiple: false, requeue: true });
    }
    h.send(c, 1, BasicGet { queue: "qq".into(), no_ack: true, ..Default::default() });
    assert!(matches!(h.expect_method(c).1, Method::BasicGetEmpty(_)));
    h.send(c, 1, BasicGet { queue: "qq_dl".into(), no_ack: true, ..Default::default() });
    let d = h.expect_delivery(c);
    let Some(FieldValue::Array(deaths)) = d.properties.headers.as_ref().unwrap().get("x-death") else { panic!() };
    let FieldValue::Table(first) = &deaths[0] else { panic!() };
    assert_eq!(first.get("reason"), Some(&FieldValue::str("delivery_limit")));
    // Quorum rules.
    h.send(c, 1, QueueDeclare { queue: "qq2".into(), arguments: a, ..Default::default() });
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - invalid property 'non-durable' for queue 'qq2' in vhost '/'");
    h.open_channel(c, 1);
    h.send(
        c,
        1,
        QueueDeclare {
            queue: "s".into(),
            durable: true,
            arguments: args(&[("x-queue-type", FieldValue::str("stream"))]),
            ..Default::default()
        },
    );
    h.expect_connection_close(c, 540);
}

#[test]
fn direct_reply_to_round_trip() {
    let mut h = Harness::new();
    let client = h.connect();
    let server = h.connect();
    h.declare_queue(server, 1, "rpc");
    h.consume(server, 1, "rpc", "srv", true);
    // Publishing with the pseudo reply-to needs a reply consumer first.
    let props = BasicProperties { reply_to: Some("amq.rabbitmq.reply-to".into()), correlation_id: Some("c1".into()), ..Default::default() };
    h.publish_with(client, 1, "", "rpc", &props, b"req", false);
    let close = h.expect_channel_close(client, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - fast reply consumer does not exist");
    h.open_channel(client, 1);
    h.send(
        client,
        1,
        BasicConsume { queue: "amq.rabbitmq.reply-to".into(), consumer_tag: "r".into(), no_ack: false, ..Default::default() },
    );
    let close = h.expect_channel_close(client, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - reply consumer cannot acknowledge");
    h.open_channel(client, 1);
    h.consume(client, 1, "amq.rabbitmq.reply-to", "replies", true);
    h.publish_with(client, 1, "", "rpc", &props, b"req", false);
    let req = h.expect_delivery(server);
    let reply_to = req.properties.reply_to.clone().unwrap();
    assert!(reply_to.starts_with("amq.rabbitmq.reply-to.") && reply_to.len() > 40, "{reply_to}");
    // The server replies through the default exchange with that key.
    let reply = BasicProperties { correlation_id: Some("c1".into()), ..Default::default() };
    h.publish_with(server, 1, "", &reply_to, &reply, b"resp", true);
    let d = h.expect_delivery(client);
    assert_eq!(consumer_of(&d), "replies");
    assert_eq!(body_of(&d), "resp");
    assert_eq!(d.properties.correlation_id.as_deref(), Some("c1"));
    // RabbitMQ 3.10 also returns a mandatory reply (no queue took it).
    let ret = h.expect_delivery(server);
    assert!(matches!(ret.method, Method::BasicReturn(r) if r.reply_code == 312));
    assert!(h.nothing_pending(server));
    // A forged key is unroutable.
    h.publish_with(server, 1, "", "amq.rabbitmq.reply-to.garbage", &reply, b"x", true);
    let ret = h.expect_delivery(server);
    assert!(matches!(ret.method, Method::BasicReturn(r) if r.reply_code == 312));
    h.send(server, 1, QueueDeclare { queue: "amq.rabbitmq.reply-to".into(), passive: true, ..Default::default() });
    assert!(matches!(h.expect_method(server).1, Method::QueueDeclareOk(_)));
}

fn with_user() -> Config {
    let mut config = Config::default();
    let mut bob = User::new("bob", "secret", [1, 2, 3, 4]);
    bob.tags = vec![];
    config.users.push(bob);
    config.vhosts.push("dev".into());
    config.permissions.push(Permission {
        user: "bob".into(),
        vhost: "dev".into(),
        configure: "^bob\\.".into(),
        write: "^(bob\\..*|amq\\.default)$".into(),
        read: "^bob\\.".into(),
    });
    config
}

fn login(h: &mut Harness, user: &str, pass: &str, vhost: &str) -> broker_core::ConnectionId {
    let c = h.raw_connect(true);
    h.send_bytes(c, bytes::Bytes::from_static(&broker_core::amqp::PROTOCOL_HEADER));
    h.expect_method(c);
    h.send(
        c,
        0,
        ConnectionStartOk { mechanism: "PLAIN".into(), response: format!("\0{user}\0{pass}").into_bytes().into(), ..Default::default() },
    );
    h.expect_method(c);
    h.send(c, 0, ConnectionTuneOk { channel_max: 2047, frame_max: 131_072, heartbeat: 0 });
    h.send(c, 0, ConnectionOpen { virtual_host: vhost.into(), ..Default::default() });
    c
}

#[test]
fn permissions_are_checked_on_every_operation() {
    let mut h = Harness::with_config(with_user());
    // No permissions on "/" for bob: 530 at connection.open.
    let c = login(&mut h, "bob", "secret", "/");
    let close = h.expect_connection_close(c, 530);
    assert_eq!(&*close.reply_text, "NOT_ALLOWED - access to vhost '/' refused for user 'bob'");
    let c = login(&mut h, "bob", "secret", "dev");
    assert!(matches!(h.expect_method(c).1, Method::ConnectionOpenOk(_)));
    h.open_channel(c, 1);
    h.declare_queue(c, 1, "bob.q");
    h.send(c, 1, QueueDeclare { queue: "alice.q".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 403);
    assert_eq!(&*close.reply_text, "ACCESS_REFUSED - access to queue 'alice.q' in vhost 'dev' refused for user 'bob'");
    h.open_channel(c, 1);
    // Publishing to the default exchange is checked as amq.default.
    h.publish(c, 1, "", "bob.q", b"ok");
    h.publish(c, 1, "amq.fanout", "", b"no");
    let close = h.expect_channel_close(c, 1, 403);
    assert_eq!(&*close.reply_text, "ACCESS_REFUSED - access to exchange 'amq.fanout' in vhost 'dev' refused for user 'bob'");
    h.open_channel(c, 1);
    // queue.bind needs write on the queue and read on the exchange.
    h.send(c, 1, QueueBind { queue: "bob.q".into(), exchange: "amq.direct".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 1, 403);
    assert_eq!(&*close.reply_text, "ACCESS_REFUSED - access to exchange 'amq.direct' in vhost 'dev' refused for user 'bob'");
    h.open_channel(c, 1);
    assert_eq!(h.get_body(c, 1, "bob.q").as_deref(), Some(&b"ok"[..]));
    // guest has nothing on dev.
    let g = login(&mut h, "guest", "guest", "dev");
    h.expect_connection_close(g, 530);
}
