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

    /// Drops the cached handle of a segment about to be deleted.
    pub(super) fn forget(&self, segment: u64) {
        self.files.lock().unwrap_or_else(|p| p.into_inner()).remove(&segment);
    }
}
