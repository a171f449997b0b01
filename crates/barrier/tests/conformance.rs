//! The storage conformance suite, run over an unsealed barrier on memory storage: the
//! barrier must behave exactly like any other `Storage`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use coffer_barrier::Barrier;
use coffer_storage::{MemoryStorage, SharedStorage};

#[tokio::test]
async fn barrier_passes_the_storage_conformance_suite() {
    let physical: SharedStorage = Arc::new(MemoryStorage::new());
    let barrier = Barrier::new(physical);
    let key = [7u8; 32];
    barrier.initialize(&key).await.unwrap();
    barrier.unseal(&key).await.unwrap();
    coffer_storage::conformance::run_all(Arc::new(barrier)).await;
}
