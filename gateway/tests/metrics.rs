//! Prometheus metrics on warren's metrics port: after known AMQP traffic
//! the `rabbitmq_*` series (RabbitMQ's names, HELP/TYPE lines and labels)
//! hold exactly the expected values, aggregated on `/metrics` and per queue
//! on `/metrics/per-object`.
//!
//! Needs a fresh broker: runs only against a warren it starts, or against
//! the broker in `WARREN_TEST_AMQP_URL` when `WARREN_TEST_PROMETHEUS_URL`
//! names its metrics port (the counts then assume nothing else ran there).

mod common;

use std::collections::HashMap;

use common::{unique, within, Broker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// Samples by `name{labels}` as printed, and the text.
async fn scrape(base: &str, path: &str) -> (HashMap<String, f64>, String) {
    let resp = within("scrape", reqwest::get(format!("{base}{path}"))).await.expect("scrape");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/plain; version=0.0.4"));
    let text = within("scrape body", resp.text()).await.expect("body");
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line:?}"));
        samples.insert(key.to_string(), value.parse::<f64>().unwrap_or_else(|_| panic!("bad value in {line:?}")));
    }
    (samples, text)
}

#[track_caller]
fn expect(samples: &HashMap<String, f64>, key: &str, value: f64) {
    assert_eq!(samples.get(key).copied(), Some(value), "{key}");
}

async fn publish(ch: &Channel, exchange: &str, key: &str, mandatory: bool) {
    within(
        "basic.publish",
        ch.basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions { mandatory, ..Default::default() },
            b"payload",
            BasicProperties::default(),
        ),
    )
    .await
    .expect("basic.publish");
}

/// A round trip on `ch`, so everything sent on it before has been handled.
async fn sync(ch: &Channel, queue: &str) {
    within(
        "passive declare",
        ch.queue_declare(queue.into(), QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default()),
    )
    .await
    .expect("passive declare");
}

#[tokio::test]
async fn metrics_count_known_traffic_exactly() {
    let broker = Broker::start();
    let Some(base) = broker.prometheus_url.clone() else {
        eprintln!("skipped: no metrics URL for this broker (set WARREN_TEST_PROMETHEUS_URL)");
        return;
    };
    let conn = within("connect", Connection::connect(&broker.url, ConnectionProperties::default())).await.expect("connect");
    let ch = within("channel", conn.create_channel()).await.unwrap();
    let (q1, q2) = (unique("metrics-a"), unique("metrics-b"));
    for q in [&q1, &q2] {
        within("declare", ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), FieldTable::default())).await.unwrap();
    }

    // 7 + 3 routed, one returned (mandatory), one dropped; all confirmed.
    within("confirm.select", ch.confirm_select(ConfirmSelectOptions::default())).await.unwrap();
    for _ in 0..7 {
        publish(&ch, "", &q1, false).await;
    }
    for _ in 0..3 {
        publish(&ch, "", &q2, false).await;
    }
    publish(&ch, "amq.direct", "nobody", true).await;
    publish(&ch, "amq.direct", "nobody", false).await;
    within("confirms", ch.wait_for_confirms()).await.expect("confirms");

    // Consume exactly 4 from q1 (prefetch 4), cancel, then ack them.
    let ch2 = within("channel", conn.create_channel()).await.unwrap();
    within("qos", ch2.basic_qos(4, BasicQosOptions::default())).await.unwrap();
    let mut consumer =
        within("consume", ch2.basic_consume(q1.as_str().into(), "m".into(), BasicConsumeOptions::default(), FieldTable::default()))
            .await
            .unwrap();
    let mut deliveries = Vec::new();
    for _ in 0..4 {
        deliveries.push(within("delivery", consumer.next()).await.expect("stream").expect("delivery"));
    }
    within("cancel", ch2.basic_cancel("m".into(), BasicCancelOptions::default())).await.unwrap();
    for d in deliveries {
        d.ack(BasicAckOptions::default()).await.expect("ack");
    }
    // One basic.get from q2, rejected back, got again (redelivered), acked.
    let first = within("get", ch2.basic_get(q2.as_str().into(), BasicGetOptions::default())).await.unwrap().expect("a message");
    first.delivery.reject(BasicRejectOptions { requeue: true }).await.unwrap();
    let again = within("get", ch2.basic_get(q2.as_str().into(), BasicGetOptions::default())).await.unwrap().expect("a message");
    assert!(again.delivery.redelivered);
    again.delivery.ack(BasicAckOptions::default()).await.unwrap();
    sync(&ch2, &q2).await;

    let (m, text) = scrape(&base, "/metrics").await;
    for (name, kind, help) in [
        ("rabbitmq_identity_info", "untyped", "RabbitMQ node & cluster identity info"),
        ("rabbitmq_build_info", "untyped", "RabbitMQ & Erlang/OTP version info"),
        ("rabbitmq_connections", "gauge", "Connections currently open"),
        ("rabbitmq_channels", "gauge", "Channels currently open"),
        ("rabbitmq_consumers", "gauge", "Consumers currently connected"),
        ("rabbitmq_queues", "gauge", "Queues available"),
        ("rabbitmq_queue_messages_ready", "gauge", "Messages ready to be delivered to consumers"),
        ("rabbitmq_queue_messages_unacked", "gauge", "Messages delivered to consumers but not yet acknowledged"),
        ("rabbitmq_queue_messages", "gauge", "Sum of ready and unacknowledged messages - total queue depth"),
        ("rabbitmq_global_messages_received_total", "counter", "Total number of messages received from publishers"),
        ("rabbitmq_global_messages_routed_total", "counter", "Total number of messages routed to queues or streams"),
        ("rabbitmq_global_messages_delivered_total", "counter", "Total number of messages delivered to consumers"),
        ("rabbitmq_global_messages_confirmed_total", "counter", "Total number of messages confirmed to publishers"),
        ("rabbitmq_global_messages_acknowledged_total", "counter", "Total number of messages acknowledged by consumers"),
        ("rabbitmq_global_messages_redelivered_total", "counter", "Total number of messages redelivered to consumers"),
        (
            "rabbitmq_global_messages_unroutable_dropped_total",
            "counter",
            "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
        ),
        (
            "rabbitmq_global_messages_unroutable_returned_total",
            "counter",
            "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
        ),
    ] {
        assert!(text.contains(&format!("# TYPE {name} {kind}\n# HELP {name} {help}\n")), "TYPE/HELP of {name} in:\n{text}");
    }
    assert!(m.keys().any(|k| k.starts_with("rabbitmq_identity_info{rabbitmq_node=\"")), "{text}");
    assert!(m.keys().any(|k| k.starts_with("rabbitmq_build_info{rabbitmq_version=\"")), "{text}");

    expect(&m, "rabbitmq_connections", 1.0);
    expect(&m, "rabbitmq_channels", 2.0);
    expect(&m, "rabbitmq_consumers", 0.0);
    expect(&m, "rabbitmq_queues", 2.0);
    expect(&m, "rabbitmq_queue_messages_ready", 5.0);
    expect(&m, "rabbitmq_queue_messages_unacked", 0.0);
    expect(&m, "rabbitmq_queue_messages", 5.0);
    expect(&m, "rabbitmq_queue_messages_published_total", 10.0);
    let amqp = "{protocol=\"amqp091\"}";
    for (suffix, value) in [
        ("received", 12.0),
        ("routed", 10.0),
        ("unroutable_returned", 1.0),
        ("unroutable_dropped", 1.0),
        ("confirmed", 12.0),
        ("delivered", 6.0),
        ("delivered_consume_manual_ack", 4.0),
        ("delivered_consume_auto_ack", 0.0),
        ("delivered_get_manual_ack", 2.0),
        ("delivered_get_auto_ack", 0.0),
        ("redelivered", 1.0),
        ("acknowledged", 5.0),
        ("get_empty", 0.0),
    ] {
        expect(&m, &format!("rabbitmq_global_messages_{suffix}_total{amqp}"), value);
    }

    // The per-channel families Grafana's RabbitMQ-Overview dashboard sums.
    for (name, value) in [
        ("rabbitmq_channel_messages_published_total", 12.0),
        ("rabbitmq_channel_messages_confirmed_total", 12.0),
        ("rabbitmq_channel_messages_unroutable_returned_total", 1.0),
        ("rabbitmq_channel_messages_unroutable_dropped_total", 1.0),
        ("rabbitmq_channel_messages_delivered_ack_total", 4.0),
        ("rabbitmq_channel_messages_delivered_total", 0.0),
        ("rabbitmq_channel_get_ack_total", 2.0),
        ("rabbitmq_channel_get_total", 0.0),
        ("rabbitmq_channel_messages_redelivered_total", 1.0),
        ("rabbitmq_channel_messages_acked_total", 5.0),
        ("rabbitmq_channel_get_empty_total", 0.0),
        ("rabbitmq_channel_consumers", 0.0),
        ("rabbitmq_channel_messages_unacked", 0.0),
    ] {
        expect(&m, name, value);
    }
    assert!(text.contains("# TYPE rabbitmq_channel_messages_published_total counter\n# HELP rabbitmq_channel_messages_published_total Total number of messages published into an exchange on a channel\n"));
    assert!(m["rabbitmq_process_resident_memory_bytes"] > 0.0);
    assert!(m["rabbitmq_process_open_fds"] > 0.0 && m["rabbitmq_process_max_fds"] >= m["rabbitmq_process_open_fds"]);
    assert!(m["rabbitmq_connection_incoming_bytes_total"] > 0.0);

    // Per queue, with vhost and queue labels; the rest as in /metrics.
    let (p, text) = scrape(&base, "/metrics/per-object").await;
    let label = |q: &str| format!("{{vhost=\"/\",queue=\"{q}\"}}");
    expect(&p, &format!("rabbitmq_queue_messages_ready{}", label(&q1)), 3.0);
    expect(&p, &format!("rabbitmq_queue_messages_ready{}", label(&q2)), 2.0);
    expect(&p, &format!("rabbitmq_queue_messages_unacked{}", label(&q1)), 0.0);
    expect(&p, &format!("rabbitmq_queue_messages{}", label(&q2)), 2.0);
    expect(&p, &format!("rabbitmq_queue_consumers{}", label(&q1)), 0.0);
    expect(&p, &format!("rabbitmq_queue_messages_published_total{}", label(&q1)), 7.0);
    expect(&p, &format!("rabbitmq_queue_messages_published_total{}", label(&q2)), 3.0);
    expect(&p, &format!("rabbitmq_queue_messages_ready_bytes{}", label(&q2)), 14.0);
    expect(&p, &format!("rabbitmq_global_messages_received_total{amqp}"), 12.0);
    assert!(!p.contains_key("rabbitmq_queue_messages_ready"), "no unlabelled queue series per object:\n{text}");

    // Unacked messages show while a consumer holds them.
    let mut held =
        within("consume", ch2.basic_consume(q1.as_str().into(), "h".into(), BasicConsumeOptions::default(), FieldTable::default()))
            .await
            .unwrap();
    for _ in 0..3 {
        within("delivery", held.next()).await.expect("stream").expect("delivery");
    }
    let (m, _) = scrape(&base, "/metrics").await;
    expect(&m, "rabbitmq_queue_messages_unacked", 3.0);
    expect(&m, "rabbitmq_queue_messages_ready", 2.0);
    expect(&m, "rabbitmq_consumers", 1.0);
    expect(&m, "rabbitmq_queue_consumers", 1.0);
    expect(&m, "rabbitmq_channel_consumers", 1.0);
    expect(&m, "rabbitmq_channel_messages_unacked", 3.0);
    conn.close(200, "bye".into()).await.unwrap();
}

#[tokio::test]
async fn only_the_metrics_paths_exist() {
    let broker = Broker::start();
    let Some(base) = broker.prometheus_url.clone() else { return };
    let r = within("scrape", reqwest::get(format!("{base}/other"))).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
}
