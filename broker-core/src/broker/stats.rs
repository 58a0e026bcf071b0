//! Message counters and rates, kept by the core so the gateway's HTTP API,
//! its Prometheus metrics and the browser playground all show the same
//! numbers. Counting is a few integer additions on the hot path; rates are
//! computed from samples taken once a second (by the core's own timer).

use std::collections::VecDeque;

/// Monotonic message counters (RabbitMQ's `message_stats` names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounters {
    /// Messages received from publishers.
    pub publish: u64,
    /// Publisher confirms (acks) sent.
    pub confirm: u64,
    /// Unroutable mandatory messages returned.
    pub return_unroutable: u64,
    /// Unroutable messages dropped.
    pub drop_unroutable: u64,
    /// Consumer deliveries needing an ack.
    pub deliver: u64,
    /// Consumer deliveries in no-ack mode.
    pub deliver_no_ack: u64,
    /// basic.get answered with a message (needing an ack).
    pub get: u64,
    pub get_no_ack: u64,
    pub get_empty: u64,
    /// Deliveries (consumer or get) with the redelivered flag.
    pub redeliver: u64,
    /// Acknowledgements received.
    pub ack: u64,
    /// Messages routed onward: to at least one queue (global), or out of an
    /// exchange (RabbitMQ's `publish_out`).
    pub routed: u64,
}

impl MessageCounters {
    /// deliver + deliver_no_ack + get + get_no_ack, RabbitMQ's `deliver_get`.
    pub fn deliver_get(&self) -> u64 {
        self.deliver + self.deliver_no_ack + self.get + self.get_no_ack
    }

    fn fields(&self) -> [u64; 12] {
        [
            self.publish,
            self.confirm,
            self.return_unroutable,
            self.drop_unroutable,
            self.deliver,
            self.deliver_no_ack,
            self.get,
            self.get_no_ack,
            self.get_empty,
            self.redeliver,
            self.ack,
            self.routed,
        ]
    }

    /// Per-second rates between an earlier sample and this one.
    pub fn rates_since(&self, earlier: &MessageCounters, elapsed_ms: u64) -> MessageRates {
        let secs = (elapsed_ms.max(1)) as f64 / 1000.0;
        let now = self.fields();
        let then = earlier.fields();
        let r = |i: usize| now[i].saturating_sub(then[i]) as f64 / secs;
        MessageRates {
            publish: r(0),
            confirm: r(1),
            return_unroutable: r(2),
            drop_unroutable: r(3),
            deliver: r(4),
            deliver_no_ack: r(5),
            get: r(6),
            get_no_ack: r(7),
            get_empty: r(8),
            redeliver: r(9),
            ack: r(10),
            routed: r(11),
        }
    }
}

/// Messages per second, field by field as [`MessageCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MessageRates {
    pub publish: f64,
    pub confirm: f64,
    pub return_unroutable: f64,
    pub drop_unroutable: f64,
    pub deliver: f64,
    pub deliver_no_ack: f64,
    pub get: f64,
    pub get_no_ack: f64,
    pub get_empty: f64,
    pub redeliver: f64,
    pub ack: f64,
    pub routed: f64,
}

impl MessageRates {
    pub fn deliver_get(&self) -> f64 {
        self.deliver + self.deliver_no_ack + self.get + self.get_no_ack
    }
}

/// How often the core samples its counters.
pub const SAMPLE_INTERVAL_MS: u64 = 1000;
/// Samples kept: two minutes of history for charts.
const SAMPLES_KEPT: usize = 120;
/// Rates are averaged over this window, as RabbitMQ's 5-second samples.
pub const RATE_WINDOW_MS: u64 = 5000;

/// The last few samples of one object's counters (a queue, exchange or
/// channel), for rates over a sliding window like the broker's.
#[derive(Debug, Default, Clone)]
pub struct RateWindow {
    samples: VecDeque<(u64, MessageCounters)>,
}

impl RateWindow {
    pub fn sample(&mut self, now: u64, counters: MessageCounters) {
        // One sample per second, and a window of five seconds: keep six.
        if self.samples.len() == 6 {
            self.samples.pop_front();
        }
        self.samples.push_back((now, counters));
    }

    pub fn rates(&self, now: u64, current: &MessageCounters) -> MessageRates {
        match self.samples.front() {
            Some((t, c)) if *t < now => current.rates_since(c, now - t),
            _ => MessageRates::default(),
        }
    }
}

/// Counters with a short history of samples.
#[derive(Debug, Default)]
pub struct Stats {
    pub totals: MessageCounters,
    samples: VecDeque<(u64, MessageCounters)>,
}

impl Stats {
    pub fn sample(&mut self, now: u64) {
        if self.samples.len() == SAMPLES_KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back((now, self.totals));
    }

    /// Rates over about the last [`RATE_WINDOW_MS`].
    pub fn rates(&self, now: u64) -> MessageRates {
        let base = self.samples.iter().rev().find(|(t, _)| now.saturating_sub(*t) >= RATE_WINDOW_MS).or(self.samples.front());
        match base {
            Some((t, c)) if *t < now => self.totals.rates_since(c, now - t),
            _ => MessageRates::default(),
        }
    }

    /// The sampled history: (time, counters), oldest first.
    pub fn history(&self) -> impl Iterator<Item = &(u64, MessageCounters)> {
        self.samples.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_window() {
        let mut s = Stats::default();
        for t in 0..=10 {
            s.totals.publish = t * 100; // 100 per second
            s.sample(t * 1000);
        }
        let r = s.rates(10_000);
        assert_eq!(r.publish, 100.0);
        assert_eq!(r.ack, 0.0);
        assert_eq!(Stats::default().rates(5), MessageRates::default());
    }
}
