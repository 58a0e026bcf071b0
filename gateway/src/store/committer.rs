//! Group commit: the owner appends encoded records to an in-memory queue
//! and gets a sequence number at once; one committer thread writes what
//! has queued up, fdatasyncs it, and publishes the highest sequence number
//! now durable. Everything appended while one fsync runs is covered by the
//! next, so the fsync rate is set by the disk, not by the append rate.
//!
//! Failure is sticky. If a write, fsync or unlink fails, the committer
//! records the error (naming the file), publishes it, and stops: the
//! durable sequence number never moves again, and every later append is
//! refused. It does not retry an fsync: after a failed fsync the kernel may
//! have dropped the dirty pages, so a retry that "succeeds" proves nothing.
//!
//! Ordering rules the committer keeps for recovery's sake:
//! - a new segment is created only after the previous one is synced, so a
//!   damaged record in any segment but the last is real corruption;
//! - a new segment's directory entry is synced before its records count as
//!   durable;
//! - deletions run after the batch before them is durable, each unlink is
//!   made durable (directory fsync) before the next, in the order the
//!   ledger chose.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tokio::sync::watch;

use super::data_dir::{segment_file_name, sync_dir};
use super::{Location, StoreError};

/// Which I/O step a [`FaultHook`] is about to let happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoStep {
    Write,
    /// fdatasync of a segment file or fsync of the segment directory.
    Sync,
    Delete,
}

/// Test hook called by the committer before each write, sync and unlink
/// with the file concerned. An `Err` is treated as that step failing; a
/// sleep makes the step slow.
pub type FaultHook = Arc<dyn Fn(IoStep, &Path) -> io::Result<()> + Send + Sync>;

/// What the committer has made durable, as published on the watch channel.
#[derive(Debug, Clone, Default)]
pub struct Durability {
    /// Every record with a sequence number up to this one is on disk.
    pub seq: u64,
    /// Set once the store has failed; `seq` no longer moves.
    pub failed: Option<Arc<StoreError>>,
}

/// A unit of work for the committer, in log order.
#[derive(Debug)]
pub enum Op {
    Write { segment: u64, offset: u64, data: Vec<u8> },
    Delete { segment: u64 },
}

/// State shared by the owner and the committer thread.
pub struct Shared {
    state: Mutex<Pending>,
    /// Wakes the committer when work arrives or the store closes.
    work: Condvar,
    /// Wakes blocking waiters when durability changes.
    durable: Condvar,
    watch: watch::Sender<Durability>,
    /// fdatasync calls on segment files (directory fsyncs not counted).
    pub file_syncs: AtomicU64,
    /// Batches written (one per committer round).
    pub batches: AtomicU64,
}

#[derive(Default)]
struct Pending {
    ops: Vec<Op>,
    /// Bytes in `ops` plus the batch being written.
    unsynced_bytes: usize,
    last_seq: u64,
    durable_seq: u64,
    /// The batch the committer is writing, readable until it is in the file.
    inflight: Option<Arc<Vec<Op>>>,
    committer_idle: bool,
    closing: bool,
    failure: Option<Arc<StoreError>>,
    /// Write buffers handed back by the committer for reuse.
    spare: Vec<Vec<u8>>,
}

impl Shared {
    pub fn new() -> (Arc<Self>, watch::Receiver<Durability>) {
        let (watch, rx) = watch::channel(Durability::default());
        let shared = Shared {
            state: Mutex::new(Pending::default()),
            work: Condvar::new(),
            durable: Condvar::new(),
            watch,
            file_syncs: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        };
        (Arc::new(shared), rx)
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves only plain data behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the queue locked, so a message and the queue-name
    /// records it needs get consecutive sequence numbers in one step.
    pub fn append<R>(&self, f: impl FnOnce(&mut Appender<'_>) -> R) -> Result<R, StoreError> {
        let mut p = self.lock();
        if let Some(failure) = &p.failure {
            return Err(StoreError::Failed(failure.clone()));
        }
        let result = f(&mut Appender { p: &mut p });
        if p.committer_idle && !p.ops.is_empty() {
            p.committer_idle = false;
            self.work.notify_one();
        }
        Ok(result)
    }

    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    pub fn durable_seq(&self) -> u64 {
        self.lock().durable_seq
    }

    pub fn unsynced_bytes(&self) -> usize {
        self.lock().unsynced_bytes
    }

    pub fn failure(&self) -> Option<Arc<StoreError>> {
        self.lock().failure.clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Durability> {
        self.watch.subscribe()
    }

    /// Blocks until `seq` is durable (or the store has failed).
    pub fn wait_durable(&self, seq: u64) -> Result<(), StoreError> {
        let mut p = self.lock();
        let seq = seq.min(p.last_seq);
        loop {
            if p.durable_seq >= seq {
                return Ok(());
            }
            if let Some(failure) = &p.failure {
                return Err(StoreError::Failed(failure.clone()));
            }
            p = self.durable.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The bytes at `loc` if they are still queued or being written, i.e.
    /// not yet readable from the file.
    pub fn unwritten(&self, loc: Location) -> Option<Vec<u8>> {
        let p = self.lock();
        let queued = p.ops.iter();
        let inflight = p.inflight.iter().flat_map(|b| b.iter());
        for op in queued.chain(inflight) {
            let Op::Write { segment, offset, data } = op else { continue };
            let start = loc.offset as u64;
            if *segment == loc.segment && *offset <= start && start + loc.len as u64 <= offset + data.len() as u64 {
                let from = (start - offset) as usize;
                return Some(data[from..from + loc.len as usize].to_vec());
            }
        }
        None
    }

    /// Asks the committer to finish what is queued and stop.
    pub fn close(&self) {
        let mut p = self.lock();
        p.closing = true;
        self.work.notify_one();
    }

    /// Takes the next batch, waiting for one; None once closed and drained.
    fn next_batch(&self) -> Option<(Arc<Vec<Op>>, u64)> {
        let mut p = self.lock();
        while p.ops.is_empty() {
            if p.closing {
                return None;
            }
            p.committer_idle = true;
            p = self.work.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        p.committer_idle = false;
        let batch = Arc::new(std::mem::take(&mut p.ops));
        p.inflight = Some(batch.clone());
        Some((batch, p.last_seq))
    }

    fn batch_durable(&self, batch: Arc<Vec<Op>>, seq: u64) {
        let written: usize = batch.iter().map(|op| if let Op::Write { data, .. } = op { data.len() } else { 0 }).sum();
        let mut p = self.lock();
        p.inflight = None;
        p.durable_seq = seq;
        p.unsynced_bytes -= written;
        // Readers copy out of `inflight` under the lock, so this is the last reference.
        if let Ok(ops) = Arc::try_unwrap(batch) {
            for op in ops {
                if let Op::Write { mut data, .. } = op {
                    if p.spare.len() < 4 && data.capacity() <= 16 << 20 {
                        data.clear();
                        p.spare.push(data);
                    }
                }
            }
        }
        // Publish before releasing the lock, so whoever sees the new state
        // through the lock also sees it on the watch.
        self.watch.send_replace(Durability { seq, failed: None });
        drop(p);
        self.durable.notify_all();
    }

    fn fail(&self, error: StoreError) {
        tracing::error!("message store failed: {error}");
        let error = Arc::new(error);
        let mut p = self.lock();
        p.failure = Some(error.clone());
        self.watch.send_replace(Durability { seq: p.durable_seq, failed: Some(error) });
        drop(p);
        self.durable.notify_all();
    }
}

/// The owner's handle on the locked queue inside [`Shared::append`].
pub struct Appender<'a> {
    p: &'a mut Pending,
}

impl Appender<'_> {
    /// Queues bytes for `segment` at `offset` (which must follow the bytes
    /// queued before for that segment); `encode` appends them to the given
    /// buffer. Returns the record's sequence number.
    pub fn write(&mut self, segment: u64, offset: u64, encode: impl FnOnce(&mut Vec<u8>)) -> u64 {
        let contiguous = matches!(self.p.ops.last(),
            Some(Op::Write { segment: s, offset: o, data }) if *s == segment && o + data.len() as u64 == offset);
        if !contiguous {
            let data = self.p.spare.pop().unwrap_or_default();
            self.p.ops.push(Op::Write { segment, offset, data });
        }
        let Some(Op::Write { data, .. }) = self.p.ops.last_mut() else { unreachable!("pushed above") };
        let before = data.len();
        encode(data);
        self.p.unsynced_bytes += data.len() - before;
        self.p.last_seq += 1;
        self.p.last_seq
    }

    /// Queues the deletion of a segment, to run once everything queued
    /// before it is durable.
    pub fn delete(&mut self, segment: u64) {
        self.p.ops.push(Op::Delete { segment });
    }
}

/// Starts the committer thread writing segments under `dir`.
pub fn spawn(shared: Arc<Shared>, dir: PathBuf, hook: Option<FaultHook>) -> io::Result<std::thread::JoinHandle<()>> {
    let mut writer = SegmentWriter { dir, current: None, dir_dirty: false, hook };
    std::thread::Builder::new().name("warren-store-commit".into()).spawn(move || {
        while let Some((batch, seq)) = shared.next_batch() {
            let deletes = match writer.write_batch(&batch, &shared) {
                Ok(deletes) => deletes,
                Err(e) => return shared.fail(e),
            };
            shared.batch_durable(batch, seq);
            for segment in deletes {
                if let Err(e) = writer.delete(segment) {
                    return shared.fail(e);
                }
            }
        }
    })
}

/// The committer's side of the files: the segment being written and the
/// directory.
struct SegmentWriter {
    dir: PathBuf,
    current: Option<OpenSegment>,
    /// A segment was created since the directory was last synced.
    dir_dirty: bool,
    hook: Option<FaultHook>,
}

struct OpenSegment {
    id: u64,
    path: PathBuf,
    file: File,
    dirty: bool,
}

impl SegmentWriter {
    fn hook(&self, step: IoStep, path: &Path, action: &'static str) -> Result<(), StoreError> {
        match &self.hook {
            Some(hook) => hook(step, path).map_err(|e| StoreError::io(path, action, e)),
            None => Ok(()),
        }
    }

    /// Writes every op's bytes, syncs, and returns the segments to delete.
    fn write_batch(&mut self, ops: &[Op], shared: &Shared) -> Result<Vec<u64>, StoreError> {
        shared.batches.fetch_add(1, Ordering::Relaxed);
        let mut deletes = Vec::new();
        for op in ops {
            match op {
                Op::Write { segment, offset, data } => {
                    if self.current.as_ref().map(|c| c.id) != Some(*segment) {
                        self.switch_to(*segment, *offset, shared)?;
                    }
                    let current = self.current.as_ref().expect("opened above");
                    self.hook(IoStep::Write, &current.path, "write")?;
                    let current = self.current.as_mut().expect("opened above");
                    current.file.write_all_at(data, *offset).map_err(|e| StoreError::io(&current.path, "write", e))?;
                    current.dirty = true;
                }
                Op::Delete { segment } => deletes.push(*segment),
            }
        }
        self.sync_current(shared)?;
        if self.dir_dirty {
            self.hook(IoStep::Sync, &self.dir, "fsync directory")?;
            sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        Ok(deletes)
    }

    fn sync_current(&mut self, shared: &Shared) -> Result<(), StoreError> {
        let Some(current) = self.current.as_ref().filter(|c| c.dirty) else { return Ok(()) };
        self.hook(IoStep::Sync, &current.path, "fdatasync")?;
        current.file.sync_data().map_err(|e| StoreError::io(&current.path, "fdatasync", e))?;
        shared.file_syncs.fetch_add(1, Ordering::Relaxed);
        self.current.as_mut().expect("checked").dirty = false;
        Ok(())
    }

    /// Moves to `segment`: creates it when the first write is at offset 0,
    /// otherwise reopens the head left by the previous run.
    fn switch_to(&mut self, segment: u64, offset: u64, shared: &Shared) -> Result<(), StoreError> {
        self.sync_current(shared)?;
        let path = self.dir.join(segment_file_name(segment));
        let mut options = OpenOptions::new();
        options.write(true);
        if offset == 0 {
            options.create_new(true);
            self.dir_dirty = true;
        }
        let file = options.open(&path).map_err(|e| StoreError::io(&path, "open segment", e))?;
        self.current = Some(OpenSegment { id: segment, path, file, dirty: false });
        Ok(())
    }

    fn delete(&mut self, segment: u64) -> Result<(), StoreError> {
        if self.current.as_ref().is_some_and(|c| c.id == segment) {
            self.current = None;
        }
        let path = self.dir.join(segment_file_name(segment));
        self.hook(IoStep::Delete, &path, "delete")?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&path, "delete", e)),
        }
        self.hook(IoStep::Sync, &self.dir, "fsync directory")?;
        sync_dir(&self.dir)
    }
}
