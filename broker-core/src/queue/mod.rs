//! Queues hold references to stored messages, in order (per priority when
//! `x-max-priority` is set), and the consumers they deliver to. A queue
//! does not write frames: the broker's dispatcher takes entries from it and
//! hands them to consumers' channels.

pub mod args;
mod ready;

use crate::amqp::{FieldTable, ShortStr};
use crate::broker::stats::{MessageCounters, RateWindow};
use crate::ids::{ConnectionId, ConsumerId, ExchangeId, QueueId};
use crate::message::MessageRef;
pub use args::{Overflow, QueueConfig, QueueKind};
pub use ready::ReadyList;

/// A message's place in one queue (32 octets: a million of them is 32 MB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEntry {
    pub message: MessageRef,
    /// Position in the queue's publish order; a requeued message goes back
    /// to this position, as RabbitMQ's classic queues do.
    pub seq: u64,
    /// When the message expires (ms), or 0 for never.
    pub expires_at: u64,
    /// Octets the message accounts for in `x-max-length-bytes` (its body).
    pub size: u32,
    /// Times it was returned to the queue unacknowledged (quorum queues'
    /// `x-delivery-count`).
    pub delivery_count: u16,
    pub priority: u8,
    pub redelivered: bool,
}

impl QueueEntry {
    /// Expired at `now`: the deadline has come.
    pub fn expired(&self, now: u64) -> bool {
        self.expires_at != 0 && now >= self.expires_at
    }

    /// Too late to deliver at `now`: strictly past the deadline, so a
    /// message with TTL 0 still goes to a consumer ready when it arrives.
    pub fn undeliverable(&self, now: u64) -> bool {
        self.expires_at != 0 && now > self.expires_at
    }
}

/// A binding that ends at this queue, kept so deleting the queue can remove it
/// from its exchanges.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueBinding {
    pub exchange: ExchangeId,
    pub key: ShortStr,
    pub args: FieldTable,
}

pub struct Queue {
    pub name: ShortStr,
    pub vhost: String,
    pub durable: bool,
    pub auto_delete: bool,
    /// The connection that declared an exclusive queue.
    pub exclusive_owner: Option<ConnectionId>,
    pub arguments: FieldTable,
    pub config: QueueConfig,
    pub ready: ReadyList,
    next_seq: u64,
    /// Delivered to a consumer or basic.get and not yet acknowledged.
    pub unacked: u32,
    /// Consumers, highest `x-priority` first; equal priorities keep
    /// subscription order. With single-active-consumer only the first receives.
    pub consumers: Vec<(i32, ConsumerId)>,
    /// Round-robin counter among consumers of equal priority.
    pub next_consumer: usize,
    /// Set once a consumer has subscribed: auto-delete applies after that.
    pub had_consumer: bool,
    pub bindings: Vec<QueueBinding>,
    /// On the broker's list of queues to dispatch.
    pub dispatch_queued: bool,
    /// Last time the queue was used (consumed from, got from, declared), for `x-expires`.
    pub last_used: u64,
    /// When a timer is set to expire messages at the head, if one is.
    pub ttl_timer_at: Option<u64>,
    /// This queue's message counters, and recent samples for its rates.
    pub stats: MessageCounters,
    pub rate_window: RateWindow,
    /// The policy applied to this queue, if any.
    pub policy: Option<String>,
    /// The queue's number in the message store, when it keeps messages on disk.
    pub durable_id: Option<u32>,
    /// How fast its consumers have been taking messages, and the publishers
    /// it holds back meanwhile (credit flow, `broker::flow`).
    pub drain: crate::broker::flow::DrainRate,
    pub flow_waiters: Vec<ConnectionId>,
}

impl Queue {
    #[allow(clippy::too_many_arguments)] // queue.declare's fields
    pub fn new(
        name: ShortStr,
        vhost: &str,
        durable: bool,
        auto_delete: bool,
        exclusive_owner: Option<ConnectionId>,
        arguments: FieldTable,
        config: QueueConfig,
        now: u64,
    ) -> Self {
        let levels = config.max_priority.map_or(1, |p| p as usize + 1);
        Queue {
            name,
            vhost: vhost.to_string(),
            durable,
            auto_delete,
            exclusive_owner,
            arguments,
            config,
            ready: ReadyList::new(levels),
            next_seq: 0,
            unacked: 0,
            consumers: Vec::new(),
            next_consumer: 0,
            had_consumer: false,
            bindings: Vec::new(),
            dispatch_queued: false,
            last_used: now,
            ttl_timer_at: None,
            stats: MessageCounters::default(),
            rate_window: RateWindow::default(),
            policy: None,
            durable_id: None,
            drain: Default::default(),
            flow_waiters: Vec::new(),
        }
    }

    pub fn ready_count(&self) -> usize {
        self.ready.len()
    }

    /// Builds the entry for a newly routed message: its sequence number,
    /// priority (capped at `x-max-priority`) and expiry (the lower of the
    /// queue's and the message's TTL).
    pub fn new_entry(&mut self, message: MessageRef, size: usize, priority: Option<u8>, message_ttl: Option<u64>, now: u64) -> QueueEntry {
        let seq = self.next_seq;
        self.next_seq += 1;
        let ttl = match (self.config.message_ttl, message_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let priority = match self.config.max_priority {
            Some(max) => priority.unwrap_or(0).min(max),
            None => 0,
        };
        QueueEntry {
            message,
            seq,
            expires_at: ttl.map_or(0, |t| now.saturating_add(t).max(1)),
            size: size.min(u32::MAX as usize) as u32,
            delivery_count: 0,
            priority,
            redelivered: false,
        }
    }

    /// Whether one more message of `size` octets would exceed a length limit.
    pub fn would_overflow(&self, size: usize) -> bool {
        self.config.max_length.is_some_and(|m| self.ready.len() as u64 >= m)
            || self.config.max_length_bytes.is_some_and(|m| (self.ready.bytes() + size) as u64 > m)
    }

    /// Whether the ready messages exceed a length limit now.
    pub fn over_limit(&self) -> bool {
        self.config.max_length.is_some_and(|m| self.ready.len() as u64 > m)
            || self.config.max_length_bytes.is_some_and(|m| self.ready.bytes() as u64 > m)
    }

    pub fn add_consumer(&mut self, id: ConsumerId, priority: i32) {
        let pos = self.consumers.partition_point(|(p, _)| *p >= priority);
        self.consumers.insert(pos, (priority, id));
        self.had_consumer = true;
    }

    pub fn remove_consumer(&mut self, id: ConsumerId) {
        self.consumers.retain(|(_, c)| *c != id);
    }

    /// The consumer for the next delivery: the first, in the highest
    /// priority group that has one, for which `ready` says yes; rotated for
    /// round robin within a group. With single-active-consumer only the
    /// active (first) consumer is considered.
    pub fn pick_consumer(&self, mut ready: impl FnMut(ConsumerId) -> bool) -> Option<ConsumerId> {
        let n = if self.config.single_active_consumer { self.consumers.len().min(1) } else { self.consumers.len() };
        let consumers = &self.consumers[..n];
        let mut start = 0;
        while start < n {
            let p = consumers[start].0;
            let len = consumers[start..].partition_point(|(q, _)| *q == p);
            for i in 0..len {
                let id = consumers[start + (self.next_consumer + i) % len].1;
                if ready(id) {
                    return Some(id);
                }
            }
            start += len;
        }
        None
    }
}

/// A subscription made with basic.consume.
pub struct Consumer {
    pub tag: ShortStr,
    pub connection: ConnectionId,
    pub channel: u16,
    pub queue: QueueId,
    pub no_ack: bool,
    pub exclusive: bool,
    /// Per-consumer prefetch limit (0 = none), fixed at consume time from
    /// the channel's non-global basic.qos.
    pub prefetch: u16,
    /// Deliveries to this consumer not yet acknowledged.
    pub unacked: u32,
    /// `x-priority`: higher-priority consumers receive first.
    pub priority: i32,
    pub arguments: FieldTable,
}

impl Consumer {
    pub fn has_credit(&self) -> bool {
        self.no_ack || self.prefetch == 0 || self.unacked < self.prefetch as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SlabId;
    use crate::message::MessageRef;

    fn queue(max_priority: Option<u8>) -> Queue {
        let config = QueueConfig { max_priority, ..Default::default() };
        Queue::new("q".into(), "/", false, false, None, FieldTable::new(), config, 0)
    }

    #[test]
    fn consumers_are_tried_by_priority_then_round_robin() {
        let mut q = queue(None);
        let c = |i| ConsumerId::new(i, 0);
        q.add_consumer(c(1), 0);
        q.add_consumer(c(2), 5);
        q.add_consumer(c(3), 0);
        q.add_consumer(c(4), 5);
        let order = |q: &Queue| {
            let mut seen = Vec::new();
            q.pick_consumer(|id| {
                seen.push(id);
                false
            });
            seen
        };
        assert_eq!(order(&q), vec![c(2), c(4), c(1), c(3)]);
        q.next_consumer = 1;
        assert_eq!(order(&q), vec![c(4), c(2), c(3), c(1)]);
        assert_eq!(q.pick_consumer(|id| id == c(1)), Some(c(1)));
        q.config.single_active_consumer = true;
        assert_eq!(order(&q), vec![c(2)]);
    }

    #[test]
    fn entry_ttl_is_the_lower_of_queue_and_message() {
        let mut q = queue(Some(3));
        q.config.message_ttl = Some(100);
        let e = q.new_entry(MessageRef::in_store(0), 1, Some(9), Some(50), 1000);
        assert_eq!((e.expires_at, e.priority), (1050, 3));
        let e = q.new_entry(MessageRef::in_store(0), 1, None, None, 1000);
        assert_eq!((e.expires_at, e.priority, e.seq), (1100, 0, 1));
        assert!(!e.expired(1099) && e.expired(1100) && !e.undeliverable(1100));
    }
}
