//! What one load run is (the PerfTest-like options), how it maps onto
//! queues, exchanges and routing keys, and what it reports. Shared by both
//! clients (the lean raw client and lapin) so they run the same topology and
//! are judged by the same figures.

use std::time::Duration;

/// Exchange type the producers publish through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeType {
    Direct,
    Fanout,
    Topic,
}

impl ExchangeType {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "direct" => Ok(ExchangeType::Direct),
            "fanout" => Ok(ExchangeType::Fanout),
            "topic" => Ok(ExchangeType::Topic),
            other => Err(format!("unknown exchange type {other:?} (direct, fanout, topic)")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeType::Direct => "direct",
            ExchangeType::Fanout => "fanout",
            ExchangeType::Topic => "topic",
        }
    }
}

/// One load run, as PerfTest's options describe it.
#[derive(Debug, Clone)]
pub struct Load {
    pub producers: usize,
    pub consumers: usize,
    /// Body size in octets (at least 16: timestamp, producer id, sequence).
    pub size: usize,
    /// Measured time, after the warm-up.
    pub duration: Duration,
    /// Run before measuring; excluded from every figure.
    pub warmup: Duration,
    /// Publisher confirms with at most this many unconfirmed publishes per
    /// producer (None: no confirms).
    pub confirm: Option<u32>,
    /// delivery_mode 2 and durable queues and exchange.
    pub persistent: bool,
    /// basic.consume with no-ack; otherwise manual acks with `multiple`.
    pub auto_ack: bool,
    /// Manual acks go out at least every this many deliveries (and at the
    /// end of every read from the socket).
    pub ack_every: u32,
    /// basic.qos prefetch count (0: unlimited), manual-ack consumers only.
    pub prefetch: u16,
    pub exchange: ExchangeType,
    pub queues: usize,
    /// Messages per second per producer (None: as fast as possible).
    pub rate: Option<f64>,
    /// Stop each producer after this many messages instead of after the
    /// duration (then the whole run is measured, with no warm-up).
    pub count: Option<u64>,
    /// After publishing stops, how long to wait for confirms and deliveries.
    pub drain_timeout: Duration,
}

impl Default for Load {
    fn default() -> Self {
        Load {
            producers: 1,
            consumers: 1,
            size: 16,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            confirm: None,
            persistent: false,
            auto_ack: true,
            ack_every: 100,
            prefetch: 0,
            exchange: ExchangeType::Direct,
            queues: 1,
            rate: None,
            count: None,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Where everything of one run lives: names unique to the run so every run
/// starts on fresh queues.
#[derive(Debug, Clone)]
pub struct Topology {
    pub exchange: String,
    pub queues: Vec<String>,
}

impl Topology {
    pub fn new(run_id: &str, load: &Load) -> Topology {
        Topology { exchange: format!("wb-{run_id}-x"), queues: (0..load.queues.max(1)).map(|i| format!("wb-{run_id}-q{i}")).collect() }
    }

    /// The binding key of queue `q`.
    pub fn binding_key(&self, kind: ExchangeType, q: usize) -> String {
        match kind {
            ExchangeType::Direct => format!("q{q}"),
            ExchangeType::Fanout => String::new(),
            ExchangeType::Topic => format!("wb.q{q}.#"),
        }
    }

    /// The routing key producer `p` publishes with.
    pub fn routing_key(&self, kind: ExchangeType, p: usize) -> String {
        let q = p % self.queues.len();
        match kind {
            ExchangeType::Direct => format!("q{q}"),
            ExchangeType::Fanout => String::new(),
            ExchangeType::Topic => format!("wb.q{q}.m"),
        }
    }

    /// The queues a message of producer `p` reaches.
    pub fn queues_of(&self, kind: ExchangeType, p: usize) -> Vec<usize> {
        match kind {
            ExchangeType::Fanout => (0..self.queues.len()).collect(),
            _ => vec![p % self.queues.len()],
        }
    }

    /// The queue consumer `c` reads.
    pub fn queue_of_consumer(&self, c: usize) -> usize {
        c % self.queues.len()
    }
}

/// A fresh id for a run's names.
pub fn run_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("{}-{}-{}", std::process::id(), t % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p75: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// What a run measured. Rates and CPU cover the measured window only.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub client: &'static str,
    /// Length of the measured window in seconds.
    pub secs: f64,
    /// Counts within the window.
    pub published: u64,
    pub confirmed: u64,
    pub consumed: u64,
    /// Whole-run counts (warm-up and drain included).
    pub total_published: u64,
    pub total_confirmed: u64,
    pub total_nacked: u64,
    pub total_consumed: u64,
    pub returned: u64,
    pub redelivered: u64,
    /// Sequence numbers never delivered although a later one of the same
    /// producer was, on the same queue (after the drain).
    pub missing: u64,
    /// Published but not delivered when the drain timed out (a backlog the
    /// consumers did not catch up with, not evidence of loss).
    pub undrained: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Bodies whose producer id or size made no sense.
    pub malformed: u64,
    pub blocked: u64,
    pub latency: Option<Latency>,
    /// Generator CPU seconds (user + sys) within the window.
    pub gen_cpu: f64,
    /// Broker CPU seconds within the window, when its pid is known.
    pub broker_cpu: Option<f64>,
    /// Octets the broker wrote to storage within the window.
    pub broker_disk: Option<u64>,
    pub drained: bool,
}

impl RunResult {
    pub fn publish_rate(&self) -> f64 {
        per_sec(self.published, self.secs)
    }
    pub fn confirm_rate(&self) -> f64 {
        per_sec(self.confirmed, self.secs)
    }
    pub fn consume_rate(&self) -> f64 {
        per_sec(self.consumed, self.secs)
    }
    /// Messages consumed (or, with no consumers, confirmed) per broker CPU-second.
    pub fn efficiency(&self) -> Option<f64> {
        let work = if self.consumed > 0 { self.consumed } else { self.confirmed };
        self.broker_cpu.filter(|c| *c > 0.0).map(|c| work as f64 / c)
    }
    pub fn errors(&self) -> u64 {
        self.missing + self.duplicates + self.out_of_order + self.malformed + self.total_nacked
    }
}

fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}
