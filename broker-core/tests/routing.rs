//! Exchanges and routing: the four types, the default exchange,
//! exchange-to-exchange bindings, mandatory returns, and the message store
//! holding each body once.

mod support;

use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, Method};
use support::{body_of, Harness};

fn bodies(h: &mut Harness, c: broker_core::ConnectionId, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(b) = h.get_body(c, 1, queue) {
        out.push(String::from_utf8(b.to_vec()).unwrap());
    }
    out
}

#[test]
fn default_exchange_routes_by_queue_name() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "hello");
    h.publish(c, 1, "", "hello", b"one");
    h.publish(c, 1, "amq.default", "hello", b"two");
    h.publish(c, 1, "", "nobody", b"lost");
    assert_eq!(bodies(&mut h, c, "hello"), ["one", "two"]);
}

#[test]
fn direct_fanout_and_topic() {
    let mut h = Harness::new();
    let c = h.connect();
    for q in ["d1", "d2", "f1", "f2", "t1", "t2"] {
        h.declare_queue(c, 1, q);
    }
    h.declare_exchange(c, 1, "logs_direct", "direct");
    h.bind(c, 1, "d1", "logs_direct", "error", FieldTable::new());
    h.bind(c, 1, "d2", "logs_direct", "info", FieldTable::new());
    h.bind(c, 1, "d2", "logs_direct", "error", FieldTable::new());
    h.declare_exchange(c, 1, "logs_fanout", "fanout");
    h.bind(c, 1, "f1", "logs_fanout", "ignored", FieldTable::new());
    h.bind(c, 1, "f2", "logs_fanout", "", FieldTable::new());
    h.declare_exchange(c, 1, "topic_logs", "topic");
    h.bind(c, 1, "t1", "topic_logs", "*.orange.*", FieldTable::new());
    h.bind(c, 1, "t2", "topic_logs", "*.*.rabbit", FieldTable::new());
    h.bind(c, 1, "t2", "topic_logs", "lazy.#", FieldTable::new());

    for key in ["info", "error", "warning"] {
        h.publish(c, 1, "logs_direct", key, key.as_bytes());
    }
    h.publish(c, 1, "logs_fanout", "x", b"everyone");
    for key in [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "quick.brown.fox",
        "quick.orange.male.rabbit",
        "lazy.orange.male.rabbit",
    ] {
        h.publish(c, 1, "topic_logs", key, key.as_bytes());
    }
    assert_eq!(bodies(&mut h, c, "d1"), ["error"]);
    assert_eq!(bodies(&mut h, c, "d2"), ["info", "error"]);
    assert_eq!(bodies(&mut h, c, "f1"), ["everyone"]);
    assert_eq!(bodies(&mut h, c, "f2"), ["everyone"]);
    assert_eq!(bodies(&mut h, c, "t1"), ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"]);
    // lazy.pink.rabbit matches two of t2's bindings but arrives once.
    assert_eq!(
        bodies(&mut h, c, "t2"),
        ["quick.orange.rabbit", "lazy.orange.elephant", "lazy.brown.fox", "lazy.pink.rabbit", "lazy.orange.male.rabbit"]
    );
}

#[test]
fn headers_exchange_all_and_any() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "all");
    h.declare_queue(c, 1, "any");
    let all = FieldTable::from([("format", FieldValue::str("pdf")), ("type", FieldValue::str("report"))]);
    let any =
        FieldTable::from([("x-match", FieldValue::str("any")), ("format", FieldValue::str("pdf")), ("type", FieldValue::str("report"))]);
    h.bind(c, 1, "all", "amq.headers", "", all);
    h.bind(c, 1, "any", "amq.match", "", any);
    let with = |pairs: &[(&str, &str)]| {
        let mut t = FieldTable::new();
        for (k, v) in pairs {
            t.insert(k, FieldValue::str(v));
        }
        BasicProperties { headers: Some(t), ..Default::default() }
    };
    h.publish_with(c, 1, "amq.headers", "", &with(&[("format", "pdf"), ("type", "report")]), b"both", false);
    h.publish_with(c, 1, "amq.headers", "", &with(&[("format", "pdf")]), b"pdf-only", false);
    h.publish_with(c, 1, "amq.match", "", &with(&[("type", "report")]), b"report-only", false);
    h.publish_with(c, 1, "amq.headers", "", &with(&[("format", "zip")]), b"neither", false);
    h.publish(c, 1, "amq.headers", "", b"no-headers");
    assert_eq!(bodies(&mut h, c, "all"), ["both"]);
    // amq.headers and amq.match are distinct exchanges: "any" only sees amq.match.
    assert_eq!(bodies(&mut h, c, "any"), ["report-only"]);
}

/// A headers binding's `x-match` must be a long string naming a mode;
/// anything else is refused with 406 and RabbitMQ 3.10's texts, through
/// queue.bind, exchange.bind (the source's type decides) and the
/// management path alike. Other exchange types do not look at it.
#[test]
fn headers_bindings_with_a_bad_x_match_are_refused() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "hq");
    let x_match = |v: FieldValue| FieldTable::from([("x-match", v), ("k", FieldValue::str("v"))]);
    let bad_value = "PRECONDITION_FAILED - Invalid x-match field value <<\"foo\">>; expected all, any, all-with-x, or any-with-x";
    let bad_type = "PRECONDITION_FAILED - Invalid x-match field type signedint (value 5); expected longstr";
    let bind_foo =
        QueueBind { queue: "hq".into(), exchange: "amq.headers".into(), arguments: x_match(FieldValue::str("foo")), ..Default::default() };
    h.send(c, 1, bind_foo.clone());
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!((&*close.reply_text, close.class_id, close.method_id), (bad_value, 50, 20));
    h.open_channel(c, 1);
    h.send(
        c,
        1,
        ExchangeBind {
            destination: "amq.direct".into(),
            source: "amq.match".into(),
            arguments: x_match(FieldValue::I32(5)),
            ..Default::default()
        },
    );
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!((&*close.reply_text, close.class_id, close.method_id), (bad_type, 40, 30));
    h.open_channel(c, 1);
    let err = h.broker.execute("guest", "/", bind_foo.into()).unwrap_err();
    assert_eq!((u16::from(err.code), err.text.as_str()), (406, bad_value));
    assert!(h.broker.bindings(None).iter().all(|b| b.destination != "hq" || b.source.is_empty()), "nothing was bound");
    // The four modes are fine; so is any x-match on another type.
    for mode in ["all", "any", "all-with-x", "any-with-x"] {
        h.bind(c, 1, "hq", "amq.headers", "", x_match(FieldValue::str(mode)));
    }
    h.bind(c, 1, "hq", "amq.direct", "", x_match(FieldValue::str("foo")));
    h.send(
        c,
        1,
        ExchangeBind {
            destination: "amq.topic".into(),
            source: "amq.fanout".into(),
            arguments: x_match(FieldValue::I32(5)),
            ..Default::default()
        },
    );
    assert_eq!(h.expect_method(c), (1, ExchangeBindOk {}.into()));
}

#[test]
fn exchange_to_exchange_bindings_deliver_once_and_survive_loops() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_exchange(c, 1, "a", "fanout");
    h.declare_exchange(c, 1, "b", "fanout");
    h.declare_exchange(c, 1, "c", "topic");
    h.declare_queue(c, 1, "q");
    for (dst, src, key) in [("b", "a", ""), ("c", "a", ""), ("a", "b", ""), ("c", "b", "")] {
        h.send(c, 1, ExchangeBind { destination: dst.into(), source: src.into(), routing_key: key.into(), ..Default::default() });
        assert_eq!(h.expect_method(c), (1, ExchangeBindOk {}.into()));
    }
    h.bind(c, 1, "q", "c", "#", FieldTable::new());
    h.bind(c, 1, "q", "b", "", FieldTable::new());
    h.publish(c, 1, "a", "k", b"once");
    assert_eq!(bodies(&mut h, c, "q"), ["once"]);
    // Unbinding a -> b and a -> c leaves nothing routed from a.
    for (dst, src) in [("b", "a"), ("c", "a")] {
        h.send(c, 1, ExchangeUnbind { destination: dst.into(), source: src.into(), ..Default::default() });
        assert_eq!(h.expect_method(c), (1, ExchangeUnbindOk {}.into()));
    }
    h.publish(c, 1, "a", "k", b"dropped");
    assert!(bodies(&mut h, c, "q").is_empty());
}

#[test]
fn mandatory_unroutable_is_returned_before_its_confirm() {
    let mut h = Harness::new();
    let c = h.connect();
    h.send(c, 1, ConfirmSelect { nowait: false });
    assert_eq!(h.expect_method(c), (1, ConfirmSelectOk {}.into()));
    h.publish_with(c, 1, "amq.direct", "nowhere", &BasicProperties::default(), b"bounce", true);
    let ret = h.expect_delivery(c);
    assert_eq!(
        ret.method,
        BasicReturn { reply_code: 312, reply_text: "NO_ROUTE".into(), exchange: "amq.direct".into(), routing_key: "nowhere".into() }.into()
    );
    assert_eq!(body_of(&ret), "bounce");
    assert_eq!(h.expect_method(c), (1, BasicAck { delivery_tag: 1, multiple: false }.into()));
    // Not mandatory: silently dropped, still confirmed.
    h.publish(c, 1, "amq.direct", "nowhere", b"gone");
    assert_eq!(h.expect_method(c), (1, BasicAck { delivery_tag: 2, multiple: false }.into()));
}

#[test]
fn confirms_for_a_batch_are_coalesced() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.send(c, 1, ConfirmSelect { nowait: false });
    h.expect_method(c);
    let mut batch = bytes::BytesMut::new();
    for i in 0..10 {
        batch.extend_from_slice(&Harness::publish_bytes(1, "", "q", &BasicProperties::default(), format!("{i}").as_bytes(), false));
    }
    h.send_bytes(c, batch.freeze());
    assert_eq!(h.expect_method(c), (1, BasicAck { delivery_tag: 10, multiple: true }.into()));
    assert!(h.nothing_pending(c));
}

#[test]
fn a_message_routed_to_many_queues_is_stored_once() {
    let mut h = Harness::new();
    let c = h.connect();
    for q in ["q1", "q2", "q3"] {
        h.declare_queue(c, 1, q);
        h.bind(c, 1, q, "amq.fanout", "", FieldTable::new());
    }
    h.publish(c, 1, "amq.fanout", "", b"shared");
    assert_eq!(h.broker.stored_messages(), 1);
    h.consume(c, 1, "q1", "c1", false);
    let d = h.expect_delivery(c);
    assert_eq!(body_of(&d), "shared");
    assert_eq!(h.get_body(c, 1, "q2").as_deref(), Some(&b"shared"[..]));
    assert_eq!(h.broker.stored_messages(), 1, "q3 and the unacked q1 copy still hold it");
    assert_eq!(h.get_body(c, 1, "q3").as_deref(), Some(&b"shared"[..]));
    assert_eq!(h.broker.stored_messages(), 1, "the q1 delivery is not acked yet");
    let Method::BasicDeliver(d) = d.method else { panic!() };
    h.send(c, 1, BasicAck { delivery_tag: d.delivery_tag, multiple: false });
    assert_eq!(h.broker.stored_messages(), 0);
}

#[test]
fn large_bodies_arrive_in_many_frames_and_leave_split_at_frame_max() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "big");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    h.publish(c, 1, "", "big", &body);
    h.send(c, 1, BasicGet { queue: "big".into(), no_ack: true, ..Default::default() });
    h.expect_method(c);
    let mut sizes = Vec::new();
    let mut got = Vec::new();
    h.next_frame(c); // header
    while got.len() < body.len() {
        match h.next_frame(c) {
            Some(broker_core::amqp::Frame::Body { payload, .. }) => {
                sizes.push(payload.len());
                got.extend_from_slice(&payload);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, body);
    assert_eq!(sizes, vec![131064, 131064, 37872]);
}

#[test]
fn cc_and_bcc_headers_route_copies_and_bcc_is_hidden() {
    use broker_core::amqp::{BasicProperties, FieldTable, FieldValue};
    let mut h = Harness::new();
    let c = h.connect();
    for q in ["main", "cc1", "bcc1"] {
        h.declare_queue(c, 1, q);
        h.bind(c, 1, q, "amq.direct", q, FieldTable::new());
    }
    let headers = FieldTable::from([
        ("CC", FieldValue::Array(vec![FieldValue::str("cc1")])),
        ("BCC", FieldValue::Array(vec![FieldValue::str("bcc1")])),
    ]);
    let props = BasicProperties { headers: Some(headers), ..Default::default() };
    h.publish_with(c, 1, "amq.direct", "main", &props, b"copy", false);
    for q in ["main", "cc1", "bcc1"] {
        h.send(c, 1, BasicGet { queue: q.into(), no_ack: true, ..Default::default() });
        let d = h.expect_delivery(c);
        let Method::BasicGetOk(ok) = &d.method else { panic!() };
        assert_eq!(&*ok.routing_key, "main", "the original key is kept");
        let hd = d.properties.headers.unwrap();
        assert!(hd.get("CC").is_some() && hd.get("BCC").is_none(), "{q}: BCC is stripped, CC kept");
    }
}
