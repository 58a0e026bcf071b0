//! Errors of the store. Every error that concerns a file names it, and
//! corruption also names the byte offset, so an operator can find it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum StoreError {
    /// Another process (or another open in this one) holds the data
    /// directory's lock.
    Locked { dir: PathBuf },
    /// A file operation failed. `action` says what was attempted.
    Io { path: PathBuf, action: &'static str, source: Arc<io::Error> },
    /// A record that is not a torn tail failed its checks: the log cannot
    /// be trusted past this point and the store refuses to guess.
    Corrupt { path: PathBuf, offset: u64, reason: String },
    /// A write or fsync failed earlier; the store accepts no more writes
    /// and reports nothing after that point as durable.
    Failed(Arc<StoreError>),
    /// The caller asked for something the format cannot hold.
    Invalid(String),
}

impl StoreError {
    pub(crate) fn io(path: impl AsRef<Path>, action: &'static str, source: io::Error) -> Self {
        StoreError::Io { path: path.as_ref().to_path_buf(), action, source: Arc::new(source) }
    }

    pub(super) fn corrupt(path: impl AsRef<Path>, offset: u64, reason: impl Into<String>) -> Self {
        StoreError::Corrupt { path: path.as_ref().to_path_buf(), offset, reason: reason.into() }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked { dir } => {
                write!(f, "data directory {} is locked by another warren process", dir.display())
            }
            StoreError::Io { path, action, source } => write!(f, "cannot {action} {}: {source}", path.display()),
            StoreError::Corrupt { path, offset, reason } => {
                write!(f, "corrupt message log {} at byte offset {offset}: {reason}", path.display())
            }
            StoreError::Failed(cause) => write!(f, "message store failed and accepts no more writes: {cause}"),
            StoreError::Invalid(why) => write!(f, "invalid store request: {why}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source.as_ref()),
            StoreError::Failed(cause) => Some(cause.as_ref()),
            _ => None,
        }
    }
}
