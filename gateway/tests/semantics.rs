//! RabbitMQ's queue extensions, proved with lapin over real sockets:
//! queue arguments (TTL, per-message expiration, x-expires, max-length and
//! overflow modes, priorities, single active consumer, queue types and
//! their validation).
//!
//! Consumers, exchanges, direct reply-to, confirms and CC/BCC are in
//! `semantics_publish.rs`, dead-lettering in `semantics_dlx.rs`,
//! users/vhosts/permissions/login and the consumer timeout in
//! `semantics_access.rs`.
//!
//! Every expectation was first checked against RabbitMQ 3.10:
//!
//! ```text
//! WARREN_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f cargo test -p gateway --test semantics -- --include-ignored
//! ```
//!
//! This file needs no broker setup beyond the default guest user on `/`.

mod common;
mod sem;

use std::time::Duration;

use common::{unique, within, Broker};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::Confirmation;
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
    within("basic.cancel", ch.basic_cancel(c.tag(), BasicCancelOptions::default())).await.expect("basic.cancel");
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
    declare_exchange(
        &ch,
        &ex,
        ExchangeKind::Fanout,
        ExchangeDeclareOptions { auto_delete: true, ..Default::default() },
        FieldTable::default(),
    )
    .await;
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
        (
            ft(&[("x-message-ttl", ls("abc"))]),
            "invalid arg 'x-message-ttl' for queue '{q}' in vhost '/': \"expected integer, got longstr\"",
        ),
        (ft(&[("x-expires", int(0))]), "invalid arg 'x-expires' for queue '{q}' in vhost '/': {value_zero,0}"),
        (ft(&[("x-expires", int(-5))]), "invalid arg 'x-expires' for queue '{q}' in vhost '/': {value_negative,-5}"),
        (ft(&[("x-max-length", int(-1))]), "invalid arg 'x-max-length' for queue '{q}' in vhost '/': {value_negative,-1}"),
        (ft(&[("x-max-length", ls("x"))]), "invalid arg 'x-max-length' for queue '{q}' in vhost '/': \"expected integer, got longstr\""),
        (ft(&[("x-max-length-bytes", int(-1))]), "invalid arg 'x-max-length-bytes' for queue '{q}' in vhost '/': {value_negative,-1}"),
        (ft(&[("x-overflow", ls("bogus"))]), "invalid arg 'x-overflow' for queue '{q}' in vhost '/': invalid_overflow"),
        (ft(&[("x-overflow", int(1))]), "invalid arg 'x-overflow' for queue '{q}' in vhost '/': {unacceptable_type,signedint}"),
        (
            ft(&[("x-dead-letter-exchange", int(1))]),
            "invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue '{q}' in vhost '/'",
        ),
        (
            ft(&[("x-dead-letter-routing-key", ls("k"))]),
            "invalid arg 'x-dead-letter-routing-key' for queue '{q}' in vhost '/': routing_key_but_no_dlx_defined",
        ),
        (ft(&[("x-max-priority", int(256))]), "invalid arg 'x-max-priority' for queue '{q}' in vhost '/': {max_value_exceeded,256}"),
        (ft(&[("x-max-priority", int(-1))]), "invalid arg 'x-max-priority' for queue '{q}' in vhost '/': {value_negative,-1}"),
        (
            ft(&[("x-max-priority", ls("x"))]),
            "invalid arg 'x-max-priority' for queue '{q}' in vhost '/': \"expected integer, got longstr\"",
        ),
        (
            ft(&[("x-single-active-consumer", ls("yes"))]),
            "invalid arg 'x-single-active-consumer' for queue '{q}' in vhost '/': {unacceptable_type,longstr}",
        ),
        (
            ft(&[("x-single-active-consumer", int(1))]),
            "invalid arg 'x-single-active-consumer' for queue '{q}' in vhost '/': {unacceptable_type,signedint}",
        ),
        (
            ft(&[("x-queue-type", ls("weird"))]),
            "invalid arg 'x-queue-type' for queue '{q}' in vhost '/': \"unsupported queue type 'weird'\"",
        ),
        (ft(&[("x-queue-type", int(5))]), "invalid arg 'x-queue-type' for queue '{q}' in vhost '/': {unacceptable_type,signedint}"),
        (
            ft(&[("x-queue-mode", ls("bogus"))]),
            "invalid arg 'x-queue-mode' for queue '{q}' in vhost '/': \"unsupported queue mode 'bogus'\"",
        ),
        // Quorum-only arguments on a classic queue.
        (
            ft(&[("x-delivery-limit", int(5))]),
            "invalid arg 'x-delivery-limit' for queue '{q}' in vhost '/' of queue type rabbit_classic_queue",
        ),
    ];
    // Every case is tried; the mismatches are reported together.
    let mut mismatches = Vec::new();
    for (args, text) in cases {
        let ch = channel(&conn).await;
        let close =
            expect_close("queue.declare with a bad argument", ch.queue_declare(s(&q), QueueDeclareOptions::default(), args.clone())).await;
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
        (
            406,
            format!(
                "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '{q}' in vhost '/': received '11' but current is '10'"
            )
        )
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
    let sent: [(&str, Option<u8>); 8] =
        [("a", Some(1)), ("b", Some(5)), ("c", None), ("d", Some(5)), ("e", Some(9)), ("f", Some(0)), ("g", Some(1)), ("h", Some(200))];
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
        m.delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await.expect("nack");
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
