//! Trace events: the core explains what it did with each message.

mod support;

use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue};
use broker_core::{TraceEvent, TraceFilter};
use support::Harness;

fn events(h: &mut Harness) -> Vec<TraceEvent> {
    std::iter::from_fn(|| h.broker.poll_trace()).collect()
}

/// Events without times and ids, for comparison.
fn shape(e: &TraceEvent) -> String {
    match e {
        TraceEvent::Published { exchange, routing_key, .. } => format!("published {exchange}/{routing_key}"),
        TraceEvent::Routed { exchange, destination, key, .. } => format!("routed {exchange} -> {destination} by '{key}'"),
        TraceEvent::AlternateExchange { from, to, .. } => format!("alternate {from} -> {to}"),
        TraceEvent::Unroutable { returned, .. } => format!("unroutable returned={returned}"),
        TraceEvent::Enqueued { queue, .. } => format!("enqueued {queue}"),
        TraceEvent::Overflow { queue, mode, .. } => format!("overflow {queue} {mode}"),
        TraceEvent::Expired { queue, .. } => format!("expired {queue}"),
        TraceEvent::DeadLettered { queue, reason, exchange, .. } => format!("dead-lettered {queue} {reason} -> {exchange}"),
        TraceEvent::Delivered { queue, consumer, delivery_tag, redelivered, .. } => {
            format!("delivered {queue} to '{consumer}' tag {delivery_tag} redelivered={redelivered}")
        }
        TraceEvent::Acked { queue, .. } => format!("acked {queue}"),
        TraceEvent::Rejected { queue, requeue, .. } => format!("rejected {queue} requeue={requeue}"),
        TraceEvent::Requeued { queue, .. } => format!("requeued {queue}"),
        TraceEvent::Confirmed { acked, .. } => format!("confirmed {acked}"),
    }
}

#[test]
fn a_message_life_is_explained() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_exchange(c, 1, "topic_logs", "topic");
    h.declare_queue(c, 1, "t1");
    h.declare_queue(c, 1, "t2");
    h.bind(c, 1, "t1", "topic_logs", "*.orange.*", FieldTable::new());
    h.bind(c, 1, "t2", "topic_logs", "*.*.rabbit", FieldTable::new());
    h.bind(c, 1, "t2", "topic_logs", "lazy.#", FieldTable::new());
    h.broker.set_tracing(Some(TraceFilter::All));
    h.publish(c, 1, "topic_logs", "quick.orange.rabbit", b"x");
    h.consume(c, 1, "t1", "c1", false);
    let d = h.expect_delivery(c);
    let broker_core::amqp::Method::BasicDeliver(del) = d.method else { panic!() };
    h.send(c, 1, BasicNack { delivery_tag: del.delivery_tag, multiple: false, requeue: true });
    h.expect_delivery(c);
    h.send(c, 1, BasicAck { delivery_tag: del.delivery_tag + 1, multiple: false });
    let ev = events(&mut h);
    let mut shapes: Vec<String> = ev.iter().map(shape).collect();
    // The two routed events come in binding order, which is not fixed.
    shapes[1..3].sort();
    assert_eq!(
        shapes,
        [
            "published topic_logs/quick.orange.rabbit",
            "routed topic_logs -> t1 by '*.orange.*'",
            "routed topic_logs -> t2 by '*.*.rabbit'",
            "enqueued t1",
            "enqueued t2",
            "delivered t1 to 'c1' tag 1 redelivered=false",
            "rejected t1 requeue=true",
            "requeued t1",
            "delivered t1 to 'c1' tag 2 redelivered=true",
            "acked t1",
        ]
    );
    let id = ev[0].message();
    assert!(id != 0 && ev.iter().all(|e| e.message() == id), "one id follows the message");
}

#[test]
fn dead_letters_alternate_exchanges_and_queue_filters() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_exchange(c, 1, "ae", "fanout");
    h.declare_queue(c, 1, "caught");
    h.bind(c, 1, "caught", "ae", "", FieldTable::new());
    h.send(
        c,
        1,
        ExchangeDeclare {
            exchange: "main".into(),
            kind: "direct".into(),
            arguments: FieldTable::from([("alternate-exchange", FieldValue::str("ae"))]),
            ..Default::default()
        },
    );
    h.expect_method(c);
    h.declare_queue(c, 1, "dlq");
    h.send(
        c,
        1,
        QueueDeclare {
            queue: "ttl".into(),
            arguments: FieldTable::from([
                ("x-message-ttl", FieldValue::I32(10)),
                ("x-dead-letter-exchange", FieldValue::str("")),
                ("x-dead-letter-routing-key", FieldValue::str("dlq")),
            ]),
            ..Default::default()
        },
    );
    h.expect_method(c);
    h.broker.set_tracing(Some(TraceFilter::All));
    h.publish(c, 1, "main", "nothing-bound", b"a");
    h.publish_with(c, 1, "", "ttl", &BasicProperties::default(), b"b", false);
    h.advance(11);
    let shapes: Vec<String> = events(&mut h).iter().map(shape).collect();
    assert_eq!(
        shapes,
        [
            "published main/nothing-bound",
            "alternate main -> ae",
            "routed ae -> caught by ''",
            "enqueued caught",
            "published /ttl",
            "routed  -> ttl by 'ttl'",
            "enqueued ttl",
            "expired ttl",
            "dead-lettered ttl expired -> ",
            "published /dlq",
            "routed  -> dlq by 'dlq'",
            "enqueued dlq",
        ]
    );
    // Filtered to one queue: only what concerns it.
    h.broker.set_tracing(Some(TraceFilter::Queue { vhost: "/".into(), queue: "caught".into() }));
    h.publish(c, 1, "", "ttl", b"ignored");
    h.publish(c, 1, "main", "x", b"kept");
    let shapes: Vec<String> = events(&mut h).iter().map(shape).collect();
    assert_eq!(shapes, ["published main/x", "alternate main -> ae", "routed ae -> caught by ''", "enqueued caught"]);
    // Off: nothing.
    h.broker.set_tracing(None);
    h.publish(c, 1, "main", "x", b"quiet");
    assert!(events(&mut h).is_empty());
}
