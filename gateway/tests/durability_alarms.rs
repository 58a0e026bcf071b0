//! Resource alarms and queues larger than memory, measured on the warren
//! process's resident set (VmRSS in /proc/<pid>/status):
//!
//! * with a small memory high watermark and no consumer, a publisher that
//!   announced the `connection.blocked` capability (lapin does) floods
//!   persistent messages with confirms until it gets connection.blocked;
//!   warren then stops reading from it, so its memory stops growing; a
//!   separate connection can still consume; once everything is consumed
//!   the alarm clears, connection.unblocked comes, the held-back publishes
//!   go through, and every confirmed message arrives exactly once;
//! * with a 1 MiB memory budget, a durable queue holding 50 MiB of
//!   persistent messages keeps its bodies on disk: the resident set stays
//!   far below 50 MiB and every body comes back intact and in order.

mod common;
mod durability_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{within, Broker};
use durability_support::*;
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;

/// Samples the resident set of `pid` every 20 ms until dropped; keeps the
/// highest value seen since the last `reset`.
struct RssProbe {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssProbe {
    fn start(pid: u32) -> RssProbe {
        let peak = Arc::new(AtomicU64::new(vm_rss(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    if let Some(kb) =
                        text.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                    {
                        p.fetch_max(kb * 1024, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssProbe { peak, stop }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    fn reset(&self, to: u64) {
        self.peak.store(to, Ordering::Relaxed);
    }
}

impl Drop for RssProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / MIB as f64)
}

/// Body of message `seq`: the sequence number, then bytes derived from it.
fn body(seq: u64, len: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend((8..len).map(|i| (seq as usize * 131 + i) as u8));
    b
}

fn seq_of(b: &[u8], len: usize) -> u64 {
    let seq = u64::from_le_bytes(b[..8].try_into().unwrap());
    assert_eq!(b, &body(seq, len)[..], "body of message {seq} intact");
    seq
}

const WATERMARK: u64 = 64 * MIB;
const FLOOD_BODY: usize = 16 * 1024;
/// Outstanding confirms of the flooding publisher.
const FLOOD_WINDOW: usize = 256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_alarm_blocks_publishers_but_not_consumers() {
    // Transient bodies stay in memory (a budget far above the watermark),
    // so the flood reaches the watermark quickly. (Persistent ones would
    // not: a deep durable queue keeps only their keys in memory.)
    let broker = Broker::start_with_args(&["--memory-high-watermark", "64MiB", "--memory-budget", "1GiB"]);
    if broker.is_external() {
        eprintln!("skipped: needs a warren started by the test");
        return;
    }
    let pid = broker.pid().unwrap();
    let baseline = vm_rss(pid);
    assert!(baseline < WATERMARK / 2, "baseline RSS {} leaves no room under the 64 MiB watermark", mib(baseline));
    let probe = RssProbe::start(pid);

    let publisher = connect(&broker.url).await;
    let mut events = publisher.events_listener();
    let ch = confirm_channel(&publisher).await;
    declare_queue(&ch, "flood", true, FieldTable::default()).await;

    // Flood from a task that keeps going (and so keeps trying to send)
    // after the block; confirms are collected in order by a second task.
    let confirmed: Arc<Mutex<Vec<u64>>> = Arc::default();
    // When each confirm came, for the peak intake rate (below).
    let confirm_times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, lapin::PublisherConfirm)>(FLOOD_WINDOW);
    let collector = {
        let (confirmed, confirm_times) = (confirmed.clone(), confirm_times.clone());
        tokio::spawn(async move {
            while let Some((seq, c)) = rx.recv().await {
                match c.await {
                    Ok(c) if c.is_ack() => {
                        confirmed.lock().unwrap().push(seq);
                        confirm_times.lock().unwrap().push(Instant::now());
                    }
                    Ok(c) => panic!("message {seq} nacked: {c:?}"),
                    Err(e) => panic!("confirm of {seq} failed: {e}"),
                }
            }
        })
    };
    let flooder = {
        let (ch, sent, stop) = (ch.clone(), sent.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let c = ch
                    .basic_publish(
                        s(""),
                        s("flood"),
                        BasicPublishOptions::default(),
                        &body(seq, FLOOD_BODY),
                        lapin::BasicProperties::default(),
                    )
                    .await
                    .expect("basic.publish");
                sent.store(seq + 1, Ordering::Relaxed);
                if tx.send((seq, c)).await.is_err() {
                    break;
                }
                seq += 1;
            }
        })
    };

    let t0 = Instant::now();
    let reason = loop {
        match within("connection.blocked (flooding until the memory alarm)", events.next()).await {
            Some(lapin::Event::ConnectionBlocked(reason)) => break reason,
            Some(_) => continue,
            None => panic!("event stream ended"),
        }
    };
    let at_block = vm_rss(pid);
    let confirmed_at_block = confirmed.lock().unwrap().len();
    eprintln!(
        "blocked after {:.1}s ({reason:?}): {} sent, {confirmed_at_block} confirmed, RSS {} (baseline {}, peak {})",
        t0.elapsed().as_secs_f64(),
        sent.load(Ordering::Relaxed),
        mib(at_block),
        mib(baseline),
        mib(probe.peak())
    );
    assert!(reason.contains("memory"), "{reason}");

    // Blocked: warren reads nothing more from the publisher, which keeps
    // trying for a while. Memory must not grow meanwhile.
    let sent_at_block = sent.load(Ordering::Relaxed);
    probe.reset(at_block);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = probe.peak().saturating_sub(at_block);
    let sent_while_blocked = sent.load(Ordering::Relaxed) - sent_at_block;
    let confirmed_while_blocked = confirmed.lock().unwrap().len() - confirmed_at_block;
    eprintln!(
        "2s blocked: the client queued {sent_while_blocked} more publishes, {confirmed_while_blocked} more confirms \
         came, RSS grew by {}",
        mib(grown)
    );
    // What was already read (up to one confirm window) may still be
    // processed; nothing beyond it.
    assert!(grown <= (FLOOD_WINDOW * FLOOD_BODY) as u64 + 8 * MIB, "RSS grew by {} while the publisher was blocked", mib(grown));
    // The alarm is checked every 500 ms, so warren can overshoot the
    // watermark by what one publisher gets in during that time: the most
    // this flood had confirmed within any 500 ms before the block (its
    // peak rate on this machine, not its average, which start-up lowers),
    // plus 16 MiB of allocator and buffer slack.
    let in_one_check = {
        let times = confirm_times.lock().unwrap();
        let times = &times[..confirmed_at_block.min(times.len())];
        let mut start = 0;
        let mut most = 0;
        for (end, t) in times.iter().enumerate() {
            while t.duration_since(times[start]) > Duration::from_millis(500) {
                start += 1;
            }
            most = most.max(end + 1 - start);
        }
        (most * FLOOD_BODY) as u64
    };
    let bound = WATERMARK + in_one_check + 16 * MIB;
    let peak = probe.peak().max(at_block);
    eprintln!("most confirmed in 500 ms {}; peak RSS {}; bound {}", mib(in_one_check), mib(peak), mib(bound));
    assert!(peak <= bound, "peak RSS {} above the bound {}", mib(peak), mib(bound));

    // A connection that never published is not blocked: it consumes.
    let consumer_conn = connect(&broker.url).await;
    let cch = channel(&consumer_conn).await;
    within("basic.qos", cch.basic_qos(200, BasicQosOptions::default())).await.expect("qos");
    let mut deliveries =
        within("basic.consume", cch.basic_consume(s("flood"), s("drainer"), BasicConsumeOptions::default(), FieldTable::default()))
            .await
            .expect("basic.consume");
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut unblocked = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Consume until the publisher is unblocked, then until every confirmed
    // message has arrived and the publisher's queued messages are in.
    loop {
        assert!(
            Instant::now() < deadline,
            "consumed {} messages; unblocked: {unblocked}; RSS now {} (watermark {})",
            seen.len(),
            mib(vm_rss(pid)),
            mib(WATERMARK)
        );
        tokio::select! {
            d = deliveries.next() => {
                let d = d.expect("consumer stream ended").expect("delivery");
                *seen.entry(seq_of(&d.data, FLOOD_BODY)).or_default() += 1;
                d.ack(BasicAckOptions::default()).await.expect("ack");
            }
            e = events.next() => {
                if let Some(lapin::Event::ConnectionUnblocked) = e {
                    eprintln!("unblocked after {} consumed; RSS {}", seen.len(), mib(vm_rss(pid)));
                    assert!(!seen.is_empty(), "the consumer got messages while the publisher was blocked");
                    unblocked = true;
                    stop.store(true, Ordering::Relaxed);
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if unblocked && flooder.is_finished() && collector.is_finished() {
                    let confirmed = confirmed.lock().unwrap().len();
                    if seen.len() >= confirmed && message_count(&cch, "flood").await == 0 {
                        break;
                    }
                }
            }
        }
    }
    let confirmed = confirmed.lock().unwrap().clone();
    let total_sent = sent.load(Ordering::Relaxed);
    eprintln!("{} confirmed of {total_sent} sent, {} consumed", confirmed.len(), seen.len());
    for seq in &confirmed {
        assert_eq!(seen.get(seq), Some(&1), "confirmed message {seq} must arrive exactly once");
    }
    assert!(seen.values().all(|n| *n == 1), "no message twice");
    assert_eq!(confirmed.len() as u64, total_sent, "every publish was confirmed once unblocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_larger_than_the_memory_budget_keeps_bodies_on_disk() {
    const BODY: usize = 32 * 1024;
    const COUNT: u64 = 1600; // 50 MiB
    let broker = Broker::start_with_args(&["--memory-budget", "1MiB"]);
    if broker.is_external() {
        eprintln!("skipped: needs a warren started by the test");
        return;
    }
    let pid = broker.pid().unwrap();
    let baseline = vm_rss(pid);
    let probe = RssProbe::start(pid);

    let conn = connect(&broker.url).await;
    let ch = confirm_channel(&conn).await;
    declare_queue(&ch, "big", true, FieldTable::default()).await;
    publish_confirmed(&ch, "", "big", (0..COUNT).map(|i| body(i, BODY)), persistent(), 64).await;
    assert_eq!(message_count(&ch, "big").await as u64, COUNT);
    let after_publish = probe.peak();

    let mut next = 0u64;
    within("basic.qos", ch.basic_qos(50, BasicQosOptions::default())).await.expect("qos");
    let mut consumer =
        within("basic.consume", ch.basic_consume(s("big"), s("reader"), BasicConsumeOptions::default(), FieldTable::default()))
            .await
            .expect("basic.consume");
    while next < COUNT {
        let d = within("a delivery", consumer.next()).await.expect("stream").expect("delivery");
        assert_eq!(seq_of(&d.data, BODY), next, "in order");
        next += 1;
        d.ack(BasicAckOptions::default()).await.expect("ack");
    }
    let peak = probe.peak();
    eprintln!(
        "{} in the queue: RSS baseline {}, peak while publishing {}, peak overall {}",
        mib(COUNT * BODY as u64),
        mib(baseline),
        mib(after_publish),
        mib(peak)
    );
    // Bodies beyond 1 MiB live on disk; what stays in memory per message is
    // its metadata. 20 MiB over the baseline is less than half the queue.
    assert!(peak < baseline + 20 * MIB, "peak RSS {} (baseline {})", mib(peak), mib(baseline));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_larger_than_the_memory_budget_is_recovered_without_its_bodies() {
    const BODY: usize = 32 * 1024;
    const COUNT: u64 = 1600; // 50 MiB
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let args = ["--memory-budget", "1MiB"];
    let mut broker = Broker::start_on(&data, &args);
    let conn = connect(&broker.url).await;
    let ch = confirm_channel(&conn).await;
    declare_queue(&ch, "big", true, FieldTable::default()).await;
    publish_confirmed(&ch, "", "big", (0..COUNT).map(|i| body(i, BODY)), persistent(), 64).await;
    drop(conn);
    assert!(broker.terminate(Duration::from_secs(30)).success());

    // What an idle warren takes, for comparison.
    let fresh = Broker::start_with_args(&args);
    let baseline = vm_rss(fresh.pid().unwrap());
    drop(fresh);

    // Recovery reads every record once; only 1 MiB of bodies may stay.
    let broker = Broker::start_on(&data, &args);
    let pid = broker.pid().unwrap();
    let recovered = vm_rss(pid);
    let probe = RssProbe::start(pid);
    let conn = connect(&broker.url).await;
    let ch = channel(&conn).await;
    assert_eq!(message_count(&ch, "big").await as u64, COUNT);
    within("basic.qos", ch.basic_qos(50, BasicQosOptions::default())).await.expect("qos");
    let mut consumer =
        within("basic.consume", ch.basic_consume(s("big"), s("reader"), BasicConsumeOptions::default(), FieldTable::default()))
            .await
            .expect("basic.consume");
    for i in 0..COUNT {
        let d = within("a delivery", consumer.next()).await.expect("stream").expect("delivery");
        assert_eq!(seq_of(&d.data, BODY), i, "in order");
        d.ack(BasicAckOptions::default()).await.expect("ack");
    }
    let peak = probe.peak();
    eprintln!(
        "{} recovered: RSS of an idle warren {}, after recovery {}, peak while consuming {}",
        mib(COUNT * BODY as u64),
        mib(baseline),
        mib(recovered),
        mib(peak)
    );
    assert!(recovered < baseline + 20 * MIB, "RSS after recovery {} (idle: {})", mib(recovered), mib(baseline));
    assert!(peak < baseline + 20 * MIB, "peak RSS {} (idle: {})", mib(peak), mib(baseline));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_alarm_blocks_a_publisher_and_lets_a_consumer_drain() {
    // More free space required than any disk has: the alarm is on from the
    // first measurement.
    let broker = Broker::start_with_args(&["--disk-free-limit", "1000000GB"]);
    if broker.is_external() {
        eprintln!("skipped: needs a warren started by the test");
        return;
    }
    let setup = connect(&broker.url).await;
    let sch = channel(&setup).await;
    declare_queue(&sch, "disk", true, FieldTable::default()).await;

    let publisher = connect(&broker.url).await;
    let mut events = publisher.events_listener();
    let ch = confirm_channel(&publisher).await;
    // The first publish makes it a publisher; the block follows.
    let first = within("basic.publish", ch.basic_publish(s(""), s("disk"), BasicPublishOptions::default(), b"first", persistent()))
        .await
        .expect("basic.publish");
    let reason = loop {
        match within("connection.blocked", events.next()).await {
            Some(lapin::Event::ConnectionBlocked(reason)) => break reason,
            Some(_) => continue,
            None => panic!("event stream ended"),
        }
    };
    assert!(reason.contains("disk"), "{reason}");
    let first = within("the first publish's confirm", first).await.expect("confirm");
    // lapin writes nothing on a blocked connection, so this publish is never
    // sent; warren would not read it either.
    let held = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let _ = ch.basic_publish(s(""), s("disk"), BasicPublishOptions::default(), b"held back", persistent()).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // A connection that does not publish still consumes.
    let got = drain(&sch, "disk").await;
    let bodies: Vec<&[u8]> = got.iter().map(|d| &d.data[..]).collect();
    assert!(first.is_ack(), "{first:?}");
    assert_eq!(bodies, [&b"first"[..]], "the publish read before the block is routed and confirmed; nothing after it");
    held.abort();
}
