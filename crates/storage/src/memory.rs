//! The in-memory backend: for `--dev`, and for tests of the layers above storage.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use crate::{Storage, StorageError, WriteOp, child_of, prefix_end};

/// A storage that keeps everything in a sorted map in memory. Nothing survives the process.
///
/// Every method is synchronous underneath: the lock is taken and released inside the call,
/// never held across an `.await`.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    map: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, BTreeMap<String, Vec<u8>>>, StorageError> {
        self.map.read().map_err(|_| StorageError::Backend("lock poisoned".into()))
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, BTreeMap<String, Vec<u8>>>, StorageError> {
        self.map.write().map_err(|_| StorageError::Backend("lock poisoned".into()))
    }
}

/// The immediate children of `prefix` in `map`, strictly after `after`, at most `limit`.
///
/// Leaves are read one after another from a single range iterator; on a folder the iterator
/// is dropped and the next one starts past the folder's whole subtree, so listing a folder
/// with a million descendants costs one lookup, not a million steps.
fn list_children(
    map: &BTreeMap<String, Vec<u8>>,
    prefix: &str,
    after: Option<&str>,
    limit: Option<usize>,
) -> Vec<String> {
    let limit = limit.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    if limit == 0 {
        return out;
    }
    let mut start: Bound<String> = match after {
        // A folder cursor: everything inside it was on earlier pages.
        Some(a) if a.ends_with('/') => match prefix_end(&format!("{prefix}{a}")) {
            Some(end) => Bound::Included(end),
            None => return out,
        },
        Some(a) => Bound::Excluded(format!("{prefix}{a}")),
        None => Bound::Included(prefix.to_string()),
    };
    'seek: loop {
        let range = map.range::<str, _>((start.as_ref().map(String::as_str), Bound::Unbounded));
        for (key, _) in range {
            if !key.starts_with(prefix) {
                break 'seek;
            }
            // `None` only for the key equal to `prefix` itself, which is not a child.
            let Some(child) = child_of(prefix, key) else {
                continue;
            };
            let wanted = after.is_none_or(|a| child.as_str() > a);
            let folder_end = if child.ends_with('/') {
                Some(prefix_end(&format!("{prefix}{child}")))
            } else {
                None
            };
            if wanted {
                out.push(child);
                if out.len() >= limit {
                    break 'seek;
                }
            }
            match folder_end {
                Some(Some(end)) => {
                    start = Bound::Included(end);
                    continue 'seek;
                }
                // No key sorts after this folder's subtree.
                Some(None) => break 'seek,
                None => {}
            }
        }
        break;
    }
    out
}

/// Removes every key of `map` that starts with `prefix`.
fn remove_prefix(map: &mut BTreeMap<String, Vec<u8>>, prefix: &str) {
    if prefix.is_empty() {
        map.clear();
        return;
    }
    let end = prefix_end(prefix);
    let upper = match end.as_deref() {
        Some(e) => Bound::Excluded(e),
        None => Bound::Unbounded,
    };
    // Cost proportional to the subtree, not to the whole map (a split and re-append of
    // the tail would copy every key after the prefix).
    let doomed: Vec<String> =
        map.range::<str, _>((Bound::Included(prefix), upper)).map(|(k, _)| k.clone()).collect();
    for key in doomed {
        map.remove(&key);
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.read()?.get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.write()?.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.write()?.remove(key);
        Ok(())
    }

    async fn batch(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        // Nothing below can fail once the lock is held, so the batch is all-or-nothing.
        let mut map = self.write()?;
        for op in ops {
            match op {
                WriteOp::Put { key, value } => {
                    map.insert(key, value);
                }
                WriteOp::Delete { key } => {
                    map.remove(&key);
                }
            }
        }
        Ok(())
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<String>, StorageError> {
        Ok(list_children(&*self.read()?, prefix, after, limit))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        remove_prefix(&mut *self.write()?, prefix);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(keys: &[&str]) -> BTreeMap<String, Vec<u8>> {
        keys.iter().map(|k| (k.to_string(), Vec::new())).collect()
    }

    #[test]
    fn folder_cursor_skips_its_subtree() {
        let m = map(&["p/a", "p/b/1", "p/b/2", "p/b0", "p/c"]);
        assert_eq!(list_children(&m, "p/", None, None), ["a", "b/", "b0", "c"]);
        assert_eq!(list_children(&m, "p/", Some("b/"), None), ["b0", "c"]);
        assert_eq!(list_children(&m, "p/", Some("a"), Some(1)), ["b/"]);
        assert!(list_children(&m, "p/", None, Some(0)).is_empty());
    }

    #[test]
    fn remove_prefix_keeps_neighbours() {
        let mut m = map(&["a", "a/", "a/x", "a/y/z", "a0", "b"]);
        remove_prefix(&mut m, "a/");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "a0", "b"]);
        remove_prefix(&mut m, "");
        assert!(m.is_empty());
    }
}
