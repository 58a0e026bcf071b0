//! Queue names and the small numbers that stand for them.
//!
//! A [`QueueKey`] is (vhost, queue name). The store hands out a
//! [`QueueId`] per key for the life of the process; records carry the
//! number, and each segment binds the numbers it uses to their keys with a
//! `QueueName` record written before the first use in that segment (see
//! `record`). After a restart the numbers are handed out afresh; on disk
//! they only mean something together with the segment's own bindings.

use rustc_hash::FxHashMap;

/// A durable queue's identity: the virtual host and the queue name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueKey {
    pub vhost: String,
    pub name: String,
}

impl QueueKey {
    pub fn new(vhost: impl Into<String>, name: impl Into<String>) -> Self {
        QueueKey { vhost: vhost.into(), name: name.into() }
    }
}

/// A cheap handle for a [`QueueKey`], valid for the open store that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub(super) u32);

impl QueueId {
    /// A dense index (handles are numbered from 0), for per-queue tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The highest queue number: the top bit of a packed reference is the
/// delivered flag (see `ledger`).
const MAX_QUEUES: u32 = 1 << 31;

#[derive(Debug, Default)]
pub struct QueueTable {
    by_key: FxHashMap<QueueKey, QueueId>,
    keys: Vec<QueueKey>,
}

impl QueueTable {
    /// The id of `key`, handing out a new one on first sight.
    pub fn intern(&mut self, key: &QueueKey) -> QueueId {
        if let Some(&id) = self.by_key.get(key) {
            return id;
        }
        assert!((self.keys.len() as u64) < MAX_QUEUES as u64, "more than 2^31 durable queues");
        let id = QueueId(self.keys.len() as u32);
        self.keys.push(key.clone());
        self.by_key.insert(key.clone(), id);
        id
    }

    pub fn key(&self, id: QueueId) -> Option<&QueueKey> {
        self.keys.get(id.0 as usize)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
}
