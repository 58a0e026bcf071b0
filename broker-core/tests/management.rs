//! The management surface: snapshots, operations through the loopback
//! connection (same validation and reply codes as AMQP), and rates.

mod support;

use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, Method};
use broker_core::management::AckMode;
use bytes::Bytes;
use support::Harness;

#[test]
fn operations_run_with_amqp_semantics() {
    let mut h = Harness::new();
    let reply = h.broker.execute("guest", "/", QueueDeclare { queue: "api_q".into(), durable: true, ..Default::default() }.into()).unwrap();
    assert_eq!(reply, QueueDeclareOk { queue: "api_q".into(), message_count: 0, consumer_count: 0 }.into());
    let err = h.broker.execute("guest", "/", QueueDeclare { queue: "api_q".into(), ..Default::default() }.into()).unwrap_err();
    assert_eq!(u16::from(err.code), 406);
    assert_eq!((err.class_id, err.method_id), (50, 10));
    h.broker
        .execute("guest", "/", ExchangeDeclare { exchange: "api_x".into(), kind: "topic".into(), ..Default::default() }.into())
        .unwrap();
    h.broker
        .execute(
            "guest",
            "/",
            QueueBind { queue: "api_q".into(), exchange: "api_x".into(), routing_key: "a.*".into(), ..Default::default() }.into(),
        )
        .unwrap();
    assert!(h.broker.publish_as("guest", "/", "api_x", "a.b", &BasicProperties::default(), Bytes::from_static(b"one")).unwrap());
    assert!(!h.broker.publish_as("guest", "/", "api_x", "zzz", &BasicProperties::default(), Bytes::from_static(b"lost")).unwrap());
    h.broker
        .publish_as(
            "guest",
            "/",
            "",
            "api_q",
            &BasicProperties { content_type: Some("text/plain".into()), ..Default::default() },
            Bytes::from_static(b"two"),
        )
        .unwrap();
    let err = h.broker.publish_as("guest", "/", "nope", "k", &BasicProperties::default(), Bytes::new()).unwrap_err();
    assert_eq!(u16::from(err.code), 404);

    // Browsing shows without consuming.
    let seen = h.broker.browse("/", "api_q", 10).unwrap();
    assert_eq!(seen.iter().map(|m| &m.payload[..]).collect::<Vec<_>>(), [&b"one"[..], &b"two"[..]]);
    assert_eq!(seen[1].properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(h.broker.queue_counts("/", "api_q"), Some((2, 0, 0)));

    // get with requeue leaves them, marked redelivered; ack_requeue_false takes them.
    let got = h.broker.get_as("guest", "/", "api_q", 1, AckMode::RejectRequeueTrue).unwrap();
    assert_eq!((&got[0].payload[..], got[0].redelivered, got[0].message_count), (&b"one"[..], false, 1));
    assert_eq!(h.broker.queue_counts("/", "api_q"), Some((2, 0, 0)));
    let got = h.broker.get_as("guest", "/", "api_q", 5, AckMode::AckRequeueFalse).unwrap();
    assert_eq!(got.iter().map(|m| (&m.payload[..], m.redelivered)).collect::<Vec<_>>(), [(&b"one"[..], true), (&b"two"[..], false)]);
    assert_eq!(h.broker.queue_counts("/", "api_q"), Some((0, 0, 0)));

    let b = h.broker.bindings(Some("/"));
    assert!(b.iter().any(|b| b.source == "api_x" && b.destination == "api_q" && b.routing_key == "a.*"));
    assert!(b.iter().any(|b| b.source.is_empty() && b.destination == "api_q" && b.routing_key == "api_q"));
    let q = h.broker.queues(Some("/")).into_iter().find(|q| q.name == "api_q").unwrap();
    assert!(q.durable);
    assert_eq!((q.stats.publish, q.stats.get, q.stats.ack, q.stats.redeliver), (2, 3, 2, 1));
    assert!(h.broker.exchanges(Some("/")).iter().any(|x| x.name == "api_x" && x.kind == "topic"));
}

#[test]
fn operations_respect_permissions_and_vhosts() {
    let mut h = Harness::new();
    assert!(h.broker.add_vhost("other"));
    let err = h.broker.execute("guest", "other", QueueDeclare { queue: "q".into(), ..Default::default() }.into()).unwrap_err();
    assert_eq!(u16::from(err.code), 403);
    h.broker
        .set_permission(broker_core::Permission {
            user: "guest".into(),
            vhost: "other".into(),
            configure: "".into(),
            write: ".*".into(),
            read: ".*".into(),
        })
        .unwrap();
    let err = h.broker.execute("guest", "other", QueueDeclare { queue: "q".into(), ..Default::default() }.into()).unwrap_err();
    assert_eq!(err.text, "ACCESS_REFUSED - access to queue 'q' in vhost 'other' refused for user 'guest'");
    assert!(h.broker.delete_vhost("other"));
    assert!(!h.broker.vhost_names().contains(&"other".to_string()));
}

#[test]
fn snapshots_and_rates_follow_traffic() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.consume(c, 1, "q", "ctag", false);
    for _ in 0..50 {
        h.publish(c, 1, "", "q", b"x");
    }
    h.drain(c);
    h.send(c, 1, BasicAck { delivery_tag: 50, multiple: true });
    for _ in 0..5 {
        h.advance(1000);
    }
    let o = h.broker.overview();
    assert_eq!((o.connections, o.channels, o.queues, o.consumers), (1, 1, 1, 1));
    assert_eq!((o.totals.publish, o.totals.deliver, o.totals.ack), (50, 50, 50));
    assert_eq!(o.rates.publish, 10.0, "50 messages over the 5-second window");
    let cons = h.broker.consumers();
    assert_eq!((cons[0].consumer_tag.as_str(), cons[0].ack_required, cons[0].queue.as_str()), ("ctag", true, "q"));
    let ch = h.broker.channels();
    assert_eq!((ch[0].number, ch[0].consumers, ch[0].messages_unacknowledged), (1, 1, 0));
    let conns = h.broker.connections();
    assert_eq!((conns[0].user.as_str(), conns[0].state, conns[0].channels), ("guest", "running", 1));
    assert!(conns[0].recv_octets > 0 && conns[0].sent_octets > 0);
    // Forced close from the API.
    assert!(h.broker.close_connection(conns[0].id, "closed via management plugin"));
    let close = h.expect_connection_close(c, 320);
    assert_eq!(&*close.reply_text, "CONNECTION_FORCED - closed via management plugin");
    let _ = (FieldTable::new(), Method::TxSelect(TxSelect {}));
}

#[test]
fn policies_apply_to_existing_and_new_queues_and_exchanges() {
    use broker_core::amqp::FieldValue;
    use broker_core::management::policy::{ApplyTo, Policy};
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "pq.old");
    for i in 0..5 {
        h.publish(c, 1, "", "pq.old", format!("{i}").as_bytes());
    }
    let p = Policy {
        vhost: "/".into(),
        name: "limits".into(),
        pattern: "^pq\\.".into(),
        apply_to: ApplyTo::Queues,
        priority: 1,
        definition: FieldTable::from([("max-length", FieldValue::I32(2)), ("message-ttl", FieldValue::I32(1000))]),
    };
    h.broker.set_policy(p.clone()).unwrap();
    // Existing queue: trimmed at once to the newest two.
    assert_eq!(h.broker.queue_counts("/", "pq.old"), Some((2, 0, 0)));
    assert_eq!(h.get_body(c, 1, "pq.old").as_deref(), Some(&b"3"[..]));
    // New queue: TTL applies.
    h.declare_queue(c, 1, "pq.new");
    h.publish(c, 1, "", "pq.new", b"t");
    h.advance(1001);
    assert_eq!(h.broker.queue_counts("/", "pq.new"), Some((0, 0, 0)));
    assert_eq!(h.broker.queues(Some("/")).iter().find(|q| q.name == "pq.new").unwrap().policy.as_deref(), Some("limits"));
    // Deleting the policy lifts it.
    assert!(h.broker.delete_policy("/", "limits"));
    h.publish(c, 1, "", "pq.new", b"stays");
    h.advance(5000);
    assert_eq!(h.broker.queue_counts("/", "pq.new"), Some((1, 0, 0)));
    // Alternate exchange via policy.
    h.declare_exchange(c, 1, "ae", "fanout");
    h.declare_queue(c, 1, "ae.catch");
    h.bind(c, 1, "ae.catch", "ae", "", FieldTable::new());
    let ae = Policy {
        vhost: "/".into(),
        name: "ae".into(),
        pattern: "^main$".into(),
        apply_to: ApplyTo::Exchanges,
        priority: 0,
        definition: FieldTable::from([("alternate-exchange", FieldValue::str("ae"))]),
    };
    h.broker.set_policy(ae).unwrap();
    h.declare_exchange(c, 1, "main", "direct");
    h.publish(c, 1, "main", "nowhere", b"caught");
    assert_eq!(h.get_body(c, 1, "ae.catch").as_deref(), Some(&b"caught"[..]));
    // Bad definitions are refused.
    let bad = Policy { definition: FieldTable::from([("max-length", FieldValue::str("x"))]), ..p };
    assert!(h.broker.set_policy(bad).unwrap_err().contains("x-max-length"));
}
