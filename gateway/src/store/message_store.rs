//! [`MessageStore`]: the owner's handle on the message log. It assigns
//! message ids, places records in segments, keeps the ledger, and hands
//! encoded records to the committer thread. See the module docs in
//! `store/mod.rs` for how the owner drives it.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;

use super::committer::{self, Appender, Durability, FaultHook, Shared};
use super::data_dir::DataDir;
use super::ledger::{Ledger, QID_MASK};
use super::queues::{QueueId, QueueKey, QueueTable};
use super::reader::{StoreLoader, StoreReader};
use super::record::{self, StoredMessage, MESSAGE_EVENT_LEN, QUEUE_EVENT_LEN, SEGMENT_HEADER_LEN};
use super::recovery::{self, RecoveryProgress, RecoveryStats};
use super::{Location, MessageId, Seq, StoreError};

/// Default largest segment file.
pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 64 << 20;

/// How to open the store.
#[derive(Clone)]
pub struct StoreConfig {
    /// A segment is sealed and a new one started when the next record
    /// would take it past this size. A record bigger than this gets a
    /// segment of its own.
    pub segment_max_bytes: u64,
    /// Recovery reports progress every this many records (and after each
    /// segment).
    pub progress_every_records: u64,
    /// Test hook run before each write, sync and unlink (see [`FaultHook`]).
    pub fault_hook: Option<FaultHook>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { segment_max_bytes: DEFAULT_SEGMENT_MAX_BYTES, progress_every_records: 1_000_000, fault_hook: None }
    }
}

/// A message to append. `queues` are the durable queues it was routed to;
/// it is written once for all of them.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    pub queues: &'a [QueueId],
    pub exchange: &'a str,
    pub routing_key: &'a str,
    /// Raw AMQP content-header property octets.
    pub properties: &'a [u8],
    pub body: &'a [u8],
}

/// Where an appended message went. It is durable once the committer
/// reports a durable sequence number `>= seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub id: MessageId,
    pub location: Location,
    pub seq: Seq,
}

/// The state found on open: the queues with live messages. The messages
/// themselves stay in the store's index: walk them segment by segment
/// ([`MessageStore::live_segments`], [`MessageStore::live_in_segment`]), so
/// that restoring 100 million of them never holds a second list of them.
#[derive(Debug, Default)]
pub struct Recovered {
    pub queues: Vec<RecoveredQueue>,
    pub stats: RecoveryStats,
}

#[derive(Debug)]
pub struct RecoveredQueue {
    pub key: QueueKey,
    pub queue: QueueId,
    /// How many live messages it has.
    pub live: usize,
}

/// A live message of a recovered queue, as a segment walk yields it: once
/// per queue that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveredRef {
    pub queue: QueueId,
    pub id: MessageId,
    pub location: Location,
    pub delivered: bool,
}

/// A live message of a recovered queue. Read its contents with
/// [`MessageStore::read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveredMessage {
    pub id: MessageId,
    pub location: Location,
    /// The queue had delivered it and no ack followed: deliver it again
    /// with the redelivered flag.
    pub delivered: bool,
}

/// Counters for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    pub segments: usize,
    pub live_messages: usize,
    pub last_seq: Seq,
    pub durable_seq: Seq,
    pub unsynced_bytes: usize,
    pub file_syncs: u64,
    pub batches: u64,
}

pub struct MessageStore {
    /// Keeps the directory locked while the store is open.
    _data: DataDir,
    segment_max_bytes: u64,
    /// Shared with the [`StoreLoader`], which finds messages by id in it.
    ledger: Arc<Mutex<Ledger>>,
    /// Acks not yet written: (queue, id). Written as ranges by
    /// [`flush_acks`](Self::flush_acks).
    pending_acks: Vec<(u32, MessageId)>,
    scratch_qids: Vec<u32>,
    queues: QueueTable,
    /// Per queue number, the segment whose `QueueName` record binds it.
    bound_in: Vec<u64>,
    /// The segment being appended to and its length.
    head: Option<(u64, u64)>,
    next_segment: u64,
    next_message_id: u64,
    /// A segment was sealed: look for pinned segments to release.
    carry_forward_due: bool,
    shared: Arc<Shared>,
    committer: Option<JoinHandle<()>>,
    reader: StoreReader,
}

/// A segment with more live messages than this is not carried forward:
/// the record would be too big to write once per rollover.
const CARRY_FORWARD_MAX_LIVE: u64 = 4096;

impl MessageStore {
    /// Recovers the log under `data` and starts the committer.
    pub fn open(data: &DataDir, config: StoreConfig) -> Result<(Self, Recovered), StoreError> {
        Self::open_with_progress(data, config, |_| {})
    }

    /// As [`open`](Self::open), calling `progress` during recovery.
    pub fn open_with_progress(
        data: &DataDir,
        config: StoreConfig,
        mut progress: impl FnMut(&RecoveryProgress),
    ) -> Result<(Self, Recovered), StoreError> {
        if config.segment_max_bytes < 2 * SEGMENT_HEADER_LEN as u64 || config.segment_max_bytes > u32::MAX as u64 {
            return Err(StoreError::Invalid(format!("segment size {} out of range", config.segment_max_bytes)));
        }
        let dir = data.segments_dir();
        let replayed = recovery::replay(&dir, config.progress_every_records, &mut progress)?;
        let (shared, _) = Shared::new();
        let committer = committer::spawn(shared.clone(), dir.clone(), config.fault_hook.clone())
            .map_err(|e| StoreError::io(&dir, "start the committer thread for", e))?;
        let reader = StoreReader::new(shared.clone(), dir.clone());
        let store = MessageStore {
            _data: data.clone(),
            segment_max_bytes: config.segment_max_bytes,
            ledger: Arc::new(Mutex::new(replayed.ledger)),
            pending_acks: Vec::new(),
            scratch_qids: Vec::new(),
            bound_in: vec![0; replayed.queues.len()],
            queues: replayed.queues,
            head: replayed.head,
            next_segment: replayed.next_segment,
            next_message_id: replayed.next_message_id,
            carry_forward_due: true,
            shared,
            committer: Some(committer),
            reader,
        };
        let recovered = Recovered { queues: store.recovered_queues(), stats: replayed.stats };
        Ok((store, recovered))
    }

    fn recovered_queues(&self) -> Vec<RecoveredQueue> {
        let mut live = vec![0usize; self.queues.len()];
        self.ledger().for_each_live(|_, _, refs| {
            for r in refs {
                live[(r & QID_MASK) as usize] += 1;
            }
        });
        live.into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(qid, live)| {
                let queue = QueueId(qid as u32);
                RecoveredQueue { key: self.queues.key(queue).expect("interned").clone(), queue, live }
            })
            .collect()
    }

    /// The segments holding live messages, oldest first.
    pub fn live_segments(&self) -> Vec<u64> {
        let ledger = self.ledger();
        ledger.segment_ids().filter(|s| ledger.counts(*s).is_some_and(|(live, _)| live > 0)).collect()
    }

    /// The live messages of `segment` in log order, once per queue holding
    /// each, into `out` (cleared first).
    pub fn live_in_segment(&self, segment: u64, out: &mut Vec<RecoveredRef>) {
        out.clear();
        self.ledger().for_each_live_in(segment, |id, location, refs| {
            for r in refs {
                let delivered = r & super::ledger::DELIVERED != 0;
                out.push(RecoveredRef { queue: QueueId(r & QID_MASK), id, location, delivered });
            }
        });
    }

    /// Every live message of `queue`, in log order (for tools and tests; a
    /// restore walks segments instead).
    pub fn recovered_messages(&self, queue: QueueId) -> Vec<RecoveredMessage> {
        let mut out = Vec::new();
        self.ledger().for_each_live(|id, location, refs| {
            for r in refs.iter().filter(|r| *r & QID_MASK == queue.0) {
                out.push(RecoveredMessage { id, location, delivered: r & super::ledger::DELIVERED != 0 });
            }
        });
        out
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // Only plain counters behind it; a panic elsewhere leaves them usable.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The handle for a durable queue, for appends and acks.
    pub fn queue(&mut self, key: &QueueKey) -> QueueId {
        let id = self.queues.intern(key);
        if self.bound_in.len() < self.queues.len() {
            self.bound_in.resize(self.queues.len(), 0);
        }
        id
    }

    /// The id the next append gets; ids chosen by the caller (see
    /// [`append_as`](Self::append_as)) must not be below it.
    pub fn next_message_id(&self) -> MessageId {
        self.next_message_id
    }

    /// Appends under an id the caller chose (the broker core numbers its
    /// messages itself). Ids must keep increasing, as with [`append`](Self::append).
    pub fn append_as(&mut self, id: MessageId, msg: &NewMessage<'_>) -> Result<Appended, StoreError> {
        if id < self.next_message_id {
            return Err(StoreError::Invalid(format!("message id {id} is below the next id {}", self.next_message_id)));
        }
        self.next_message_id = id;
        self.append(msg)
    }

    /// Appends a message routed to `msg.queues` (at least one). Returns at
    /// once; the record is durable when the durable sequence number
    /// reaches the returned `seq`.
    pub fn append(&mut self, msg: &NewMessage<'_>) -> Result<Appended, StoreError> {
        // A reused buffer: no allocation per message.
        let mut qids = std::mem::take(&mut self.scratch_qids);
        qids.clear();
        let appended = self.append_for(msg, &mut qids);
        self.scratch_qids = qids;
        appended
    }

    fn append_for(&mut self, msg: &NewMessage<'_>, qids: &mut Vec<u32>) -> Result<Appended, StoreError> {
        for q in msg.queues {
            self.check_queue(*q)?;
            if !qids.contains(&q.0) {
                qids.push(q.0);
            }
        }
        let qids = &qids[..];
        if qids.is_empty() {
            return Err(StoreError::Invalid("a message needs at least one queue".into()));
        }
        if !record::message_fits(qids.len(), msg.exchange, msg.routing_key, msg.properties, msg.body) {
            return Err(StoreError::Invalid("message too large for the log format".into()));
        }
        let len = record::message_len(qids.len(), msg.exchange, msg.routing_key, msg.properties, msg.body) as u64;
        let shared = self.shared.clone();
        shared.append(|a| {
            let (segment, offset) = self.make_room(a, qids, len);
            let id = self.next_message_id;
            self.next_message_id += 1;
            let seq = a.write(segment, offset, |buf| {
                record::encode_message(buf, id, qids, msg.exchange, msg.routing_key, msg.properties, msg.body);
            });
            let location = Location { segment, offset: offset as u32, len: len as u32 };
            self.ledger().add_message(id, location, qids);
            self.carry_forward(a);
            Appended { id, location, seq }
        })
    }

    /// Records that `queue` delivered message `id`, so a restart after a
    /// clean close flags it redelivered. Writes nothing now: the flag is
    /// written by [`close`](Self::close), since after a crash every message
    /// comes back flagged anyway (the owner's delivered horizon). Returns
    /// false if the queue does not hold the message or it is already flagged.
    pub fn mark_delivered(&mut self, queue: QueueId, id: MessageId) -> bool {
        self.ledger().flag_delivered(id, queue.0)
    }

    /// Records that `queue` is done with message `id` (acked, or dropped by
    /// expiry or overflow), writing the record now. Returns None, writing
    /// nothing, if the queue does not hold it. The message's segment may be
    /// deleted afterwards.
    pub fn ack(&mut self, queue: QueueId, id: MessageId) -> Result<Option<Seq>, StoreError> {
        self.flush_acks()?;
        if !self.ledger().holds(id, queue.0) {
            return Ok(None);
        }
        self.message_event(queue, id, record::encode_ack, |ledger, at| ledger.ack(at, id, queue.0))
    }

    /// As [`ack`](Self::ack), but written by the next
    /// [`flush_acks`](Self::flush_acks), which writes each run of acks as
    /// one record. The store also flushes before any other ack, queue
    /// events and on close.
    pub fn ack_later(&mut self, queue: QueueId, id: MessageId) -> Result<(), StoreError> {
        self.check_queue(queue)?;
        if let Some(failure) = self.shared.failure() {
            return Err(StoreError::Failed(failure));
        }
        self.pending_acks.push((queue.0, id));
        Ok(())
    }

    /// Writes the pending acks: per queue, each run of acked ids with no
    /// other message of that queue in between becomes one record.
    pub fn flush_acks(&mut self) -> Result<(), StoreError> {
        if self.pending_acks.is_empty() {
            return Ok(());
        }
        let mut acks = std::mem::take(&mut self.pending_acks);
        acks.sort_unstable();
        acks.dedup();
        let ranges = {
            let ledger = self.ledger();
            acks.retain(|&(q, id)| ledger.holds(id, q));
            ack_ranges(&acks, |q, id| ledger.holds(id, q))
        };
        acks.clear();
        self.pending_acks = acks;
        for (qid, first, last) in ranges {
            let queue = QueueId(qid);
            if first == last {
                self.message_event(queue, first, record::encode_ack, |ledger, at| ledger.ack(at, first, qid))?;
            } else {
                let encode = |buf: &mut Vec<u8>| record::encode_ack_range(buf, qid, first, last);
                self.tombstone(queue, record::ACK_RANGE_LEN, encode, |ledger, at| ledger.ack_range(at, qid, first, last))?;
            }
        }
        Ok(())
    }

    fn message_event(
        &mut self,
        queue: QueueId,
        id: MessageId,
        encode: fn(&mut Vec<u8>, u64, u32) -> usize,
        apply: impl FnOnce(&mut Ledger, u64) -> bool,
    ) -> Result<Option<Seq>, StoreError> {
        let seq = self.tombstone(
            queue,
            MESSAGE_EVENT_LEN,
            |buf| encode(buf, id, queue.0),
            |ledger, at| {
                apply(ledger, at);
            },
        )?;
        Ok(Some(seq))
    }

    /// Writes one record of `len` bytes about `queue`'s messages, applies
    /// it to the ledger (`apply` gets the segment it landed in), and lets
    /// go of what it made deletable.
    fn tombstone(
        &mut self,
        queue: QueueId,
        len: usize,
        encode: impl FnOnce(&mut Vec<u8>) -> usize,
        apply: impl FnOnce(&mut Ledger, u64),
    ) -> Result<Seq, StoreError> {
        let shared = self.shared.clone();
        shared.append(|a| {
            let (segment, offset) = self.make_room(a, &[queue.0], len as u64);
            let seq = a.write(segment, offset, |buf| {
                encode(buf);
            });
            apply(&mut self.ledger(), segment);
            self.queue_deletions(a);
            self.carry_forward(a);
            seq
        })
    }

    /// Drops every message `queue` holds. Returns the record's sequence
    /// number and how many messages the queue held.
    pub fn purge_queue(&mut self, queue: QueueId) -> Result<(Seq, usize), StoreError> {
        self.queue_event(queue, false)
    }

    /// As [`purge_queue`](Self::purge_queue), for a deleted queue.
    pub fn delete_queue(&mut self, queue: QueueId) -> Result<(Seq, usize), StoreError> {
        self.queue_event(queue, true)
    }

    fn queue_event(&mut self, queue: QueueId, deleted: bool) -> Result<(Seq, usize), StoreError> {
        self.check_queue(queue)?;
        self.flush_acks()?;
        let shared = self.shared.clone();
        shared.append(|a| {
            let (segment, offset) = self.make_room(a, &[queue.0], QUEUE_EVENT_LEN as u64);
            let seq = a.write(segment, offset, |buf| {
                record::encode_queue_event(buf, deleted, queue.0);
            });
            let count = self.ledger().purge(segment, queue.0);
            self.queue_deletions(a);
            self.carry_forward(a);
            (seq, count)
        })
    }

    fn check_queue(&self, queue: QueueId) -> Result<(), StoreError> {
        match self.queues.key(queue) {
            Some(_) => Ok(()),
            None => Err(StoreError::Invalid(format!("unknown queue handle {}", queue.0))),
        }
    }

    /// Makes room for a record of `len` bytes that names `qids`: starts a
    /// new segment if the head would overflow, then writes the `QueueName`
    /// records the head lacks. Returns where the record goes.
    fn make_room(&mut self, a: &mut Appender<'_>, qids: &[u32], len: u64) -> (u64, u64) {
        let names = |store: &Self, segment: u64| -> u64 {
            qids.iter()
                .filter(|&&q| store.bound_in[q as usize] != segment)
                .map(|&q| {
                    let key = store.queues.key(QueueId(q)).expect("checked");
                    record::queue_name_len(&key.vhost, &key.name) as u64
                })
                .sum()
        };
        let fits = match self.head {
            Some((segment, size)) => size + names(self, segment) + len <= self.segment_max_bytes || size <= SEGMENT_HEADER_LEN as u64,
            None => false,
        };
        if !fits {
            self.start_segment(a);
        }
        let (segment, mut size) = self.head.expect("a head exists now");
        for &q in qids {
            if self.bound_in[q as usize] == segment {
                continue;
            }
            let key = self.queues.key(QueueId(q)).expect("checked");
            a.write(segment, size, |buf| {
                size += record::encode_queue_name(buf, q, &key.vhost, &key.name) as u64;
            });
            self.bound_in[q as usize] = segment;
        }
        self.head = Some((segment, size + len));
        (segment, size)
    }

    fn start_segment(&mut self, a: &mut Appender<'_>) {
        let segment = self.next_segment;
        self.next_segment += 1;
        let header = record::SegmentHeader { segment, first_message_id: self.next_message_id };
        a.write(segment, 0, |buf| record::encode_segment_header(buf, header));
        self.ledger().open_segment(segment);
        if let Some((old, _)) = self.head.replace((segment, SEGMENT_HEADER_LEN as u64)) {
            self.ledger().consider(old);
            self.queue_deletions(a);
        }
        self.carry_forward_due = true;
    }

    /// After a segment was sealed: writes a `SegmentState` record for each
    /// small segment that pins a sealed segment holding nothing live, so the
    /// pinned one can go (see `ledger`).
    fn carry_forward(&mut self, a: &mut Appender<'_>) {
        if !std::mem::take(&mut self.carry_forward_due) {
            return;
        }
        let head = self.head.map(|(id, _)| id);
        let targets = self.ledger().carry_forward_targets(head, CARRY_FORWARD_MAX_LIVE);
        for target in targets {
            let live = self.ledger().segment_state(target);
            let mut qids: Vec<u32> = live.iter().flat_map(|(_, refs)| refs.iter().map(|r| r & QID_MASK)).collect();
            qids.sort_unstable();
            qids.dedup();
            let len = record::segment_state_len(&live) as u64;
            let (segment, offset) = self.make_room(a, &qids, len);
            a.write(segment, offset, |buf| {
                record::encode_segment_state(buf, target, &live);
            });
            self.ledger().apply_segment_state(segment, target, live);
        }
        self.queue_deletions(a);
    }

    /// Queues the deletion of every segment the ledger says is no longer
    /// needed.
    fn queue_deletions(&mut self, a: &mut Appender<'_>) {
        let deletable = self.ledger().take_deletable(self.head.map(|(id, _)| id));
        for segment in deletable {
            a.delete(segment);
            self.reader.forget(segment);
        }
    }

    /// Reads a message back by location (see [`StoreReader::read`]).
    pub fn read(&self, location: Location) -> io::Result<StoredMessage> {
        self.reader.read(location)
    }

    /// A handle for reading on other threads while the owner appends.
    pub fn reader(&self) -> StoreReader {
        self.reader.clone()
    }

    /// Reads live messages back by id, sequentially where it can.
    pub fn loader(&self) -> StoreLoader {
        StoreLoader::new(self.ledger.clone(), self.reader.clone())
    }

    /// Where a live message is.
    pub fn location(&self, id: MessageId) -> Option<Location> {
        self.ledger().location(id)
    }

    /// The highest sequence number handed out so far.
    pub fn last_seq(&self) -> Seq {
        self.shared.last_seq()
    }

    /// Every record up to this sequence number is on disk.
    pub fn durable_seq(&self) -> Seq {
        self.shared.durable_seq()
    }

    /// Durability notifications for an async owner: the value changes each
    /// time the durable sequence number advances or the store fails.
    pub fn subscribe(&self) -> watch::Receiver<Durability> {
        self.shared.subscribe()
    }

    /// Blocks until `seq` is durable. For tools and tests; an async owner
    /// waits on [`subscribe`](Self::subscribe) instead.
    pub fn wait_durable(&self, seq: Seq) -> Result<(), StoreError> {
        self.shared.wait_durable(seq)
    }

    /// The error that stopped the store, if it has failed.
    pub fn failure(&self) -> Option<Arc<StoreError>> {
        self.shared.failure()
    }

    pub fn stats(&self) -> StoreStats {
        use std::sync::atomic::Ordering::Relaxed;
        let ledger = self.ledger();
        StoreStats {
            segments: ledger.segment_ids().count(),
            live_messages: ledger.live_count(),
            last_seq: self.shared.last_seq(),
            durable_seq: self.shared.durable_seq(),
            unsynced_bytes: self.shared.unsynced_bytes(),
            file_syncs: self.shared.file_syncs.load(Relaxed),
            batches: self.shared.batches.load(Relaxed),
        }
    }

    /// Makes everything appended durable, stops the committer and releases
    /// the directory. Fails if the store failed at any point.
    pub fn close(mut self) -> Result<(), StoreError> {
        if self.shared.failure().is_none() {
            self.flush_acks()?;
            self.write_deliveries()?;
        }
        self.stop();
        match self.shared.failure() {
            Some(failure) => Err(StoreError::Failed(failure)),
            None => Ok(()),
        }
    }

    /// Writes a Delivered record for each delivery flagged in memory only.
    fn write_deliveries(&mut self) -> Result<(), StoreError> {
        let pending = self.ledger().unwritten_deliveries();
        for (id, qid) in pending {
            self.message_event(QueueId(qid), id, record::encode_delivered, |ledger, at| ledger.mark_delivered(at, id, qid))?;
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(committer) = self.committer.take() {
            self.shared.close();
            if committer.join().is_err() {
                tracing::error!("message store committer thread panicked");
            }
        }
    }
}

/// Splits sorted, distinct (queue, id) acks into (queue, first, last)
/// runs: ids between two acks of a run are not held by that queue
/// (`holds`), so applying the range acks exactly these. Gaps wider than
/// a few ids end a run (each id in a gap costs a lookup).
fn ack_ranges(acks: &[(u32, MessageId)], holds: impl Fn(u32, MessageId) -> bool) -> Vec<(u32, MessageId, MessageId)> {
    const MAX_GAP: u64 = 64;
    let mut out: Vec<(u32, MessageId, MessageId)> = Vec::new();
    for &(qid, id) in acks {
        if let Some((q, first, last)) = out.last_mut() {
            let fits = *q == qid && id - *last <= MAX_GAP && id - *first < record::MAX_ACK_RANGE;
            if fits && (*last + 1..id).all(|between| !holds(qid, between)) {
                *last = id;
                continue;
            }
        }
        out.push((qid, id, id));
    }
    out
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.stop();
    }
}
