//! The six RabbitMQ tutorials, publisher confirms and a few error behaviours,
//! driven through the `lapin` client (tokio runtime).
//!
//! Runs against a freshly started `warren` by default, or against the broker in
//! `WARREN_TEST_AMQP_URL` (see `common/mod.rs`).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{fib, unique, within, Broker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};

async fn connect(broker: &Broker) -> Connection {
    within("lapin connect", Connection::connect(&broker.url, ConnectionProperties::default()))
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", broker.url))
}

async fn channel(conn: &Connection) -> Channel {
    within("channel.open", conn.create_channel()).await.expect("channel.open")
}

fn s(v: &str) -> ShortString {
    v.into()
}

async fn declare(ch: &Channel, name: &str, opts: QueueDeclareOptions) -> lapin::Queue {
    within("queue.declare", ch.queue_declare(s(name), opts, FieldTable::default()))
        .await
        .unwrap_or_else(|e| panic!("queue.declare {name:?}: {e}"))
}

async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeKind) {
    within(
        "exchange.declare",
        ch.exchange_declare(s(name), kind, ExchangeDeclareOptions { auto_delete: true, ..Default::default() }, FieldTable::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("exchange.declare {name:?}: {e}"));
}

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    within("queue.bind", ch.queue_bind(s(queue), s(exchange), s(key), QueueBindOptions::default(), FieldTable::default()))
        .await
        .unwrap_or_else(|e| panic!("queue.bind {queue:?} -> {exchange:?} ({key:?}): {e}"));
}

async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8], props: BasicProperties) {
    within("basic.publish", ch.basic_publish(s(exchange), s(key), BasicPublishOptions::default(), body, props))
        .await
        .unwrap_or_else(|e| panic!("basic.publish to {exchange:?}/{key:?}: {e}"));
}

async fn consume(ch: &Channel, queue: &str, no_ack: bool) -> Consumer {
    within("basic.consume", ch.basic_consume(s(queue), s(""), BasicConsumeOptions { no_ack, ..Default::default() }, FieldTable::default()))
        .await
        .unwrap_or_else(|e| panic!("basic.consume {queue:?}: {e}"))
}

async fn next(consumer: &mut Consumer) -> lapin::message::Delivery {
    within("a delivery", consumer.next()).await.expect("consumer stream ended").expect("delivery error")
}

/// basic.get (auto-ack) until get-empty; returns the bodies in order.
async fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let got = within("basic.get", ch.basic_get(s(queue), BasicGetOptions { no_ack: true })).await.expect("basic.get");
        match got {
            Some(m) => out.push(String::from_utf8(m.delivery.data.clone()).unwrap()),
            None => return out,
        }
    }
}

async fn delete_queue(ch: &Channel, name: &str) {
    within("queue.delete", ch.queue_delete(s(name), QueueDeleteOptions::default()))
        .await
        .unwrap_or_else(|e| panic!("queue.delete {name:?}: {e}"));
}

/// The reply code of a channel- or connection-level AMQP error.
fn reply_code(err: &lapin::Error) -> u16 {
    match err.kind() {
        lapin::ErrorKind::ProtocolError(e) => e.get_id(),
        other => panic!("expected an AMQP protocol error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Tutorial 1: "Hello World!"
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t1_hello_world() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let queue = unique("hello");

    let q = declare(&ch, &queue, QueueDeclareOptions::default()).await;
    assert_eq!(q.name().as_str(), queue);
    assert_eq!(q.message_count(), 0);
    assert_eq!(q.consumer_count(), 0);

    publish(&ch, "", &queue, b"Hello World!", BasicProperties::default()).await;

    let mut consumer = consume(&ch, &queue, true).await;
    let d = next(&mut consumer).await;
    assert_eq!(d.data, b"Hello World!");
    assert_eq!(d.exchange.as_str(), "");
    assert_eq!(d.routing_key.as_str(), queue);
    assert!(!d.redelivered);

    delete_queue(&ch, &queue).await;
    conn.close(200, s("bye")).await.expect("connection.close");
}

// ---------------------------------------------------------------------------
// Tutorial 2: work queues (fair dispatch with prefetch 1, manual acks)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t2_work_queues_fair_dispatch() {
    const N: usize = 10;
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let queue = unique("task_queue");
    declare(&ch, &queue, QueueDeclareOptions::durable()).await;

    // (worker name, body, redelivered), sent after the ack went out.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(&'static str, String, bool)>();
    let mut workers = Vec::new();
    let mut worker_channels = Vec::new();
    for (name, work) in [("slow", Duration::from_millis(400)), ("fast", Duration::ZERO)] {
        let wch = channel(&conn).await;
        within("basic.qos", wch.basic_qos(1, BasicQosOptions::default())).await.expect("basic.qos");
        let mut consumer = consume(&wch, &queue, false).await;
        let tx = tx.clone();
        let tag = consumer.tag();
        worker_channels.push((wch, tag));
        workers.push(tokio::spawn(async move {
            while let Some(d) = consumer.next().await {
                let d = d.expect("delivery");
                // Simulated work, as in the tutorial (time.sleep per dot).
                tokio::time::sleep(work).await;
                d.ack(BasicAckOptions::default()).await.expect("basic.ack");
                let body = String::from_utf8(d.data.clone()).unwrap();
                if tx.send((name, body, d.redelivered)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);

    let persistent = BasicProperties::default().with_delivery_mode(2);
    for i in 0..N {
        publish(&ch, "", &queue, format!("task {i}").as_bytes(), persistent.clone()).await;
    }

    let mut got = Vec::new();
    while got.len() < N {
        let item = within("a processed task", rx.recv()).await.expect("workers stopped early");
        got.push(item);
    }
    // Cancel both consumers: after cancel-ok no further deliveries can be
    // dispatched, so anything still arriving on `rx` would be a duplicate.
    for (wch, tag) in &worker_channels {
        within("basic.cancel", wch.basic_cancel(tag.clone(), BasicCancelOptions::default())).await.expect("basic.cancel");
    }
    for w in workers {
        within("worker task end", w).await.expect("worker panicked");
    }
    assert!(rx.recv().await.is_none(), "a task was delivered more than once");

    let bodies: BTreeSet<String> = got.iter().map(|(_, b, _)| b.clone()).collect();
    let expected: BTreeSet<String> = (0..N).map(|i| format!("task {i}")).collect();
    assert_eq!(got.len(), N, "every task delivered exactly once: {got:?}");
    assert_eq!(bodies, expected, "every task delivered exactly once: {got:?}");
    assert!(got.iter().all(|(_, _, r)| !r), "no redeliveries: {got:?}");
    let slow = got.iter().filter(|(w, _, _)| *w == "slow").count();
    let fast = got.iter().filter(|(w, _, _)| *w == "fast").count();
    assert!(slow >= 1, "prefetch 1 round-robin gives the slow worker a task: {got:?}");
    assert!(slow < fast, "slow worker must get fewer tasks (slow={slow}, fast={fast})");

    let q = declare(&ch, &queue, QueueDeclareOptions::durable().passive()).await;
    assert_eq!(q.message_count(), 0);
    delete_queue(&ch, &queue).await;
}

// ---------------------------------------------------------------------------
// Tutorial 3: publish/subscribe (fanout, exclusive server-named queues)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t3_publish_subscribe_fanout() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let exchange = unique("logs");
    declare_exchange(&ch, &exchange, ExchangeKind::Fanout).await;

    let mut consumers = Vec::new();
    let mut names = Vec::new();
    for _ in 0..2 {
        let q = declare(&ch, "", QueueDeclareOptions::exclusive()).await;
        let name = q.name().to_string();
        assert!(!name.is_empty(), "server must generate a queue name");
        // The fanout exchange ignores the binding key.
        bind(&ch, &name, &exchange, "").await;
        consumers.push(consume(&ch, &name, true).await);
        names.push(name);
    }
    assert_ne!(names[0], names[1], "server-named queues must differ");

    let messages: Vec<String> = (0..5).map(|i| format!("log line {i}")).collect();
    for (i, m) in messages.iter().enumerate() {
        // Routing keys are ignored by fanout exchanges.
        publish(&ch, &exchange, &format!("ignored.{i}"), m.as_bytes(), BasicProperties::default()).await;
    }
    for consumer in &mut consumers {
        for m in &messages {
            let d = next(consumer).await;
            assert_eq!(std::str::from_utf8(&d.data).unwrap(), m);
            assert_eq!(d.exchange.as_str(), exchange);
        }
    }
    conn.close(200, s("bye")).await.expect("connection.close");
}

// ---------------------------------------------------------------------------
// Tutorial 4: routing (direct exchange)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t4_routing_direct() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let exchange = unique("direct_logs");
    declare_exchange(&ch, &exchange, ExchangeKind::Direct).await;

    let errors_only = declare(&ch, "", QueueDeclareOptions::exclusive()).await.name().to_string();
    let everything = declare(&ch, "", QueueDeclareOptions::exclusive()).await.name().to_string();
    bind(&ch, &errors_only, &exchange, "error").await;
    for sev in ["info", "warning", "error"] {
        bind(&ch, &everything, &exchange, sev).await;
    }

    // Confirms guarantee every message is routed and enqueued before we look.
    within("confirm.select", ch.confirm_select(ConfirmSelectOptions::default())).await.expect("confirm.select");
    for (sev, text) in [
        ("info", "info: 1"),
        ("error", "error: 1"),
        ("warning", "warning: 1"),
        ("debug", "debug: nobody listens"),
        ("info", "info: 2"),
        ("error", "error: 2"),
    ] {
        publish(&ch, &exchange, sev, text.as_bytes(), BasicProperties::default()).await;
    }
    let returned = within("confirms", ch.wait_for_confirms()).await.expect("confirms");
    assert!(returned.is_empty());

    assert_eq!(drain(&ch, &errors_only).await, ["error: 1", "error: 2"]);
    assert_eq!(drain(&ch, &everything).await, ["info: 1", "error: 1", "warning: 1", "info: 2", "error: 2"]);
    conn.close(200, s("bye")).await.expect("connection.close");
}

// ---------------------------------------------------------------------------
// Tutorial 5: topics
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t5_topics() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let exchange = unique("topic_logs");
    declare_exchange(&ch, &exchange, ExchangeKind::Topic).await;

    let q1 = declare(&ch, "", QueueDeclareOptions::exclusive()).await.name().to_string();
    let q2 = declare(&ch, "", QueueDeclareOptions::exclusive()).await.name().to_string();
    bind(&ch, &q1, &exchange, "*.orange.*").await;
    bind(&ch, &q2, &exchange, "*.*.rabbit").await;
    bind(&ch, &q2, &exchange, "lazy.#").await;

    within("confirm.select", ch.confirm_select(ConfirmSelectOptions::default())).await.expect("confirm.select");
    let keys = [
        "quick.orange.rabbit",      // Q1, Q2
        "lazy.orange.elephant",     // Q1, Q2
        "quick.orange.fox",         // Q1
        "lazy.brown.fox",           // Q2
        "lazy.pink.rabbit",         // Q2 once, although it matches both of Q2's bindings
        "quick.brown.fox",          // nobody
        "orange",                   // nobody
        "quick.orange.male.rabbit", // nobody
        "lazy.orange.male.rabbit",  // Q2
        "lazy",                     // Q2: '#' matches zero words
    ];
    for key in keys {
        publish(&ch, &exchange, key, key.as_bytes(), BasicProperties::default()).await;
    }
    within("confirms", ch.wait_for_confirms()).await.expect("confirms");

    assert_eq!(drain(&ch, &q1).await, ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"]);
    assert_eq!(
        drain(&ch, &q2).await,
        ["quick.orange.rabbit", "lazy.orange.elephant", "lazy.brown.fox", "lazy.pink.rabbit", "lazy.orange.male.rabbit", "lazy",]
    );
    conn.close(200, s("bye")).await.expect("connection.close");
}

// ---------------------------------------------------------------------------
// Tutorial 6: RPC (reply_to + correlation_id)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t6_rpc() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let rpc_queue = unique("rpc_queue");

    // Server: prefetch 1, computes fib(n), replies to reply_to with the
    // request's correlation_id, then acks.
    let server_ch = channel(&conn).await;
    declare(&server_ch, &rpc_queue, QueueDeclareOptions::default()).await;
    within("basic.qos", server_ch.basic_qos(1, BasicQosOptions::default())).await.expect("basic.qos");
    let mut requests = consume(&server_ch, &rpc_queue, false).await;
    let server = tokio::spawn({
        let server_ch = server_ch.clone();
        async move {
            while let Some(d) = requests.next().await {
                let d = d.expect("request delivery");
                let n: u64 = std::str::from_utf8(&d.data).unwrap().parse().unwrap();
                let reply_to = d.properties.reply_to().clone().expect("reply_to");
                let corr = d.properties.correlation_id().clone().expect("correlation_id");
                server_ch
                    .basic_publish(
                        s(""),
                        reply_to,
                        BasicPublishOptions::default(),
                        fib(n).to_string().as_bytes(),
                        BasicProperties::default().with_correlation_id(corr),
                    )
                    .await
                    .expect("reply publish");
                d.ack(BasicAckOptions::default()).await.expect("ack request");
            }
        }
    });

    // Client: exclusive server-named callback queue, consumed with auto-ack.
    let client_ch = channel(&conn).await;
    let callback = declare(&client_ch, "", QueueDeclareOptions::exclusive()).await.name().to_string();
    let mut replies = consume(&client_ch, &callback, true).await;
    for n in [0u64, 1, 2, 10, 20, 30] {
        let corr = unique("corr");
        publish(
            &client_ch,
            "",
            &rpc_queue,
            n.to_string().as_bytes(),
            BasicProperties::default().with_reply_to(s(&callback)).with_correlation_id(s(&corr)),
        )
        .await;
        let reply = next(&mut replies).await;
        assert_eq!(reply.properties.correlation_id().as_ref().map(|c| c.as_str()), Some(corr.as_str()));
        assert_eq!(std::str::from_utf8(&reply.data).unwrap(), fib(n).to_string(), "fib({n})");
    }
    server.abort();
    delete_queue(&client_ch, &rpc_queue).await;
}

// ---------------------------------------------------------------------------
// Publisher confirms
// ---------------------------------------------------------------------------

#[tokio::test]
async fn publisher_confirms_then_consume_in_order() {
    const N: usize = 200;
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let queue = unique("confirms");
    declare(&ch, &queue, QueueDeclareOptions::durable()).await;
    within("confirm.select", ch.confirm_select(ConfirmSelectOptions::default())).await.expect("confirm.select");

    let mut pending = Vec::with_capacity(N);
    for i in 0..N {
        let confirm = within(
            "basic.publish",
            ch.basic_publish(
                s(""),
                s(&queue),
                BasicPublishOptions::default(),
                format!("message {i}").as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            ),
        )
        .await
        .expect("basic.publish");
        pending.push(confirm);
    }
    let returned = within("wait_for_confirms", ch.wait_for_confirms()).await.expect("wait_for_confirms");
    assert!(returned.is_empty());
    for (i, confirm) in pending.into_iter().enumerate() {
        let c = within("a confirm", confirm).await.expect("confirm");
        assert!(c.is_ack(), "message {i} was not acked: {c:?}");
    }

    let q = declare(&ch, &queue, QueueDeclareOptions::durable().passive()).await;
    assert_eq!(q.message_count() as usize, N);

    let mut consumer = consume(&ch, &queue, false).await;
    for i in 0..N {
        let d = next(&mut consumer).await;
        assert_eq!(std::str::from_utf8(&d.data).unwrap(), format!("message {i}"));
        assert_eq!(*d.properties.delivery_mode(), Some(2));
        assert!(!d.redelivered);
        d.ack(BasicAckOptions::default()).await.expect("ack");
    }
    delete_queue(&ch, &queue).await;
}

// ---------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tx_rollback_discards_and_commit_publishes() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let queue = unique("tx");
    declare(&ch, &queue, QueueDeclareOptions::default()).await;
    within("tx.select", ch.tx_select()).await.expect("tx.select");

    publish(&ch, "", &queue, b"rolled back", BasicProperties::default()).await;
    within("tx.rollback", ch.tx_rollback()).await.expect("tx.rollback");
    assert_eq!(declare(&ch, &queue, QueueDeclareOptions::default().passive()).await.message_count(), 0);

    publish(&ch, "", &queue, b"committed 1", BasicProperties::default()).await;
    publish(&ch, "", &queue, b"committed 2", BasicProperties::default()).await;
    // Not visible before commit.
    assert_eq!(declare(&ch, &queue, QueueDeclareOptions::default().passive()).await.message_count(), 0);
    within("tx.commit", ch.tx_commit()).await.expect("tx.commit");
    assert_eq!(drain(&ch, &queue).await, ["committed 1", "committed 2"]);
    delete_queue(&ch, &queue).await;
}

// ---------------------------------------------------------------------------
// Error behaviour
// ---------------------------------------------------------------------------

#[tokio::test]
async fn publish_to_missing_exchange_closes_channel_with_404() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let missing = unique("no-such-exchange");

    // basic.publish is asynchronous; the broker answers with channel.close.
    // Put the channel in confirm mode so the publish has a future that
    // resolves when the broker reacts.
    within("confirm.select", ch.confirm_select(ConfirmSelectOptions::default())).await.expect("confirm.select");
    let confirm =
        within("basic.publish", ch.basic_publish(s(&missing), s("key"), BasicPublishOptions::default(), b"x", BasicProperties::default()))
            .await
            .expect("basic.publish is sent");
    let err = within("channel.close from broker", confirm).await.expect_err("publish to a missing exchange must fail");
    assert_eq!(reply_code(&err), 404, "{err}");
    assert!(!ch.status().connected(), "channel must be closed");

    // Only the channel is closed; the connection keeps working.
    let ch2 = channel(&conn).await;
    let q = declare(&ch2, "", QueueDeclareOptions::exclusive()).await;
    assert!(!q.name().as_str().is_empty());
}

#[tokio::test]
async fn redeclare_queue_with_other_durability_gives_406() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let queue = unique("durability");
    declare(&ch, &queue, QueueDeclareOptions::default()).await; // transient

    let err = within("conflicting queue.declare", ch.queue_declare(s(&queue), QueueDeclareOptions::durable(), FieldTable::default()))
        .await
        .expect_err("redeclare with durable=true must fail");
    assert_eq!(reply_code(&err), 406, "{err}");
    assert!(!ch.status().connected(), "channel must be closed");

    // The original queue is untouched.
    let ch2 = channel(&conn).await;
    let q = declare(&ch2, &queue, QueueDeclareOptions::default().passive()).await;
    assert_eq!(q.message_count(), 0);
    delete_queue(&ch2, &queue).await;
}

#[tokio::test]
async fn mandatory_unroutable_publish_is_returned_with_312() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let exchange = unique("no-bindings");
    declare_exchange(&ch, &exchange, ExchangeKind::Direct).await;
    // lapin hands basic.return to the publisher confirm of that message, so
    // use confirm mode; the broker sends basic.return before basic.ack.
    within("confirm.select", ch.confirm_select(ConfirmSelectOptions::default())).await.expect("confirm.select");
    let confirm = within(
        "basic.publish",
        ch.basic_publish(
            s(&exchange),
            s("nowhere"),
            BasicPublishOptions { mandatory: true, ..Default::default() },
            b"undeliverable",
            BasicProperties::default().with_message_id(s("m-1")),
        ),
    )
    .await
    .expect("basic.publish");
    let confirm = within("confirm", confirm).await.expect("confirm");
    // RabbitMQ acks an unroutable message (it was "handled": returned).
    assert!(confirm.is_ack(), "{confirm:?}");
    let ret = confirm.take_message().expect("basic.return");
    assert_eq!(ret.reply_code, 312);
    assert_eq!(ret.reply_text.as_str(), "NO_ROUTE");
    assert_eq!(ret.delivery.exchange.as_str(), exchange);
    assert_eq!(ret.delivery.routing_key.as_str(), "nowhere");
    assert_eq!(ret.delivery.data, b"undeliverable");
    assert_eq!(ret.delivery.properties.message_id().as_ref().map(|m| m.as_str()), Some("m-1"));
    // The channel stays open.
    assert!(ch.status().connected());
    declare(&ch, "", QueueDeclareOptions::exclusive()).await;
}

#[tokio::test]
async fn basic_get_on_empty_queue_then_message_then_empty() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let queue = unique("get");
    declare(&ch, &queue, QueueDeclareOptions::default()).await;

    let got = within("basic.get", ch.basic_get(s(&queue), BasicGetOptions { no_ack: false })).await.expect("basic.get");
    assert!(got.is_none(), "empty queue must answer get-empty");

    publish(&ch, "", &queue, b"one", BasicProperties::default()).await;
    publish(&ch, "", &queue, b"two", BasicProperties::default()).await;
    let m = within("basic.get", ch.basic_get(s(&queue), BasicGetOptions { no_ack: false })).await.expect("basic.get").expect("a message");
    assert_eq!(m.delivery.data, b"one");
    assert_eq!(m.message_count, 1, "message_count counts the messages left");
    assert!(!m.delivery.redelivered);
    m.delivery.ack(BasicAckOptions::default()).await.expect("ack");
    assert_eq!(drain(&ch, &queue).await, ["two"]);
    let got = within("basic.get", ch.basic_get(s(&queue), BasicGetOptions { no_ack: true })).await.expect("basic.get");
    assert!(got.is_none());
    delete_queue(&ch, &queue).await;
}

#[tokio::test]
async fn nack_with_requeue_redelivers_with_redelivered_flag() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let queue = unique("nack");
    declare(&ch, &queue, QueueDeclareOptions::default()).await;
    publish(&ch, "", &queue, b"try again", BasicProperties::default()).await;

    let mut consumer = consume(&ch, &queue, false).await;
    let first = next(&mut consumer).await;
    assert_eq!(first.data, b"try again");
    assert!(!first.redelivered);
    first.nack(BasicNackOptions { requeue: true, multiple: false }).await.expect("basic.nack");

    let second = next(&mut consumer).await;
    assert_eq!(second.data, b"try again");
    assert!(second.redelivered, "requeued message must be flagged redelivered");
    assert_ne!(second.delivery_tag, first.delivery_tag, "a new delivery tag");
    second.ack(BasicAckOptions::default()).await.expect("ack");

    let q = declare(&ch, &queue, QueueDeclareOptions::default().passive()).await;
    assert_eq!(q.message_count(), 0);
    delete_queue(&ch, &queue).await;
}
