//! The barrier's cache of decrypted entries: hits skip the store and the decryption, writes
//! invalidate, a read that raced a write does not cache the old value, and sealing drops it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use coffer_barrier::Barrier;
use coffer_storage::{MemoryStorage, SharedStorage, Storage, StorageError, WriteOp};

const KEY: [u8; 32] = [0x42; 32];

/// The physical store under test: counts reads (to tell hits from misses) and, when
/// `pausing`, holds each read, once it has its value, until it is let go.
#[derive(Default)]
struct Probe {
    inner: MemoryStorage,
    reads: AtomicUsize,
    pausing: std::sync::atomic::AtomicBool,
    read_done: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[async_trait]
impl Storage for Probe {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let value = self.inner.get(key).await;
        if self.pausing.load(Ordering::SeqCst) {
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
    probe.reads.load(Ordering::SeqCst)
}

async fn unsealed(physical: SharedStorage, cache_bytes: usize) -> Barrier {
    let barrier = Barrier::with_read_cache(physical, cache_bytes);
    barrier.initialize(&KEY).await.unwrap();
    barrier.unseal(&KEY).await.unwrap();
    barrier
}

#[tokio::test]
async fn a_caching_barrier_passes_the_storage_conformance_suite() {
    let barrier = unsealed(Arc::new(MemoryStorage::new()), 1 << 20).await;
    coffer_storage::conformance::run_all(Arc::new(barrier)).await;
    // Evicting all the time changes nothing either.
    let tiny = unsealed(Arc::new(MemoryStorage::new()), 4096).await;
    coffer_storage::conformance::run_all(Arc::new(tiny)).await;
}

/// The server's setup: the cache over the embedded SQLite store, with concurrent callers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caching_barrier_over_sqlite_passes_the_storage_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = coffer_storage::SqliteStorage::open(dir.path().join("coffer.db")).unwrap();
    let barrier = unsealed(Arc::new(sqlite), 1 << 20).await;
    coffer_storage::conformance::run_all(Arc::new(barrier)).await;
}

#[tokio::test]
async fn hits_skip_the_store_and_writes_invalidate() {
    let physical = Arc::new(Probe::default());
    let barrier = unsealed(physical.clone(), 1 << 20).await;
    let before = reads(&physical);
    assert_eq!(barrier.get("a").await.unwrap(), None);
    assert_eq!(barrier.get("a").await.unwrap(), None);
    assert_eq!(reads(&physical) - before, 1, "absence is cached");
    barrier.put("a", b"one").await.unwrap();
    assert_eq!(barrier.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(barrier.get("a").await.unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(reads(&physical) - before, 2);
    barrier.batch(vec![WriteOp::Put { key: "a".into(), value: b"two".to_vec() }]).await.unwrap();
    assert_eq!(barrier.get("a").await.unwrap().as_deref(), Some(&b"two"[..]));
    barrier.put("p/x", b"x").await.unwrap();
    assert!(barrier.get("p/x").await.unwrap().is_some());
    barrier.delete_prefix("p/").await.unwrap();
    assert_eq!(barrier.get("p/x").await.unwrap(), None);
    barrier.delete("a").await.unwrap();
    assert_eq!(barrier.get("a").await.unwrap(), None);
}

#[tokio::test]
async fn a_read_that_raced_a_write_does_not_cache_the_old_value() {
    let physical = Arc::new(Probe::default());
    let barrier = Arc::new(unsealed(physical.clone(), 1 << 20).await);
    barrier.put("k", b"old").await.unwrap();
    physical.pausing.store(true, Ordering::SeqCst);
    let reader = tokio::spawn({
        let barrier = barrier.clone();
        async move { barrier.get("k").await.unwrap() }
    });
    // The read has the old value in hand; the write lands and returns before it does.
    physical.read_done.notified().await;
    barrier.put("k", b"new").await.unwrap();
    physical.release.notify_one();
    assert_eq!(reader.await.unwrap().as_deref(), Some(&b"old"[..]));
    let after = tokio::spawn({
        let barrier = barrier.clone();
        async move { barrier.get("k").await.unwrap() }
    });
    physical.read_done.notified().await;
    physical.release.notify_one();
    assert_eq!(after.await.unwrap().as_deref(), Some(&b"new"[..]));
}

#[tokio::test]
async fn sealing_drops_the_cache_and_rotation_keeps_it() {
    let physical = Arc::new(Probe::default());
    let barrier = unsealed(physical.clone(), 1 << 20).await;
    barrier.put("secret", b"value").await.unwrap();
    barrier.get("secret").await.unwrap();
    barrier.rotate().await.unwrap();
    let before = reads(&physical);
    assert_eq!(barrier.get("secret").await.unwrap().as_deref(), Some(&b"value"[..]));
    assert_eq!(reads(&physical), before, "still cached after a rotation");
    assert!(barrier.cached_bytes() > 0);

    barrier.seal();
    assert_eq!(barrier.cached_bytes(), 0);
    assert!(barrier.get("secret").await.is_err(), "a sealed barrier serves nothing, cached or not");
    barrier.unseal(&KEY).await.unwrap();
    assert_eq!(barrier.cached_bytes(), 0, "unsealing starts with an empty cache");
    let before = reads(&physical);
    assert_eq!(barrier.get("secret").await.unwrap().as_deref(), Some(&b"value"[..]));
    assert_eq!(reads(&physical), before + 1);
}

#[tokio::test]
async fn without_a_budget_nothing_is_cached() {
    let physical = Arc::new(Probe::default());
    let barrier = unsealed(physical.clone(), 0).await;
    barrier.put("k", b"v").await.unwrap();
    let before = reads(&physical);
    barrier.get("k").await.unwrap();
    barrier.get("k").await.unwrap();
    assert_eq!(reads(&physical), before + 2);
    assert_eq!(barrier.cached_bytes(), 0);
}
