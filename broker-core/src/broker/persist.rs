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
use crate::ids::{ConnectionId, MessageId, QueueId};
use crate::message::MessageRef;
use crate::queue::{Queue, QueueEntry, QueueKind};

/// The durable queues (by store number) a stored message is for. Up to
/// four are kept inline: a publish, almost always to one queue, allocates
/// nothing for them.
#[derive(Clone, PartialEq, Eq)]
pub enum QueueNumbers {
    Inline { len: u8, numbers: [u32; 4] },
    Heap(Vec<u32>),
}

impl QueueNumbers {
    pub fn as_slice(&self) -> &[u32] {
        match self {
            QueueNumbers::Inline { len, numbers } => &numbers[..*len as usize],
            QueueNumbers::Heap(v) => v,
        }
    }
}

impl core::ops::Deref for QueueNumbers {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        self.as_slice()
    }
}

impl FromIterator<u32> for QueueNumbers {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let (mut numbers, mut len) = ([0; 4], 0);
        let mut iter = iter.into_iter();
        while let Some(n) = iter.next() {
            if len == numbers.len() {
                let mut heap = numbers.to_vec();
                heap.push(n);
                heap.extend(iter);
                return QueueNumbers::Heap(heap);
            }
            numbers[len] = n;
            len += 1;
        }
        QueueNumbers::Inline { len: len as u8, numbers }
    }
}

impl core::fmt::Debug for QueueNumbers {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Work for the driver's message store, in the order it must happen.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// A durable queue exists (declared or recovered): `queue` names it in
    /// later ops.
    QueueDeclared {
        queue: u32,
        vhost: String,
        name: ShortStr,
    },
    /// Write a message for these durable queues. Once it is on disk, call
    /// `handle_persisted(ticket)` (tickets increase; one call covers all
    /// earlier ones).
    Append {
        ticket: u64,
        key: u64,
        queues: QueueNumbers,
        exchange: ShortStr,
        routing_key: ShortStr,
        properties: Bytes,
        body: Bytes,
    },
    /// The message was delivered from the queue for the first time (a
    /// restart brings it back marked redelivered).
    Delivered {
        key: u64,
        queue: u32,
    },
    /// The message left the queue for good (acked, dropped, expired,
    /// dead-lettered).
    Ack {
        key: u64,
        queue: u32,
    },
    /// Every message of the queue is gone.
    Purged {
        queue: u32,
    },
    QueueDeleted {
        queue: u32,
    },
    /// Memory is short: keep this transient message's body on disk (it is
    /// not recovered after a restart). `handle_persisted(ticket)` as for
    /// appends; the core then drops the body from memory and reads it back
    /// with its `BodyLoader` when needed.
    Page {
        ticket: u64,
        key: u64,
        body: Bytes,
    },
    /// A paged message is gone; its copy may be dropped.
    Unpage {
        key: u64,
    },
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
    /// Resident-body budget in octets; over it, newest bodies go to disk.
    pub budget: Option<usize>,
    /// Messages that may be evicted, newest last (stale ids are skipped).
    pub resident: Vec<MessageId>,
    /// Evictions waiting for their store write: (ticket, message, octets).
    pub evict_when_durable: std::collections::VecDeque<(u64, MessageId, usize)>,
    /// Octets those pending evictions will free.
    pub evicting: usize,
    /// Ready-queue depth beyond which persisted messages leave memory
    /// (`Config::resident_queue_depth`).
    pub resident_depth: usize,
    /// Entries of deep queues to point at the store once their append is
    /// durable: (ticket, queue, entry seq, message).
    pub offload: std::collections::VecDeque<(u64, QueueId, u64, MessageId)>,
    /// Recovery: message keys already restored, to share one stored copy.
    pub restored: rustc_hash::FxHashMap<u64, MessageId>,
    /// Channels whose confirms wait for the store: (connection, channel).
    pub confirm_waiting: Vec<(ConnectionId, u16)>,
    /// Channels with a tx.commit-ok waiting for the store.
    pub commits_waiting: Vec<(ConnectionId, u16)>,
}

impl Persistence {
    pub fn new(enabled: bool, budget: Option<usize>, resident_depth: usize) -> Self {
        Persistence {
            enabled,
            next_ticket: 1,
            next_key: 1,
            next_queue: 1,
            budget: budget.filter(|_| enabled),
            resident_depth,
            ..Default::default()
        }
    }

    /// Keys continue from `next` (the store's next id after recovery).
    pub(crate) fn set_next_key(&mut self, next: u64) {
        self.next_key = self.next_key.max(next);
    }

    pub(crate) fn note_queue_deleted(&mut self, q: &Queue) {
        if let Some(n) = q.durable_id {
            self.ops.push_back(StoreOp::QueueDeleted { queue: n });
        }
    }
}

/// Whether a message is kept on disk in this queue.
pub(crate) fn persisted_in(queue: &Queue, persistent_message: bool) -> bool {
    queue.durable_id.is_some() && (persistent_message || queue.config.kind == QueueKind::Quorum)
}

impl State {
    /// Moves the newest bodies to disk while resident messages exceed the
    /// budget. Persisted ones are already on disk (once their write is
    /// durable); transient ones are paged out first.
    pub(crate) fn relieve_memory(&mut self) {
        let Some(budget) = self.persist.budget else { return };
        while self.topology.messages.bytes().saturating_sub(self.persist.evicting) > budget {
            let Some(id) = self.persist.resident.pop() else { break };
            let Some(m) = self.topology.messages.get(id) else { continue };
            if self.topology.messages.is_evicted(id) || m.body.is_empty() {
                continue;
            }
            let len = m.body.len();
            let ticket = match self.topology.messages.persist_key(id) {
                // Its append was the latest or an earlier ticket.
                Some(_) => self.persist.next_ticket - 1,
                None => {
                    let key = self.persist.next_key;
                    self.persist.next_key += 1;
                    let ticket = self.persist.next_ticket;
                    self.persist.next_ticket += 1;
                    self.persist.ops.push_back(StoreOp::Page { ticket, key, body: m.body.clone() });
                    self.topology.messages.set_paged(id, key);
                    ticket
                }
            };
            self.persist.evicting += len;
            self.persist.evict_when_durable.push_back((ticket, id, len));
        }
        self.evict_durable();
    }

    /// Drops from memory the bodies whose store write is now durable, and
    /// points deep queues' entries at the store.
    pub(crate) fn evict_durable(&mut self) {
        while let Some(&(ticket, id, len)) = self.persist.evict_when_durable.front() {
            if ticket > self.persist.durable_upto {
                break;
            }
            self.persist.evict_when_durable.pop_front();
            self.persist.evicting -= len;
            self.topology.messages.evict(id);
        }
        while let Some(&(ticket, queue, seq, id)) = self.persist.offload.front() {
            if ticket > self.persist.durable_upto {
                break;
            }
            self.persist.offload.pop_front();
            self.offload_entry(queue, seq, id);
        }
    }

    /// Notes that the entry `seq` of `queue`, just enqueued, may leave
    /// memory once `ticket` is durable (the queue is deep).
    pub(crate) fn note_offloadable(&mut self, ticket: u64, queue: QueueId, entry: &QueueEntry) {
        let Some(id) = entry.message.id() else { return };
        let Some(q) = self.topology.queues.get(queue) else { return };
        let depth = if q.config.lazy { 0 } else { self.persist.resident_depth };
        if q.ready.len() <= depth || self.stored_key(queue, entry).is_none() {
            return;
        }
        self.persist.offload.push_back((ticket, queue, entry.seq, id));
    }

    /// The entry still waits in the queue: it keeps only the store key from
    /// now on, and the message's memory goes with its last resident entry.
    fn offload_entry(&mut self, queue: QueueId, seq: u64, id: MessageId) {
        let Some(key) = self.topology.messages.offloadable(id) else { return };
        let Some(q) = self.topology.queues.get_mut(queue) else { return };
        let resident = MessageRef::resident(id);
        let Some(entry) = q.ready.find_mut(seq).filter(|e| e.message == resident) else { return };
        entry.message = MessageRef::in_store(key);
        self.topology.messages.release(resident);
    }

    /// Tells the driver which paged messages were freed.
    pub(crate) fn collect_freed(&mut self) {
        for key in self.topology.messages.freed.drain(..) {
            self.persist.ops.push_back(StoreOp::Unpage { key });
        }
    }

    /// Gives a new durable queue its store number and announces it.
    pub(crate) fn register_durable_queue(&mut self, id: QueueId) {
        if !self.persist.enabled {
            return;
        }
        let Some(q) = self.topology.queues.get_mut(id) else { return };
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
        let message = self.topology.messages.get(id)?;
        let persistent = message.scan.persistent();
        let durable: QueueNumbers = queues
            .iter()
            .filter_map(|q| self.topology.queues.get(*q))
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
        self.topology.messages.set_persist_key(id, key);
        self.persist.ops.push_back(op);
        Some(ticket)
    }

    fn stored_key(&self, queue: QueueId, entry: &QueueEntry) -> Option<(u64, u32)> {
        let q = self.topology.queues.get(queue)?;
        let Some(id) = entry.message.id() else {
            // Only the store has it: it is persisted in this queue.
            return Some((entry.message.store_key()?, q.durable_id?));
        };
        let (key, persistent) = self.topology.messages.persist_key(id)?;
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
        self.topology.messages.release(entry.message);
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
        if let Some(n) = self.topology.queues.get(queue).and_then(|q| q.durable_id) {
            self.persist.ops.push_back(StoreOp::Purged { queue: n });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::QueueNumbers;

    #[test]
    fn up_to_four_queue_numbers_are_inline_and_more_spill_in_order() {
        let few: QueueNumbers = [3, 1, 4].into_iter().collect();
        assert!(matches!(few, QueueNumbers::Inline { len: 3, .. }));
        assert_eq!(few.as_slice(), &[3, 1, 4]);
        let four: QueueNumbers = (0..4).collect();
        assert!(matches!(four, QueueNumbers::Inline { len: 4, .. }));
        let many: QueueNumbers = (0..7).collect();
        assert_eq!((matches!(many, QueueNumbers::Heap(_)), many.as_slice()), (true, &[0, 1, 2, 3, 4, 5, 6][..]));
        let none: QueueNumbers = std::iter::empty().collect();
        assert!(none.is_empty());
    }
}
