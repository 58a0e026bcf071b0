//! Crash harness: warren is SIGKILLed at random moments while publishers
//! send persistent messages with confirms and consumers ack some of what
//! they get and hold the rest unacked; it restarts on the same data
//! directory, and a verifier checks every queue against a model of what
//! the clients were told.
//!
//! Topology (all durable): queues `crash-a` .. `crash-d`; a fanout exchange
//! to a, b and c; a direct exchange routing `d` to d and `bc` to b and c;
//! the default exchange to a. So a message lives in one, two or three
//! queues. Each body is `P<producer>S<seq>R<route>L<len>|` and `len` bytes
//! derived from (producer, seq), so every delivery says exactly which
//! message it is and whether it is intact.
//!
//! # What is checked after each restart, per queue
//!
//! The rules rest on one property of warren's store: it is a log whose
//! records become durable in order (group commit publishes a durable
//! *prefix*), and the core appends a record for each publish, delivery and
//! ack before any reply that depends on it leaves. So when the client sees
//! the reply to an event A (a delivery arrives; the reply to a round trip
//! after an ack arrives) and *afterwards* starts a publish P that gets
//! confirmed, A's record precedes P's and is durable. Per broker run, the
//! *horizon* is the latest send time of a confirmed publish: events seen
//! before it are known durable.
//!
//! 1. Every confirmed message (or one recovered by an earlier restart)
//!    whose ack was never sent is present, exactly once.
//! 2. No message is present twice in a queue, whether confirmed or not;
//!    none appears that was not published to that queue; none comes back
//!    after a restart found it gone; every body is intact; a producer's
//!    messages keep their order.
//! 3. An ack is *known durable* if its round trip completed before the
//!    horizon (after a crash) or at all (after a clean SIGTERM stop): that
//!    message never comes back. An ack not known durable may have been
//!    lost with the crash: the message may come back (counted, allowed).
//! 4. After a crash every recovered message comes back redelivered=true:
//!    warren sends a delivery without waiting for its Delivered record to
//!    be on disk, so after an unclean stop any message may have been
//!    delivered (which is what the flag means). After a clean stop the flag
//!    is exact: a message delivered at all comes back flagged, and one no
//!    client saw is flagged only if it was in flight to the in-run consumer
//!    when warren stopped, so at most its prefetch per queue.
//! 5. Unconfirmed messages may be absent, or present once.
//!
//! After checking, the verifier acks a random part of each queue and
//! requeues the rest, so messages also live across several crashes.
//!
//! # Running
//!
//! `cargo test -p gateway --test durability_crash` runs 24 cycles (every
//! fifth is a clean SIGTERM stop) with a seed from the clock, printed at
//! the start. `WARREN_CRASH_CYCLES=N` and `WARREN_CRASH_SEED=S` override;
//! the seed fixes every random choice (routes, sizes, kill delays, which
//! deliveries are acked) but not the timing. `cargo xtask soak` runs the
//! same test for hundreds of cycles.

mod common;
mod durability_support;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Broker;
use durability_support::*;
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{Channel, ExchangeKind};

const QUEUES: [&str; 4] = ["crash-a", "crash-b", "crash-c", "crash-d"];
/// (exchange, routing key, queues as a bit mask over `QUEUES`).
const ROUTES: [(&str, &str, u8); 4] =
    [("crash-fan", "", 0b0111), ("crash-direct", "d", 0b1000), ("crash-direct", "bc", 0b0110), ("", "crash-a", 0b0001)];
const PUBLISHERS: u32 = 3;
/// Outstanding confirms per publisher.
const WINDOW: usize = 32;
/// Prefetch of the in-run consumers.
const PREFETCH: u16 = 64;
/// Unacked deliveries an in-run consumer holds at most.
const HOLD: usize = 16;
const DEFAULT_CYCLES: usize = 24;
/// Small segments, so that kills also land in segment rollover, carry-
/// forward records and the deletion of reclaimed segments.
const WARREN_ARGS: &[&str] = &["--segment-max-bytes", "512KiB"];
/// Every this many cycles, a clean stop (SIGTERM) instead of a crash.
const CLEAN_EVERY: usize = 5;

// ---------------------------------------------------------------------------
// Seeded randomness (SplitMix64: tiny and good enough)
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 + f64::EPSILON < p
    }
    fn fork(&mut self, salt: u64) -> Rng {
        Rng(self.next() ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93))
    }
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

/// (producer, seq).
type MsgId = (u32, u32);
const HEADER_LEN: usize = 28;

fn filler(id: MsgId, i: usize) -> u8 {
    (id.0.wrapping_mul(31) ^ id.1.wrapping_mul(7)).wrapping_add(i as u32) as u8
}

fn body(id: MsgId, route: usize, extra: usize) -> Vec<u8> {
    let mut b = format!("P{:08x}S{:08x}R{route}L{extra:06}|", id.0, id.1).into_bytes();
    debug_assert_eq!(b.len(), HEADER_LEN);
    b.extend((0..extra).map(|i| filler(id, i)));
    b
}

/// The message a body stands for and its route, if the body is intact.
fn parse(b: &[u8]) -> Result<(MsgId, usize), String> {
    let head = std::str::from_utf8(b.get(..HEADER_LEN).ok_or("body shorter than its header")?).map_err(|_| "header is not text")?;
    let field =
        |from: usize, to: usize, radix: u32| u32::from_str_radix(&head[from..to], radix).map_err(|_| format!("bad header {head:?}"));
    let (producer, seq, route, extra) = (field(1, 9, 16)?, field(10, 18, 16)?, field(19, 20, 10)? as usize, field(21, 27, 10)? as usize);
    let id = (producer, seq);
    if route >= ROUTES.len() || b.len() != HEADER_LEN + extra {
        return Err(format!("{head:?}: body is {} bytes", b.len()));
    }
    if let Some(i) = (0..extra).find(|&i| b[HEADER_LEN + i] != filler(id, i)) {
        return Err(format!("{head:?}: body byte {} differs", HEADER_LEN + i));
    }
    Ok((id, route))
}

fn extra_len(rng: &mut Rng) -> usize {
    match rng.below(1000) {
        0..=599 => rng.below(64) as usize,
        600..=949 => rng.range(64, 2048) as usize,
        950..=994 => rng.range(2048, 16384) as usize,
        // Bodies over frame_max (128 KiB) arrive in several frames.
        _ => rng.range(131_072, 200_000) as usize,
    }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// One message in one queue.
#[derive(Default, Debug, Clone)]
struct Entry {
    /// Confirmed, or found by a verifier after a restart: on disk.
    durable: bool,
    /// Some client got it from this queue (in any run).
    delivered_ever: bool,
    /// A Delivered record for it is known to be on disk.
    delivered_durable: bool,
    // This run:
    delivered_at: Option<Instant>,
    ack_sent: bool,
    ack_synced_at: Option<Instant>,
    // Decided when the run ends:
    ack_durable: bool,
}

#[derive(Default)]
struct Stats {
    published: u64,
    confirmed: u64,
    nacked: u64,
    delivered: u64,
    acks: u64,
}

#[derive(Default)]
struct Model {
    queues: [HashMap<MsgId, Entry>; 4],
    /// Messages a restart found gone from the queue: never to reappear.
    gone: [HashSet<MsgId>; 4],
    /// Latest send time of a publish confirmed in this run.
    horizon: Option<Instant>,
    stats: Stats,
    violations: Vec<String>,
}

/// What one verification found, for the log line.
#[derive(Default)]
struct Found {
    present: usize,
    unconfirmed_present: usize,
    unconfirmed_absent: usize,
    ack_lost_returned: usize,
    ack_lost_absent: usize,
    unflagged_unknown: usize,
    /// Flagged redelivered, but no client saw it delivered: deliveries
    /// still in flight (unread by lapin) when warren stopped.
    flagged_unseen: usize,
}

type Shared = Arc<Mutex<Model>>;

impl Model {
    fn violation(&mut self, v: String) {
        if self.violations.len() < 1000 {
            self.violations.push(v);
        }
    }

    fn published(&mut self, id: MsgId, route: usize) {
        self.stats.published += 1;
        for q in queues_of(route) {
            self.queues[q].insert(id, Entry::default());
        }
    }

    fn confirmed(&mut self, id: MsgId, route: usize, sent_at: Instant) {
        self.stats.confirmed += 1;
        for q in queues_of(route) {
            if let Some(e) = self.queues[q].get_mut(&id) {
                e.durable = true;
            }
        }
        self.horizon = Some(self.horizon.map_or(sent_at, |h| h.max(sent_at)));
    }

    /// A client got a message from queue `q` at `at`. Returns which, or
    /// None (recording why) if it should not exist. `check_flag`: check
    /// that only a message some client already got is flagged redelivered
    /// (the verifier checks that itself).
    fn delivered(&mut self, q: usize, body: &[u8], redelivered: bool, at: Instant, who: &str, check_flag: bool) -> Option<MsgId> {
        self.stats.delivered += 1;
        let (id, route) = match parse(body) {
            Ok(v) => v,
            Err(e) => {
                self.violation(format!("{who}: {}: corrupt body: {e}", QUEUES[q]));
                return None;
            }
        };
        if !queues_of(route).any(|x| x == q) {
            self.violation(format!("{who}: {}: {id:?} was routed elsewhere (route {route})", QUEUES[q]));
            return None;
        }
        if self.gone[q].contains(&id) {
            self.violation(format!("{who}: {}: {id:?} is back after a restart found it gone", QUEUES[q]));
            return None;
        }
        let Some(e) = self.queues[q].get_mut(&id) else {
            self.violation(format!("{who}: {}: {id:?} was never published", QUEUES[q]));
            return None;
        };
        let spurious = check_flag && redelivered && !e.delivered_ever;
        e.delivered_ever = true;
        e.delivered_at.get_or_insert(at);
        if spurious {
            self.violation(format!("{who}: {}: {id:?} flagged redelivered but no client ever got it", QUEUES[q]));
        }
        Some(id)
    }

    fn ack_sent(&mut self, q: usize, id: MsgId) {
        self.stats.acks += 1;
        if let Some(e) = self.queues[q].get_mut(&id) {
            e.ack_sent = true;
        }
    }

    /// A round trip after these acks completed at `at`: they were processed.
    fn acks_synced(&mut self, q: usize, ids: &[MsgId], at: Instant) {
        for id in ids {
            if let Some(e) = self.queues[q].get_mut(id) {
                e.ack_synced_at.get_or_insert(at);
            }
        }
    }

    /// The broker run is over: decide which of its records are known to be
    /// on disk (rules 3 and 4 of the module docs).
    fn end_run(&mut self, clean: bool) {
        let horizon = self.horizon.take();
        let known = |t: Instant| clean || horizon.is_some_and(|h| t < h);
        for q in &mut self.queues {
            for e in q.values_mut() {
                if e.delivered_at.is_some_and(known) {
                    e.delivered_durable = true;
                }
                if e.ack_sent && e.ack_synced_at.is_some_and(known) {
                    e.ack_durable = true;
                }
            }
        }
    }

    /// Checks what a restart left in queue `q` (in queue order) and starts
    /// the next run's bookkeeping.
    fn verify(&mut self, q: usize, got: &[(Vec<u8>, bool)], clean: bool, who: &str) -> Found {
        let mut found = Found::default();
        let mut seen: HashSet<MsgId> = HashSet::new();
        let mut last_seq: HashMap<u32, u32> = HashMap::new();
        let name = QUEUES[q];
        for (body, redelivered) in got {
            let (id, route) = match parse(body) {
                Ok(v) => v,
                Err(e) => {
                    self.violation(format!("{who}: {name}: corrupt body: {e}"));
                    continue;
                }
            };
            if !queues_of(route).any(|x| x == q) {
                self.violation(format!("{who}: {name}: {id:?} was routed elsewhere (route {route})"));
                continue;
            }
            if !seen.insert(id) {
                self.violation(format!("{who}: {name}: {id:?} is present twice"));
                continue;
            }
            if let Some(prev) = last_seq.insert(id.0, id.1) {
                if prev > id.1 {
                    self.violation(format!("{who}: {name}: producer {} seq {} after seq {prev}: order lost", id.0, id.1));
                }
            }
            if self.gone[q].contains(&id) {
                self.violation(format!("{who}: {name}: {id:?} is back after an earlier restart found it gone"));
                continue;
            }
            let Some(e) = self.queues[q].get(&id).cloned() else {
                self.violation(format!("{who}: {name}: {id:?} was never published"));
                continue;
            };
            found.present += 1;
            if e.ack_durable {
                let when = if clean { "before the clean stop" } else { "before the horizon" };
                self.violation(format!("{who}: {name}: {id:?} is back although its ack was processed {when}"));
            } else if e.ack_sent {
                found.ack_lost_returned += 1;
            }
            if !e.durable {
                found.unconfirmed_present += 1;
            }
            if !clean && !redelivered {
                self.violation(format!("{who}: {name}: {id:?} came back unflagged after a crash"));
            }
            if e.delivered_durable && !redelivered {
                self.violation(format!(
                    "{who}: {name}: {id:?} was delivered before the {}, but came back with redelivered=false",
                    if clean { "clean stop" } else { "horizon" }
                ));
            }
            if e.delivered_ever && !e.delivered_durable && !redelivered {
                found.unflagged_unknown += 1;
            }
            if *redelivered && !e.delivered_ever {
                found.flagged_unseen += 1;
            }
        }
        // Everything the model has that the queue does not.
        let mut vanished = Vec::new();
        for (id, e) in &self.queues[q] {
            if seen.contains(id) {
                continue;
            }
            if e.durable && !e.ack_sent {
                vanished.push(*id);
            } else if e.ack_sent {
                found.ack_lost_absent += 1;
            } else {
                found.unconfirmed_absent += 1;
            }
        }
        vanished.sort_unstable();
        for id in vanished.iter().take(20) {
            let e = &self.queues[q][id];
            self.violation(format!("{who}: {name}: confirmed message {id:?} is lost ({e:?})"));
        }
        if clean && found.flagged_unseen > PREFETCH as usize {
            self.violation(format!(
                "{who}: {name}: {} messages came back flagged redelivered that no client got; at most the \
                 in-run consumer's prefetch ({PREFETCH}) can have been sent and not seen",
                found.flagged_unseen
            ));
        }
        if vanished.len() > 20 {
            self.violation(format!("{who}: {name}: ... and {} more confirmed messages lost", vanished.len() - 20));
        }
        // The next run starts from what is there.
        let entries = std::mem::take(&mut self.queues[q]);
        for (id, mut e) in entries {
            if seen.contains(&id) {
                e.durable = true;
                e.delivered_at = None;
                e.ack_sent = false;
                e.ack_synced_at = None;
                e.ack_durable = false;
                self.queues[q].insert(id, e);
            } else {
                self.gone[q].insert(id);
            }
        }
        found
    }
}

fn queues_of(route: usize) -> impl Iterator<Item = usize> {
    let mask = ROUTES[route].2;
    (0..QUEUES.len()).filter(move |q| mask & (1 << q) != 0)
}

fn lock(m: &Shared) -> std::sync::MutexGuard<'_, Model> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

async fn declare_topology(url: &str) {
    let conn = connect(url).await;
    let ch = channel(&conn).await;
    for q in QUEUES {
        declare_queue(&ch, q, true, FieldTable::default()).await;
    }
    declare_exchange(&ch, "crash-fan", ExchangeKind::Fanout, true).await;
    declare_exchange(&ch, "crash-direct", ExchangeKind::Direct, true).await;
    for (exchange, key, mask) in ROUTES {
        if exchange.is_empty() {
            continue;
        }
        for (q, name) in QUEUES.iter().enumerate() {
            if mask & (1 << q) != 0 {
                bind(&ch, name, exchange, key).await;
            }
        }
    }
    let _ = conn.close(200, s("bye")).await;
}

/// Set when warren has been stopped: clients stop waiting on it.
type Stop = tokio::sync::watch::Receiver<bool>;

/// Runs `f` unless warren is stopped first.
async fn or_stop<F: std::future::Future>(stop: &mut Stop, f: F) -> Option<F::Output> {
    tokio::select! {
        v = f => Some(v),
        _ = stop.wait_for(|s| *s) => None,
    }
}

/// How long after the stop clients keep reading what already reached them
/// (confirms and deliveries lapin has buffered or still reads).
const AFTERMATH: Duration = Duration::from_millis(500);

/// Publishes until warren stops; a second task collects confirms in
/// order, which bounds the outstanding ones to `WINDOW`.
async fn publisher(ch: Channel, producer: u32, mut rng: Rng, model: Shared, mut stop: Stop) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(MsgId, usize, Instant, lapin::PublisherConfirm)>(WINDOW);
    let collector_model = model.clone();
    let mut collector_stop = stop.clone();
    let collector = tokio::spawn(async move {
        let mut deadline: Option<tokio::time::Instant> = None;
        while let Some((id, route, sent_at, confirm)) = rx.recv().await {
            let outcome = match deadline {
                None => {
                    let mut confirm = std::pin::pin!(confirm);
                    match or_stop(&mut collector_stop, &mut confirm).await {
                        Some(r) => Some(r),
                        None => {
                            // Confirms already received resolve at once.
                            let d = *deadline.insert(tokio::time::Instant::now() + AFTERMATH);
                            tokio::time::timeout_at(d, confirm).await.ok()
                        }
                    }
                }
                // Polled at least once even past the deadline.
                Some(d) => tokio::time::timeout_at(d, confirm).await.ok(),
            };
            match outcome {
                Some(Ok(c)) if c.is_ack() => lock(&collector_model).confirmed(id, route, sent_at),
                Some(Ok(_)) => lock(&collector_model).stats.nacked += 1,
                // The connection is gone or warren stopped: unconfirmed.
                Some(Err(_)) | None => {}
            }
        }
    });
    for seq in 0u32.. {
        let id = (producer, seq);
        let route = rng.below(ROUTES.len() as u64) as usize;
        let b = body(id, route, extra_len(&mut rng));
        let (exchange, key, _) = ROUTES[route];
        lock(&model).published(id, route);
        let sent_at = Instant::now();
        let publish = ch.basic_publish(s(exchange), s(key), BasicPublishOptions::default(), &b, persistent());
        let Some(Ok(confirm)) = or_stop(&mut stop, publish).await else { break };
        if or_stop(&mut stop, tx.send((id, route, sent_at, confirm))).await.is_none_or(|r| r.is_err()) {
            break;
        }
    }
    drop(tx);
    let _ = collector.await;
}

/// Consumes queue `q` until warren stops: acks most deliveries, holds
/// some unacked (at most `HOLD`), and after every few acks makes a round
/// trip so it knows they were processed. After the stop it still reads
/// what reaches it for a moment, so every delivery that got to the client
/// is recorded.
async fn consumer(ch: Channel, q: usize, mut rng: Rng, model: Shared, mut stop: Stop) {
    let who = format!("consumer {}", QUEUES[q]);
    if !matches!(or_stop(&mut stop, ch.basic_qos(PREFETCH, BasicQosOptions::default())).await, Some(Ok(()))) {
        return;
    }
    let consume = ch.basic_consume(s(QUEUES[q]), s("in-run"), BasicConsumeOptions::default(), FieldTable::default());
    let Some(Ok(mut deliveries)) = or_stop(&mut stop, consume).await else { return };
    let mut held: VecDeque<(MsgId, lapin::Acker)> = VecDeque::new();
    let mut unsynced: Vec<MsgId> = Vec::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let next = match deadline {
            None => match or_stop(&mut stop, deliveries.next()).await {
                Some(next) => next,
                None => {
                    deadline = Some(tokio::time::Instant::now() + AFTERMATH);
                    continue;
                }
            },
            Some(d) => tokio::time::timeout_at(d, deliveries.next()).await.ok().flatten(),
        };
        let Some(Ok(d)) = next else { break };
        let at = Instant::now();
        let Some(id) = lock(&model).delivered(q, &d.data, d.redelivered, at, &who, true) else { continue };
        if deadline.is_some() {
            continue;
        }
        let to_ack = if rng.chance(0.25) {
            held.push_back((id, d.acker));
            if held.len() > HOLD {
                held.pop_front()
            } else {
                None
            }
        } else {
            Some((id, d.acker))
        };
        if let Some((id, acker)) = to_ack {
            // Recorded before sending: a sent ack may have been processed.
            lock(&model).ack_sent(q, id);
            if !matches!(or_stop(&mut stop, acker.ack(BasicAckOptions::default())).await, Some(Ok(_))) {
                deadline.get_or_insert(tokio::time::Instant::now() + AFTERMATH);
                continue;
            }
            unsynced.push(id);
        }
        if unsynced.len() >= 16 {
            if !matches!(or_stop(&mut stop, ch.basic_qos(PREFETCH, BasicQosOptions::default())).await, Some(Ok(()))) {
                deadline.get_or_insert(tokio::time::Instant::now() + AFTERMATH);
                continue;
            }
            lock(&model).acks_synced(q, &unsynced, Instant::now());
            unsynced.clear();
        }
    }
}

/// After a restart: reads every queue whole (all unacked), checks it
/// against the model, then acks a random part of it and requeues the rest.
async fn verify_all(url: &str, model: &Shared, rng: &mut Rng, clean: bool, cycle: usize) -> Vec<Found> {
    let conn = connect(url).await;
    let mut report = Vec::new();
    for (q, name) in QUEUES.iter().enumerate() {
        let ch = channel(&conn).await;
        let count = message_count(&ch, name).await as usize;
        assert!(count <= u16::MAX as usize, "{name}: backlog of {count} is too large for one prefetch window");
        let got = take(&ch, name, count, false).await;
        assert_eq!(message_count(&ch, name).await, 0, "{name}: messages beyond the {count} counted");
        let who = format!("restart {cycle}");
        let bodies: Vec<(Vec<u8>, bool)> = got.iter().map(|d| (d.data.clone(), d.redelivered)).collect();
        let ids: Vec<_> = {
            let mut m = lock(model);
            report.push(m.verify(q, &bodies, clean, &who));
            // The verifier's own deliveries count for the coming run.
            let now = Instant::now();
            got.iter().map(|d| m.delivered(q, &d.data, d.redelivered, now, "verifier", false)).collect()
        };
        // Settle runs of consecutive deliveries with one multiple ack or
        // one multiple nack-requeue each (acking one by one is slow).
        // Keep about half, at most ~400 per queue, so the next read is short.
        let p_ack = 1.0 - (400.0 / count.max(1) as f64).min(0.5);
        let mut acked = Vec::new();
        let mut i = 0;
        while i < got.len() {
            let end = (i + rng.range(1, 24) as usize).min(got.len());
            let tag = got[end - 1].delivery_tag;
            if rng.chance(p_ack) {
                {
                    let mut m = lock(model);
                    for id in ids[i..end].iter().flatten() {
                        m.ack_sent(q, *id);
                        acked.push(*id);
                    }
                }
                let ack = ch.basic_ack(tag, BasicAckOptions { multiple: true });
                common::within("verifier ack", ack).await.expect("verifier ack");
            } else {
                let nack = ch.basic_nack(tag, BasicNackOptions { multiple: true, requeue: true });
                common::within("verifier nack", nack).await.expect("verifier nack");
            }
            i = end;
        }
        // close-ok comes after the acks are processed.
        common::within("channel.close", ch.close(200, s("done"))).await.expect("channel.close");
        lock(model).acks_synced(q, &acked, Instant::now());
    }
    let _ = conn.close(200, s("bye")).await;
    report
}

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_messages_survive_random_kills_exactly_once() {
    let cycles = env_number("WARREN_CRASH_CYCLES").map_or(DEFAULT_CYCLES, |n| n as usize);
    let seed = env_number("WARREN_CRASH_SEED")
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("durability_crash: {cycles} cycles, seed {seed} (rerun with WARREN_CRASH_SEED={seed})");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let outcome = run(&data, cycles, seed).await;
    if let Err(report) = outcome {
        let kept = tmp.keep();
        panic!("seed {seed}: {report}\n(data directory kept in {})", kept.display());
    }
}

async fn run(data: &Path, cycles: usize, seed: u64) -> Result<(), String> {
    let started = Instant::now();
    let mut rng = Rng(seed);
    let model: Shared = Arc::default();
    let mut broker = Broker::start_on(data, WARREN_ARGS);
    declare_topology(&broker.url).await;
    let mut clean = false;
    let mut totals = (0u64, 0u64, 0usize, 0usize);
    for cycle in 1..=cycles + 1 {
        if cycle > 1 {
            let t0 = Instant::now();
            broker = Broker::start_on(data, WARREN_ARGS);
            let t1 = Instant::now();
            let report = verify_all(&broker.url, &model, &mut rng, clean, cycle - 1).await;
            let timing = format!("restart {}ms, verify {}ms", (t1 - t0).as_millis(), t1.elapsed().as_millis());
            let m = lock(&model);
            let sum = |f: fn(&Found) -> usize| report.iter().map(f).sum::<usize>();
            eprintln!(
                "cycle {:>3} {}: published {} confirmed {} nacked {} | after restart: {} messages in queues [{}], \
                 unconfirmed present {} absent {}, ack lost: back {} gone {}, delivered after horizon came back unflagged {}, \
                 flagged but unseen {} | {timing}",
                cycle - 1,
                if clean { "clean stop" } else { "SIGKILL   " },
                m.stats.published,
                m.stats.confirmed,
                m.stats.nacked,
                sum(|f| f.present),
                report.iter().map(|f| f.present.to_string()).collect::<Vec<_>>().join(", "),
                sum(|f| f.unconfirmed_present),
                sum(|f| f.unconfirmed_absent),
                sum(|f| f.ack_lost_returned),
                sum(|f| f.ack_lost_absent),
                sum(|f| f.unflagged_unknown),
                sum(|f| f.flagged_unseen),
            );
            totals.2 += sum(|f| f.ack_lost_returned);
            totals.3 += sum(|f| f.unflagged_unknown);
            if !m.violations.is_empty() {
                let shown: Vec<&String> = m.violations.iter().take(30).collect();
                return Err(format!(
                    "cycle {}: {} violations (first {}):\n  {}\nwarren stderr:\n{}",
                    cycle - 1,
                    m.violations.len(),
                    shown.len(),
                    shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
                    broker.stderr()
                ));
            }
        }
        if cycle == cycles + 1 {
            break;
        }
        lock(&model).stats = Stats::default();

        // One run: publishers and consumers, then a kill at a random moment.
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for p in 0..PUBLISHERS {
            let conn = connect(&broker.url).await;
            let ch = confirm_channel(&conn).await;
            let producer = (cycle as u32) * 16 + p;
            let (r, m, stop) = (rng.fork(producer as u64), model.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                publisher(ch, producer, r, m, stop).await;
                drop(conn);
            }));
        }
        for q in 0..QUEUES.len() {
            let conn = connect(&broker.url).await;
            let ch = channel(&conn).await;
            let (r, m, stop) = (rng.fork(1000 + q as u64), model.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                consumer(ch, q, r, m, stop).await;
                drop(conn);
            }));
        }
        clean = cycle % CLEAN_EVERY == 0;
        tokio::time::sleep(Duration::from_millis(rng.range(100, 1100))).await;
        if clean {
            let status = broker.terminate(Duration::from_secs(30));
            if !status.success() {
                return Err(format!("cycle {cycle}: clean stop failed: {status:?}\n{}", broker.stderr()));
            }
        } else {
            broker.kill();
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(10), t).await.is_err() {
                abort.abort();
                lock(&model).violation(format!("cycle {cycle}: a client task hung after warren stopped"));
            }
        }
        let mut m = lock(&model);
        totals.0 += m.stats.published;
        totals.1 += m.stats.confirmed;
        m.end_run(clean);
    }

    // Finally: everything acked, a clean restart, and nothing comes back.
    let conn = connect(&broker.url).await;
    let ch = channel(&conn).await;
    for q in QUEUES {
        drain(&ch, q).await;
    }
    within_ok(ch.basic_qos(1, BasicQosOptions::default())).await;
    let _ = conn.close(200, s("bye")).await;
    if !broker.terminate(Duration::from_secs(30)).success() {
        return Err(format!("final clean stop failed:\n{}", broker.stderr()));
    }
    let broker = Broker::start_on(data, WARREN_ARGS);
    let conn = connect(&broker.url).await;
    let ch = channel(&conn).await;
    for q in QUEUES {
        let n = message_count(&ch, q).await;
        if n != 0 {
            return Err(format!("{q}: {n} messages came back after everything was acked and warren stopped cleanly"));
        }
    }
    let segments = segment_files(data);
    eprintln!(
        "durability_crash: {cycles} cycles in {:.1}s: {} published, {} confirmed; acks lost with a crash and \
         messages back: {}; deliveries after the horizon back unflagged: {}; {} segment file(s) left",
        started.elapsed().as_secs_f64(),
        totals.0,
        totals.1,
        totals.2,
        totals.3,
        segments.len()
    );
    Ok(())
}

async fn within_ok<T, E: std::fmt::Debug>(f: impl std::future::Future<Output = Result<T, E>>) -> T {
    common::within("round trip", f).await.expect("round trip")
}
