//! Storage errors.

/// A failure of a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend failed (I/O, database error). The message never contains values.
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// The backend was closed.
    #[error("storage is closed")]
    Closed,
}

impl From<StorageError> for coffer_types::Error {
    fn from(e: StorageError) -> Self {
        coffer_types::Error::Internal(e.to_string())
    }
}
