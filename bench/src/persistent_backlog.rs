//! The `persistent-backlog` scenario, shaped like LavinMQ's benchmark with
//! its lean generator: on a fresh broker, one raw-client publisher sends
//! 16 B persistent messages (delivery_mode 2) with confirms (window 1000)
//! to a durable queue with no consumer for the run's duration; then the
//! broker is stopped cleanly and started again on the same directories and
//! ports, then killed with SIGKILL and started again, each time timing how
//! long until a passive `queue.declare` counts every confirmed message;
//! then one manual-ack consumer drains the queue. Finally the broker is
//! stopped.
//!
//! Figures: confirmed msg/s while publishing; peak broker RSS growth per
//! queued message; octets the broker wrote to storage per confirmed
//! message (`write_bytes` of `/proc/<pid>/io` over the publish phase);
//! recovery seconds after each restart; drain msg/s (messages over the
//! time from basic.consume to the last delivery). A message count lower
//! than the confirmed one after a restart, or a confirmed message the
//! drain does not deliver, is loss and is printed in capitals.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_core::amqp::method::*;
use broker_core::amqp::Method;

use crate::brokers::Broker;
use crate::load::{self, ExchangeType, Load, Topology};
use crate::procfs::{self, now_ns};
use crate::raw::{self, DeliveryReader};
use crate::report::{int, num};
use crate::scenarios::Measurement;
use crate::setup;
use crate::track::Tracker;
use crate::wire::{Credentials, SyncConn};

/// Pause before memory is read, so the broker settles (GC, allocator).
const SETTLE: Duration = Duration::from_secs(2);
/// How often recovery is polled with a passive queue.declare.
const POLL: Duration = Duration::from_millis(20);
/// Once the broker answers, how long a count below the confirmed one may
/// take to catch up before it is called loss.
const GRACE: Duration = Duration::from_secs(5);
/// Longest wait for a restarted broker to recover the queue.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(300);
/// The drain consumer's prefetch and ack batch.
const PREFETCH: u16 = 1000;
const ACK_EVERY: u32 = 100;

/// How a restart went.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Spawn to the first passive declare counting every confirmed message
    /// (None: it never did).
    pub secs: Option<f64>,
    /// The last message count the broker reported.
    pub count: Option<u64>,
    /// The highest broker RSS seen from spawn until then (sampled at each
    /// poll): what rebuilding the backlog costs at its peak.
    pub rss_peak: Option<u64>,
}

/// What the drain consumer saw.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    pub delivered: u64,
    /// basic.consume to the last delivery.
    pub secs: f64,
    /// Confirmed messages not delivered (gaps, and the tail never reached).
    pub missing: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub malformed: u64,
    pub redelivered: u64,
}

impl Drain {
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.delivered as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// The figures of one run; steps not reached are None.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub confirmed: u64,
    pub publish_secs: f64,
    pub confirm_rate: f64,
    pub rss_before: Option<u64>,
    /// Highest RSS seen while publishing and after the settle.
    pub rss_peak: Option<u64>,
    pub rss_settled: Option<u64>,
    /// Octets written to storage over the publish phase.
    pub written: Option<u64>,
    pub clean: Option<Recovery>,
    pub killed: Option<Recovery>,
    pub drain: Option<Drain>,
}

impl Figures {
    pub fn rss_per_msg(&self) -> Option<f64> {
        let (b, p) = (self.rss_before?, self.rss_peak?);
        (self.confirmed > 0).then(|| (p as f64 - b as f64) / self.confirmed as f64)
    }

    /// Peak RSS while recovering after SIGKILL, per confirmed message.
    pub fn recovery_rss_per_msg(&self) -> Option<f64> {
        let peak = self.killed.as_ref()?.rss_peak?;
        (self.confirmed > 0).then(|| peak as f64 / self.confirmed as f64)
    }

    pub fn written_per_msg(&self) -> Option<f64> {
        self.written.filter(|_| self.confirmed > 0).map(|w| w as f64 / self.confirmed as f64)
    }

    fn lost_at(&self, r: Option<&Recovery>) -> u64 {
        r.map_or(0, |r| self.confirmed.saturating_sub(r.count.unwrap_or(0)))
    }

    /// Confirmed messages missing at the worst step.
    pub fn lost(&self) -> u64 {
        let drained = self.drain.as_ref().map_or(0, |d| d.missing);
        self.lost_at(self.clean.as_ref()).max(self.lost_at(self.killed.as_ref())).max(drained)
    }

    /// Loss, duplication, reordering or garbage.
    pub fn errors(&self) -> u64 {
        self.lost() + self.drain.as_ref().map_or(0, |d| d.duplicates + d.out_of_order + d.malformed)
    }

    pub fn line(&self) -> String {
        let mut parts = vec![format!("conf {}/s ({} in {:.1} s)", int(self.confirm_rate), int(self.confirmed as f64), self.publish_secs)];
        if let (Some(b), Some(p), Some(per)) = (self.rss_before, self.rss_peak, self.rss_per_msg()) {
            let settled = self.rss_settled.map(|s| format!(", settled {:.1}", s as f64 / 1048576.0)).unwrap_or_default();
            parts.push(format!("RSS {:.1} -> {:.1} MiB peak{settled}: {} B/msg", b as f64 / 1048576.0, p as f64 / 1048576.0, num(per)));
        }
        if let Some(w) = self.written_per_msg() {
            parts.push(format!("written {} B/msg", num(w)));
        }
        for (what, r) in [("clean", &self.clean), ("kill -9", &self.killed)] {
            let Some(r) = r else { continue };
            let count = r.count.map(|c| int(c as f64)).unwrap_or_else(|| "no answer".into());
            let peak = r.rss_peak.map(|p| format!(", peak RSS {:.1} MiB", p as f64 / 1048576.0)).unwrap_or_default();
            match r.secs {
                Some(s) => parts.push(format!("recovery {what} {s:.2} s ({count}{peak})")),
                None => parts.push(format!("recovery {what} NEVER COMPLETE ({count} of {})", int(self.confirmed as f64))),
            }
            let lost = self.lost_at(Some(r));
            if lost > 0 {
                parts.push(format!("LOST {} AFTER {} RESTART", int(lost as f64), what.to_uppercase()));
            }
        }
        if let Some(d) = &self.drain {
            parts.push(format!("drain {}/s ({} in {:.2} s)", int(d.rate()), int(d.delivered as f64), d.secs));
            for (n, what) in
                [(d.missing, "MISSING"), (d.duplicates, "DUPLICATES"), (d.out_of_order, "OUT-OF-ORDER"), (d.malformed, "MALFORMED")]
            {
                if n > 0 {
                    parts.push(format!("{what} {n}"));
                }
            }
            if d.redelivered > 0 {
                parts.push(format!("redelivered {}", d.redelivered));
            }
        }
        if self.errors() == 0 && self.drain.is_some() {
            parts.push("ok".into());
        }
        parts.join("  ")
    }
}

/// Runs the scenario on `broker` (which it restarts twice and stops).
pub fn run(broker: &mut Broker, creds: &Credentials, duration: Duration) -> Measurement {
    let mut f = Figures::default();
    let r = measure(broker, creds, duration, &mut f);
    broker.stop();
    Measurement { persistent: Some(f), error: r.err(), ..Default::default() }
}

fn measure(broker: &mut Broker, creds: &Credentials, duration: Duration, f: &mut Figures) -> Result<(), String> {
    let load = Load {
        producers: 1,
        consumers: 0,
        size: 16,
        confirm: Some(1000),
        persistent: true,
        duration,
        warmup: Duration::ZERO,
        drain_timeout: Duration::from_secs(60),
        ..Load::default()
    };
    let topo = Topology::new(&load::run_id(), &load);
    let mut conn = SyncConn::open(broker.addr, creds, "warren-bench setup").map_err(|e| format!("setup connection: {e}"))?;
    setup::declare(&mut conn, &load, &topo).map_err(|e| format!("declare: {e}"))?;
    conn.close();

    // 1. Publish with confirms, no consumer.
    let pid = broker.pid;
    std::thread::sleep(SETTLE);
    f.rss_before = procfs::rss_bytes(pid);
    let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(procfs::rss_bytes(pid).unwrap_or(0), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let disk0 = procfs::disk_write_bytes(pid);
    let published = raw::run_declared(broker.addr, creds, &load, &topo, Some(pid));
    let disk1 = procfs::disk_write_bytes(pid);
    if published.is_ok() {
        std::thread::sleep(SETTLE);
    }
    f.rss_settled = procfs::rss_bytes(pid);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let run = published?;
    f.rss_peak = f.rss_settled.map(|s| s.max(peak.load(Ordering::Relaxed)));
    f.confirmed = run.total_confirmed;
    f.publish_secs = run.secs;
    f.confirm_rate = run.confirm_rate();
    f.written = disk1.zip(disk0).map(|(b, a)| b.saturating_sub(a));
    if run.total_nacked > 0 || run.total_confirmed != run.total_published {
        return Err(format!("{} of {} publishes confirmed, {} nacked", run.total_confirmed, run.total_published, run.total_nacked));
    }

    // 2 and 3. Restart cleanly, then after SIGKILL.
    let queue = &topo.queues[0];
    for clean in [true, false] {
        let spawned = broker.restart(clean)?;
        let r = recover(broker, creds, queue, f.confirmed, spawned);
        let done = r.as_ref().map(|r| r.count.is_some()).unwrap_or(false);
        match r {
            Ok(r) if clean => f.clean = Some(r),
            Ok(r) => f.killed = Some(r),
            Err(e) => return Err(format!("{} restart: {e}", if clean { "clean" } else { "kill -9" })),
        }
        if !done {
            return Err("the restarted broker never answered a passive queue.declare".into());
        }
        broker.await_ready()?;
    }

    // 4. Drain.
    let expected = f.confirmed.max(f.killed.as_ref().and_then(|r| r.count).unwrap_or(0));
    f.drain = Some(drain(broker.addr, creds, &topo, expected, f.confirmed)?);
    Ok(())
}

/// Polls a passive queue.declare of `queue` every [`POLL`] until it counts
/// `expected` messages (refused connections and errors mean not yet).
fn recover(broker: &mut Broker, creds: &Credentials, queue: &str, expected: u64, spawned: Instant) -> Result<Recovery, String> {
    let mut conn: Option<SyncConn> = None;
    let mut first_answer = None;
    let mut r = Recovery::default();
    loop {
        // The whole process tree: until it is ready, RabbitMQ's pid is its
        // start script, with beam.smp below it.
        let tree = std::iter::once(broker.pid).chain(procfs::descendants(broker.pid));
        let rss: u64 = tree.filter_map(procfs::rss_bytes).sum();
        if rss > 0 {
            r.rss_peak = Some(r.rss_peak.unwrap_or(0).max(rss));
        }
        if conn.is_none() {
            conn = SyncConn::open(broker.addr, creds, "warren-bench recovery probe").ok();
        }
        if let Some(c) = conn.as_mut() {
            match c.rpc(QueueDeclare { queue: queue.into(), passive: true, durable: true, ..Default::default() }) {
                Ok(Method::QueueDeclareOk(ok)) => {
                    let at = spawned.elapsed().as_secs_f64();
                    r.count = Some(ok.message_count as u64);
                    first_answer.get_or_insert_with(Instant::now);
                    if ok.message_count as u64 >= expected {
                        r.secs = Some(at);
                        break;
                    }
                }
                // Not ready (or the queue not there yet): a fresh connection next time.
                _ => conn = None,
            }
        }
        if first_answer.is_some_and(|t: Instant| t.elapsed() > GRACE) || spawned.elapsed() > RECOVERY_TIMEOUT {
            break;
        }
        if !broker.alive() {
            return Err("the broker exited while recovering".into());
        }
        std::thread::sleep(POLL);
    }
    if let Some(c) = conn {
        c.close();
    }
    Ok(r)
}

/// One manual-ack consumer (prefetch [`PREFETCH`], a `multiple` ack every
/// [`ACK_EVERY`] deliveries and after every read) reads `expected`
/// messages; the raw client's frame walker and loss checks.
fn drain(addr: SocketAddr, creds: &Credentials, topo: &Topology, expected: u64, confirmed: u64) -> Result<Drain, String> {
    let mut conn = SyncConn::open(addr, creds, "warren-bench drain").map_err(|e| format!("drain connection: {e}"))?;
    conn.rpc(BasicQos { prefetch_count: PREFETCH, ..Default::default() }).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let reply = conn
        .rpc(BasicConsume { queue: topo.queues[0].as_str().into(), consumer_tag: "drain".into(), ..Default::default() })
        .map_err(|e| e.to_string())?;
    if !matches!(reply, Method::BasicConsumeOk(_)) {
        return Err(format!("drain: expected basic.consume-ok, got {}", reply.name()));
    }
    conn.stream.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    let deadline = t0 + Duration::from_secs(60) + Duration::from_secs_f64(expected as f64 / 10_000.0);
    let mut buf = vec![0u8; 512 * 1024];
    let leftover = std::mem::take(&mut conn.buf);
    buf[..leftover.len()].copy_from_slice(&leftover);
    let (mut start, mut end) = (0, leftover.len());
    let mut reader = DeliveryReader::new(0, 0, false, ACK_EVERY);
    let mut tracker = Tracker::new(topo, ExchangeType::Direct, 1, 1);
    let mut acks = Vec::with_capacity(4096);
    let mut last = t0;
    loop {
        let before = tracker.delivered;
        start += reader.feed(&buf[start..end], &mut tracker, now_ns(), &mut acks)?;
        reader.ack(&mut acks);
        if !acks.is_empty() {
            conn.stream.write_all(&acks).map_err(|e| format!("drain ack: {e}"))?;
            acks.clear();
        }
        if tracker.delivered > before {
            last = Instant::now();
        }
        if tracker.delivered >= expected || Instant::now() > deadline {
            break;
        }
        if start == end {
            (start, end) = (0, 0);
        } else if buf.len() - end < 64 * 1024 {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        match conn.stream.read(&mut buf[end..]) {
            Ok(0) => return Err("drain: broker closed the connection".into()),
            Ok(n) => end += n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(format!("drain read: {e}")),
        }
    }
    let (gaps, tail) = tracker.verdict(&[confirmed]);
    conn.close();
    Ok(Drain {
        delivered: tracker.delivered,
        secs: last.duration_since(t0).as_secs_f64(),
        missing: gaps + tail,
        duplicates: tracker.duplicates,
        out_of_order: tracker.out_of_order,
        malformed: tracker.malformed,
        redelivered: reader.redelivered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_count_after_a_restart_is_loss() {
        let recovered = |count| Some(Recovery { secs: Some(1.0), count: Some(count), rss_peak: None });
        let mut f = Figures { confirmed: 100, clean: recovered(100), killed: recovered(100), ..Default::default() };
        f.drain = Some(Drain { delivered: 100, secs: 0.5, ..Default::default() });
        assert_eq!((f.lost(), f.errors()), (0, 0));
        assert!(f.line().ends_with("ok"), "{}", f.line());
        f.killed = Some(Recovery { secs: None, count: Some(90), rss_peak: None });
        f.drain = Some(Drain { delivered: 90, secs: 0.5, missing: 10, ..Default::default() });
        assert_eq!((f.lost(), f.errors()), (10, 10));
        assert!(f.line().contains("LOST 10 AFTER KILL -9 RESTART"), "{}", f.line());
        assert!(!f.line().ends_with("ok"));
    }
}
