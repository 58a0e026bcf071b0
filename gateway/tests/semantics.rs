//! RabbitMQ extensions, proved with lapin over real sockets: queue
//! arguments (TTL, per-message expiration, x-expires, max-length and
//! overflow modes, priorities, single active consumer, queue types and
//! their validation), exchanges (alternate, internal, headers matching),
//! consumers (priorities, exclusive, cancel notification), direct reply-to
//! and publisher confirms.
//!
//! Dead-lettering is in `semantics_dlx.rs`, users/vhosts/permissions/login
//! and the consumer timeout in `semantics_access.rs`.
//!
//! Every expectation was first checked against RabbitMQ 3.10:
//!
//! ```text
//! WARREN_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f cargo test -p gateway --test semantics -- --include-ignored
//! ```
//!
//! This file needs no broker setup beyond the default guest user on `/`.
//! Tests marked `#[ignore = "warren bug: ..."]` pass on RabbitMQ and fail on
//! Warren; include them with `-- --include-ignored`.

mod common;
mod sem;

use std::time::Duration;

use common::{unique, within, Broker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::Confirmation;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, ExchangeKind};
use sem::*;

fn ttl_props(ms: &str) -> BasicProperties {
    BasicProperties::default().with_expiration(s(ms))
}

// ---------------------------------------------------------------------------
// x-message-ttl and per-message expiration
// ---------------------------------------------------------------------------

#[tokio::test]
async fn queue_message_ttl_expires_waiting_messages() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ttl");
    declare_q(&ch, &q, ft(&[("x-message-ttl", int(50))])).await;
    publish_acked(&ch, "", &q, b"a", BasicProperties::default()).await;
    publish_acked(&ch, "", &q, b"b", BasicProperties::default()).await;
    // Both are counted until they expire, then vanish without a consumer.
    wait_until("both messages expired", || async { message_count(&ch, &q).await == 0 }).await;
    assert!(get(&ch, &q, true).await.is_none());
    // A waiting consumer gets a message long before its TTL.
    let mut c = consume(&ch, &q, "ttl-consumer", true, FieldTable::default()).await;
    publish_acked(&ch, "", &q, b"live", BasicProperties::default()).await;
    let d = next(&mut c).await;
    assert_eq!(body(&d), "live");
    // The queue TTL is not copied into the message's expiration property.
    assert_eq!(d.properties.expiration(), &None);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn per_message_expiration_applies_only_at_the_head_of_the_queue() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("msg-ttl");
    declare_q(&ch, &q, FieldTable::default()).await;
    publish_acked(&ch, "", &q, b"long", ttl_props("5000")).await;
    publish_acked(&ch, "", &q, b"short", ttl_props("10")).await;
    publish_acked(&ch, "", &q, b"forever", BasicProperties::default()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // "short" expired long ago, but it sits behind "long": RabbitMQ only
    // drops expired messages when they reach the head, so it is still counted.
    assert_eq!(message_count(&ch, &q).await, 3);
    let m = get(&ch, &q, true).await.expect("long");
    assert_eq!(body(&m.delivery), "long");
    // The expiration property is delivered as published.
    assert_eq!(m.delivery.properties.expiration(), &Some(s("5000")));
    // Now "short" is at the head and expired: skipped, never delivered.
    let m = get(&ch, &q, true).await.expect("forever");
    assert_eq!(body(&m.delivery), "forever");
    assert_eq!(m.message_count, 0);
    assert!(get(&ch, &q, true).await.is_none());
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn per_message_and_queue_ttl_the_lower_wins() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ttl-min");
    declare_q(&ch, &q, ft(&[("x-message-ttl", int(60_000))])).await;
    publish_acked(&ch, "", &q, b"short", ttl_props("20")).await;
    publish_acked(&ch, "", &q, b"queue-ttl", BasicProperties::default()).await;
    wait_until("the short message expired", || async { message_count(&ch, &q).await == 1 }).await;
    assert_eq!(drain(&ch, &q).await, ["queue-ttl"]);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn expiration_zero_reaches_only_a_waiting_consumer() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ttl0");
    declare_q(&ch, &q, FieldTable::default()).await;
    publish_acked(&ch, "", &q, b"nobody-home", ttl_props("0")).await;
    assert_eq!(message_count(&ch, &q).await, 0, "expiration 0 without a consumer: dropped at once");
    let mut c = consume(&ch, &q, "ttl0-consumer", true, FieldTable::default()).await;
    publish_acked(&ch, "", &q, b"caught", ttl_props("0")).await;
    let d = next(&mut c).await;
    assert_eq!(body(&d), "caught");
    assert_eq!(d.properties.expiration(), &Some(s("0")));
    conn.close(200, s("bye")).await.ok();
}

/// Publishes each `(expiration, close text)` on a fresh confirm channel and
/// reports every mismatch at once.
async fn check_bad_expirations(conn: &lapin::Connection, q: &str, cases: &[(&str, &str)]) {
    let mut mismatches = Vec::new();
    for (exp, text) in cases {
        let ch = confirm_channel(conn).await;
        let close = publish_expect_close(&ch, "", q, b"x", ttl_props(exp)).await;
        if close != (406, text.to_string()) {
            mismatches.push(format!("expiration {exp:?}: got {close:?}, expected {text:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn invalid_expiration_closes_the_channel() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let q = unique("bad-exp");
    declare_q(&channel(&conn).await, &q, FieldTable::default()).await;
    check_bad_expirations(
        &conn,
        &q,
        &[
            ("abc", "PRECONDITION_FAILED - invalid expiration 'abc': no_integer"),
            ("-5", "PRECONDITION_FAILED - invalid expiration '-5': {value_negative,-5}"),
            (" 5", "PRECONDITION_FAILED - invalid expiration ' 5': no_integer"),
            ("", "PRECONDITION_FAILED - invalid expiration '': no_integer"),
        ],
    )
    .await;
    let ch = confirm_channel(&conn).await;
    assert_eq!(message_count(&ch, &q).await, 0);
    // Accepted: a leading '+', leading zeros, "-0", and values past 2^32.
    for exp in ["+5000", "007000", "-0", "4294967296"] {
        publish_acked(&ch, "", &q, exp.as_bytes(), ttl_props(exp)).await;
    }
    let m = get(&ch, &q, true).await.expect("+5000");
    assert_eq!(m.delivery.properties.expiration(), &Some(s("+5000")), "delivered verbatim");
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn invalid_expiration_texts_name_the_leftover_or_the_overflow() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let q = unique("bad-exp2");
    declare_q(&channel(&conn).await, &q, FieldTable::default()).await;
    check_bad_expirations(
        &conn,
        &q,
        &[
            // string:to_integer/1 parses a prefix; the rest is reported.
            ("1.5", "PRECONDITION_FAILED - invalid expiration '1.5': {leftover_string,\".5\"}"),
            ("1e3", "PRECONDITION_FAILED - invalid expiration '1e3': {leftover_string,\"e3\"}"),
            ("5 ", "PRECONDITION_FAILED - invalid expiration '5 ': {leftover_string,\" \"}"),
            // Erlang's ~p breaks the long term over two lines, verbatim in the text.
            (
                "99999999999999999999",
                "PRECONDITION_FAILED - invalid expiration '99999999999999999999': {value_too_large,\n                                            99999999999999999999}",
            ),
        ],
    )
    .await;
    conn.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// x-expires
// ---------------------------------------------------------------------------

#[tokio::test]
async fn x_expires_deletes_the_queue_once_unused() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let q = unique("expires");
    declare_q(&ch, &q, ft(&[("x-expires", int(300))])).await;
    // A consumer keeps it alive well past x-expires.
    let c = consume(&ch, &q, "keeper", true, FieldTable::default()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(message_count(&ch, &q).await, 0, "still there while consumed");
    within("basic.cancel", ch.basic_cancel(c.tag(), BasicCancelOptions::default()))
        .await
        .expect("basic.cancel");
    let cancelled = std::time::Instant::now();
    // Polled every 400 ms (> x-expires) so that the poll itself does not keep it alive.
    let close = loop {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let probe = channel(&conn).await;
        match try_declare(&probe, &q, QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default()).await {
            Ok(_) => assert!(cancelled.elapsed() < common::STEP_TIMEOUT, "queue never expired"),
            Err(e) => break amqp_error(&e),
        }
    };
    assert_eq!(close, (404, format!("NOT_FOUND - no queue '{q}' in vhost '/'")));
    assert!(cancelled.elapsed() >= Duration::from_millis(300));
    conn.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// x-max-length, x-max-length-bytes, x-overflow
// ---------------------------------------------------------------------------

#[tokio::test]
async fn max_length_drop_head_discards_the_oldest() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxlen");
    declare_q(&ch, &q, ft(&[("x-max-length", int(2))])).await;
    for i in 0..5 {
        // drop-head (the default) accepts and confirms every publish.
        publish_acked(&ch, "", &q, format!("m{i}").as_bytes(), BasicProperties::default()).await;
    }
    assert_eq!(message_count(&ch, &q).await, 2);
    assert_eq!(drain(&ch, &q).await, ["m3", "m4"]);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn max_length_counts_only_ready_messages() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxlen-ready");
    declare_q(&ch, &q, ft(&[("x-max-length", int(1)), ("x-overflow", ls("reject-publish"))])).await;
    publish_acked(&ch, "", &q, b"first", BasicProperties::default()).await;
    // Delivered but unacknowledged: no longer counts against the limit.
    let m = get(&ch, &q, false).await.expect("first");
    publish_acked(&ch, "", &q, b"second", BasicProperties::default()).await;
    assert_eq!(publish_confirmed(&ch, "", &q, b"third", BasicProperties::default(), false).await, Confirmation::Nack(None));
    // Requeueing may take the queue over its limit: nothing is dropped.
    m.delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await.expect("nack");
    wait_until("the requeued message is back", || async { message_count(&ch, &q).await == 2 }).await;
    assert_eq!(drain(&ch, &q).await, ["first", "second"]);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn max_length_bytes_counts_body_bytes() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxbytes");
    declare_q(&ch, &q, ft(&[("x-max-length-bytes", int(10))])).await;
    // Headers do not count, only bodies.
    let big_headers = BasicProperties::default().with_headers(ft(&[("padding", ls(&"p".repeat(200)))]));
    publish_acked(&ch, "", &q, b"12345", big_headers).await;
    publish_acked(&ch, "", &q, b"67890", BasicProperties::default()).await;
    assert_eq!(message_count(&ch, &q).await, 2, "exactly 10 bytes fit");
    publish_acked(&ch, "", &q, b"abc", BasicProperties::default()).await;
    assert_eq!(drain(&ch, &q).await, ["67890", "abc"]);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn overflow_reject_publish_nacks_new_messages() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("reject-publish");
    declare_q(&ch, &q, ft(&[("x-max-length", int(1)), ("x-overflow", ls("reject-publish"))])).await;
    assert_eq!(publish_confirmed(&ch, "", &q, b"one", BasicProperties::default(), false).await, Confirmation::Ack(None));
    assert_eq!(publish_confirmed(&ch, "", &q, b"two", BasicProperties::default(), false).await, Confirmation::Nack(None));
    // A mandatory publish refused by the queue is nacked, not returned.
    assert_eq!(publish_confirmed(&ch, "", &q, b"three", BasicProperties::default(), true).await, Confirmation::Nack(None));
    assert_eq!(message_count(&ch, &q).await, 1);
    assert_eq!(drain(&ch, &q).await, ["one"]);
    // Room again: accepted.
    assert_eq!(publish_confirmed(&ch, "", &q, b"four", BasicProperties::default(), false).await, Confirmation::Ack(None));
    assert_eq!(drain(&ch, &q).await, ["four"]);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn overflow_reject_publish_nacks_when_any_target_queue_refuses() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let full = unique("rp-full");
    let open = unique("rp-open");
    let ex = unique("rp-fanout");
    declare_exchange(&ch, &ex, ExchangeKind::Fanout, ExchangeDeclareOptions { auto_delete: true, ..Default::default() }, FieldTable::default()).await;
    declare_q(&ch, &full, ft(&[("x-max-length", int(1)), ("x-overflow", ls("reject-publish"))])).await;
    declare_q(&ch, &open, FieldTable::default()).await;
    bind(&ch, &full, &ex, "", FieldTable::default()).await;
    bind(&ch, &open, &ex, "", FieldTable::default()).await;
    assert_eq!(publish_confirmed(&ch, &ex, "", b"first", BasicProperties::default(), false).await, Confirmation::Ack(None));
    assert_eq!(publish_confirmed(&ch, &ex, "", b"second", BasicProperties::default(), false).await, Confirmation::Nack(None));
    // The queue with room still got it.
    assert_eq!(drain(&ch, &open).await, ["first", "second"]);
    assert_eq!(drain(&ch, &full).await, ["first"]);
    conn.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// Argument validation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn invalid_queue_arguments_are_refused_with_rabbitmqs_texts() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let q = unique("badarg");
    let cases: Vec<(FieldTable, &str)> = vec![
        (ft(&[("x-message-ttl", int(-1))]), "invalid arg 'x-message-ttl' for queue '{q}' in vhost '/': {value_negative,-1}"),
        (ft(&[("x-message-ttl", ls("abc"))]), "invalid arg 'x-message-ttl' for queue '{q}' in vhost '/': \"expected integer, got longstr\""),
        (ft(&[("x-expires", int(0))]), "invalid arg 'x-expires' for queue '{q}' in vhost '/': {value_zero,0}"),
        (ft(&[("x-expires", int(-5))]), "invalid arg 'x-expires' for queue '{q}' in vhost '/': {value_negative,-5}"),
        (ft(&[("x-max-length", int(-1))]), "invalid arg 'x-max-length' for queue '{q}' in vhost '/': {value_negative,-1}"),
        (ft(&[("x-max-length", ls("x"))]), "invalid arg 'x-max-length' for queue '{q}' in vhost '/': \"expected integer, got longstr\""),
        (ft(&[("x-max-length-bytes", int(-1))]), "invalid arg 'x-max-length-bytes' for queue '{q}' in vhost '/': {value_negative,-1}"),
        (ft(&[("x-overflow", ls("bogus"))]), "invalid arg 'x-overflow' for queue '{q}' in vhost '/': invalid_overflow"),
        (ft(&[("x-overflow", int(1))]), "invalid arg 'x-overflow' for queue '{q}' in vhost '/': {unacceptable_type,signedint}"),
        (ft(&[("x-dead-letter-exchange", int(1))]), "invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue '{q}' in vhost '/'"),
        (ft(&[("x-dead-letter-routing-key", ls("k"))]), "invalid arg 'x-dead-letter-routing-key' for queue '{q}' in vhost '/': routing_key_but_no_dlx_defined"),
        (ft(&[("x-max-priority", int(256))]), "invalid arg 'x-max-priority' for queue '{q}' in vhost '/': {max_value_exceeded,256}"),
        (ft(&[("x-max-priority", int(-1))]), "invalid arg 'x-max-priority' for queue '{q}' in vhost '/': {value_negative,-1}"),
        (ft(&[("x-max-priority", ls("x"))]), "invalid arg 'x-max-priority' for queue '{q}' in vhost '/': \"expected integer, got longstr\""),
        (ft(&[("x-single-active-consumer", ls("yes"))]), "invalid arg 'x-single-active-consumer' for queue '{q}' in vhost '/': {unacceptable_type,longstr}"),
        (ft(&[("x-single-active-consumer", int(1))]), "invalid arg 'x-single-active-consumer' for queue '{q}' in vhost '/': {unacceptable_type,signedint}"),
        (ft(&[("x-queue-type", ls("weird"))]), "invalid arg 'x-queue-type' for queue '{q}' in vhost '/': \"unsupported queue type 'weird'\""),
        (ft(&[("x-queue-type", int(5))]), "invalid arg 'x-queue-type' for queue '{q}' in vhost '/': {unacceptable_type,signedint}"),
        (ft(&[("x-queue-mode", ls("bogus"))]), "invalid arg 'x-queue-mode' for queue '{q}' in vhost '/': \"unsupported queue mode 'bogus'\""),
        // Quorum-only arguments on a classic queue.
        (ft(&[("x-delivery-limit", int(5))]), "invalid arg 'x-delivery-limit' for queue '{q}' in vhost '/' of queue type rabbit_classic_queue"),
    ];
    // Every case is tried; the mismatches are reported together.
    let mut mismatches = Vec::new();
    for (args, text) in cases {
        let ch = channel(&conn).await;
        let close = expect_close("queue.declare with a bad argument", ch.queue_declare(s(&q), QueueDeclareOptions::default(), args.clone())).await;
        let expected = (406, format!("PRECONDITION_FAILED - {}", text.replace("{q}", &q)));
        if close != expected {
            mismatches.push(format!("arguments {args:?}\n  got:      {close:?}\n  expected: {expected:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
    // Valid edge values and unknown x- arguments are accepted.
    let ch = channel(&conn).await;
    for args in [
        ft(&[("x-message-ttl", int(0))]),
        ft(&[("x-max-priority", int(255))]),
        ft(&[("x-queue-type", ls("classic"))]),
        ft(&[("x-unknown-argument", int(1))]),
        ft(&[("x-single-active-consumer", AMQPValue::Boolean(false))]),
    ] {
        let name = unique("goodarg");
        declare_q(&ch, &name, args).await;
        within("queue.delete", ch.queue_delete(s(&name), QueueDeleteOptions::default())).await.expect("queue.delete");
    }
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn a_non_string_dead_letter_routing_key_is_an_invalid_arg() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let q = unique("badarg-dlrk");
    let ch = channel(&conn).await;
    let close = expect_close(
        "queue.declare with an integer x-dead-letter-routing-key",
        ch.queue_declare(
            s(&q),
            QueueDeclareOptions::default(),
            ft(&[("x-dead-letter-exchange", ls("e")), ("x-dead-letter-routing-key", int(5))]),
        ),
    )
    .await;
    // Unlike x-dead-letter-exchange ("invalid type 'signedint' for arg ...").
    assert_eq!(
        close,
        (406, format!("PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{q}' in vhost '/': {{unacceptable_type,signedint}}"))
    );
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn redeclaring_with_other_arguments_is_inequivalent() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let q = unique("ineq");
    let ch = channel(&conn).await;
    declare_q(&ch, &q, ft(&[("x-max-length", int(10)), ("x-overflow", ls("reject-publish"))])).await;
    // Same arguments: fine; another integer width for the same value: fine.
    declare_q(&ch, &q, ft(&[("x-max-length", AMQPValue::LongLongInt(10)), ("x-overflow", ls("reject-publish"))])).await;
    let close = expect_close(
        "redeclare",
        ch.queue_declare(s(&q), QueueDeclareOptions::default(), ft(&[("x-max-length", int(11)), ("x-overflow", ls("reject-publish"))])),
    )
    .await;
    assert_eq!(
        close,
        (406, format!("PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '{q}' in vhost '/': received '11' but current is '10'"))
    );
    let ch = channel(&conn).await;
    let close = expect_close(
        "redeclare",
        ch.queue_declare(s(&q), QueueDeclareOptions::default(), ft(&[("x-max-length", int(10)), ("x-overflow", ls("drop-head"))])),
    )
    .await;
    assert_eq!(
        close,
        (406, format!("PRECONDITION_FAILED - inequivalent arg 'x-overflow' for queue '{q}' in vhost '/': received 'drop-head' but current is 'reject-publish'"))
    );
    // Passive declare ignores arguments.
    let ch = channel(&conn).await;
    declare(&ch, &q, QueueDeclareOptions { passive: true, ..Default::default() }, ft(&[("x-max-length", int(99))])).await;
    conn.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// x-max-priority
// ---------------------------------------------------------------------------

#[tokio::test]
async fn priority_queue_delivers_highest_first_and_fifo_within_a_priority() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio");
    declare_q(&ch, &q, ft(&[("x-max-priority", int(5))])).await;
    // Priorities above x-max-priority count as the maximum.
    let sent: [(&str, Option<u8>); 8] = [
        ("a", Some(1)),
        ("b", Some(5)),
        ("c", None),
        ("d", Some(5)),
        ("e", Some(9)),
        ("f", Some(0)),
        ("g", Some(1)),
        ("h", Some(200)),
    ];
    for (b, p) in sent {
        let props = match p {
            Some(p) => BasicProperties::default().with_priority(p),
            None => BasicProperties::default(),
        };
        publish_acked(&ch, "", &q, b.as_bytes(), props).await;
    }
    let mut got = Vec::new();
    while let Some(m) = get(&ch, &q, true).await {
        // The priority property is delivered unchanged (not capped).
        got.push((body(&m.delivery), *m.delivery.properties.priority()));
    }
    let expected: Vec<(String, Option<u8>)> = [
        ("b", Some(5)),
        ("d", Some(5)),
        ("e", Some(9)),
        ("h", Some(200)),
        ("a", Some(1)),
        ("g", Some(1)),
        ("c", None), // a missing priority counts as 0
        ("f", Some(0)),
    ]
    .into_iter()
    .map(|(b, p)| (b.to_string(), p))
    .collect();
    assert_eq!(got, expected);
    conn.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// x-single-active-consumer
// ---------------------------------------------------------------------------

#[tokio::test]
async fn single_active_consumer_gets_everything_until_it_goes_away() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let pub_ch = confirm_channel(&conn).await;
    let ch1 = channel(&conn).await;
    let ch2 = channel(&conn).await;
    let q = unique("sac");
    declare_q(&pub_ch, &q, ft(&[("x-single-active-consumer", AMQPValue::Boolean(true))])).await;
    let mut first = consume(&ch1, &q, "first", true, FieldTable::default()).await;
    let mut second = consume(&ch2, &q, "second", true, FieldTable::default()).await;
    let mut third = consume(&ch1, &q, "third", true, FieldTable::default()).await;
    // All three are counted as consumers.
    assert_eq!(
        declare(&pub_ch, &q, QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default()).await.consumer_count(),
        3
    );
    for i in 0..4 {
        publish_acked(&pub_ch, "", &q, format!("a{i}").as_bytes(), BasicProperties::default()).await;
    }
    for i in 0..4 {
        assert_eq!(body(&next(&mut first).await), format!("a{i}"));
    }
    // The next registered consumer takes over after a cancel...
    within("basic.cancel", ch1.basic_cancel(s("first"), BasicCancelOptions::default())).await.expect("cancel");
    publish_acked(&pub_ch, "", &q, b"b", BasicProperties::default()).await;
    assert_eq!(body(&next(&mut second).await), "b");
    // ...and after its channel closes.
    within("channel.close", ch2.close(200, s("bye"))).await.expect("channel.close");
    publish_acked(&pub_ch, "", &q, b"c", BasicProperties::default()).await;
    assert_eq!(body(&next(&mut third).await), "c");
    assert_no_delivery(&mut third, 100).await;
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn single_active_consumer_requeued_messages_go_to_the_next_consumer() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let pub_ch = confirm_channel(&conn).await;
    let ch1 = channel(&conn).await;
    let ch2 = channel(&conn).await;
    let q = unique("sac-requeue");
    declare_q(&pub_ch, &q, ft(&[("x-single-active-consumer", AMQPValue::Boolean(true))])).await;
    let mut active = consume(&ch1, &q, "active", false, FieldTable::default()).await;
    let mut standby = consume(&ch2, &q, "standby", false, FieldTable::default()).await;
    publish_acked(&pub_ch, "", &q, b"work", BasicProperties::default()).await;
    let d = next(&mut active).await;
    assert!(!d.redelivered);
    assert_no_delivery(&mut standby, 100).await;
    // The active consumer's channel closes with the message unacked.
    within("channel.close", ch1.close(200, s("bye"))).await.expect("channel.close");
    let d = next(&mut standby).await;
    assert_eq!(body(&d), "work");
    assert!(d.redelivered);
    d.ack(BasicAckOptions::default()).await.expect("ack");
    conn.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// Queue types: quorum and stream
// ---------------------------------------------------------------------------

#[tokio::test]
async fn quorum_queue_declaration_rules() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let quorum = || ft(&[("x-queue-type", ls("quorum"))]);
    let q = unique("qq-rules");
    let cases: Vec<(QueueDeclareOptions, FieldTable, String)> = vec![
        (QueueDeclareOptions::default(), quorum(), format!("invalid property 'non-durable' for queue '{q}' in vhost '/'")),
        (
            QueueDeclareOptions { durable: true, exclusive: true, ..Default::default() },
            quorum(),
            format!("invalid property 'exclusive-owner' for queue '{q}' in vhost '/'"),
        ),
        (
            QueueDeclareOptions { durable: true, auto_delete: true, ..Default::default() },
            quorum(),
            format!("invalid property 'auto-delete' for queue '{q}' in vhost '/'"),
        ),
        (
            QueueDeclareOptions::durable(),
            ft(&[("x-queue-type", ls("quorum")), ("x-max-priority", int(5))]),
            format!("invalid arg 'x-max-priority' for queue '{q}' in vhost '/' of queue type rabbit_quorum_queue"),
        ),
        (
            QueueDeclareOptions::durable(),
            ft(&[("x-queue-type", ls("quorum")), ("x-queue-mode", ls("lazy"))]),
            format!("invalid arg 'x-queue-mode' for queue '{q}' in vhost '/' of queue type rabbit_quorum_queue"),
        ),
    ];
    let mut mismatches = Vec::new();
    for (opts, args, text) in cases {
        let ch = channel(&conn).await;
        let expected = (406, format!("PRECONDITION_FAILED - {text}"));
        match within("quorum queue.declare", ch.queue_declare(s(&q), opts, args.clone())).await {
            Ok(_) => {
                mismatches.push(format!("{args:?}: declare-ok, expected {expected:?}"));
                within("queue.delete", ch.queue_delete(s(&q), QueueDeleteOptions::default())).await.expect("queue.delete");
            }
            Err(e) if amqp_error(&e) != expected => mismatches.push(format!("{args:?}: got {:?}, expected {expected:?}", amqp_error(&e))),
            Err(_) => {}
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Accepted quorum arguments. Surprising: RabbitMQ 3.10 does not
    // validate x-delivery-limit's type at all.
    let ch = channel(&conn).await;
    for args in [
        ft(&[("x-queue-type", ls("quorum")), ("x-delivery-limit", ls("x"))]),
        ft(&[("x-queue-type", ls("quorum")), ("x-overflow", ls("reject-publish-dlx"))]),
        ft(&[("x-queue-type", ls("quorum")), ("x-single-active-consumer", AMQPValue::Boolean(true))]),
        ft(&[("x-queue-type", ls("quorum")), ("x-dead-letter-strategy", ls("at-least-once")), ("x-overflow", ls("reject-publish"))]),
        ft(&[("x-queue-type", ls("quorum")), ("x-quorum-initial-group-size", int(1))]),
    ] {
        let name = unique("qq-ok");
        declare(&ch, &name, QueueDeclareOptions::durable(), args).await;
        within("queue.delete", ch.queue_delete(s(&name), QueueDeleteOptions::default())).await.expect("queue.delete");
    }
    // Durable and shared: accepted, and reported by redeclare.
    let ch = channel(&conn).await;
    let ok = declare(&ch, &q, QueueDeclareOptions::durable(), quorum()).await;
    assert_eq!((ok.message_count(), ok.consumer_count()), (0, 0));
    // Redeclaring it as classic (or with no type) is inequivalent.
    let close = expect_close(
        "redeclare as classic",
        ch.queue_declare(s(&q), QueueDeclareOptions::durable(), ft(&[("x-queue-type", ls("classic"))])),
    )
    .await;
    assert_eq!(
        close,
        (406, format!("PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue '{q}' in vhost '/': received 'classic' but current is 'quorum'"))
    );
    let ch = channel(&conn).await;
    within("queue.delete", ch.queue_delete(s(&q), QueueDeleteOptions::default())).await.expect("queue.delete");
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn quorum_dead_letter_strategy_is_validated() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let q = unique("qq-dls");
    let ch = channel(&conn).await;
    let close = expect_close(
        "quorum queue.declare with a bogus x-dead-letter-strategy",
        ch.queue_declare(
            s(&q),
            QueueDeclareOptions::durable(),
            ft(&[("x-queue-type", ls("quorum")), ("x-dead-letter-strategy", ls("bogus"))]),
        ),
    )
    .await;
    assert_eq!(
        close,
        (406, format!("PRECONDITION_FAILED - invalid arg 'x-dead-letter-strategy' for queue '{q}' in vhost '/': invalid_dlx_strategy"))
    );
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn quorum_queue_counts_deliveries_in_x_delivery_count() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = unique("qq-count");
    declare(&ch, &q, QueueDeclareOptions::durable(), ft(&[("x-queue-type", ls("quorum"))])).await;
    publish_acked(&ch, "", &q, b"qmsg", BasicProperties::default().with_delivery_mode(2)).await;
    let mut counts = Vec::new();
    for _ in 0..3 {
        let m = get(&ch, &q, false).await.expect("the message");
        counts.push((header(&m.delivery.properties, "x-delivery-count").cloned(), m.delivery.redelivered));
        m.delivery
            .nack(BasicNackOptions { requeue: true, ..Default::default() })
            .await
            .expect("nack");
    }
    assert_eq!(
        counts,
        [
            // RabbitMQ 3.10 sets the header from the first delivery on.
            (Some(AMQPValue::LongLongInt(0)), false),
            (Some(AMQPValue::LongLongInt(1)), true),
            (Some(AMQPValue::LongLongInt(2)), true),
        ]
    );
    let m = get(&ch, &q, false).await.expect("the message");
    m.delivery.ack(BasicAckOptions::default()).await.expect("ack");
    within("queue.delete", ch.queue_delete(s(&q), QueueDeleteOptions::default())).await.expect("queue.delete");
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn quorum_queue_consumers_see_x_delivery_count_only_on_redeliveries() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let pub_ch = confirm_channel(&conn).await;
    let ch = channel(&conn).await;
    let q = unique("qq-consume-count");
    declare(&pub_ch, &q, QueueDeclareOptions::durable(), ft(&[("x-queue-type", ls("quorum"))])).await;
    publish_acked(&pub_ch, "", &q, b"x", BasicProperties::default()).await;
    publish_acked(&pub_ch, "", &q, b"y", BasicProperties::default().with_headers(ft(&[("a", int(1))]))).await;
    let mut c = consume(&ch, &q, "qq-consumer", false, FieldTable::default()).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let d = next(&mut c).await;
        seen.push((body(&d), d.properties.headers().clone(), d.redelivered));
        d.nack(BasicNackOptions { requeue: true, ..Default::default() }).await.expect("nack");
    }
    // Unlike basic.get, a consumer's first delivery carries no
    // x-delivery-count at all in RabbitMQ 3.10 (headers stay as published).
    let with_count = |n: i64, extra: Option<(&str, AMQPValue)>| {
        let mut t = FieldTable::default();
        if let Some((k, v)) = extra {
            t.insert(k.into(), v);
        }
        t.insert("x-delivery-count".into(), AMQPValue::LongLongInt(n));
        Some(t)
    };
    assert_eq!(
        seen,
        [
            ("x".to_string(), None, false),
            ("y".to_string(), Some(ft(&[("a", int(1))])), false),
            ("x".to_string(), with_count(1, None), true),
            ("y".to_string(), with_count(1, Some(("a", int(1)))), true),
        ]
    );
    within("queue.delete", pub_ch.queue_delete(s(&q), QueueDeleteOptions::default())).await.expect("queue.delete");
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn stream_queues_must_be_durable() {
    // RabbitMQ 3.10 has stream queues in the core broker (the stream plugin
    // only adds the stream protocol): a durable declare succeeds over AMQP
    // 0-9-1.
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let q = unique("stream");
    let ch = channel(&conn).await;
    let close = expect_close(
        "non-durable stream declare",
        ch.queue_declare(s(&q), QueueDeclareOptions::default(), ft(&[("x-queue-type", ls("stream"))])),
    )
    .await;
    assert_eq!(close, (406, format!("PRECONDITION_FAILED - invalid property 'non-durable' for queue '{q}' in vhost '/'")));
    if std::env::var_os("WARREN_TEST_AMQP_URL").is_some() {
        let ch = channel(&conn).await;
        declare(&ch, &q, QueueDeclareOptions::durable(), ft(&[("x-queue-type", ls("stream"))])).await;
        within("queue.delete", ch.queue_delete(s(&q), QueueDeleteOptions::default())).await.expect("queue.delete");
        conn.close(200, s("bye")).await.ok();
    } else {
        // Deliberate difference: Warren has no streams yet and says so
        // (540 NOT_IMPLEMENTED, a connection error) rather than accepting a
        // queue it would not treat as a stream.
        let ch = channel(&conn).await;
        let close = expect_close(
            "durable stream declare",
            ch.queue_declare(s(&q), QueueDeclareOptions::durable(), ft(&[("x-queue-type", ls("stream"))])),
        )
        .await;
        assert_eq!(close, (540, "NOT_IMPLEMENTED - queue type 'stream' is not implemented by Warren yet".to_string()));
    }
}

// ---------------------------------------------------------------------------
// Consumers: cancel notification, priorities, exclusive
// ---------------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_queue_cancels_its_consumers() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let other = channel(&conn).await;
    let q = unique("cancel-notify");
    declare_q(&ch, &q, FieldTable::default()).await;
    let mut c = consume(&ch, &q, "doomed", false, FieldTable::default()).await;
    publish(&other, "", &q, b"pending", BasicProperties::default()).await;
    let d = next(&mut c).await;
    assert_eq!(body(&d), "pending");
    // Deleting from another channel: basic.cancel reaches the consumer.
    let count = within("queue.delete", other.queue_delete(s(&q), QueueDeleteOptions::default())).await.expect("queue.delete");
    assert_eq!(count, 0, "the unacked message is not counted");
    let end = within("the consumer stream to end", c.next()).await;
    assert!(end.is_none(), "expected the server's basic.cancel to end the consumer, got {end:?}");
    // The channel survives the cancel.
    let probe = unique("after-cancel");
    declare_q(&ch, &probe, FieldTable::default()).await;
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn higher_priority_consumers_are_served_first_while_they_have_credit() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let pub_ch = confirm_channel(&conn).await;
    let ch = channel(&conn).await;
    within("basic.qos", ch.basic_qos(2, BasicQosOptions::default())).await.expect("basic.qos");
    let q = unique("cprio");
    declare_q(&pub_ch, &q, FieldTable::default()).await;
    let mut low = consume(&ch, &q, "low", false, FieldTable::default()).await;
    let mut high = consume(&ch, &q, "high", false, ft(&[("x-priority", int(10))])).await;
    for i in 0..3 {
        publish_acked(&pub_ch, "", &q, format!("m{i}").as_bytes(), BasicProperties::default()).await;
    }
    assert_eq!(body(&next(&mut high).await), "m0");
    let h1 = next(&mut high).await;
    assert_eq!(body(&h1), "m1");
    // High is at its prefetch of 2: the next goes to low.
    assert_eq!(body(&next(&mut low).await), "m2");
    // Acking gives high credit again: it is preferred again.
    h1.ack(BasicAckOptions::default()).await.expect("ack");
    publish_acked(&pub_ch, "", &q, b"m3", BasicProperties::default()).await;
    assert_eq!(body(&next(&mut high).await), "m3");
    assert_no_delivery(&mut low, 100).await;
    // x-priority must be an integer.
    let close = expect_close(
        "basic.consume with a string x-priority",
        ch.basic_consume(s(&q), s("bad"), BasicConsumeOptions::default(), ft(&[("x-priority", ls("high"))])),
    )
    .await;
    assert_eq!(
        close,
        (406, format!("PRECONDITION_FAILED - invalid arg 'x-priority' for queue '{q}' in vhost '/': \"expected integer, got longstr\""))
    );
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn exclusive_consumers_lock_out_other_consumers() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let q = unique("excl-consumer");
    declare_q(&ch, &q, FieldTable::default()).await;
    let exclusive = within(
        "exclusive basic.consume",
        ch.basic_consume(s(&q), s("owner"), BasicConsumeOptions { exclusive: true, ..Default::default() }, FieldTable::default()),
    )
    .await
    .expect("exclusive basic.consume");
    let other = channel(&conn).await;
    let close = expect_close(
        "basic.consume on an exclusively consumed queue",
        other.basic_consume(s(&q), s("intruder"), BasicConsumeOptions::default(), FieldTable::default()),
    )
    .await;
    assert_eq!(close, (403, format!("ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use")));
    // An exclusive consume on a queue that already has consumers is refused too.
    let q2 = unique("excl-consumer2");
    let ch2 = channel(&conn).await;
    declare_q(&ch2, &q2, FieldTable::default()).await;
    let _plain = consume(&ch2, &q2, "plain", true, FieldTable::default()).await;
    let ch3 = channel(&conn).await;
    let close = expect_close(
        "exclusive basic.consume on a consumed queue",
        ch3.basic_consume(s(&q2), s("late-owner"), BasicConsumeOptions { exclusive: true, ..Default::default() }, FieldTable::default()),
    )
    .await;
    assert_eq!(close, (403, format!("ACCESS_REFUSED - queue '{q2}' in vhost '/' in exclusive use")));
    // Once the exclusive consumer is cancelled anyone may consume.
    within("basic.cancel", ch.basic_cancel(exclusive.tag(), BasicCancelOptions::default())).await.expect("cancel");
    let ch4 = channel(&conn).await;
    consume(&ch4, &q, "next", true, FieldTable::default()).await;
    conn.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// Exchanges: alternate, internal, headers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn alternate_exchange_receives_unroutable_messages() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let ae = unique("ae");
    let main = unique("main");
    let unrouted = unique("unrouted");
    let routed = unique("routed");
    let ad = ExchangeDeclareOptions { auto_delete: true, ..Default::default() };
    declare_exchange(&ch, &ae, ExchangeKind::Fanout, ad, FieldTable::default()).await;
    declare_exchange(&ch, &main, ExchangeKind::Direct, ad, ft(&[("alternate-exchange", ls(&ae))])).await;
    declare_q(&ch, &unrouted, FieldTable::default()).await;
    declare_q(&ch, &routed, FieldTable::default()).await;
    bind(&ch, &unrouted, &ae, "", FieldTable::default()).await;
    bind(&ch, &routed, &main, "k", FieldTable::default()).await;
    // Mandatory, yet neither comes back: the alternate exchange routed it.
    assert_eq!(publish_confirmed(&ch, &main, "k", b"normal", BasicProperties::default(), true).await, Confirmation::Ack(None));
    assert_eq!(publish_confirmed(&ch, &main, "other", b"alternate", BasicProperties::default(), true).await, Confirmation::Ack(None));
    assert_eq!(drain(&ch, &routed).await, ["normal"]);
    let m = get(&ch, &unrouted, true).await.expect("the alternate message");
    assert_eq!(body(&m.delivery), "alternate");
    // Delivered with the original exchange and routing key.
    assert_eq!((m.delivery.exchange.as_str(), m.delivery.routing_key.as_str()), (main.as_str(), "other"));
    // Unroutable through the alternate too: returned.
    within("queue.unbind", ch.queue_unbind(s(&unrouted), s(&ae), s(""), FieldTable::default())).await.expect("unbind");
    let c = publish_confirmed(&ch, &main, "other", b"lost", BasicProperties::default(), true).await;
    let ret = c.take_message().expect("returned");
    assert_eq!((ret.reply_code, ret.reply_text.as_str()), (312, "NO_ROUTE"));
    assert_eq!(ret.delivery.exchange.as_str(), main);
    // A missing alternate exchange is not an error: just unroutable.
    let lonely = unique("lonely");
    declare_exchange(&ch, &lonely, ExchangeKind::Direct, ad, ft(&[("alternate-exchange", ls("no-such-exchange"))])).await;
    assert_eq!(publish_confirmed(&ch, &lonely, "x", b"x", BasicProperties::default(), false).await, Confirmation::Ack(None));
    // The argument must be a string.
    let bad = unique("bad-ae");
    let close = expect_close(
        "exchange.declare with an integer alternate-exchange",
        ch.exchange_declare(s(&bad), ExchangeKind::Direct, ad, ft(&[("alternate-exchange", int(1))])),
    )
    .await;
    assert_eq!(
        close,
        (406, format!("PRECONDITION_FAILED - invalid type 'signedint' for arg 'alternate-exchange' in exchange '{bad}' in vhost '/'"))
    );
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn alternate_exchanges_chain() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let (first, second, last) = (unique("ae-first"), unique("ae-second"), unique("ae-last"));
    let q = unique("ae-chain-q");
    let ad = ExchangeDeclareOptions { auto_delete: true, ..Default::default() };
    declare_exchange(&ch, &last, ExchangeKind::Fanout, ad, FieldTable::default()).await;
    declare_exchange(&ch, &second, ExchangeKind::Direct, ad, ft(&[("alternate-exchange", ls(&last))])).await;
    declare_exchange(&ch, &first, ExchangeKind::Direct, ad, ft(&[("alternate-exchange", ls(&second))])).await;
    declare_q(&ch, &q, FieldTable::default()).await;
    bind(&ch, &q, &last, "", FieldTable::default()).await;
    assert_eq!(publish_confirmed(&ch, &first, "k", b"two hops", BasicProperties::default(), true).await, Confirmation::Ack(None));
    let m = get(&ch, &q, true).await.expect("two hops");
    assert_eq!((m.delivery.exchange.as_str(), m.delivery.routing_key.as_str()), (first.as_str(), "k"));
    // A cycle of alternate exchanges terminates: unroutable, returned.
    let (a, b) = (unique("ae-cyc-a"), unique("ae-cyc-b"));
    declare_exchange(&ch, &a, ExchangeKind::Direct, ad, ft(&[("alternate-exchange", ls(&b))])).await;
    declare_exchange(&ch, &b, ExchangeKind::Direct, ad, ft(&[("alternate-exchange", ls(&a))])).await;
    let c = publish_confirmed(&ch, &a, "k", b"round and round", BasicProperties::default(), true).await;
    let ret = c.take_message().expect("returned");
    assert_eq!((ret.reply_code, ret.reply_text.as_str()), (312, "NO_ROUTE"));
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn internal_exchanges_refuse_publishes_but_route_from_other_exchanges() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let inner = unique("internal");
    let front = unique("front");
    let q = unique("behind-internal");
    declare_exchange(&ch, &inner, ExchangeKind::Fanout, ExchangeDeclareOptions { internal: true, auto_delete: true, ..Default::default() }, FieldTable::default()).await;
    declare_exchange(&ch, &front, ExchangeKind::Fanout, ExchangeDeclareOptions { auto_delete: true, ..Default::default() }, FieldTable::default()).await;
    declare_q(&ch, &q, FieldTable::default()).await;
    bind(&ch, &q, &inner, "", FieldTable::default()).await;
    within(
        "exchange.bind",
        ch.exchange_bind(s(&inner), s(&front), s(""), ExchangeBindOptions::default(), FieldTable::default()),
    )
    .await
    .expect("exchange.bind");
    publish_acked(&ch, &front, "k", b"via front", BasicProperties::default()).await;
    assert_eq!(drain(&ch, &q).await, ["via front"]);
    let close = publish_expect_close(&ch, &inner, "k", b"direct", BasicProperties::default()).await;
    assert_eq!(close, (403, format!("ACCESS_REFUSED - cannot publish to internal exchange '{inner}' in vhost '/'")));
    let ch = channel(&conn).await;
    assert_eq!(message_count(&ch, &q).await, 0);
    conn.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn headers_exchange_match_modes() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let ex = unique("headers");
    declare_exchange(&ch, &ex, ExchangeKind::Headers, ExchangeDeclareOptions { auto_delete: true, ..Default::default() }, FieldTable::default()).await;
    let bindings: Vec<(&str, FieldTable)> = vec![
        ("all", ft(&[("x-match", ls("all")), ("format", ls("pdf")), ("type", ls("report"))])),
        ("default", ft(&[("format", ls("pdf")), ("type", ls("report"))])),
        ("any", ft(&[("x-match", ls("any")), ("format", ls("pdf")), ("type", ls("report"))])),
        // "all"/"any" ignore x- binding arguments; the -with-x modes compare them.
        ("all-ignores-x", ft(&[("x-match", ls("all")), ("format", ls("pdf")), ("x-tag", ls("t1"))])),
        ("all-with-x", ft(&[("x-match", ls("all-with-x")), ("format", ls("pdf")), ("x-tag", ls("t1"))])),
        ("any-with-x", ft(&[("x-match", ls("any-with-x")), ("format", ls("zip")), ("x-tag", ls("t1"))])),
        ("any-only-x", ft(&[("x-match", ls("any")), ("x-tag", ls("t1"))])),
        // Only the key's presence when the binding value is void.
        ("present", ft(&[("flag", AMQPValue::Void)])),
        // An integer never equals the string "1".
        ("number", ft(&[("n", int(1))])),
    ];
    let mut queues = Vec::new();
    for (name, args) in &bindings {
        let q = unique(&format!("hdr-{name}"));
        declare_q(&ch, &q, FieldTable::default()).await;
        bind(&ch, &q, &ex, "ignored-key", args.clone()).await;
        queues.push((*name, q));
    }
    let messages: Vec<(&str, FieldTable)> = vec![
        ("both", ft(&[("format", ls("pdf")), ("type", ls("report"))])),
        ("pdf", ft(&[("format", ls("pdf"))])),
        ("pdf-t1", ft(&[("format", ls("pdf")), ("x-tag", ls("t1"))])),
        ("t1", ft(&[("x-tag", ls("t1"))])),
        ("t2-pdf", ft(&[("x-tag", ls("t2")), ("format", ls("pdf"))])),
        ("flag", ft(&[("flag", ls("anything"))])),
        ("n-int", ft(&[("n", int(1))])),
        ("n-long", ft(&[("n", AMQPValue::LongLongInt(1))])),
        ("n-str", ft(&[("n", ls("1"))])),
    ];
    for (b, headers) in &messages {
        publish_acked(&ch, &ex, "some-key", b.as_bytes(), BasicProperties::default().with_headers(headers.clone())).await;
    }
    publish_acked(&ch, &ex, "some-key", b"no-headers", BasicProperties::default()).await;
    let mut got = Vec::new();
    for (name, q) in &queues {
        got.push((*name, drain(&ch, q).await));
    }
    let expected: Vec<(&str, Vec<String>)> = [
        ("all", vec!["both"]),
        ("default", vec!["both"]),
        ("any", vec!["both", "pdf", "pdf-t1", "t2-pdf"]),
        ("all-ignores-x", vec!["both", "pdf", "pdf-t1", "t2-pdf"]),
        ("all-with-x", vec!["pdf-t1"]),
        ("any-with-x", vec!["pdf-t1", "t1"]),
        ("any-only-x", vec![]),
        ("present", vec!["flag"]),
        ("number", vec!["n-int", "n-long"]),
    ]
    .into_iter()
    .map(|(n, v)| (n, v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(got, expected);
    conn.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// Direct reply-to
// ---------------------------------------------------------------------------

#[tokio::test]
async fn direct_reply_to_round_trip() {
    let broker = Broker::start();
    let client = connect(&broker).await;
    let server = connect(&broker).await;
    let srv_ch = confirm_channel(&server).await;
    let rpc = unique("rpc");
    declare_q(&srv_ch, &rpc, FieldTable::default()).await;
    let mut requests = consume(&srv_ch, &rpc, "srv", true, FieldTable::default()).await;

    let props = BasicProperties::default().with_reply_to(s("amq.rabbitmq.reply-to")).with_correlation_id(s("c1"));
    // Publishing with the pseudo reply-to needs a reply consumer on the channel.
    let ch = confirm_channel(&client).await;
    let close = publish_expect_close(&ch, "", &rpc, b"req", props.clone()).await;
    assert_eq!(close, (406, "PRECONDITION_FAILED - fast reply consumer does not exist".to_string()));
    // The reply consumer must be no-ack.
    let ch = channel(&client).await;
    let close = expect_close(
        "acking reply consumer",
        ch.basic_consume(s("amq.rabbitmq.reply-to"), s("r"), BasicConsumeOptions::default(), FieldTable::default()),
    )
    .await;
    assert_eq!(close, (406, "PRECONDITION_FAILED - reply consumer cannot acknowledge".to_string()));

    let ch = confirm_channel(&client).await;
    let mut replies = consume(&ch, "amq.rabbitmq.reply-to", "replies", true, FieldTable::default()).await;
    assert_eq!(publish_confirmed(&ch, "", &rpc, b"req", props, false).await, Confirmation::Ack(None));
    let req = next(&mut requests).await;
    assert_eq!(body(&req), "req");
    let reply_to = req.properties.reply_to().clone().expect("reply_to").to_string();
    assert!(reply_to.starts_with("amq.rabbitmq.reply-to.") && reply_to.len() > 40, "{reply_to}");
    // The server answers through the default exchange.
    let answer = BasicProperties::default().with_correlation_id(s("c1"));
    assert_eq!(publish_confirmed(&srv_ch, "", &reply_to, b"resp", answer.clone(), false).await, Confirmation::Ack(None));
    let d = next(&mut replies).await;
    assert_eq!(body(&d), "resp");
    assert_eq!(d.properties.correlation_id(), &Some(s("c1")));
    assert_eq!((d.exchange.as_str(), d.routing_key.as_str()), ("", reply_to.as_str()));
    assert!(!d.redelivered);
    // A forged reply key is unroutable.
    let c = publish_confirmed(&srv_ch, "", "amq.rabbitmq.reply-to.garbage", b"x", answer, true).await;
    let ret = c.take_message().expect("forged reply key returned");
    assert_eq!((ret.reply_code, ret.reply_text.as_str()), (312, "NO_ROUTE"));
    // The pseudo queue exists for passive declares. RabbitMQ always answers
    // 0 messages and 1 consumer, even on a channel that never consumed from it.
    let q = declare(&srv_ch, "amq.rabbitmq.reply-to", QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default()).await;
    assert_eq!((q.message_count(), q.consumer_count()), (0, 1));
    client.close(200, s("bye")).await.ok();
    server.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn a_mandatory_direct_reply_is_delivered_and_also_returned() {
    let broker = Broker::start();
    let client = connect(&broker).await;
    let server = connect(&broker).await;
    let srv_ch = confirm_channel(&server).await;
    let rpc = unique("rpc-mandatory");
    declare_q(&srv_ch, &rpc, FieldTable::default()).await;
    let mut requests = consume(&srv_ch, &rpc, "srv", true, FieldTable::default()).await;
    let ch = confirm_channel(&client).await;
    let mut replies = consume(&ch, "amq.rabbitmq.reply-to", "replies", true, FieldTable::default()).await;
    let props = BasicProperties::default().with_reply_to(s("amq.rabbitmq.reply-to"));
    publish_acked(&ch, "", &rpc, b"req", props).await;
    let reply_to = next(&mut requests).await.properties.reply_to().clone().expect("reply_to").to_string();
    // Surprising but true in RabbitMQ 3.10: a *mandatory* reply is delivered
    // and ALSO returned with NO_ROUTE (the reply bypasses queues, so routing
    // finds no queue).
    let c = publish_confirmed(&srv_ch, "", &reply_to, b"resp", BasicProperties::default(), true).await;
    let Confirmation::Ack(Some(ret)) = c else { panic!("expected ack + return for a mandatory reply, got {c:?}") };
    assert_eq!((ret.reply_code, ret.reply_text.as_str(), ret.delivery.routing_key.as_str()), (312, "NO_ROUTE", reply_to.as_str()));
    assert_eq!(body(&next(&mut replies).await), "resp");
    client.close(200, s("bye")).await.ok();
    server.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// Publisher confirms
// ---------------------------------------------------------------------------

#[tokio::test]
async fn mandatory_unroutable_is_returned_before_its_ack() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let props = BasicProperties::default().with_message_id(s("id-1")).with_headers(ft(&[("h", int(7))]));
    let c = publish_confirmed(&ch, "amq.direct", "nowhere", b"bounce", props, true).await;
    // lapin attaches a basic.return to the ack that follows it: an ack
    // carrying the message proves the return came first.
    let Confirmation::Ack(Some(ret)) = c else { panic!("expected an ack carrying the returned message, got {c:?}") };
    assert_eq!((ret.reply_code, ret.reply_text.as_str()), (312, "NO_ROUTE"));
    assert_eq!((ret.delivery.exchange.as_str(), ret.delivery.routing_key.as_str()), ("amq.direct", "nowhere"));
    assert_eq!(body(&ret.delivery), "bounce");
    assert_eq!(ret.delivery.properties.message_id(), &Some(s("id-1")));
    assert_eq!(header(&ret.delivery.properties, "h"), Some(&int(7)));
    // Not mandatory: silently dropped, still acked, nothing returned.
    assert_eq!(publish_confirmed(&ch, "amq.direct", "nowhere", b"gone", BasicProperties::default(), false).await, Confirmation::Ack(None));
    // Routable mandatory: a plain ack.
    let q = unique("confirmed");
    declare_q(&ch, &q, FieldTable::default()).await;
    assert_eq!(publish_confirmed(&ch, "", &q, b"kept", BasicProperties::default(), true).await, Confirmation::Ack(None));
    assert_eq!(drain(&ch, &q).await, ["kept"]);
    conn.close(200, s("bye")).await.ok();
}

// ---------------------------------------------------------------------------
// Sender-selected distribution (CC / BCC headers)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn cc_and_bcc_headers_add_routing_keys_and_bcc_is_removed() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let ex = unique("ssd");
    declare_exchange(&ch, &ex, ExchangeKind::Direct, ExchangeDeclareOptions { auto_delete: true, ..Default::default() }, FieldTable::default()).await;
    let mut queues = Vec::new();
    for key in ["main", "cc1", "cc2", "bcc1"] {
        let q = unique(&format!("ssd-{key}"));
        declare_q(&ch, &q, FieldTable::default()).await;
        bind(&ch, &q, &ex, key, FieldTable::default()).await;
        queues.push(q);
    }
    let headers = ft(&[
        ("CC", array(vec![ls("cc1"), ls("cc2")])),
        ("BCC", array(vec![ls("bcc1")])),
        ("other", int(1)),
    ]);
    publish_acked(&ch, &ex, "main", b"selected", BasicProperties::default().with_headers(headers)).await;
    for q in &queues {
        let m = get(&ch, q, true).await.unwrap_or_else(|| panic!("a copy in {q}"));
        assert_eq!(body(&m.delivery), "selected");
        // Delivered with the publish's routing key, whatever key matched.
        assert_eq!(m.delivery.routing_key.as_str(), "main");
        assert_eq!(header(&m.delivery.properties, "CC"), Some(&array(vec![ls("cc1"), ls("cc2")])));
        assert_eq!(header(&m.delivery.properties, "BCC"), None, "BCC is stripped");
        assert_eq!(header(&m.delivery.properties, "other"), Some(&int(1)));
        assert!(get(&ch, q, true).await.is_none(), "one copy per queue");
    }
    // Unroutable by every key: returned (with BCC still stripped).
    let headers = ft(&[("CC", array(vec![ls("nope")])), ("BCC", array(vec![ls("nope2")]))]);
    let c = publish_confirmed(&ch, &ex, "none", b"lost", BasicProperties::default().with_headers(headers), true).await;
    let ret = c.take_message().expect("returned");
    assert_eq!(ret.reply_code, 312);
    assert_eq!(header(&ret.delivery.properties, "BCC"), None);
    conn.close(200, s("bye")).await.ok();
}
