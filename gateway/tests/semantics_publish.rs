//! RabbitMQ's consumer and publishing extensions, proved with lapin over
//! real sockets: consumers (cancel notification, priorities, exclusive),
//! exchanges (alternate, internal, headers matching), direct reply-to,
//! publisher confirms and sender-selected distribution (CC/BCC).
//!
//! Every expectation was first checked against RabbitMQ 3.10:
//!
//! ```text
//! WARREN_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f cargo test -p gateway --test semantics_publish
//! ```

mod common;
mod sem;

use common::{unique, within, Broker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::Confirmation;
use lapin::{BasicProperties, ExchangeKind};
use sem::*;

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
    declare_exchange(
        &ch,
        &inner,
        ExchangeKind::Fanout,
        ExchangeDeclareOptions { internal: true, auto_delete: true, ..Default::default() },
        FieldTable::default(),
    )
    .await;
    declare_exchange(
        &ch,
        &front,
        ExchangeKind::Fanout,
        ExchangeDeclareOptions { auto_delete: true, ..Default::default() },
        FieldTable::default(),
    )
    .await;
    declare_q(&ch, &q, FieldTable::default()).await;
    bind(&ch, &q, &inner, "", FieldTable::default()).await;
    within("exchange.bind", ch.exchange_bind(s(&inner), s(&front), s(""), ExchangeBindOptions::default(), FieldTable::default()))
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
    declare_exchange(
        &ch,
        &ex,
        ExchangeKind::Headers,
        ExchangeDeclareOptions { auto_delete: true, ..Default::default() },
        FieldTable::default(),
    )
    .await;
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

/// `x-match` must be a long string naming one of the four modes: anything
/// else is refused at bind time (406, RabbitMQ's texts, printed the Erlang
/// way), for queue.bind and for exchange.bind from a headers exchange, and
/// nothing is bound.
#[tokio::test]
async fn headers_bindings_with_a_bad_x_match_are_refused() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let ex = unique("headers-xm");
    let q = unique("hdr-xm");
    let ad = ExchangeDeclareOptions { auto_delete: true, ..Default::default() };
    declare_exchange(&ch, &ex, ExchangeKind::Headers, ad, FieldTable::default()).await;
    declare_q(&ch, &q, FieldTable::default()).await;
    let x_match = |v: AMQPValue| ft(&[("x-match", v), ("format", ls("pdf"))]);
    let cases = [
        (ls("foo"), "Invalid x-match field value <<\"foo\">>; expected all, any, all-with-x, or any-with-x"),
        (ls("ALL"), "Invalid x-match field value <<\"ALL\">>; expected all, any, all-with-x, or any-with-x"),
        (ls(""), "Invalid x-match field value <<>>; expected all, any, all-with-x, or any-with-x"),
        (int(5), "Invalid x-match field type signedint (value 5); expected longstr"),
        (AMQPValue::Boolean(true), "Invalid x-match field type bool (value true); expected longstr"),
        (AMQPValue::ByteArray(b"all".to_vec().into()), "Invalid x-match field type binary (value <<\"all\">>); expected longstr"),
    ];
    for (value, text) in cases {
        let ch = channel(&conn).await;
        let bound = ch.queue_bind(s(&q), s(&ex), s(""), QueueBindOptions::default(), x_match(value.clone()));
        assert_eq!(expect_close("queue.bind", bound).await, (406, format!("PRECONDITION_FAILED - {text}")), "{value:?}");
    }
    let ch2 = channel(&conn).await;
    let bound = ch2.exchange_bind(s("amq.direct"), s(&ex), s(""), ExchangeBindOptions::default(), x_match(ls("foo")));
    assert_eq!(expect_close("exchange.bind", bound).await.0, 406);
    // Nothing was bound: a matching message goes nowhere.
    let props = BasicProperties::default().with_headers(ft(&[("format", ls("pdf"))]));
    publish_acked(&ch, &ex, "", b"pdf", props).await;
    assert_eq!(message_count(&ch, &q).await, 0);
    // Another exchange type does not look at x-match.
    bind(&ch, &q, "amq.direct", &q, x_match(ls("foo"))).await;
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
    let q =
        declare(&srv_ch, "amq.rabbitmq.reply-to", QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default()).await;
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
    declare_exchange(
        &ch,
        &ex,
        ExchangeKind::Direct,
        ExchangeDeclareOptions { auto_delete: true, ..Default::default() },
        FieldTable::default(),
    )
    .await;
    let mut queues = Vec::new();
    for key in ["main", "cc1", "cc2", "bcc1"] {
        let q = unique(&format!("ssd-{key}"));
        declare_q(&ch, &q, FieldTable::default()).await;
        bind(&ch, &q, &ex, key, FieldTable::default()).await;
        queues.push(q);
    }
    let headers = ft(&[("CC", array(vec![ls("cc1"), ls("cc2")])), ("BCC", array(vec![ls("bcc1")])), ("other", int(1))]);
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
