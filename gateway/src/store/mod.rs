//! Durable storage for the gateway: the crash-safe message log for
//! persistent messages and the durable definitions document. The sans-IO
//! core never sees files; the task that owns the core drives this module
//! and feeds it what the core decides.
//!
//! # How the owner uses it
//!
//! ```text
//! let data = DataDir::open("./warren-data")?;            // create + lock the directory
//! let defs = definitions::load(&data, &mut random)?;     // typed: vhosts, users, queues, ...
//! let (mut store, recovered) = MessageStore::open(&data, StoreConfig::default())?;
//! for q in recovered.queues { /* q.key, q.queue (handle), q.live: how many */ }
//! for s in store.live_segments() { store.live_in_segment(s, &mut refs); /* queue, id, location, delivered */ }
//!
//! let queue = store.queue(&QueueKey::new("/", "orders"));  // handle per durable queue
//! let a = store.append(&NewMessage { queues: &[queue], exchange, routing_key, properties, body })?;
//! //   a.id: message id, a.location: where to read it back, a.seq: durability ticket
//! let mut durable = store.subscribe();                   // watch::Receiver<Durability>
//! //   confirm the publish once durable.borrow().seq >= a.seq; a set `failed` means stop
//! store.mark_delivered(queue, a.id);                     // on delivery (in memory; written at close)
//! store.ack_later(queue, a.id)?;                         // on ack / drop ...
//! store.flush_acks()?;                                   // ... runs of acks become one record
//! let msg = store.read(a.location)?;                     // pread + CRC check
//! let mut loader = store.loader();                       // by id, with read-ahead (the core's loader)
//! let reader = store.reader();                           // Clone + Send: read in spawn_blocking
//! store.purge_queue(queue)?; store.delete_queue(queue)?;
//! definitions::save(&data, &defs)?;                      // atomic replace
//! store.close()?;                                        // flush, stop the committer, unlock
//! ```
//!
//! Appends return at once; a committer thread writes and fdatasyncs in
//! groups (see [`committer`]). Every append, ack and delivery mark gets a
//! sequence number; a record is durable once the published durable
//! sequence number reaches it. The owner only ever calls `&mut self`
//! methods from one task; a [`StoreReader`] reads on any thread (e.g. in
//! `spawn_blocking`). Besides reads and the committer's own work, only
//! `open` and `close` touch files (`close` and `Drop` wait for the
//! committer, so call them where blocking is fine); appends never block
//! on the disk, so the owner watches
//! [`StoreStats::unsynced_bytes`] if it wants to apply back-pressure.
//!
//! # Files
//!
//! See [`data_dir`] for the layout, [`record`] for the byte format,
//! [`ledger`] for when a segment file is deleted, and [`recovery`] for how
//! a torn tail is told from corruption.

mod committer;
mod data_dir;
pub mod definitions;
mod error;
mod ledger;
mod message_store;
mod queues;
mod reader;
mod record;
mod recovery;

#[cfg(test)]
mod tests;

pub use committer::{Durability, FaultHook, IoStep};
pub use data_dir::{replace_file, sync_dir, DataDir, DEFAULT_DATA_DIR};
pub use error::StoreError;
pub use message_store::{
    Appended, MessageStore, NewMessage, Recovered, RecoveredMessage, RecoveredQueue, RecoveredRef, StoreConfig, StoreStats,
    DEFAULT_SEGMENT_MAX_BYTES,
};
pub use queues::{QueueId, QueueKey};
pub use reader::{StoreLoader, StoreReader};
pub use record::{decode_stored_message, StoredMessage};
pub use recovery::{RecoveryProgress, RecoveryStats};

/// Message ids are handed out by the store, increasing, never reused.
pub type MessageId = u64;

/// Sequence number of an appended record; see [`Durability`].
pub type Seq = u64;

/// Where a message record sits: segment file, byte offset and frame
/// length. Enough to read it back with one `pread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    pub segment: u64,
    pub offset: u32,
    pub len: u32,
}
