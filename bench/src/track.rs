//! The consumer-side bookkeeping both clients share: the body layout, the
//! per-producer sequence tracking that proves nothing was lost, duplicated
//! or reordered, and the latency histogram.
//!
//! Every body starts with 16 octets, little-endian: the send time (ns since
//! [`crate::procfs::now_ns`]'s epoch), the producer id and its sequence
//! number. The rest is zeros.

use hdrhistogram::Histogram;

use crate::load::{ExchangeType, Latency, Topology};

/// Octets of the stamp at the start of every body.
pub const STAMP_LEN: usize = 16;

pub fn write_stamp(body: &mut [u8], ts_ns: u64, producer: u32, seq: u32) {
    body[0..8].copy_from_slice(&ts_ns.to_le_bytes());
    body[8..12].copy_from_slice(&producer.to_le_bytes());
    body[12..16].copy_from_slice(&seq.to_le_bytes());
}

pub fn read_stamp(body: &[u8]) -> (u64, u32, u32) {
    let ts = u64::from_le_bytes(body[0..8].try_into().unwrap());
    let p = u32::from_le_bytes(body[8..12].try_into().unwrap());
    let s = u32::from_le_bytes(body[12..16].try_into().unwrap());
    (ts, p, s)
}

/// The sequence numbers seen from one producer on one queue.
#[derive(Default)]
struct SeqSet {
    bits: Vec<u64>,
    distinct: u64,
    /// One past the highest sequence seen.
    high: u64,
}

impl SeqSet {
    /// Adds `seq`; false if it was already there.
    fn insert(&mut self, seq: u32) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if w >= self.bits.len() {
            self.bits.resize((w + 1).next_power_of_two(), 0);
        }
        let mask = 1u64 << b;
        if self.bits[w] & mask != 0 {
            return false;
        }
        self.bits[w] |= mask;
        self.distinct += 1;
        self.high = self.high.max(seq as u64 + 1);
        true
    }
}

pub struct Tracker {
    nqueues: usize,
    nconsumers: usize,
    nproducers: usize,
    /// Index producer * nqueues + queue.
    streams: Vec<SeqSet>,
    /// Last sequence each consumer saw from each producer (+1; 0 = none),
    /// index producer * nconsumers + consumer.
    last: Vec<u64>,
    /// Whether a (producer, queue) pair is routed and read by a consumer.
    expected: Vec<bool>,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub malformed: u64,
    /// Every delivery, whatever its fate.
    pub delivered: u64,
    /// Distinct (producer, queue, seq) deliveries on expected streams.
    distinct_expected: u64,
    pub hist: Histogram<u64>,
    /// Latency is recorded only while true (the measured window).
    pub recording: bool,
}

impl Tracker {
    pub fn new(topology: &Topology, kind: ExchangeType, producers: usize, consumers: usize) -> Tracker {
        let nqueues = topology.queues.len();
        let mut expected = vec![false; producers * nqueues];
        let read: Vec<bool> = (0..nqueues).map(|q| (0..consumers).any(|c| topology.queue_of_consumer(c) == q)).collect();
        for p in 0..producers {
            for q in topology.queues_of(kind, p) {
                expected[p * nqueues + q] = read[q];
            }
        }
        Tracker {
            nqueues,
            nconsumers: consumers,
            nproducers: producers,
            streams: (0..producers * nqueues).map(|_| SeqSet::default()).collect(),
            last: vec![0; producers * consumers],
            expected,
            duplicates: 0,
            out_of_order: 0,
            malformed: 0,
            delivered: 0,
            distinct_expected: 0,
            // 1 ns to 100 s at 3 significant digits.
            hist: Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds"),
            recording: false,
        }
    }

    /// One delivery of `body` read from `queue` by `consumer` at `now_ns`.
    pub fn record(&mut self, queue: usize, consumer: usize, body: &[u8], now_ns: u64) {
        self.delivered += 1;
        if body.len() < STAMP_LEN {
            self.malformed += 1;
            return;
        }
        let (ts, p, seq) = read_stamp(body);
        let p = p as usize;
        if p >= self.nproducers || queue >= self.nqueues || !self.expected[p * self.nqueues + queue] {
            self.malformed += 1;
            return;
        }
        if self.streams[p * self.nqueues + queue].insert(seq) {
            self.distinct_expected += 1;
        } else {
            self.duplicates += 1;
            return;
        }
        let last = &mut self.last[p * self.nconsumers + consumer];
        if (seq as u64) < *last {
            self.out_of_order += 1;
        } else {
            *last = seq as u64 + 1;
        }
        if self.recording {
            let _ = self.hist.record(now_ns.saturating_sub(ts).max(1));
        }
    }

    /// Distinct deliveries still due, given how many each producer published.
    pub fn outstanding(&self, published: &[u64]) -> u64 {
        self.expected_total(published).saturating_sub(self.distinct_expected)
    }

    fn expected_total(&self, published: &[u64]) -> u64 {
        let mut total = 0;
        for (p, &n) in published.iter().enumerate() {
            for q in 0..self.nqueues {
                if self.expected[p * self.nqueues + q] {
                    total += n;
                }
            }
        }
        total
    }

    /// (missing, undrained): gaps below the highest sequence delivered, and
    /// the tail above it that had not arrived yet.
    pub fn verdict(&self, published: &[u64]) -> (u64, u64) {
        let (mut missing, mut undrained) = (0, 0);
        for (p, &n) in published.iter().enumerate() {
            for q in 0..self.nqueues {
                if !self.expected[p * self.nqueues + q] {
                    continue;
                }
                let s = &self.streams[p * self.nqueues + q];
                missing += s.high - s.distinct;
                undrained += n.saturating_sub(s.high);
            }
        }
        (missing, undrained)
    }

    pub fn latency(&self) -> Option<Latency> {
        let h = &self.hist;
        if h.is_empty() {
            return None;
        }
        let us = |v: u64| v as f64 / 1000.0;
        Some(Latency {
            count: h.len(),
            p50: us(h.value_at_quantile(0.50)),
            p75: us(h.value_at_quantile(0.75)),
            p95: us(h.value_at_quantile(0.95)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Load;

    fn stamp(p: u32, s: u32) -> [u8; 16] {
        let mut b = [0u8; 16];
        write_stamp(&mut b, 5, p, s);
        b
    }

    #[test]
    fn counts_gaps_duplicates_reordering_and_tail() {
        let load = Load { queues: 1, ..Load::default() };
        let topo = Topology::new("t", &load);
        let mut t = Tracker::new(&topo, ExchangeType::Direct, 1, 1);
        for s in [0, 1, 3, 3, 2, 5] {
            t.record(0, 0, &stamp(0, s), 10);
        }
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.out_of_order, 1); // the 2 (the second 3 is a duplicate)
                                       // Published 8: 4 is a gap below 5, 6 and 7 are the tail.
        assert_eq!(t.verdict(&[8]), (1, 2));
        assert_eq!(t.outstanding(&[8]), 3);
        assert_eq!(t.malformed, 0);
        t.record(0, 0, &stamp(7, 0), 10);
        assert_eq!(t.malformed, 1);
    }

    #[test]
    fn fanout_expects_every_queue_that_has_a_consumer() {
        let load = Load { queues: 3, ..Load::default() };
        let topo = Topology::new("t", &load);
        // Two consumers: queue 2 has nobody, so it is not expected.
        let mut t = Tracker::new(&topo, ExchangeType::Fanout, 1, 2);
        t.record(0, 0, &stamp(0, 0), 10);
        t.record(1, 1, &stamp(0, 0), 10);
        assert_eq!(t.outstanding(&[1]), 0);
        assert_eq!(t.verdict(&[2]), (0, 2));
    }
}
