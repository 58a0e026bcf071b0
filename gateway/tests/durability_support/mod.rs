//! Shared by the durability tests (`durability_*.rs`): lapin helpers for
//! publishing with confirms and draining queues, the process's resident
//! memory, and a reader for the message log's frames so a test can damage
//! a chosen record (format: `gateway/src/store/record.rs`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::common::within;

pub fn s(v: &str) -> ShortString {
    v.into()
}

pub async fn connect(url: &str) -> Connection {
    within("lapin connect", Connection::connect(url, ConnectionProperties::default()))
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

pub async fn channel(conn: &Connection) -> Channel {
    within("channel.open", conn.create_channel()).await.expect("channel.open")
}

pub async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = channel(conn).await;
    within("confirm.select", ch.confirm_select(ConfirmSelectOptions::default())).await.expect("confirm.select");
    ch
}

pub async fn declare_queue(ch: &Channel, name: &str, durable: bool, args: FieldTable) -> lapin::Queue {
    let opts = QueueDeclareOptions { durable, ..Default::default() };
    within("queue.declare", ch.queue_declare(s(name), opts, args)).await.unwrap_or_else(|e| panic!("queue.declare {name:?}: {e}"))
}

/// Ready messages in `queue` (passive declare).
pub async fn message_count(ch: &Channel, name: &str) -> u32 {
    let opts = QueueDeclareOptions { passive: true, ..Default::default() };
    within("queue.declare passive", ch.queue_declare(s(name), opts, FieldTable::default()))
        .await
        .unwrap_or_else(|e| panic!("queue.declare passive {name:?}: {e}"))
        .message_count()
}

pub async fn declare_exchange(ch: &Channel, name: &str, kind: lapin::ExchangeKind, durable: bool) {
    let opts = ExchangeDeclareOptions { durable, ..Default::default() };
    within("exchange.declare", ch.exchange_declare(s(name), kind, opts, FieldTable::default()))
        .await
        .unwrap_or_else(|e| panic!("exchange.declare {name:?}: {e}"));
}

pub async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    within("queue.bind", ch.queue_bind(s(queue), s(exchange), s(key), QueueBindOptions::default(), FieldTable::default()))
        .await
        .unwrap_or_else(|e| panic!("queue.bind {queue:?} -> {exchange:?}: {e}"));
}

pub fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

/// Publishes every body on a confirm channel, keeping at most `window`
/// confirms outstanding, and fails the test unless each is acked.
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    bodies: impl IntoIterator<Item = Vec<u8>>,
    props: BasicProperties,
    window: usize,
) -> usize {
    let mut pending: std::collections::VecDeque<lapin::PublisherConfirm> = std::collections::VecDeque::new();
    let mut n = 0;
    for body in bodies {
        if pending.len() >= window {
            let c = pending.pop_front().unwrap();
            assert!(within("a confirm", c).await.expect("confirm").is_ack(), "publish was nacked");
        }
        let c = within("basic.publish", ch.basic_publish(s(exchange), s(key), BasicPublishOptions::default(), &body, props.clone()))
            .await
            .unwrap_or_else(|e| panic!("basic.publish to {exchange:?}/{key:?}: {e}"));
        pending.push_back(c);
        n += 1;
    }
    for c in pending {
        assert!(within("a confirm", c).await.expect("confirm").is_ack(), "publish was nacked");
    }
    n
}

/// Consumes every message `queue` holds (manual acks, in order), acking
/// each, and checks the queue is empty afterwards.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<lapin::message::Delivery> {
    let expected = message_count(ch, queue).await as usize;
    // Nothing else arrives meanwhile, so acking as we go takes exactly
    // `expected` deliveries.
    let out = consume_n(ch, queue, expected, 200, true).await;
    assert_eq!(message_count(ch, queue).await, 0, "{queue} still holds messages after {expected} were taken");
    out
}

/// Takes exactly `n` deliveries from `queue` on `ch` (prefetch `n`, so no
/// other message is delivered) and cancels the consumer; then acks them
/// if `ack`, or leaves them unacked on `ch`.
pub async fn take(ch: &Channel, queue: &str, n: usize, ack: bool) -> Vec<lapin::message::Delivery> {
    assert!(n <= u16::MAX as usize);
    let out = consume_n(ch, queue, n, n as u16, false).await;
    if ack {
        for d in &out {
            within("basic.ack", d.ack(BasicAckOptions::default())).await.expect("basic.ack");
        }
    }
    out
}

/// Consumes `n` deliveries with prefetch `prefetch` (acking each on
/// arrival if `ack_each`), then cancels the consumer.
async fn consume_n(ch: &Channel, queue: &str, n: usize, prefetch: u16, ack_each: bool) -> Vec<lapin::message::Delivery> {
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    within("basic.qos", ch.basic_qos(prefetch, BasicQosOptions::default())).await.expect("basic.qos");
    let tag = crate::common::unique("take");
    let mut consumer = within("basic.consume", ch.basic_consume(s(queue), s(&tag), BasicConsumeOptions::default(), FieldTable::default()))
        .await
        .unwrap_or_else(|e| panic!("basic.consume {queue:?}: {e}"));
    while out.len() < n {
        let d = within(&format!("delivery {} of {n} from {queue}", out.len() + 1), consumer.next())
            .await
            .expect("consumer stream ended")
            .expect("delivery error");
        if ack_each {
            within("basic.ack", d.ack(BasicAckOptions::default())).await.expect("basic.ack");
        }
        out.push(d);
    }
    within("basic.cancel", ch.basic_cancel(s(&tag), BasicCancelOptions::default())).await.expect("basic.cancel");
    out
}

/// The resident set size of process `pid` (VmRSS), in octets.
pub fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS value");
    kb * 1024
}

pub const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------
// The message log, as files (see gateway/src/store/record.rs)
// ---------------------------------------------------------------------------

/// Size of a segment file header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Size of a frame header: payload length, payload CRC, header CRC.
pub const FRAME_HEADER_LEN: usize = 12;
/// Record kind byte of a message record.
pub const KIND_MESSAGE: u8 = 2;

/// Segment files under `<data>/msgs`, oldest first.
pub fn segment_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join("msgs"))
        .expect("list msgs/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// One frame of a segment file.
#[derive(Debug, Clone, Copy)]
pub struct FrameAt {
    pub offset: usize,
    /// Header and payload.
    pub len: usize,
    pub kind: u8,
}

/// The frames of a whole, undamaged segment file, in order.
pub fn frames(buf: &[u8]) -> Vec<FrameAt> {
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while at + FRAME_HEADER_LEN <= buf.len() {
        let len = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        let end = at + FRAME_HEADER_LEN + len;
        assert!(len > 0 && end <= buf.len(), "segment is not whole at offset {at}");
        out.push(FrameAt { offset: at, len: FRAME_HEADER_LEN + len, kind: buf[at + FRAME_HEADER_LEN] });
        at = end;
    }
    assert_eq!(at, buf.len(), "trailing bytes after the last frame");
    out
}

/// Waits up to `timeout` for `cond`, polling.
pub async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
