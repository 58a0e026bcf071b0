//! Dead-lettering (`x-dead-letter-exchange`, `x-dead-letter-routing-key`)
//! as a lapin client sees it: which messages arrive where, with which
//! exchange and routing key, and every field of the `x-death` header and
//! the `x-first-death-*` headers; cycle detection; quorum delivery limits.
//!
//! Checked against RabbitMQ 3.10 first (no broker setup needed):
//!
//! ```text
//! WARREN_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f cargo test -p gateway --test semantics_dlx -- --include-ignored
//! ```
//!
//! Tests marked `#[ignore = "warren bug: ..."]` pass on RabbitMQ and fail on Warren.

mod common;
mod sem;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{unique, within, Broker};
use lapin::message::Delivery;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, ExchangeKind};
use sem::*;

fn keys(t: &FieldTable) -> BTreeSet<String> {
    t.inner().keys().map(|k| k.to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Asserts one x-death entry field by field. `time` must lie in
/// `[earliest, now]` (seconds; one second of slack either side).
#[allow(clippy::too_many_arguments)]
fn assert_death(
    entry: &FieldTable,
    count: i64,
    reason: &str,
    queue: &str,
    exchange: &str,
    routing_keys: &[&str],
    original_expiration: Option<&str>,
    earliest: u64,
) {
    let mut expected_keys = set(&["count", "reason", "queue", "time", "exchange", "routing-keys"]);
    if original_expiration.is_some() {
        expected_keys.insert("original-expiration".into());
    }
    assert_eq!(keys(entry), expected_keys, "x-death entry fields: {entry:?}");
    assert_eq!(field(entry, "count"), Some(&AMQPValue::LongLongInt(count)), "count in {entry:?}");
    assert_eq!(field(entry, "reason"), Some(&ls(reason)), "reason in {entry:?}");
    assert_eq!(field(entry, "queue"), Some(&ls(queue)), "queue in {entry:?}");
    assert_eq!(field(entry, "exchange"), Some(&ls(exchange)), "exchange in {entry:?}");
    assert_eq!(field(entry, "routing-keys"), Some(&array(routing_keys.iter().map(|k| ls(k)).collect())), "routing-keys in {entry:?}");
    if let Some(exp) = original_expiration {
        assert_eq!(field(entry, "original-expiration"), Some(&ls(exp)), "original-expiration in {entry:?}");
    }
    match field(entry, "time") {
        Some(AMQPValue::Timestamp(t)) => {
            let now = unix_now();
            assert!(*t + 1 >= earliest && *t <= now + 1, "time {t} not within [{earliest}, {now}]");
        }
        other => panic!("x-death time must be a timestamp, got {other:?}"),
    }
}

fn assert_first_death(d: &Delivery, exchange: &str, queue: &str, reason: &str) {
    let p = &d.properties;
    assert_eq!(header(p, "x-first-death-exchange"), Some(&ls(exchange)));
    assert_eq!(header(p, "x-first-death-queue"), Some(&ls(queue)));
    assert_eq!(header(p, "x-first-death-reason"), Some(&ls(reason)));
}

fn header_keys(d: &Delivery) -> BTreeSet<String> {
    d.properties.headers().as_ref().map(keys).unwrap_or_default()
}

async fn get_one(ch: &Channel, q: &str) -> Delivery {
    get(ch, q, true).await.unwrap_or_else(|| panic!("expected a message in {q}")).delivery
}

/// Waits (polling basic.get, auto-ack) for the next message in `q`.
async fn wait_get(ch: &Channel, q: &str) -> Delivery {
    sem::wait_get(ch, q, true).await.delivery
}

#[tokio::test]
async fn expired_messages_are_dead_lettered_with_a_full_x_death() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let dlx = unique("dlx");
    let src = unique("dl-src");
    let dst = unique("dl-dst");
    declare_exchange(
        &ch,
        &dlx,
        ExchangeKind::Direct,
        ExchangeDeclareOptions { auto_delete: true, ..Default::default() },
        FieldTable::default(),
    )
    .await;
    declare_q(&ch, &dst, FieldTable::default()).await;
    bind(&ch, &dst, &dlx, "dead", FieldTable::default()).await;
    declare_q(
        &ch,
        &src,
        ft(&[("x-message-ttl", int(50)), ("x-dead-letter-exchange", ls(&dlx)), ("x-dead-letter-routing-key", ls("dead"))]),
    )
    .await;
    let t0 = unix_now();
    let props = BasicProperties::default().with_headers(ft(&[("a", int(1))])).with_message_id(s("m-1")).with_delivery_mode(2);
    publish_acked(&ch, "", &src, b"ttl1", props).await;
    publish_acked(&ch, "", &src, b"ttl2", BasicProperties::default().with_expiration(s("20"))).await;
    let mut c = consume(&ch, &dst, "dead-reader", true, FieldTable::default()).await;

    // The queue TTL: both arrive, in queue order ("ttl2" waits behind "ttl1").
    let d1 = next(&mut c).await;
    assert_eq!(body(&d1), "ttl1");
    assert_eq!((d1.exchange.as_str(), d1.routing_key.as_str(), d1.redelivered), (dlx.as_str(), "dead", false));
    assert_eq!(header_keys(&d1), set(&["a", "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason"]));
    assert_eq!(header(&d1.properties, "a"), Some(&int(1)), "original headers are kept");
    assert_eq!(d1.properties.message_id(), &Some(s("m-1")), "properties are kept");
    assert_eq!(d1.properties.delivery_mode(), &Some(2));
    let deaths = x_death(&d1.properties);
    assert_eq!(deaths.len(), 1);
    assert_death(&deaths[0], 1, "expired", &src, "", &[&src], None, t0);
    assert_first_death(&d1, "", &src, "expired");

    // Per-message expiration moves from the properties into x-death.
    let d2 = next(&mut c).await;
    assert_eq!(body(&d2), "ttl2");
    assert_eq!(d2.properties.expiration(), &None);
    let deaths = x_death(&d2.properties);
    assert_eq!(deaths.len(), 1);
    assert_death(&deaths[0], 1, "expired", &src, "", &[&src], Some("20"), t0);
    assert_first_death(&d2, "", &src, "expired");
    assert_no_delivery(&mut c, 100).await;
    assert_eq!(message_count(&ch, &src).await, 0);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn rejected_messages_keep_their_routing_key_and_repeat_deaths_count_up() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let input = unique("dl-in");
    let dlx = unique("dlx-fan");
    let src = unique("rj-src");
    let dst = unique("rj-dst");
    let ad = ExchangeDeclareOptions { auto_delete: true, ..Default::default() };
    declare_exchange(&ch, &input, ExchangeKind::Direct, ad, FieldTable::default()).await;
    declare_exchange(&ch, &dlx, ExchangeKind::Fanout, ad, FieldTable::default()).await;
    declare_q(&ch, &dst, FieldTable::default()).await;
    bind(&ch, &dst, &dlx, "", FieldTable::default()).await;
    declare_q(&ch, &src, ft(&[("x-dead-letter-exchange", ls(&dlx))])).await;
    bind(&ch, &src, &input, "orig-key", FieldTable::default()).await;
    let t0 = unix_now();
    for b in ["rejected", "nacked", "requeued"] {
        publish_acked(&ch, &input, "orig-key", b.as_bytes(), BasicProperties::default()).await;
    }
    let m = get(&ch, &src, false).await.expect("rejected");
    m.delivery.reject(BasicRejectOptions { requeue: false }).await.expect("reject");
    let m = get(&ch, &src, false).await.expect("nacked");
    m.delivery.nack(BasicNackOptions { requeue: false, multiple: false }).await.expect("nack");
    // Rejected with requeue: not dead-lettered, back in the queue.
    let m = get(&ch, &src, false).await.expect("requeued");
    m.delivery.reject(BasicRejectOptions { requeue: true }).await.expect("reject");

    let d = wait_get(&ch, &dst).await;
    assert_eq!(body(&d), "rejected");
    // No dead-letter routing key: the original key is kept.
    assert_eq!((d.exchange.as_str(), d.routing_key.as_str()), (dlx.as_str(), "orig-key"));
    let deaths = x_death(&d.properties);
    assert_eq!(deaths.len(), 1);
    assert_death(&deaths[0], 1, "rejected", &src, &input, &["orig-key"], None, t0);
    assert_first_death(&d, &input, &src, "rejected");
    let d2 = wait_get(&ch, &dst).await;
    assert_eq!(body(&d2), "nacked");
    assert_death(&x_death(&d2.properties)[0], 1, "rejected", &src, &input, &["orig-key"], None, t0);
    assert!(get(&ch, &dst, true).await.is_none());
    let back = get_one(&ch, &src).await;
    assert_eq!((body(&back), back.redelivered), ("requeued".to_string(), true));

    // Publish the dead letter again with its headers and reject it again:
    // the same (queue, reason) entry is updated, its count grows.
    let props = BasicProperties::default().with_headers(d.properties.headers().clone().unwrap());
    publish_acked(&ch, &input, "orig-key", b"again", props).await;
    let m = get(&ch, &src, false).await.expect("again");
    m.delivery.reject(BasicRejectOptions { requeue: false }).await.expect("reject");
    let d = wait_get(&ch, &dst).await;
    assert_eq!(body(&d), "again");
    let deaths = x_death(&d.properties);
    assert_eq!(deaths.len(), 1, "{deaths:?}");
    assert_death(&deaths[0], 2, "rejected", &src, &input, &["orig-key"], None, t0);
    assert_first_death(&d, &input, &src, "rejected");
    conn.close(200, s("bye")).await.ok();
}

/// Whatever the reason, a dead letter loses its `expiration` (so it does not
/// expire again in the next queue) and x-death records it as
/// `original-expiration`.
#[tokio::test]
async fn dead_letters_lose_their_expiration_to_x_death() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let src = unique("exp-src");
    let dst = unique("exp-dst");
    declare_q(&ch, &dst, FieldTable::default()).await;
    declare_q(&ch, &src, ft(&[("x-dead-letter-exchange", ls("")), ("x-dead-letter-routing-key", ls(&dst))])).await;
    let t0 = unix_now();
    let props = BasicProperties::default().with_expiration(s("60000")).with_headers(ft(&[("a", int(1))]));
    publish_acked(&ch, "", &src, b"rejected", props).await;
    let m = get(&ch, &src, false).await.expect("rejected");
    m.delivery.reject(BasicRejectOptions { requeue: false }).await.expect("reject");
    let d = wait_get(&ch, &dst).await;
    assert_eq!(body(&d), "rejected");
    assert_eq!(d.properties.expiration(), &None);
    assert_eq!(header(&d.properties, "a"), Some(&int(1)));
    let deaths = x_death(&d.properties);
    assert_eq!(deaths.len(), 1);
    assert_death(&deaths[0], 1, "rejected", &src, "", &[&src], Some("60000"), t0);
    assert_first_death(&d, "", &src, "rejected");

    // Expired by its own TTL: the same.
    publish_acked(&ch, "", &src, b"expired", BasicProperties::default().with_expiration(s("1"))).await;
    let d = wait_get(&ch, &dst).await;
    assert_eq!(body(&d), "expired");
    assert_eq!(d.properties.expiration(), &None);
    assert_death(&x_death(&d.properties)[0], 1, "expired", &src, "", &[&src], Some("1"), t0);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn max_length_dead_letters_the_dropped_head_with_reason_maxlen() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let src = unique("ml-src");
    let dst = unique("ml-dst");
    declare_q(&ch, &dst, FieldTable::default()).await;
    declare_q(&ch, &src, ft(&[("x-max-length", int(2)), ("x-dead-letter-exchange", ls("")), ("x-dead-letter-routing-key", ls(&dst))]))
        .await;
    let t0 = unix_now();
    for i in 0..4 {
        publish_acked(&ch, "", &src, format!("m{i}").as_bytes(), BasicProperties::default()).await;
    }
    assert_eq!(message_count(&ch, &src).await, 2);
    let a = wait_get(&ch, &dst).await;
    let b = wait_get(&ch, &dst).await;
    assert_eq!((body(&a), body(&b)), ("m0".to_string(), "m1".to_string()));
    assert_eq!((a.exchange.as_str(), a.routing_key.as_str()), ("", dst.as_str()));
    assert_death(&x_death(&a.properties)[0], 1, "maxlen", &src, "", &[&src], None, t0);
    assert_first_death(&a, "", &src, "maxlen");
    assert_eq!(drain(&ch, &src).await, ["m2", "m3"]);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn reject_publish_dlx_nacks_and_dead_letters_the_refused_message() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let src = unique("rpd-src");
    let dst = unique("rpd-dst");
    declare_q(&ch, &dst, FieldTable::default()).await;
    declare_q(
        &ch,
        &src,
        ft(&[
            ("x-max-length", int(1)),
            ("x-overflow", ls("reject-publish-dlx")),
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls(&dst)),
        ]),
    )
    .await;
    let t0 = unix_now();
    assert_eq!(publish_confirmed(&ch, "", &src, b"kept", BasicProperties::default(), false).await, Confirmation::Ack(None));
    assert_eq!(publish_confirmed(&ch, "", &src, b"refused", BasicProperties::default(), false).await, Confirmation::Nack(None));
    let d = wait_get(&ch, &dst).await;
    assert_eq!(body(&d), "refused");
    assert_death(&x_death(&d.properties)[0], 1, "maxlen", &src, "", &[&src], None, t0);
    assert_eq!(drain(&ch, &src).await, ["kept"]);
    // Plain reject-publish never dead-letters.
    let plain = unique("rp-src");
    declare_q(
        &ch,
        &plain,
        ft(&[
            ("x-max-length", int(1)),
            ("x-overflow", ls("reject-publish")),
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls(&dst)),
        ]),
    )
    .await;
    publish_acked(&ch, "", &plain, b"one", BasicProperties::default()).await;
    assert_eq!(publish_confirmed(&ch, "", &plain, b"two", BasicProperties::default(), false).await, Confirmation::Nack(None));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(message_count(&ch, &dst).await, 0);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn deaths_in_successive_queues_stack_most_recent_first() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q1 = unique("hop1");
    let q2 = unique("hop2");
    let q3 = unique("hop3");
    declare_q(&ch, &q3, FieldTable::default()).await;
    declare_q(&ch, &q2, ft(&[("x-message-ttl", int(20)), ("x-dead-letter-exchange", ls("")), ("x-dead-letter-routing-key", ls(&q3))]))
        .await;
    declare_q(&ch, &q1, ft(&[("x-dead-letter-exchange", ls("")), ("x-dead-letter-routing-key", ls(&q2))])).await;
    let t0 = unix_now();
    publish_acked(&ch, "", &q1, b"hopper", BasicProperties::default()).await;
    let m = get(&ch, &q1, false).await.expect("hopper");
    m.delivery.reject(BasicRejectOptions { requeue: false }).await.expect("reject");
    let d = wait_get(&ch, &q3).await;
    assert_eq!(body(&d), "hopper");
    assert_eq!(d.routing_key.as_str(), q3);
    let deaths = x_death(&d.properties);
    assert_eq!(deaths.len(), 2, "{deaths:?}");
    // Routing keys record the key the message had in that queue.
    assert_death(&deaths[0], 1, "expired", &q2, "", &[&q2], None, t0);
    assert_death(&deaths[1], 1, "rejected", &q1, "", &[&q1], None, t0);
    // x-first-death-* keep the very first death.
    assert_first_death(&d, "", &q1, "rejected");
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn expiry_cycles_are_dropped_but_rejections_may_loop() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    // Expiry back into itself through the default exchange: a cycle, dropped.
    let cyc = unique("cycle");
    declare_q(&ch, &cyc, ft(&[("x-message-ttl", int(10)), ("x-dead-letter-exchange", ls(""))])).await;
    publish_acked(&ch, "", &cyc, b"loop", BasicProperties::default()).await;
    wait_until("the cycling message is dropped", || async { message_count(&ch, &cyc).await == 0 }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(message_count(&ch, &cyc).await, 0);
    assert!(get(&ch, &cyc, true).await.is_none());

    // A two-queue expiry cycle a -> b -> a: dropped on reaching a again.
    let a = unique("cyc-a");
    let b = unique("cyc-b");
    declare_q(&ch, &a, ft(&[("x-message-ttl", int(10)), ("x-dead-letter-exchange", ls("")), ("x-dead-letter-routing-key", ls(&b))])).await;
    declare_q(&ch, &b, ft(&[("x-message-ttl", int(10)), ("x-dead-letter-exchange", ls("")), ("x-dead-letter-routing-key", ls(&a))])).await;
    publish_acked(&ch, "", &a, b"pingpong", BasicProperties::default()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((message_count(&ch, &a).await, message_count(&ch, &b).await), (0, 0));

    // A rejection back into itself is not a cycle: it returns, counting up.
    let rq = unique("reject-loop");
    declare_q(&ch, &rq, ft(&[("x-dead-letter-exchange", ls(""))])).await;
    publish_acked(&ch, "", &rq, b"again", BasicProperties::default()).await;
    for round in 0..3i64 {
        let m = sem::wait_get(&ch, &rq, false).await;
        if round == 0 {
            assert!(header(&m.delivery.properties, "x-death").is_none());
        } else {
            let deaths = x_death(&m.delivery.properties);
            assert_eq!(deaths.len(), 1);
            assert_eq!(field(&deaths[0], "count"), Some(&AMQPValue::LongLongInt(round)));
            assert_eq!(field(&deaths[0], "reason"), Some(&ls("rejected")));
        }
        m.delivery.reject(BasicRejectOptions { requeue: false }).await.expect("reject");
    }
    wait_until("the message is back once more", || async { message_count(&ch, &rq).await == 1 }).await;
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn a_missing_dead_letter_exchange_drops_silently() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("dl-missing");
    declare_q(&ch, &q, ft(&[("x-dead-letter-exchange", ls("no-such-dlx")), ("x-message-ttl", int(10))])).await;
    publish_acked(&ch, "", &q, b"x", BasicProperties::default()).await;
    wait_until("the message expired", || async { message_count(&ch, &q).await == 0 }).await;
    // Rejection too; the channel stays usable.
    let q2 = unique("dl-missing-rej");
    declare_q(&ch, &q2, ft(&[("x-dead-letter-exchange", ls("no-such-dlx"))])).await;
    publish_acked(&ch, "", &q2, b"y", BasicProperties::default()).await;
    let m = get(&ch, &q2, false).await.expect("y");
    m.delivery.reject(BasicRejectOptions { requeue: false }).await.expect("reject");
    assert_eq!(message_count(&ch, &q2).await, 0);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn quorum_delivery_limit_dead_letters_with_reason_delivery_limit() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let qq = unique("qq-limit");
    let dst = unique("qq-limit-dl");
    declare_q(&ch, &dst, FieldTable::default()).await;
    declare(
        &ch,
        &qq,
        QueueDeclareOptions::durable(),
        ft(&[
            ("x-queue-type", ls("quorum")),
            ("x-delivery-limit", int(2)),
            ("x-dead-letter-exchange", ls("")),
            ("x-dead-letter-routing-key", ls(&dst)),
        ]),
    )
    .await;
    let t0 = unix_now();
    publish_acked(&ch, "", &qq, b"poison", BasicProperties::default()).await;
    // Delivered and returned three times: deliveries 0, 1 and 2 are within
    // the limit of 2, the third return exceeds it.
    for expected in 0..3i64 {
        let m = get(&ch, &qq, false).await.expect("the message");
        assert_eq!(header(&m.delivery.properties, "x-delivery-count"), Some(&AMQPValue::LongLongInt(expected)));
        m.delivery.nack(BasicNackOptions { requeue: true, multiple: false }).await.expect("nack");
    }
    let d = wait_get(&ch, &dst).await;
    assert_eq!(body(&d), "poison");
    assert_eq!((d.exchange.as_str(), d.routing_key.as_str()), ("", dst.as_str()));
    let deaths = x_death(&d.properties);
    assert_eq!(deaths.len(), 1);
    assert_death(&deaths[0], 1, "delivery_limit", &qq, "", &[&qq], None, t0);
    assert_first_death(&d, "", &qq, "delivery_limit");
    assert_eq!(header_keys(&d), set(&["x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason"]));
    assert!(get(&ch, &qq, true).await.is_none());
    within("queue.delete", ch.queue_delete(s(&qq), QueueDeleteOptions::default())).await.expect("queue.delete");
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn cc_keys_are_recorded_in_x_death_routing_keys() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let ex = unique("ssd-dl");
    let src = unique("ssd-src");
    let dst = unique("ssd-dst");
    declare_exchange(
        &ch,
        &ex,
        ExchangeKind::Direct,
        ExchangeDeclareOptions { auto_delete: true, ..Default::default() },
        FieldTable::default(),
    )
    .await;
    declare_q(&ch, &dst, FieldTable::default()).await;
    declare_q(&ch, &src, ft(&[("x-dead-letter-exchange", ls("")), ("x-dead-letter-routing-key", ls(&dst))])).await;
    bind(&ch, &src, &ex, "cc-key", FieldTable::default()).await;
    let t0 = unix_now();
    let headers = ft(&[("CC", array(vec![ls("cc-key")])), ("BCC", array(vec![ls("bcc-key")]))]);
    publish_acked(&ch, &ex, "main-key", b"cc", BasicProperties::default().with_headers(headers)).await;
    let m = get(&ch, &src, false).await.expect("cc");
    m.delivery.reject(BasicRejectOptions { requeue: false }).await.expect("reject");
    let d = wait_get(&ch, &dst).await;
    // The publish's key and the CC keys (never BCC).
    assert_death(&x_death(&d.properties)[0], 1, "rejected", &src, &ex, &["main-key", "cc-key"], None, t0);
    // Dead-lettering removes the CC header (its keys now live in x-death),
    // so the dead letter is not routed to the CC keys again.
    assert_eq!(header(&d.properties, "CC"), None);
    assert_eq!(header(&d.properties, "BCC"), None);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn a_requeued_message_past_its_ttl_is_dead_lettered_not_redelivered() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let src = unique("ttl-requeue");
    let dst = unique("ttl-requeue-dl");
    declare_q(&ch, &dst, FieldTable::default()).await;
    declare_q(&ch, &src, ft(&[("x-message-ttl", int(100)), ("x-dead-letter-exchange", ls("")), ("x-dead-letter-routing-key", ls(&dst))]))
        .await;
    let t0 = unix_now();
    publish_acked(&ch, "", &src, b"late", BasicProperties::default()).await;
    let m = get(&ch, &src, false).await.expect("late");
    // Held unacknowledged past the TTL (an unacked message never expires)...
    tokio::time::sleep(Duration::from_millis(300)).await;
    m.delivery.nack(BasicNackOptions { requeue: true, multiple: false }).await.expect("nack");
    // ...then requeued: it is already expired and goes to the DLX.
    let d = wait_get(&ch, &dst).await;
    assert_eq!(body(&d), "late");
    assert_death(&x_death(&d.properties)[0], 1, "expired", &src, "", &[&src], None, t0);
    assert!(get(&ch, &src, true).await.is_none());
    conn.close(200, s("bye")).await.ok();
}
