//! The named scenarios of the comparison, and how each one is run against
//! one broker and turned into a [`Measurement`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::load::{ExchangeType, Load, RunResult};
use crate::procfs;
use crate::wire::{Credentials, SyncConn};
use crate::{lapin_client, persistent_backlog, raw};

/// Connections opened by the `connections` scenario.
pub const CONNECTIONS: usize = 1000;
/// Messages queued by the `backlog` scenario.
pub const BACKLOG: u64 = 1_000_000;
/// Pause before memory is read, so the broker settles (GC, allocator).
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub enum Kind {
    /// A load run; the figures are its rates, latency and CPU.
    Load(Load),
    /// RSS per idle connection with `n` connections, each with a channel.
    Connections(usize),
    /// RSS with `n` 16 B messages queued and no consumer.
    Backlog(u64),
    /// Persistent messages published with confirms for this long, then
    /// recovery after a clean stop and after SIGKILL, then a drain
    /// ([`persistent_backlog`]; needs a broker the harness started).
    PersistentBacklog(Duration),
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub kind: Kind,
}

impl Scenario {
    /// Whether the scenario wants a freshly started broker for every run
    /// (memory figures would otherwise inherit earlier runs' heap).
    pub fn fresh_broker(&self) -> bool {
        !matches!(self.kind, Kind::Load(_))
    }
}

pub const NAMES: &[&str] = &["transient", "confirm", "fanout", "many", "latency", "connections", "backlog", "persistent-backlog"];

/// The scenarios, with `duration` and `warmup` for the timed ones.
pub fn all(duration: Duration, warmup: Duration) -> Vec<Scenario> {
    let base = Load { duration, warmup, ..Load::default() };
    vec![
        Scenario {
            name: "transient",
            about: "1 producer, 1 consumer, 16 B, auto-ack, as fast as possible",
            kind: Kind::Load(Load { ..base.clone() }),
        },
        Scenario {
            name: "confirm",
            about: "1x1, 16 B, persistent (durable queue, delivery_mode 2), confirm window 1000, manual ack",
            kind: Kind::Load(Load { confirm: Some(1000), persistent: true, auto_ack: false, ..base.clone() }),
        },
        Scenario {
            name: "fanout",
            about: "1 producer -> fanout exchange -> 4 queues, 4 consumers, 64 B, auto-ack",
            kind: Kind::Load(Load { consumers: 4, queues: 4, size: 64, exchange: ExchangeType::Fanout, ..base.clone() }),
        },
        Scenario {
            name: "many",
            about: "4 producers x 4 consumers on 4 queues, 1 KB, manual ack, prefetch 100",
            kind: Kind::Load(Load {
                producers: 4,
                consumers: 4,
                queues: 4,
                size: 1024,
                auto_ack: false,
                prefetch: 100,
                ack_every: 50,
                ..base.clone()
            }),
        },
        Scenario {
            name: "latency",
            about: "1x1, 16 B, auto-ack, fixed 10,000 msg/s: latency percentiles",
            kind: Kind::Load(Load { rate: Some(10_000.0), ..base.clone() }),
        },
        Scenario {
            name: "connections",
            about: "broker RSS per idle connection, 1,000 connections with a channel each",
            kind: Kind::Connections(CONNECTIONS),
        },
        Scenario {
            name: "backlog",
            about: "broker RSS with 1,000,000 queued 16 B messages, no consumer (published with confirms)",
            kind: Kind::Backlog(BACKLOG),
        },
        Scenario {
            name: "persistent-backlog",
            about: "16 B persistent messages with confirms (window 1000) to a durable queue, no consumer; \
                    recovery after a clean stop and after kill -9; then a manual-ack drain",
            kind: Kind::PersistentBacklog(duration),
        },
    ]
}

/// The lapin cross-check load: a rate lapin sustains easily.
pub fn crosscheck_load(duration: Duration, warmup: Duration) -> Load {
    Load { rate: Some(5000.0), confirm: Some(100), auto_ack: false, prefetch: 100, ack_every: 50, duration, warmup, ..Load::default() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Raw,
    Lapin,
}

/// What one run of a scenario against one broker gave.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    pub run: Option<RunResult>,
    pub rss_before: Option<u64>,
    pub rss_after: Option<u64>,
    /// Connections or messages the RSS difference is divided by.
    pub units: u64,
    /// Connections opened per second (connections scenario).
    pub open_rate: Option<f64>,
    /// The persistent-backlog scenario's figures.
    pub persistent: Option<persistent_backlog::Figures>,
    pub error: Option<String>,
}

impl Measurement {
    /// Broker RSS growth per unit, in bytes.
    pub fn rss_per_unit(&self) -> Option<f64> {
        let (b, a) = (self.rss_before?, self.rss_after?);
        (self.units > 0).then(|| (a as f64 - b as f64) / self.units as f64)
    }

    /// Loss, duplication or reordering the run saw.
    pub fn errors(&self) -> u64 {
        self.run.as_ref().map_or(0, |r| r.errors()) + self.persistent.as_ref().map_or(0, |p| p.errors())
    }
}

pub fn run_load(client: Client, addr: SocketAddr, creds: &Credentials, load: &Load, pid: Option<u32>) -> Result<RunResult, String> {
    match client {
        Client::Raw => raw::run(addr, creds, load, pid, &mut |_| {}),
        Client::Lapin => lapin_client::run(addr, creds, load, pid),
    }
}

pub fn run(s: &Scenario, client: Client, addr: SocketAddr, creds: &Credentials, pid: Option<u32>) -> Measurement {
    let r = match &s.kind {
        Kind::Load(load) => run_load(client, addr, creds, load, pid).map(|run| Measurement { run: Some(run), ..Default::default() }),
        Kind::Connections(n) => connections(addr, creds, pid, *n),
        Kind::Backlog(n) => backlog(addr, creds, pid, *n),
        Kind::PersistentBacklog(_) => Err("persistent-backlog restarts the broker: run it with `warren-bench compare`".into()),
    };
    r.unwrap_or_else(|e| Measurement { error: Some(e), ..Default::default() })
}

fn rss(pid: Option<u32>) -> Option<u64> {
    pid.and_then(procfs::rss_bytes)
}

fn connections(addr: SocketAddr, creds: &Credentials, pid: Option<u32>, n: usize) -> Result<Measurement, String> {
    std::thread::sleep(SETTLE);
    let before = rss(pid);
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        conns.push(SyncConn::open(addr, creds, &format!("warren-bench idle {i}")).map_err(|e| format!("connection {i}: {e}"))?);
    }
    let open_rate = n as f64 / t0.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    let after = rss(pid);
    drop(conns);
    std::thread::sleep(Duration::from_secs(1));
    Ok(Measurement { rss_before: before, rss_after: after, units: n as u64, open_rate: Some(open_rate), ..Default::default() })
}

fn backlog(addr: SocketAddr, creds: &Credentials, pid: Option<u32>, n: u64) -> Result<Measurement, String> {
    let load = Load {
        producers: 1,
        consumers: 0,
        size: 16,
        confirm: Some(1000),
        count: Some(n),
        warmup: Duration::ZERO,
        drain_timeout: Duration::from_secs(60),
        ..Load::default()
    };
    std::thread::sleep(SETTLE);
    let before = rss(pid);
    let mut after = None;
    let run = raw::run(addr, creds, &load, pid, &mut |_| {
        std::thread::sleep(SETTLE);
        after = rss(pid);
    })?;
    if run.total_confirmed != n {
        return Err(format!("only {} of {n} publishes were confirmed ({} nacked)", run.total_confirmed, run.total_nacked));
    }
    Ok(Measurement { run: Some(run), rss_before: before, rss_after: after, units: n, ..Default::default() })
}
