//! Carries out the core's durability decisions on the message store: the
//! core says what must be written ([`StoreOp`]), this module writes it and
//! reports back which publish tickets are on disk, reads evicted bodies
//! back, and at start hands the core what survived.

use std::collections::VecDeque;

use broker_core::{BodyLoader, Broker, LoadedMessage, QueueId as CoreQueue, RestoredMessage, StoreOp};
use bytes::Bytes;
use rustc_hash::FxHashMap;

use crate::store::{DataDir, MessageStore, NewMessage, QueueId, QueueKey, Recovered, Seq, StoreConfig, StoreError, StoreLoader};

/// Where transient bodies paged out under memory pressure are kept. The
/// empty vhost name cannot clash with a real queue; recovery drops it.
const PAGING_VHOST: &str = "";
const PAGING_QUEUE: &str = "warren.paging";

pub struct Durable {
    store: MessageStore,
    /// The core's durable-queue numbers to the store's handles.
    queues: FxHashMap<u32, QueueId>,
    paging: QueueId,
    /// Reused for each append's queue handles.
    scratch: Vec<QueueId>,
    /// Publish tickets waiting for their append to be durable, in order.
    tickets: VecDeque<(u64, Seq)>,
}

/// Reads messages back from the store for the core.
struct Loader(StoreLoader);

impl BodyLoader for Loader {
    fn load(&mut self, key: u64) -> Option<LoadedMessage> {
        match self.0.load(key) {
            Ok(Some(m)) => Some(LoadedMessage { exchange: m.exchange, routing_key: m.routing_key, properties: m.properties, body: m.body }),
            Ok(None) => {
                tracing::error!("message {key} is not in the store");
                None
            }
            Err(e) => {
                tracing::error!("cannot read message {key} back from the store: {e}");
                None
            }
        }
    }
}

impl Durable {
    /// Opens the store (recovering it, with progress on stderr for long
    /// runs), with segments of at most `segment_max_bytes` (default
    /// [`crate::store::DEFAULT_SEGMENT_MAX_BYTES`]).
    pub fn open(data: &DataDir, segment_max_bytes: Option<u64>) -> Result<(Durable, Recovered), StoreError> {
        let started = std::time::Instant::now();
        let mut config = StoreConfig::default();
        if let Some(max) = segment_max_bytes {
            config.segment_max_bytes = max;
        }
        let (mut store, recovered) = MessageStore::open_with_progress(data, config, |p| {
            if started.elapsed().as_secs() >= 1 {
                tracing::info!(
                    "recovering messages: segment {}/{}, {} records, {} of {} MB",
                    p.segments_done,
                    p.segments_total,
                    p.records,
                    p.bytes_done >> 20,
                    p.bytes_total >> 20
                );
            }
        })?;
        let paging = store.queue(&QueueKey::new(PAGING_VHOST, PAGING_QUEUE));
        let durable = Durable { store, queues: FxHashMap::default(), paging, scratch: Vec::new(), tickets: VecDeque::new() };
        Ok((durable, recovered))
    }

    pub fn loader(&self) -> Box<dyn BodyLoader> {
        Box::new(Loader(self.store.loader()))
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<crate::store::Durability> {
        self.store.subscribe()
    }

    /// Hands the core every surviving message, each queue's in order.
    /// Messages stay on disk: the core keeps a key per message and reads
    /// them back when it delivers them. Each segment is read once, in log
    /// order, for the fields the queues need (priority, expiry, size).
    ///
    /// After an unclean stop every message comes back flagged redelivered:
    /// any of them may have been delivered (the flag means "may have been
    /// delivered before"), since deliveries are not written while running.
    /// That verdict is kept as a horizon (every id below it counts as
    /// delivered), so it also holds after later clean stops.
    pub fn restore(&mut self, broker: &mut Broker, recovered: Recovered, data: &DataDir, clean_stop: bool) -> Result<usize, StoreError> {
        self.apply_all(broker)?;
        let mut horizon = read_delivered_horizon(data);
        if !clean_stop && horizon < self.store.next_message_id() {
            horizon = self.store.next_message_id();
            write_delivered_horizon(data, horizon)?;
        }
        // Where each recovered queue's messages go in the core, looked up
        // once per queue; None drops them (the definition was not restored).
        let mut targets: Vec<Option<CoreQueue>> = Vec::new();
        for rq in &recovered.queues {
            if rq.key.vhost == PAGING_VHOST && rq.key.name == PAGING_QUEUE {
                // Paged transient bodies do not outlive the broker; purged,
                // they are gone from the index the walk below reads.
                self.store.purge_queue(rq.queue)?;
                continue;
            }
            let target = broker.restore_target(&rq.key.vhost, &rq.key.name);
            let slot = rq.queue.index();
            if targets.len() <= slot {
                targets.resize(slot + 1, None);
            }
            targets[slot] = target;
            if target.is_none() {
                tracing::warn!(
                    "dropping {} recovered messages of '{}' in vhost '{}': the queue's definition was not restored",
                    rq.live,
                    rq.key.name,
                    rq.key.vhost
                );
            }
        }
        // In log order, one segment at a time: each segment is read once
        // however many queues share it, and only one segment's worth of
        // references is held besides the index and the queues themselves.
        let reader = self.store.reader();
        let mut refs = Vec::new();
        let mut restored = 0;
        for segment in self.store.live_segments() {
            self.store.live_in_segment(segment, &mut refs);
            let io = |e: std::io::Error| StoreError::Io {
                path: format!("segment {segment}").into(),
                action: "read a recovered message from",
                source: std::sync::Arc::new(e),
            };
            let mut buf: Option<Bytes> = None;
            for r in refs.iter() {
                let Some(qid) = targets.get(r.queue.index()).copied().flatten() else {
                    self.store.ack_later(r.queue, r.id)?;
                    continue;
                };
                if buf.is_none() {
                    buf = Some(reader.read_segment(segment).map_err(io)?);
                }
                let buf = buf.as_ref().expect("read");
                let loc = r.location;
                let record = buf.get(loc.offset as usize..(loc.offset + loc.len) as usize).map(|b| buf.slice_ref(b));
                let stored = record
                    .ok_or_else(|| "record past the end of its segment".to_string())
                    .and_then(crate::store::decode_stored_message)
                    .map_err(|why| io(std::io::Error::new(std::io::ErrorKind::InvalidData, why)))?;
                let message = RestoredMessage {
                    key: r.id,
                    exchange: Default::default(),
                    routing_key: Default::default(),
                    properties: stored.properties,
                    body_len: stored.body.len(),
                    body: None,
                    redelivered: r.delivered || r.id < horizon,
                };
                if let Err(e) = broker.restore_message_into(qid, message) {
                    tracing::warn!("dropping a recovered message: {e}");
                    self.store.ack_later(r.queue, r.id)?;
                    continue;
                }
                restored += 1;
            }
        }
        self.store.flush_acks()?;
        broker.set_next_store_key(self.store.next_message_id());
        broker.finish_restore();
        self.apply_all(broker)?;
        Ok(restored)
    }

    /// Carries out every pending store op of the core.
    pub fn apply_all(&mut self, broker: &mut Broker) -> Result<(), StoreError> {
        while let Some(op) = broker.poll_store_op() {
            self.apply(op)?;
        }
        self.store.flush_acks()
    }

    fn queue(&self, n: u32) -> Result<QueueId, StoreError> {
        self.queues.get(&n).copied().ok_or_else(|| StoreError::Invalid(format!("unknown durable queue {n}")))
    }

    fn apply(&mut self, op: StoreOp) -> Result<(), StoreError> {
        match op {
            StoreOp::QueueDeclared { queue, vhost, name } => {
                let id = self.store.queue(&QueueKey::new(vhost, name.to_string()));
                self.queues.insert(queue, id);
            }
            StoreOp::Append { ticket, key, queues, exchange, routing_key, properties, body } => {
                let mut handles = std::mem::take(&mut self.scratch);
                handles.clear();
                for q in queues.iter() {
                    handles.push(self.queue(*q)?);
                }
                let msg =
                    NewMessage { queues: &handles, exchange: &exchange, routing_key: &routing_key, properties: &properties, body: &body };
                let a = self.store.append_as(key, &msg);
                self.scratch = handles;
                let a = a?;
                self.tickets.push_back((ticket, a.seq));
            }
            StoreOp::Page { ticket, key, body } => {
                let msg = NewMessage { queues: &[self.paging], exchange: "", routing_key: "", properties: &[0, 0], body: &body };
                let a = self.store.append_as(key, &msg)?;
                self.tickets.push_back((ticket, a.seq));
            }
            StoreOp::Delivered { key, queue } => {
                self.store.mark_delivered(self.queue(queue)?, key);
            }
            StoreOp::Ack { key, queue } => {
                self.store.ack_later(self.queue(queue)?, key)?;
            }
            StoreOp::Purged { queue } => {
                self.store.purge_queue(self.queue(queue)?)?;
            }
            StoreOp::QueueDeleted { queue } => {
                let id = self.queue(queue)?;
                self.store.delete_queue(id)?;
                self.queues.remove(&queue);
            }
            StoreOp::Unpage { key } => {
                self.store.ack_later(self.paging, key)?;
            }
        }
        Ok(())
    }

    /// The highest publish ticket now on disk, if it moved (`durable_seq`
    /// from the store's watch).
    pub fn durable_ticket(&mut self, durable_seq: Seq) -> Option<u64> {
        let mut ticket = None;
        while let Some(&(t, seq)) = self.tickets.front() {
            if seq > durable_seq {
                break;
            }
            self.tickets.pop_front();
            ticket = Some(t);
        }
        ticket
    }

    pub fn close(self) -> Result<(), StoreError> {
        self.store.close()
    }
}

/// The marker a clean stop leaves in the data directory.
const CLEAN_STOP: &str = "clean-stop";

/// Whether the last run stopped cleanly; the marker is removed, so a crash
/// from now on is seen at the next start.
pub fn take_clean_stop_marker(data: &DataDir) -> bool {
    let path = data.path().join(CLEAN_STOP);
    let clean = path.exists();
    if clean {
        let _ = std::fs::remove_file(&path);
        let _ = crate::store::sync_dir(data.path());
    }
    clean
}

/// Records a clean stop (after the store was closed).
pub fn leave_clean_stop_marker(data: &DataDir) {
    let path = data.path().join(CLEAN_STOP);
    if std::fs::write(&path, b"").is_ok() {
        let _ = crate::store::sync_dir(data.path());
    }
}

/// The file holding the delivered horizon: message ids below it were
/// present at an unclean stop and count as delivered.
const DELIVERED_HORIZON: &str = "delivered-horizon";

fn read_delivered_horizon(data: &DataDir) -> u64 {
    std::fs::read_to_string(data.path().join(DELIVERED_HORIZON)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Atomically replaced and fsynced before anything is delivered.
fn write_delivered_horizon(data: &DataDir, horizon: u64) -> Result<(), StoreError> {
    crate::store::replace_file(data.path(), DELIVERED_HORIZON, format!("{horizon}\n").as_bytes())
}
