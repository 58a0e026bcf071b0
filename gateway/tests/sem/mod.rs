//! lapin helpers shared by the `semantics*` interop tests (RabbitMQ
//! extensions: queue arguments, dead-lettering, consumer features, access
//! control). Every helper fails the test after [`STEP_TIMEOUT`] instead of
//! hanging.

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use crate::common::{within, Broker, STEP_TIMEOUT};
use futures_lite::StreamExt;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use lapin::Confirmation;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};

pub fn s(v: &str) -> ShortString {
    v.into()
}

/// A field table from `(key, value)` pairs.
pub fn ft(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

/// A long string (`S`) field value.
pub fn ls(v: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(v.as_bytes().to_vec()))
}

/// A signed 32-bit (`I`) field value.
pub fn int(v: i32) -> AMQPValue {
    AMQPValue::LongInt(v)
}

pub fn array(items: Vec<AMQPValue>) -> AMQPValue {
    AMQPValue::FieldArray(FieldArray::from(items))
}

pub async fn connect_url(url: &str) -> Connection {
    within("lapin connect", Connection::connect(url, ConnectionProperties::default()))
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

pub async fn connect(broker: &Broker) -> Connection {
    connect_url(&broker.url).await
}

pub async fn channel(conn: &Connection) -> Channel {
    within("channel.open", conn.create_channel()).await.expect("channel.open")
}

/// A channel in confirm mode.
pub async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = channel(conn).await;
    within("confirm.select", ch.confirm_select(ConfirmSelectOptions::default())).await.expect("confirm.select");
    ch
}

/// `(reply code, reply text)` of a channel or connection close.
pub fn amqp_error(err: &lapin::Error) -> (u16, String) {
    match err.kind() {
        lapin::ErrorKind::ProtocolError(e) => (e.get_id(), e.get_message().to_string()),
        other => panic!("expected an AMQP protocol error (a close from the broker), got {other:?}"),
    }
}

/// Awaits an operation that the broker must refuse by closing the channel
/// (or the connection) and returns the close's `(code, text)`.
pub async fn expect_close<T: std::fmt::Debug>(what: &str, fut: impl Future<Output = lapin::Result<T>>) -> (u16, String) {
    match within(what, fut).await {
        Ok(v) => panic!("{what}: expected the broker to close the channel, got {v:?}"),
        Err(e) => amqp_error(&e),
    }
}

pub async fn try_declare(ch: &Channel, name: &str, opts: QueueDeclareOptions, args: FieldTable) -> lapin::Result<lapin::Queue> {
    within("queue.declare", ch.queue_declare(s(name), opts, args)).await
}

pub async fn declare(ch: &Channel, name: &str, opts: QueueDeclareOptions, args: FieldTable) -> lapin::Queue {
    try_declare(ch, name, opts, args).await.unwrap_or_else(|e| panic!("queue.declare {name:?}: {e}"))
}

/// A plain (non-durable, auto-delete off) queue with `args`.
pub async fn declare_q(ch: &Channel, name: &str, args: FieldTable) -> lapin::Queue {
    declare(ch, name, QueueDeclareOptions::default(), args).await
}

pub async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeKind, opts: ExchangeDeclareOptions, args: FieldTable) {
    within("exchange.declare", ch.exchange_declare(s(name), kind, opts, args))
        .await
        .unwrap_or_else(|e| panic!("exchange.declare {name:?}: {e}"));
}

pub async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str, args: FieldTable) {
    within("queue.bind", ch.queue_bind(s(queue), s(exchange), s(key), QueueBindOptions::default(), args))
        .await
        .unwrap_or_else(|e| panic!("queue.bind {queue:?} -> {exchange:?} ({key:?}): {e}"));
}

/// Message count of `queue` by passive declare.
pub async fn message_count(ch: &Channel, queue: &str) -> u32 {
    declare(ch, queue, QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default()).await.message_count()
}

/// basic.publish without waiting for anything.
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8], props: BasicProperties) {
    within("basic.publish", ch.basic_publish(s(exchange), s(key), BasicPublishOptions::default(), body, props))
        .await
        .unwrap_or_else(|e| panic!("basic.publish to {exchange:?}/{key:?}: {e}"));
}

/// basic.publish on a confirm channel; returns the broker's ack or nack
/// (carrying any basic.return that arrived before it).
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
    mandatory: bool,
) -> Confirmation {
    let confirm = within(
        "basic.publish",
        ch.basic_publish(s(exchange), s(key), BasicPublishOptions { mandatory, ..Default::default() }, body, props),
    )
    .await
    .unwrap_or_else(|e| panic!("basic.publish to {exchange:?}/{key:?}: {e}"));
    within("publisher confirm", confirm).await.unwrap_or_else(|e| panic!("confirm for publish to {exchange:?}/{key:?}: {e}"))
}

/// Publishes on a confirm channel and asserts a plain ack (nothing returned).
pub async fn publish_acked(ch: &Channel, exchange: &str, key: &str, body: &[u8], props: BasicProperties) {
    let c = publish_confirmed(ch, exchange, key, body, props, false).await;
    assert_eq!(c, Confirmation::Ack(None), "publish {:?} to {exchange:?}/{key:?}", String::from_utf8_lossy(body));
}

/// Publishes on a confirm channel whose broker must close the channel
/// instead of confirming; returns the close's `(code, text)`.
pub async fn publish_expect_close(ch: &Channel, exchange: &str, key: &str, body: &[u8], props: BasicProperties) -> (u16, String) {
    let confirm = match within("basic.publish", ch.basic_publish(s(exchange), s(key), BasicPublishOptions::default(), body, props)).await {
        Ok(c) => c,
        Err(e) => return amqp_error(&e),
    };
    expect_close("publisher confirm (channel close expected)", confirm).await
}

pub async fn get(ch: &Channel, queue: &str, no_ack: bool) -> Option<BasicGetMessage> {
    within("basic.get", ch.basic_get(s(queue), BasicGetOptions { no_ack })).await.unwrap_or_else(|e| panic!("basic.get {queue:?}: {e}"))
}

pub fn body(d: &Delivery) -> String {
    String::from_utf8(d.data.clone()).expect("utf-8 body")
}

/// basic.get (auto-ack) until get-empty; the bodies in order.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(m) = get(ch, queue, true).await {
        out.push(body(&m.delivery));
    }
    out
}

pub async fn consume(ch: &Channel, queue: &str, tag: &str, no_ack: bool, args: FieldTable) -> Consumer {
    within("basic.consume", ch.basic_consume(s(queue), s(tag), BasicConsumeOptions { no_ack, ..Default::default() }, args))
        .await
        .unwrap_or_else(|e| panic!("basic.consume {queue:?}: {e}"))
}

pub async fn next(consumer: &mut Consumer) -> Delivery {
    within("a delivery", consumer.next()).await.expect("consumer stream ended (cancelled)").expect("delivery error")
}

/// Asserts that `consumer` receives nothing for `ms` milliseconds.
pub async fn assert_no_delivery(consumer: &mut Consumer, ms: u64) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(ms), consumer.next()).await {
        match item {
            Some(Ok(d)) => panic!("unexpected delivery {:?} to {}", body(&d), consumer.tag()),
            other => panic!("unexpected consumer event on {}: {other:?}", consumer.tag()),
        }
    }
}

/// Polls `check` every 10 ms until it returns true (failing after STEP_TIMEOUT).
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out after {STEP_TIMEOUT:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls basic.get every 10 ms until `queue` yields a message.
pub async fn wait_get(ch: &Channel, queue: &str, no_ack: bool) -> BasicGetMessage {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(m) = get(ch, queue, no_ack).await {
            return m;
        }
        assert!(Instant::now() < deadline, "timed out after {STEP_TIMEOUT:?} waiting for a message in {queue}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn header<'a>(props: &'a BasicProperties, key: &str) -> Option<&'a AMQPValue> {
    props.headers().as_ref().and_then(|h| h.inner().get(key))
}

/// The `x-death` entries of a dead-lettered message, most recent first.
pub fn x_death(props: &BasicProperties) -> Vec<FieldTable> {
    match header(props, "x-death") {
        Some(AMQPValue::FieldArray(a)) => a
            .as_slice()
            .iter()
            .map(|v| match v {
                AMQPValue::FieldTable(t) => t.clone(),
                other => panic!("x-death entry is not a table: {other:?}"),
            })
            .collect(),
        other => panic!("no x-death array header: {other:?} in {:?}", props.headers()),
    }
}

pub fn field<'a>(t: &'a FieldTable, key: &str) -> Option<&'a AMQPValue> {
    t.inner().get(key)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
