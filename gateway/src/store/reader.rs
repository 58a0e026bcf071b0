//! Reading messages back by location: one `pread` on a cached read-only
//! handle, then a CRC check. [`StoreReader`] is a cheap clone, so reads can
//! run in `spawn_blocking` or on any thread while the owner keeps
//! appending.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rustc_hash::FxHashMap;

use super::committer::Shared;
use super::data_dir::segment_file_name;
use super::ledger::Ledger;
use super::record::{self, StoredMessage};
use super::Location;

/// Read handles kept open at most; past this the cache starts over.
const MAX_OPEN_FILES: usize = 1024;

#[derive(Clone)]
pub struct StoreReader {
    shared: Arc<Shared>,
    dir: PathBuf,
    files: Arc<Mutex<FxHashMap<u64, Arc<File>>>>,
}

impl StoreReader {
    pub(super) fn new(shared: Arc<Shared>, dir: PathBuf) -> Self {
        StoreReader { shared, dir, files: Arc::default() }
    }

    /// Reads the message at `location`, checking its CRC. Records still
    /// queued for the committer are served from memory. A location whose
    /// message every queue has acked may be gone (`NotFound`).
    pub fn read(&self, location: Location) -> io::Result<StoredMessage> {
        let buf = match self.shared.unwritten(location) {
            Some(buf) => buf,
            None => {
                let file = self.file(location.segment)?;
                let mut buf = vec![0; location.len as usize];
                file.read_exact_at(&mut buf, location.offset as u64)?;
                buf
            }
        };
        record::decode_stored_message(Bytes::from(buf)).map_err(|why| {
            let path = self.dir.join(segment_file_name(location.segment));
            io::Error::new(io::ErrorKind::InvalidData, format!("{} at offset {}: {why}", path.display(), location.offset))
        })
    }

    fn file(&self, segment: u64) -> io::Result<Arc<File>> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = files.get(&segment) {
            return Ok(file.clone());
        }
        let path = self.dir.join(segment_file_name(segment));
        let file = File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let file = Arc::new(file);
        if files.len() >= MAX_OPEN_FILES {
            files.clear();
        }
        files.insert(segment, file.clone());
        Ok(file)
    }

    /// Up to `len` bytes of `segment` from `offset` as they are in the file
    /// now (fewer at its end; records still queued are not included).
    pub fn read_span(&self, segment: u64, offset: u64, len: usize) -> io::Result<Bytes> {
        let file = self.file(segment)?;
        let mut buf = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match file.read_at(&mut buf[filled..], offset + filled as u64)? {
                0 => break,
                n => filled += n,
            }
        }
        buf.truncate(filled);
        Ok(Bytes::from(buf))
    }

    /// The whole of `segment` as it is in the file now.
    pub fn read_segment(&self, segment: u64) -> io::Result<Bytes> {
        let len = self.file(segment)?.metadata()?.len();
        self.read_span(segment, 0, len as usize)
    }

    /// Drops the cached handle of a segment about to be deleted.
    pub(super) fn forget(&self, segment: u64) {
        self.files.lock().unwrap_or_else(|p| p.into_inner()).remove(&segment);
    }
}

/// Bytes a loader reads ahead: a backlog is read back in order, so one
/// `pread` serves thousands of small messages.
const READ_AHEAD: usize = 1 << 20;

/// Reads live messages back by id for the broker core: finds the location
/// in the ledger, then serves it from a read-ahead buffer of the segment.
/// Messages handed out share that buffer (no copy).
pub struct StoreLoader {
    ledger: Arc<Mutex<Ledger>>,
    reader: StoreReader,
    /// The segment, offset and bytes last read ahead.
    ahead: Option<(u64, u64, Bytes)>,
}

impl StoreLoader {
    pub(super) fn new(ledger: Arc<Mutex<Ledger>>, reader: StoreReader) -> Self {
        StoreLoader { ledger, reader, ahead: None }
    }

    /// The live message `id`, or `None` if no queue holds it.
    pub fn load(&mut self, id: u64) -> io::Result<Option<StoredMessage>> {
        let location = self.ledger.lock().unwrap_or_else(|p| p.into_inner()).location(id);
        let Some(location) = location else { return Ok(None) };
        if let Some(m) = self.read_ahead_hit(location) {
            return Ok(Some(m));
        }
        // The segment file may not exist yet, or end before the record:
        // then it is still with the committer, and `read` finds it there.
        if let Ok(span) = self.reader.read_span(location.segment, location.offset as u64, READ_AHEAD.max(location.len as usize)) {
            self.ahead = Some((location.segment, location.offset as u64, span));
            if let Some(m) = self.read_ahead_hit(location) {
                return Ok(Some(m));
            }
        }
        self.reader.read(location).map(Some)
    }

    fn read_ahead_hit(&self, location: Location) -> Option<StoredMessage> {
        let (segment, start, buf) = self.ahead.as_ref()?;
        let from = (location.offset as u64).checked_sub(*start)? as usize;
        let to = from + location.len as usize;
        if *segment != location.segment || to > buf.len() {
            return None;
        }
        record::decode_stored_message(buf.slice(from..to)).ok()
    }
}
