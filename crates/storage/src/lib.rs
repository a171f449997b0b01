//! Storage: the `Storage` trait every layer writes through, a per-mount [`View`], and the
//! physical backends: [`MemoryStorage`] and the embedded SQLite store [`SqliteStorage`].
//!
//! Keys are `/`-separated strings. `list(prefix)` returns the immediate children below
//! `prefix`: leaf names as they are, folders with a trailing `/`, sorted, without duplicates.
#![forbid(unsafe_code)]

mod error;
mod memory;
mod sqlite;
mod view;

pub mod conformance;

use std::sync::Arc;

use async_trait::async_trait;

pub use error::StorageError;
pub use memory::MemoryStorage;
pub use sqlite::SqliteStorage;
pub use view::View;

/// One write of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Store `value` at `key`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` (no error when absent).
    Delete {
        /// The key.
        key: String,
    },
}

/// A key-value store. Every method is durable when it returns `Ok` (for durable backends).
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The value at `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Stores `value` at `key`, replacing what was there.
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.batch(vec![WriteOp::Put { key: key.to_string(), value: value.to_vec() }]).await
    }

    /// Removes `key`; succeeds when it is absent.
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.batch(vec![WriteOp::Delete { key: key.to_string() }]).await
    }

    /// Applies all writes atomically: all of them are durable, or none.
    async fn batch(&self, ops: Vec<WriteOp>) -> Result<(), StorageError>;

    /// One page of the immediate children of `prefix` (see the crate docs), strictly after
    /// `after` when given, at most `limit` entries when given.
    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<String>, StorageError>;

    /// All immediate children of `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.list_page(prefix, None, None).await
    }

    /// Removes every key that starts with `prefix` (one range delete, not a key at a time).
    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError>;
}

/// A shared handle to a storage.
pub type SharedStorage = Arc<dyn Storage>;

/// The child name of `key` directly below `prefix`: `"a"` for a leaf, `"a/"` for a folder.
/// `key` must start with `prefix`.
pub fn child_of(prefix: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    if rest.is_empty() {
        return None;
    }
    Some(match rest.find('/') {
        Some(i) => rest[..=i].to_string(),
        None => rest.to_string(),
    })
}

/// The smallest string greater than every string starting with `prefix`, for range scans;
/// `None` when no such bound exists (all bytes 0xff, or empty prefix).
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            // Incrementing the last byte of valid UTF-8 can make it invalid; fall back to
            // a lossy bound that still sorts after every key with the prefix.
            return Some(String::from_utf8(bytes).unwrap_or_else(|e| {
                let mut b = e.into_bytes();
                b.truncate(prefix.len().saturating_sub(1));
                let mut s = String::from_utf8_lossy(&b).into_owned();
                s.push(char::MAX);
                s
            }));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children() {
        assert_eq!(child_of("a/", "a/b"), Some("b".into()));
        assert_eq!(child_of("a/", "a/b/c"), Some("b/".into()));
        assert_eq!(child_of("a/", "a/"), None);
        assert_eq!(child_of("", "x/y"), Some("x/".into()));
        assert_eq!(prefix_end("a/"), Some("a0".into()));
    }
}
