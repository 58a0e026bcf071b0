//! Time- and limit-based queue behaviour with a virtual clock: message TTL
//! (queue and per message), x-expires, max-length with each overflow mode,
//! and dead-lettering with RabbitMQ's x-death header. Expected values were
//! taken from RabbitMQ 3.10 with the same operations (pika).

mod support;

use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, Method};
use support::{body_of, Delivery, Harness};

fn args(pairs: &[(&str, FieldValue)]) -> FieldTable {
    let mut t = FieldTable::new();
    for (k, v) in pairs {
        t.insert(k, v.clone());
    }
    t
}

fn declare_with(h: &mut Harness, c: broker_core::ConnectionId, name: &str, a: FieldTable) {
    h.send(c, 1, QueueDeclare { queue: name.into(), arguments: a, ..Default::default() });
    assert!(matches!(h.expect_method(c).1, Method::QueueDeclareOk(_)), "declare {name}");
}

fn get(h: &mut Harness, c: broker_core::ConnectionId, q: &str) -> Option<Delivery> {
    h.send(c, 1, BasicGet { queue: q.into(), no_ack: true, ..Default::default() });
    h.pump();
    let d = h.expect_method(c);
    match d.1 {
        Method::BasicGetEmpty(_) => None,
        Method::BasicGetOk(_) => {
            // Re-read as a delivery: put the method back by fetching the content.
            let Some(broker_core::amqp::Frame::Header { header, .. }) = h.next_frame(c) else { panic!() };
            let mut body = Vec::new();
            while (body.len() as u64) < header.body_size {
                let Some(broker_core::amqp::Frame::Body { payload, .. }) = h.next_frame(c) else { panic!() };
                body.extend_from_slice(&payload);
            }
            Some(Delivery { channel: 1, method: d.1, properties: BasicProperties::decode(header.properties).unwrap(), body: body.into() })
        }
        other => panic!("{other:?}"),
    }
}

fn death(d: &Delivery) -> FieldTable {
    let h = d.properties.headers.as_ref().expect("headers");
    let Some(FieldValue::Array(deaths)) = h.get("x-death") else { panic!("no x-death") };
    let FieldValue::Table(t) = &deaths[0] else { panic!() };
    t.clone()
}

#[test]
fn queue_ttl_dead_letters_with_x_death() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_exchange(c, 1, "dlx_ex", "direct");
    h.declare_queue(c, 1, "dl_dst");
    h.bind(c, 1, "dl_dst", "dlx_ex", "dead", FieldTable::new());
    declare_with(
        &mut h,
        c,
        "dl_src",
        args(&[
            ("x-message-ttl", FieldValue::I32(50)),
            ("x-dead-letter-exchange", FieldValue::str("dlx_ex")),
            ("x-dead-letter-routing-key", FieldValue::str("dead")),
        ]),
    );
    let props = BasicProperties { headers: Some(args(&[("a", FieldValue::I32(1))])), ..Default::default() };
    h.publish_with(c, 1, "", "dl_src", &props, b"ttl1", false);
    h.publish_with(c, 1, "", "dl_src", &BasicProperties { expiration: Some("20".into()), ..Default::default() }, b"ttl2", false);
    h.advance(20);
    assert_eq!(h.broker.queue_counts("/", "dl_src"), Some((2, 0, 0)), "ttl2 is behind ttl1: it waits for the head");
    h.advance(31);
    assert_eq!(h.broker.queue_counts("/", "dl_src"), Some((0, 0, 0)));
    let d1 = get(&mut h, c, "dl_dst").unwrap();
    assert_eq!(body_of(&d1), "ttl1");
    let Method::BasicGetOk(ok) = &d1.method else { panic!() };
    assert_eq!((&*ok.exchange, &*ok.routing_key, ok.redelivered), ("dlx_ex", "dead", false));
    let headers = d1.properties.headers.clone().unwrap();
    assert_eq!(headers.get("a"), Some(&FieldValue::I32(1)));
    let x = death(&d1);
    let keys: Vec<&str> = x.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["count", "reason", "queue", "time", "exchange", "routing-keys"]);
    assert_eq!(x.get("count"), Some(&FieldValue::I64(1)));
    assert_eq!(x.get("reason"), Some(&FieldValue::str("expired")));
    assert_eq!(x.get("queue"), Some(&FieldValue::str("dl_src")));
    assert_eq!(x.get("time"), Some(&FieldValue::Timestamp((h.now) / 1000)));
    assert_eq!(x.get("exchange"), Some(&FieldValue::str("")));
    assert_eq!(x.get("routing-keys"), Some(&FieldValue::Array(vec![FieldValue::str("dl_src")])));
    assert_eq!(headers.get("x-first-death-exchange"), Some(&FieldValue::str("")));
    assert_eq!(headers.get("x-first-death-queue"), Some(&FieldValue::str("dl_src")));
    assert_eq!(headers.get("x-first-death-reason"), Some(&FieldValue::str("expired")));
    // Per-message expiration moves into x-death and leaves the properties.
    let d2 = get(&mut h, c, "dl_dst").unwrap();
    assert_eq!(body_of(&d2), "ttl2");
    assert_eq!(d2.properties.expiration, None);
    assert_eq!(death(&d2).get("original-expiration"), Some(&FieldValue::str("20")));
}

#[test]
fn expired_messages_are_never_delivered_and_ttl_zero_needs_a_waiting_consumer() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.publish_with(c, 1, "", "q", &BasicProperties { expiration: Some("0".into()), ..Default::default() }, b"gone", false);
    assert_eq!(h.broker.queue_counts("/", "q"), Some((0, 0, 0)), "TTL 0 with no consumer: dropped at once");
    h.publish_with(c, 1, "", "q", &BasicProperties { expiration: Some("100".into()), ..Default::default() }, b"late", false);
    h.advance(101);
    assert!(get(&mut h, c, "q").is_none());
    h.consume(c, 1, "q", "c", true);
    h.publish_with(c, 1, "", "q", &BasicProperties { expiration: Some("0".into()), ..Default::default() }, b"caught", false);
    assert_eq!(body_of(&h.expect_delivery(c)), "caught");
    // Invalid expirations are refused like RabbitMQ.
    h.publish_with(c, 1, "", "q", &BasicProperties { expiration: Some("abc".into()), ..Default::default() }, b"x", false);
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - invalid expiration 'abc': no_integer");
    h.open_channel(c, 1);
    h.publish_with(c, 1, "", "q", &BasicProperties { expiration: Some("-5".into()), ..Default::default() }, b"x", false);
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - invalid expiration '-5': {value_negative,-5}");
}

#[test]
fn unused_queue_expires() {
    let mut h = Harness::new();
    let c = h.connect();
    declare_with(&mut h, c, "temp", args(&[("x-expires", FieldValue::I32(1000))]));
    h.advance(600);
    // A basic.get counts as use.
    assert!(get(&mut h, c, "temp").is_none());
    h.advance(600);
    assert!(h.broker.queue_counts("/", "temp").is_some());
    // A consumer keeps it alive however long it stays.
    h.consume(c, 1, "temp", "c", true);
    h.advance(5000);
    assert!(h.broker.queue_counts("/", "temp").is_some());
    h.send(c, 1, BasicCancel { consumer_tag: "c".into(), nowait: false });
    h.expect_method(c);
    h.advance(999);
    assert!(h.broker.queue_counts("/", "temp").is_some());
    h.advance(2);
    assert!(h.broker.queue_counts("/", "temp").is_none(), "deleted 1000 ms after last use");
}

#[test]
fn max_length_drop_head_dead_letters_the_oldest() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "ml_dst");
    declare_with(
        &mut h,
        c,
        "ml_src",
        args(&[
            ("x-max-length", FieldValue::I32(2)),
            ("x-dead-letter-exchange", FieldValue::str("")),
            ("x-dead-letter-routing-key", FieldValue::str("ml_dst")),
        ]),
    );
    for i in 0..4 {
        h.publish(c, 1, "", "ml_src", format!("m{i}").as_bytes());
    }
    assert_eq!(h.broker.queue_counts("/", "ml_src"), Some((2, 0, 0)));
    let a = get(&mut h, c, "ml_dst").unwrap();
    let b = get(&mut h, c, "ml_dst").unwrap();
    assert_eq!((body_of(&a), body_of(&b)), ("m0", "m1"));
    assert_eq!(death(&a).get("reason"), Some(&FieldValue::str("maxlen")));
    assert_eq!(body_of(&get(&mut h, c, "ml_src").unwrap()), "m2");
}

#[test]
fn max_length_bytes_counts_bodies() {
    let mut h = Harness::new();
    let c = h.connect();
    declare_with(&mut h, c, "mb", args(&[("x-max-length-bytes", FieldValue::I32(10))]));
    h.publish(c, 1, "", "mb", b"12345");
    h.publish(c, 1, "", "mb", b"67890");
    h.publish(c, 1, "", "mb", b"abc");
    assert_eq!(body_of(&get(&mut h, c, "mb").unwrap()), "67890");
    assert_eq!(body_of(&get(&mut h, c, "mb").unwrap()), "abc");
}

#[test]
fn reject_publish_nacks_and_reject_publish_dlx_dead_letters() {
    let mut h = Harness::new();
    let c = h.connect();
    declare_with(&mut h, c, "rp", args(&[("x-max-length", FieldValue::I32(1)), ("x-overflow", FieldValue::str("reject-publish"))]));
    h.declare_queue(c, 1, "rp_dl");
    declare_with(
        &mut h,
        c,
        "rpd",
        args(&[
            ("x-max-length", FieldValue::I32(1)),
            ("x-overflow", FieldValue::str("reject-publish-dlx")),
            ("x-dead-letter-exchange", FieldValue::str("")),
            ("x-dead-letter-routing-key", FieldValue::str("rp_dl")),
        ]),
    );
    h.send(c, 1, ConfirmSelect::default());
    h.expect_method(c);
    h.publish(c, 1, "", "rp", b"one");
    assert_eq!(h.expect_method(c), (1, BasicAck { delivery_tag: 1, multiple: false }.into()));
    h.publish(c, 1, "", "rp", b"two");
    assert_eq!(h.expect_method(c), (1, BasicNack { delivery_tag: 2, multiple: false, requeue: false }.into()));
    assert_eq!(h.broker.queue_counts("/", "rp"), Some((1, 0, 0)));
    h.publish(c, 1, "", "rpd", b"kept");
    h.publish(c, 1, "", "rpd", b"refused");
    assert_eq!(h.expect_method(c), (1, BasicAck { delivery_tag: 3, multiple: false }.into()));
    assert_eq!(h.expect_method(c), (1, BasicNack { delivery_tag: 4, multiple: false, requeue: false }.into()));
    let d = get(&mut h, c, "rp_dl").unwrap();
    assert_eq!(body_of(&d), "refused");
    assert_eq!(death(&d).get("reason"), Some(&FieldValue::str("maxlen")));
}

#[test]
fn rejected_messages_dead_letter_and_counts_grow_on_repeat() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_exchange(c, 1, "dlx_fan", "fanout");
    h.declare_queue(c, 1, "rj_dst");
    h.bind(c, 1, "rj_dst", "dlx_fan", "", FieldTable::new());
    declare_with(&mut h, c, "rj_src", args(&[("x-dead-letter-exchange", FieldValue::str("dlx_fan"))]));
    h.publish(c, 1, "", "rj_src", b"rej");
    h.send(c, 1, BasicGet { queue: "rj_src".into(), ..Default::default() });
    h.expect_delivery(c);
    h.send(c, 1, BasicReject { delivery_tag: 1, requeue: false });
    let d = get(&mut h, c, "rj_dst").unwrap();
    let Method::BasicGetOk(ok) = &d.method else { panic!() };
    assert_eq!((&*ok.exchange, &*ok.routing_key), ("dlx_fan", "rj_src"), "no dead-letter key: the original key is kept");
    assert_eq!(death(&d).get("reason"), Some(&FieldValue::str("rejected")));
    // Publish it again with its headers and reject again: same entry, count 2.
    let props = BasicProperties { headers: d.properties.headers.clone(), ..Default::default() };
    h.publish_with(c, 1, "", "rj_src", &props, b"rej", false);
    h.send(c, 1, BasicGet { queue: "rj_src".into(), ..Default::default() });
    let Method::BasicGetOk(ok) = h.expect_delivery(c).method else { panic!() };
    h.send(c, 1, BasicNack { delivery_tag: ok.delivery_tag, multiple: false, requeue: false });
    let d = get(&mut h, c, "rj_dst").unwrap();
    let Some(FieldValue::Array(deaths)) = d.properties.headers.as_ref().unwrap().get("x-death") else { panic!() };
    assert_eq!(deaths.len(), 1);
    assert_eq!(death(&d).get("count"), Some(&FieldValue::I64(2)));
}

fn keys(t: &FieldTable) -> Vec<&str> {
    t.iter().map(|(k, _)| k).collect()
}

fn reject_next(h: &mut Harness, c: broker_core::ConnectionId, q: &str) {
    h.send(c, 1, BasicGet { queue: q.into(), ..Default::default() });
    let Method::BasicGetOk(ok) = h.expect_delivery(c).method else { panic!("nothing in {q}") };
    h.send(c, 1, BasicReject { delivery_tag: ok.delivery_tag, requeue: false });
}

fn dead_letter_to(key: &str) -> FieldTable {
    args(&[("x-dead-letter-exchange", FieldValue::str("")), ("x-dead-letter-routing-key", FieldValue::str(key))])
}

/// Whatever the reason, a dead letter loses `expiration` (it would expire
/// again in the next queue) and x-death keeps it as `original-expiration`.
/// The tables are laid out as RabbitMQ 3.10 lays them out (seen on the
/// wire): a first entry in publish order, later entries sorted by key, the
/// headers sorted by key.
#[test]
fn dead_letters_lose_their_expiration_to_x_death_in_rabbitmqs_order() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "exp_end");
    declare_with(&mut h, c, "exp_dst", dead_letter_to("exp_end"));
    declare_with(&mut h, c, "exp_src", dead_letter_to("exp_dst"));
    let props = BasicProperties {
        expiration: Some("60000".into()),
        headers: Some(args(&[("z", FieldValue::I32(1)), ("a", FieldValue::I32(2))])),
        ..Default::default()
    };
    h.publish_with(c, 1, "", "exp_src", &props, b"keep", false);
    reject_next(&mut h, c, "exp_src");
    let died_at = h.now / 1000;
    // Past the original expiration: the dead letter is still there.
    h.advance(61_000);
    assert_eq!(h.broker.queue_counts("/", "exp_dst"), Some((1, 0, 0)));
    let d = get(&mut h, c, "exp_dst").unwrap();
    assert_eq!(d.properties.expiration, None);
    let headers = d.properties.headers.clone().unwrap();
    assert_eq!(keys(&headers), ["a", "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason", "z"]);
    let first = FieldTable::from([
        ("count", FieldValue::I64(1)),
        ("reason", FieldValue::str("rejected")),
        ("queue", FieldValue::str("exp_src")),
        ("time", FieldValue::Timestamp(died_at)),
        ("exchange", FieldValue::str("")),
        ("routing-keys", FieldValue::Array(vec![FieldValue::str("exp_src")])),
        ("original-expiration", FieldValue::str("60000")),
    ]);
    assert_eq!(death(&d), first);

    // Its next death (no expiration left to record) is a sorted entry in front.
    h.publish_with(c, 1, "", "exp_dst", &BasicProperties { headers: Some(headers), ..Default::default() }, b"keep", false);
    reject_next(&mut h, c, "exp_dst");
    let d = get(&mut h, c, "exp_end").unwrap();
    let headers = d.properties.headers.as_ref().unwrap();
    let second = FieldTable::from([
        ("count", FieldValue::I64(1)),
        ("exchange", FieldValue::str("")),
        ("queue", FieldValue::str("exp_dst")),
        ("reason", FieldValue::str("rejected")),
        ("routing-keys", FieldValue::Array(vec![FieldValue::str("exp_dst")])),
        ("time", FieldValue::Timestamp(h.now / 1000)),
    ]);
    assert_eq!(headers.get("x-death"), Some(&FieldValue::Array(vec![FieldValue::Table(second), FieldValue::Table(first)])));
    assert_eq!(headers.get("x-first-death-queue"), Some(&FieldValue::str("exp_src")));

    // A repeat death in the same queue counts up and sorts the entry.
    declare_with(&mut h, c, "exp_loop", args(&[("x-dead-letter-exchange", FieldValue::str(""))]));
    let props = BasicProperties { expiration: Some("60000".into()), ..Default::default() };
    h.publish_with(c, 1, "", "exp_loop", &props, b"loop", false);
    let died_at = h.now / 1000;
    reject_next(&mut h, c, "exp_loop");
    h.advance(2_000);
    reject_next(&mut h, c, "exp_loop");
    let d = get(&mut h, c, "exp_loop").unwrap();
    assert_eq!(d.properties.expiration, None);
    let counted = FieldTable::from([
        ("count", FieldValue::I64(2)),
        ("exchange", FieldValue::str("")),
        ("original-expiration", FieldValue::str("60000")),
        ("queue", FieldValue::str("exp_loop")),
        ("reason", FieldValue::str("rejected")),
        ("routing-keys", FieldValue::Array(vec![FieldValue::str("exp_loop")])),
        ("time", FieldValue::Timestamp(died_at)),
    ]);
    assert_eq!(death(&d), counted);
}

/// An `x-death` that is not an array (a client re-published it as text) is
/// replaced, and the `x-first-death-*` headers are not set (RabbitMQ 3.10).
#[test]
fn a_malformed_x_death_is_replaced() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "mx_dst");
    declare_with(&mut h, c, "mx_src", dead_letter_to("mx_dst"));
    let props = BasicProperties { headers: Some(args(&[("x-death", FieldValue::str("bogus"))])), ..Default::default() };
    h.publish_with(c, 1, "", "mx_src", &props, b"m", false);
    reject_next(&mut h, c, "mx_src");
    let d = get(&mut h, c, "mx_dst").unwrap();
    assert_eq!(keys(d.properties.headers.as_ref().unwrap()), ["x-death"]);
    assert_eq!(keys(&death(&d)), ["count", "reason", "queue", "time", "exchange", "routing-keys"]);
}

#[test]
fn dead_letter_cycles_are_dropped_unless_a_rejection_breaks_them() {
    let mut h = Harness::new();
    let c = h.connect();
    // Expiry back into itself through the default exchange: a cycle, dropped.
    declare_with(&mut h, c, "cyc", args(&[("x-message-ttl", FieldValue::I32(10)), ("x-dead-letter-exchange", FieldValue::str(""))]));
    h.publish(c, 1, "", "cyc", b"loop");
    h.advance(11);
    assert_eq!(h.broker.queue_counts("/", "cyc"), Some((0, 0, 0)));
    assert_eq!(h.broker.stored_messages(), 0);
    // A rejection back into itself is no cycle: it returns, count grows.
    declare_with(&mut h, c, "rq", args(&[("x-dead-letter-exchange", FieldValue::str(""))]));
    h.publish(c, 1, "", "rq", b"again");
    for expected in 1..=3 {
        h.send(c, 1, BasicGet { queue: "rq".into(), ..Default::default() });
        let d = h.expect_delivery(c);
        if expected > 1 {
            assert_eq!(death(&d).get("count"), Some(&FieldValue::I64(expected - 1)));
        }
        let Method::BasicGetOk(ok) = d.method else { panic!() };
        h.send(c, 1, BasicReject { delivery_tag: ok.delivery_tag, requeue: false });
    }
    assert_eq!(h.broker.queue_counts("/", "rq"), Some((1, 0, 0)));
}

#[test]
fn missing_dead_letter_exchange_drops() {
    let mut h = Harness::new();
    let c = h.connect();
    declare_with(&mut h, c, "q", args(&[("x-dead-letter-exchange", FieldValue::str("nope")), ("x-message-ttl", FieldValue::I32(1))]));
    h.publish(c, 1, "", "q", b"x");
    h.advance(5);
    assert_eq!(h.broker.stored_messages(), 0);
}

#[test]
fn priorities_deliver_highest_first_fifo_within() {
    let mut h = Harness::new();
    let c = h.connect();
    declare_with(&mut h, c, "pq", args(&[("x-max-priority", FieldValue::I32(10))]));
    for (i, p) in [Some(1), Some(5), None, Some(5), Some(10), Some(0), Some(1)].into_iter().enumerate() {
        let props = BasicProperties { priority: p, ..Default::default() };
        h.publish_with(c, 1, "", "pq", &props, format!("{i}:{p:?}").as_bytes(), false);
    }
    let order: Vec<String> = std::iter::from_fn(|| get(&mut h, c, "pq")).map(|d| body_of(&d).to_string()).collect();
    // Same order RabbitMQ gives: a missing priority counts as 0.
    assert_eq!(order, ["4:Some(10)", "1:Some(5)", "3:Some(5)", "0:Some(1)", "6:Some(1)", "2:None", "5:Some(0)"]);
}

#[test]
fn alternate_exchange_takes_unroutable_messages() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_exchange(c, 1, "ae", "fanout");
    h.declare_queue(c, 1, "unrouted");
    h.bind(c, 1, "unrouted", "ae", "", FieldTable::new());
    h.send(
        c,
        1,
        ExchangeDeclare {
            exchange: "main".into(),
            kind: "direct".into(),
            arguments: args(&[("alternate-exchange", FieldValue::str("ae"))]),
            ..Default::default()
        },
    );
    h.expect_method(c);
    h.declare_queue(c, 1, "routed");
    h.bind(c, 1, "routed", "main", "k", FieldTable::new());
    h.publish_with(c, 1, "main", "k", &BasicProperties::default(), b"normal", true);
    h.publish_with(c, 1, "main", "other", &BasicProperties::default(), b"alternate", true);
    assert!(h.nothing_pending(c), "neither is returned");
    assert_eq!(body_of(&get(&mut h, c, "routed").unwrap()), "normal");
    assert_eq!(body_of(&get(&mut h, c, "unrouted").unwrap()), "alternate");
    h.send(
        c,
        1,
        ExchangeDeclare {
            exchange: "bad".into(),
            kind: "direct".into(),
            arguments: args(&[("alternate-exchange", FieldValue::I32(1))]),
            ..Default::default()
        },
    );
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(
        &*close.reply_text,
        "PRECONDITION_FAILED - invalid type 'signedint' for arg 'alternate-exchange' in exchange 'bad' in vhost '/'"
    );
}
