//! Queues hold references to stored messages, in order, and the list of
//! consumers they deliver to in turn. A queue does not write frames: the
//! broker's dispatcher takes entries from it and hands them to consumers'
//! channels.

use std::collections::VecDeque;

use crate::amqp::{FieldTable, ShortStr};
use crate::ids::{ConnectionId, ConsumerId, ExchangeId, MessageId};

/// A message's place in one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEntry {
    pub message: MessageId,
    /// Position in the queue's publish order; a requeued message goes back
    /// to this position, as RabbitMQ's classic queues do.
    pub seq: u64,
    pub redelivered: bool,
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
    ready: VecDeque<QueueEntry>,
    ready_bytes: usize,
    next_seq: u64,
    /// Delivered to a consumer or basic.get and not yet acknowledged.
    pub unacked: u32,
    pub consumers: Vec<ConsumerId>,
    /// Round-robin position in `consumers`.
    pub next_consumer: usize,
    /// Set once a consumer has subscribed: auto-delete applies after that.
    pub had_consumer: bool,
    pub bindings: Vec<QueueBinding>,
    /// On the broker's list of queues to dispatch.
    pub dispatch_queued: bool,
}

impl Queue {
    pub fn new(name: ShortStr, vhost: &str, durable: bool, auto_delete: bool, exclusive_owner: Option<ConnectionId>, arguments: FieldTable) -> Self {
        Queue {
            name,
            vhost: vhost.to_string(),
            durable,
            auto_delete,
            exclusive_owner,
            arguments,
            ready: VecDeque::new(),
            ready_bytes: 0,
            next_seq: 0,
            unacked: 0,
            consumers: Vec::new(),
            next_consumer: 0,
            had_consumer: false,
            bindings: Vec::new(),
            dispatch_queued: false,
        }
    }

    pub fn ready_count(&self) -> usize {
        self.ready.len()
    }

    pub fn ready_bytes(&self) -> usize {
        self.ready_bytes
    }

    /// Appends a newly routed message.
    pub fn push(&mut self, message: MessageId, size: usize) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.ready_bytes += size;
        self.ready.push_back(QueueEntry { message, seq, redelivered: false });
    }

    pub fn pop(&mut self, size_of: impl Fn(MessageId) -> usize) -> Option<QueueEntry> {
        let e = self.ready.pop_front()?;
        self.ready_bytes -= size_of(e.message);
        Some(e)
    }

    /// Puts an unacknowledged message back at its original position, marked
    /// redelivered.
    pub fn requeue(&mut self, mut entry: QueueEntry, size: usize) {
        entry.redelivered = true;
        self.ready_bytes += size;
        // Usually it belongs at the very front (the oldest outstanding delivery).
        let pos = self.ready.partition_point(|e| e.seq < entry.seq);
        self.ready.insert(pos, entry);
    }

    /// Removes every ready message, returning them.
    pub fn drain_ready(&mut self) -> VecDeque<QueueEntry> {
        self.ready_bytes = 0;
        core::mem::take(&mut self.ready)
    }

    pub fn remove_consumer(&mut self, id: ConsumerId) {
        if let Some(i) = self.consumers.iter().position(|c| *c == id) {
            self.consumers.remove(i);
            if self.next_consumer > i {
                self.next_consumer -= 1;
            }
            if self.next_consumer >= self.consumers.len() {
                self.next_consumer = 0;
            }
        }
    }
}

/// A subscription made with basic.consume.
pub struct Consumer {
    pub tag: ShortStr,
    pub connection: ConnectionId,
    pub channel: u16,
    pub queue: crate::ids::QueueId,
    pub no_ack: bool,
    pub exclusive: bool,
    /// Per-consumer prefetch limit (0 = none), fixed at consume time from
    /// the channel's non-global basic.qos.
    pub prefetch: u16,
    /// Deliveries to this consumer not yet acknowledged.
    pub unacked: u32,
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

    #[test]
    fn requeue_restores_original_order() {
        let mut q = Queue::new("q".into(), "/", false, false, None, FieldTable::new());
        for i in 0..4 {
            q.push(MessageId::new(i, 0), 1);
        }
        let a = q.pop(|_| 1).unwrap();
        let b = q.pop(|_| 1).unwrap();
        let c = q.pop(|_| 1).unwrap();
        q.requeue(c, 1);
        q.requeue(a, 1);
        let order: Vec<u32> = q.drain_ready().iter().map(|e| e.message.index()).collect();
        assert_eq!(order, vec![0, 2, 3]);
        let _ = b;
        assert_eq!(q.ready_bytes(), 0);
    }
}
