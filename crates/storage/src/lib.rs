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

/// The smallest string greater than every string starting with `prefix`, for range scans
/// (`prefix <= key < prefix_end(prefix)` holds exactly for the keys starting with `prefix`);
/// `None` when no such bound exists (empty prefix, or only `char::MAX`).
///
/// Strings compare byte-wise and UTF-8 preserves the order of code points, so replacing the
/// last character by its successor gives the tight bound while staying valid UTF-8.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut bound = prefix.to_string();
    while let Some(last) = bound.pop() {
        let next = match u32::from(last) + 1 {
            // Skip the surrogate gap, which has no `char`.
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            bound.push(next);
            return Some(bound);
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

    #[test]
    fn prefix_end_is_tight_for_any_last_char() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{7f}"), Some("a\u{80}".into()));
        assert_eq!(prefix_end("a\u{ff}"), Some("a\u{100}".into()));
        assert_eq!(prefix_end("a\u{d7ff}"), Some("a\u{e000}".into()));
        assert_eq!(prefix_end("a\u{10ffff}"), Some("b".into()));
        assert_eq!(prefix_end("\u{10ffff}\u{10ffff}"), None);
        let chars =
            ['/', '0', 'a', '\u{7f}', '\u{80}', '\u{ff}', '\u{100}', '\u{d7ff}', '\u{e000}'];
        for c in chars {
            let prefix = format!("x{c}");
            let end = prefix_end(&prefix).unwrap_or_default();
            for d in chars {
                for tail in ["", "z", "\u{10ffff}"] {
                    let key = format!("x{d}{tail}");
                    let in_range = key.as_str() >= prefix.as_str() && key < end;
                    assert_eq!(in_range, key.starts_with(&prefix), "{prefix:?} {key:?}");
                }
            }
        }
    }
}
