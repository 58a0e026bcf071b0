//! The core's side of durability. The core decides *what* must be on disk
//! — persistent messages (delivery mode 2, or any message in a quorum
//! queue) in durable queues, their deliveries and their removals — and
//! hands the driver [`StoreOp`]s to carry out (`Broker::poll_store_op`).
//! Publisher confirms for such messages wait until the driver reports the
//! append durable (`Broker::handle_persisted`). The core never touches a
//! file; with `Config::persistence` off (the browser build) nothing is
//! emitted and confirms do not wait.

use bytes::Bytes;

use super::State;
use crate::amqp::ShortStr;
use crate::ids::{MessageId, QueueId};
use crate::queue::{Queue, QueueEntry, QueueKind};

/// Work for the driver's message store, in the order it must happen.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// A durable queue exists (declared or recovered): `queue` names it in
    /// later ops.
    QueueDeclared { queue: u32, vhost: String, name: ShortStr },
    /// Write a message for these durable queues. Once it is on disk, call
    /// `handle_persisted(ticket)` (tickets increase; one call covers all
    /// earlier ones).
    Append { ticket: u64, key: u64, queues: Vec<u32>, exchange: ShortStr, routing_key: ShortStr, properties: Bytes, body: Bytes },
    /// The message was delivered from the queue for the first time (a
    /// restart brings it back marked redelivered).
    Delivered { key: u64, queue: u32 },
    /// The message left the queue for good (acked, dropped, expired,
    /// dead-lettered).
    Ack { key: u64, queue: u32 },
    /// Every message of the queue is gone.
    Purged { queue: u32 },
    QueueDeleted { queue: u32 },
}

/// What the persistence side of the state tracks.
#[derive(Debug, Default)]
pub(crate) struct Persistence {
    pub enabled: bool,
    pub ops: std::collections::VecDeque<StoreOp>,
    /// Next message key (never reused, continues after recovered keys).
    pub next_key: u64,
    pub next_ticket: u64,
    /// Every ticket up to this one is durable.
    pub durable_upto: u64,
    pub next_queue: u32,
}

impl Persistence {
    pub fn new(enabled: bool) -> Self {
        Persistence { enabled, next_ticket: 1, next_key: 1, next_queue: 1, ..Default::default() }
    }
}

/// Whether a message is kept on disk in this queue.
pub(crate) fn persisted_in(queue: &Queue, persistent_message: bool) -> bool {
    queue.durable_id.is_some() && (persistent_message || queue.config.kind == QueueKind::Quorum)
}

impl State {
    /// Gives a new durable queue its store number and announces it.
    pub(crate) fn register_durable_queue(&mut self, id: QueueId) {
        if !self.persist.enabled {
            return;
        }
        let Some(q) = self.queues.get_mut(id) else { return };
        if !q.durable || q.durable_id.is_some() {
            return;
        }
        let n = self.persist.next_queue;
        self.persist.next_queue += 1;
        q.durable_id = Some(n);
        let op = StoreOp::QueueDeclared { queue: n, vhost: q.vhost.clone(), name: q.name.clone() };
        self.persist.ops.push_back(op);
    }

    /// Persists a message entering `queues` (those that keep it on disk);
    /// returns its key and the ticket its confirm waits for.
    pub(crate) fn persist_message(&mut self, id: MessageId, queues: &[QueueId]) -> Option<u64> {
        if !self.persist.enabled {
            return None;
        }
        let message = self.messages.get(id)?;
        let persistent = message.scan.persistent();
        let durable: Vec<u32> = queues
            .iter()
            .filter_map(|q| self.queues.get(*q))
            .filter(|q| persisted_in(q, persistent))
            .filter_map(|q| q.durable_id)
            .collect();
        if durable.is_empty() {
            return None;
        }
        let key = self.persist.next_key;
        self.persist.next_key += 1;
        let ticket = self.persist.next_ticket;
        self.persist.next_ticket += 1;
        let op = StoreOp::Append {
            ticket,
            key,
            queues: durable,
            exchange: message.exchange.clone(),
            routing_key: message.routing_key.clone(),
            properties: message.properties.clone(),
            body: message.body.clone(),
        };
        self.messages.set_persist_key(id, key);
        self.persist.ops.push_back(op);
        Some(ticket)
    }

    fn stored_key(&self, queue: QueueId, entry: &QueueEntry) -> Option<(u64, u32)> {
        let q = self.queues.get(queue)?;
        let (key, persistent) = self.messages.persist_key(entry.message)?;
        persisted_in(q, persistent).then_some((key, q.durable_id?))
    }

    /// A persisted message was delivered for the first time.
    pub(crate) fn note_delivered(&mut self, queue: QueueId, entry: &QueueEntry) {
        if entry.redelivered || !self.persist.enabled {
            return;
        }
        if let Some((key, queue)) = self.stored_key(queue, entry) {
            self.persist.ops.push_back(StoreOp::Delivered { key, queue });
        }
    }

    /// A message left `queue` for good: tell the store, drop our reference.
    pub(crate) fn forget(&mut self, queue: QueueId, entry: QueueEntry) {
        self.note_removed(queue, &entry);
        self.messages.release(entry.message);
    }

    /// Tells the store a message left `queue` (its reference is handled by
    /// the caller: released or passed on to dead-lettering).
    pub(crate) fn note_removed(&mut self, queue: QueueId, entry: &QueueEntry) {
        if !self.persist.enabled {
            return;
        }
        if let Some((key, queue)) = self.stored_key(queue, entry) {
            self.persist.ops.push_back(StoreOp::Ack { key, queue });
        }
    }

    pub(crate) fn note_purged(&mut self, queue: QueueId) {
        if let Some(n) = self.queues.get(queue).and_then(|q| q.durable_id) {
            self.persist.ops.push_back(StoreOp::Purged { queue: n });
        }
    }

    pub(crate) fn note_queue_deleted(&mut self, q: &Queue) {
        if let Some(n) = q.durable_id {
            self.persist.ops.push_back(StoreOp::QueueDeleted { queue: n });
        }
    }
}
