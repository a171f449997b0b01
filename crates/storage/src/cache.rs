//! [`CachedStorage`]: a bounded read cache in front of a physical store.
//!
//! It sits below the barrier, so it holds what the store holds: ciphertext, never a
//! decrypted secret. Hits skip the store entirely (for SQLite: a blocking-pool hop and a
//! B-tree lookup); absent keys are cached too, since engines often probe for entries that do
//! not exist. Every write goes through, then invalidates its keys: the process owning the
//! store is its only writer, so the cache cannot go stale.
//!
//! A read that raced a write must not put the value it read back into the cache after the
//! write invalidated it. Each shard therefore has a generation, bumped by every invalidation;
//! a read caches its value only if its shard's generation did not move while it read.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::{SharedStorage, Storage, StorageError, WriteOp};

/// Shards: a read or an invalidation locks one, briefly, never across an `.await`.
const SHARDS: usize = 64;
/// Bookkeeping charged per entry on top of its key and value.
const ENTRY_OVERHEAD: usize = 64;

/// One shard of the cache.
#[derive(Default)]
struct Shard {
    /// Bumped by every invalidation of a key in this shard.
    generation: u64,
    /// `None`: the key is known to be absent.
    entries: HashMap<String, Option<Arc<[u8]>>>,
    /// Bytes charged for `entries`.
    bytes: usize,
}

impl Shard {
    fn charge(key: &str, value: &Option<Arc<[u8]>>) -> usize {
        key.len() + value.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD
    }

    fn remove(&mut self, key: &str) {
        if let Some(value) = self.entries.remove(key) {
            self.bytes -= Self::charge(key, &value);
        }
    }

    /// Inserts, evicting arbitrary entries until the shard fits `budget`.
    fn insert(&mut self, key: String, value: Option<Arc<[u8]>>, budget: usize) {
        let cost = Self::charge(&key, &value);
        if cost > budget {
            return;
        }
        self.remove(&key);
        while self.bytes + cost > budget {
            let Some(victim) = self.entries.keys().next().cloned() else { break };
            self.remove(&victim);
        }
        self.bytes += cost;
        self.entries.insert(key, value);
    }
}

/// A physical store with a bounded read cache in front (see the module documentation).
pub struct CachedStorage {
    inner: SharedStorage,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// Bytes each shard may hold.
    shard_budget: usize,
}

impl std::fmt::Debug for CachedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStorage").field("budget", &(self.shard_budget * SHARDS)).finish()
    }
}

impl CachedStorage {
    /// Caches reads of `inner` in at most about `budget` bytes. `inner` must have no other
    /// writer than this cache.
    pub fn new(inner: SharedStorage, budget: usize) -> Self {
        CachedStorage {
            inner,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            shard_budget: budget / SHARDS,
        }
    }

    /// Bytes charged for cached entries now.
    pub fn cached_bytes(&self) -> usize {
        (0..SHARDS).map(|i| self.lock(i).bytes).sum()
    }

    fn shard_of(&self, key: &str) -> usize {
        self.hasher.hash_one(key) as usize % SHARDS
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard cannot leave it inconsistent in a way that matters
        // more than losing the cache: keep serving.
        self.shards[shard].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn invalidate(&self, keys: impl IntoIterator<Item = String>) {
        for key in keys {
            let mut shard = self.lock(self.shard_of(&key));
            shard.remove(&key);
            shard.generation += 1;
        }
    }
}

#[async_trait]
impl Storage for CachedStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let index = self.shard_of(key);
        let generation = {
            let shard = self.lock(index);
            if let Some(hit) = shard.entries.get(key) {
                return Ok(hit.as_deref().map(<[u8]>::to_vec));
            }
            shard.generation
        };
        let value = self.inner.get(key).await?;
        let mut shard = self.lock(index);
        if shard.generation == generation {
            let cached = value.as_deref().map(Arc::<[u8]>::from);
            shard.insert(key.to_string(), cached, self.shard_budget);
        }
        Ok(value)
    }

    async fn batch(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        let keys: Vec<String> = ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { key, .. } | WriteOp::Delete { key } => key.clone(),
            })
            .collect();
        let outcome = self.inner.batch(ops).await;
        // Also on failure: whether a failed write reached the store is not always known.
        self.invalidate(keys);
        outcome
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.list_page(prefix, after, limit).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        let outcome = self.inner.delete_prefix(prefix).await;
        for index in 0..SHARDS {
            let mut shard = self.lock(index);
            let doomed: Vec<String> =
                shard.entries.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
            for key in doomed {
                shard.remove(&key);
            }
            shard.generation += 1;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::MemoryStorage;

    /// The physical store under test: counts reads (to tell hits from misses) and, when
    /// `pausing`, holds each read, once it has its value, until it is let go.
    #[derive(Default)]
    struct Probe {
        inner: MemoryStorage,
        reads: std::sync::atomic::AtomicUsize,
        pausing: bool,
        read_done: tokio::sync::Notify,
        release: tokio::sync::Notify,
    }

    #[async_trait]
    impl Storage for Probe {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let value = self.inner.get(key).await;
            if self.pausing {
                self.read_done.notify_one();
                self.release.notified().await;
            }
            value
        }
        async fn batch(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
            self.inner.batch(ops).await
        }
        async fn list_page(
            &self,
            prefix: &str,
            after: Option<&str>,
            limit: Option<usize>,
        ) -> Result<Vec<String>, StorageError> {
            self.inner.list_page(prefix, after, limit).await
        }
        async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
            self.inner.delete_prefix(prefix).await
        }
    }

    fn reads(probe: &Probe) -> usize {
        probe.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn hits_skip_the_store_and_writes_invalidate() {
        let physical = Arc::new(Probe::default());
        let cache = CachedStorage::new(physical.clone(), 1 << 20);
        assert_eq!(cache.get("a").await.unwrap(), None);
        assert_eq!(cache.get("a").await.unwrap(), None);
        assert_eq!(reads(&physical), 1, "absence is cached");
        cache.put("a", b"one").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(reads(&physical), 2);
        cache.put("a", b"two").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"two"[..]));
        cache.put("p/x", b"x").await.unwrap();
        assert!(cache.get("p/x").await.unwrap().is_some());
        cache.delete_prefix("p/").await.unwrap();
        assert_eq!(cache.get("p/x").await.unwrap(), None);
        cache.delete("a").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_budget_bounds_what_is_held() {
        let physical: SharedStorage = Arc::new(MemoryStorage::new());
        let cache = CachedStorage::new(physical, SHARDS * 4096);
        for i in 0..2000 {
            cache.put(&format!("k{i}"), &[7; 500]).await.unwrap();
            assert!(cache.get(&format!("k{i}")).await.unwrap().is_some());
        }
        assert!(cache.cached_bytes() <= SHARDS * 4096, "{}", cache.cached_bytes());
        for i in 0..2000 {
            assert_eq!(cache.get(&format!("k{i}")).await.unwrap().unwrap().len(), 500);
        }
    }

    #[tokio::test]
    async fn a_read_that_raced_a_write_does_not_cache_the_old_value() {
        let physical = Arc::new(Probe { pausing: true, ..Probe::default() });
        physical.inner.put("k", b"old").await.unwrap();
        let cache = Arc::new(CachedStorage::new(physical.clone(), 1 << 20));
        let reader = tokio::spawn({
            let cache = cache.clone();
            async move { cache.get("k").await.unwrap() }
        });
        // The read has the old value in hand; the write lands and returns before it does.
        physical.read_done.notified().await;
        cache.put("k", b"new").await.unwrap();
        physical.release.notify_one();
        assert_eq!(reader.await.unwrap().as_deref(), Some(&b"old"[..]));
        let after = tokio::spawn({
            let cache = cache.clone();
            async move { cache.get("k").await.unwrap() }
        });
        physical.release.notify_one();
        assert_eq!(after.await.unwrap().as_deref(), Some(&b"new"[..]));
    }
}
