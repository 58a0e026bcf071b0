//! The data directory: created on first start and locked for the life of
//! the process, so two brokers never write the same files.
//!
//! Layout:
//!
//! ```text
//! <dir>/LOCK                 held with an exclusive lock (flock) while open
//! <dir>/definitions.json     durable definitions (see `definitions`)
//! <dir>/msgs/<20 digits>.seg message log segments, numbered from 1
//! ```

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::StoreError;

/// Default location, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./warren-data";

/// An open, locked data directory. Cheap to clone; the lock is released
/// when the last clone (including the one a `MessageStore` keeps) drops.
#[derive(Clone, Debug)]
pub struct DataDir {
    inner: Arc<Locked>,
}

#[derive(Debug)]
struct Locked {
    path: PathBuf,
    /// Kept open only to hold the lock; never read or written.
    _lock: File,
}

impl DataDir {
    /// Creates `path` (and parents) if missing and takes its lock. Fails
    /// with [`StoreError::Locked`] naming the directory if it is in use.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|e| StoreError::io(&path, "create data directory", e))?;
        let lock_path = path.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(&lock_path, "open lock file", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::Locked { dir: path }),
            Err(TryLockError::Error(e)) => return Err(StoreError::io(&lock_path, "lock", e)),
        }
        std::fs::create_dir_all(path.join("msgs")).map_err(|e| StoreError::io(path.join("msgs"), "create directory", e))?;
        Ok(DataDir { inner: Arc::new(Locked { path, _lock: lock }) })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Directory of the message log segments.
    pub fn segments_dir(&self) -> PathBuf {
        self.inner.path.join("msgs")
    }
}

/// File name of segment `id`: zero-padded so names sort in log order.
pub fn segment_file_name(id: u64) -> String {
    format!("{id:020}.seg")
}

/// The segment id a file name stands for, if it is a segment's name.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Makes the directory entries under `dir` (creations, renames, unlinks)
/// durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, "fsync directory", e))
}

/// Replaces `dir/name` with `contents` atomically and durably: written to
/// `name.tmp` and fsynced, renamed over, and the directory fsynced. A crash
/// leaves the old file or the new one, never a mix.
pub fn replace_file(dir: &Path, name: &str, contents: &[u8]) -> Result<(), StoreError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp).map_err(|e| StoreError::io(&tmp, "create", e))?;
    std::io::Write::write_all(&mut file, contents).map_err(|e| StoreError::io(&tmp, "write", e))?;
    file.sync_all().map_err(|e| StoreError::io(&tmp, "fsync", e))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, "replace", e))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_in_log_order_and_parse_back() {
        assert_eq!(segment_file_name(7), "00000000000000000007.seg");
        assert!(segment_file_name(9) < segment_file_name(10));
        assert_eq!(parse_segment_file_name(&segment_file_name(123)), Some(123));
        assert_eq!(parse_segment_file_name("7.seg"), None);
        assert_eq!(parse_segment_file_name("00000000000000000007.seg.tmp"), None);
    }

    #[test]
    fn a_second_open_on_a_locked_directory_fails_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = DataDir::open(&dir).unwrap();
        assert!(dir.join("msgs").is_dir());
        let err = DataDir::open(&dir).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }));
        assert!(err.to_string().contains(&dir.display().to_string()), "{err}");
        let clone = first.clone();
        drop(first);
        assert!(DataDir::open(&dir).is_err(), "a clone still holds the lock");
        drop(clone);
        DataDir::open(&dir).expect("released with the last clone");
    }
}
