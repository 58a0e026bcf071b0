//! Recovery: reads every segment in order, checks every record, and
//! replays the log into a [`Ledger`].
//!
//! What counts as a torn tail, and what as corruption:
//! - Only the last segment may end in a torn tail. The committer syncs a
//!   segment before it creates the next (see `committer`), so damage in an
//!   earlier segment is never the trace of a crash.
//! - In the last segment, a damaged frame is a torn tail when no valid
//!   frame follows it: the bytes after it are an incomplete frame, zeros or
//!   garbage, as a crash in the middle of a write leaves them. The file is
//!   truncated to the last good record.
//! - A damaged frame followed by a valid one is corruption, as is a frame
//!   whose checksums hold but whose contents do not parse. Open fails with
//!   the file and byte offset; recovery does not guess.
//! - A last segment too short for its header, or with a damaged header and
//!   no valid frame, was never synced: it is removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::data_dir::{parse_segment_file_name, segment_file_name, sync_dir};
use super::ledger::{Ledger, DELIVERED, QID_MASK};
use super::queues::{QueueId, QueueKey, QueueTable};
use super::record::{self, FrameCheck, Record, SEGMENT_HEADER_LEN};
use super::{Location, StoreError};

/// Reported to the progress callback after each segment and every
/// `StoreConfig::progress_every_records` records.
#[derive(Debug, Clone, Default)]
pub struct RecoveryProgress {
    pub segments_done: usize,
    pub segments_total: usize,
    pub records: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What recovery did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryStats {
    pub segments: usize,
    pub records: u64,
    pub bytes: u64,
    pub live_messages: usize,
    /// The file and length a torn tail was cut back to, if there was one.
    pub truncated: Option<(PathBuf, u64)>,
    /// Segments found reclaimable (or torn before their header) and deleted.
    pub deleted_segments: usize,
    pub elapsed: Duration,
}

/// The replayed log, handed to the store.
pub struct Replayed {
    pub ledger: Ledger,
    pub queues: QueueTable,
    pub next_message_id: u64,
    /// The segment to keep appending to and its length, if any exists.
    pub head: Option<(u64, u64)>,
    /// The id the next new segment gets.
    pub next_segment: u64,
    pub stats: RecoveryStats,
}

pub fn replay(dir: &Path, progress_every: u64, progress: &mut dyn FnMut(&RecoveryProgress)) -> Result<Replayed, StoreError> {
    let started = Instant::now();
    let files = list_segments(dir)?;
    let mut state = Replayed {
        ledger: Ledger::default(),
        queues: QueueTable::default(),
        next_message_id: 1,
        head: None,
        next_segment: files.last().map_or(1, |(id, _)| id + 1),
        stats: RecoveryStats::default(),
    };
    let mut report =
        RecoveryProgress { segments_total: files.len(), bytes_total: files.iter().map(|(_, len)| len).sum(), ..Default::default() };
    for (index, &(segment, _)) in files.iter().enumerate() {
        let path = dir.join(segment_file_name(segment));
        let is_last = index + 1 == files.len();
        let buf = std::fs::read(&path).map_err(|e| StoreError::io(&path, "read segment", e))?;
        let Some(header) = record::decode_segment_header(&buf).filter(|h| h.segment == segment) else {
            if is_last && record::valid_frame_after(&buf, 0).is_none() {
                remove_unsynced_segment(dir, &path)?;
                state.stats.deleted_segments += 1;
                state.next_segment = segment;
                continue;
            }
            return Err(StoreError::corrupt(&path, 0, "bad segment header"));
        };
        state.next_message_id = state.next_message_id.max(header.first_message_id);
        state.ledger.open_segment(segment);
        let mut local: FxHashMap<u32, QueueId> = FxHashMap::default();
        let mut at = SEGMENT_HEADER_LEN;
        while at < buf.len() {
            let check = record::check_frame(&buf, at);
            let FrameCheck::Valid { payload, next } = check else {
                if let Some(reason) = corruption(&buf, at, &check, is_last) {
                    return Err(StoreError::corrupt(&path, at as u64, reason));
                }
                truncate(&path, at as u64)?;
                state.stats.truncated = Some((path.clone(), at as u64));
                break;
            };
            let location = Location { segment, offset: at as u32, len: (next - at) as u32 };
            apply(&mut state, &mut local, payload, location).map_err(|why| StoreError::corrupt(&path, at as u64, why))?;
            at = next;
            report.records += 1;
            if progress_every > 0 && report.records.is_multiple_of(progress_every) {
                progress(&RecoveryProgress { bytes_done: report.bytes_done + at as u64, ..report.clone() });
            }
        }
        state.head = Some((segment, at as u64));
        state.stats.bytes += at as u64;
        report.segments_done = index + 1;
        report.bytes_done += buf.len() as u64;
        progress(&report);
    }
    state.stats.segments = files.len() - state.stats.deleted_segments;
    state.stats.records = report.records;

    // Segments that became reclaimable just before a crash go now.
    state.ledger.consider_all();
    for segment in state.ledger.take_deletable(state.head.map(|(id, _)| id)) {
        let path = dir.join(segment_file_name(segment));
        std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, "delete", e))?;
        sync_dir(dir)?;
        state.stats.deleted_segments += 1;
        state.stats.segments -= 1;
    }
    state.stats.live_messages = state.ledger.live_count();
    state.stats.elapsed = started.elapsed();
    Ok(state)
}

/// Segment files under `dir` with their lengths, oldest first. Other files
/// are left alone.
fn list_segments(dir: &Path) -> Result<Vec<(u64, u64)>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, "list", e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, "list", e))?;
        let Some(id) = entry.file_name().to_str().and_then(parse_segment_file_name) else { continue };
        let len = entry.metadata().map_err(|e| StoreError::io(entry.path(), "stat", e))?.len();
        files.push((id, len));
    }
    files.sort_unstable();
    Ok(files)
}

/// Why the damaged frame at `at` is corruption, or None for a torn tail.
fn corruption(buf: &[u8], at: usize, check: &FrameCheck<'_>, is_last: bool) -> Option<String> {
    let what = match check {
        FrameCheck::Incomplete { .. } => "incomplete record",
        FrameCheck::BadHeader => "record header checksum mismatch",
        FrameCheck::BadPayload { .. } => "record payload checksum mismatch",
        FrameCheck::Valid { .. } => unreachable!("only damage is classified"),
    };
    if !is_last {
        return Some(format!("{what} in a segment that is not the last"));
    }
    // A valid header means the frame really ends at `end`: look after it.
    // A bad header says nothing about the length, so look at every byte.
    let resume = match check {
        FrameCheck::Incomplete { .. } => return None,
        FrameCheck::BadPayload { end } => *end,
        _ => at + 1,
    };
    record::valid_frame_after(buf, resume).map(|next| format!("{what}, followed by a valid record at offset {next}; not a torn tail"))
}

fn truncate(path: &Path, len: u64) -> Result<(), StoreError> {
    tracing::warn!("message log {}: torn tail, truncating to {len} bytes", path.display());
    let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| StoreError::io(path, "open", e))?;
    file.set_len(len).map_err(|e| StoreError::io(path, "truncate", e))?;
    file.sync_all().map_err(|e| StoreError::io(path, "fsync", e))
}

fn remove_unsynced_segment(dir: &Path, path: &Path) -> Result<(), StoreError> {
    tracing::warn!("message log {}: segment without a complete header, removing it", path.display());
    std::fs::remove_file(path).map_err(|e| StoreError::io(path, "delete", e))?;
    sync_dir(dir)
}

/// Replays one record. An error is a record that passed its checksums but
/// makes no sense.
fn apply(state: &mut Replayed, local: &mut FxHashMap<u32, QueueId>, payload: &[u8], location: Location) -> Result<(), String> {
    let segment = location.segment;
    let queue = |local: &FxHashMap<u32, QueueId>, qid: u32| {
        local.get(&qid).map(|q| q.0).ok_or_else(|| format!("queue number {qid} is not bound in this segment"))
    };
    match record::decode(payload)? {
        Record::QueueName { qid, vhost, name } => {
            let id = state.queues.intern(&QueueKey::new(vhost, name));
            local.insert(qid, id);
        }
        Record::Message(m) => {
            let mut qids = Vec::with_capacity(1);
            for qid in m.qids() {
                let q = queue(local, qid)?;
                if !qids.contains(&q) {
                    qids.push(q);
                }
            }
            if qids.is_empty() {
                return Err(format!("message {} has no queue", m.id));
            }
            state.ledger.add_message(m.id, location, &qids);
            state.next_message_id = state.next_message_id.max(m.id + 1);
        }
        // Tombstones about messages the ledger does not know are about
        // messages whose segments were already deleted: nothing to do.
        Record::Delivered { id, qid } => {
            state.ledger.mark_delivered(segment, id, queue(local, qid)?);
        }
        Record::Ack { id, qid } => {
            state.ledger.ack(segment, id, queue(local, qid)?);
        }
        Record::AckRange { qid, first, last } => {
            state.ledger.ack_range(segment, queue(local, qid)?, first, last);
        }
        Record::QueuePurged { qid } | Record::QueueDeleted { qid } => {
            state.ledger.purge(segment, queue(local, qid)?);
        }
        Record::SegmentState(s) => {
            let mut live = Vec::new();
            for (id, refs) in s.entries() {
                let refs =
                    refs.into_iter().map(|r| Ok(queue(local, r & QID_MASK)? | (r & DELIVERED))).collect::<Result<Vec<u32>, String>>()?;
                live.push((id, refs));
            }
            state.ledger.apply_segment_state(segment, s.segment, live);
        }
    }
    Ok(())
}
