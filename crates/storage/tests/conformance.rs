//! Every backend passes the conformance suite, directly, through a `View` and behind the read
//! cache; the SQLite
//! backend keeps its data across reopening and shares commits between concurrent writers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use coffer_storage::{MemoryStorage, SharedStorage, SqliteStorage, Storage, View, conformance};

fn sqlite(dir: &tempfile::TempDir) -> Arc<SqliteStorage> {
    Arc::new(SqliteStorage::open(dir.path().join("coffer.db")).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_conforms() {
    conformance::run_all(Arc::new(MemoryStorage::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_view_conforms() {
    let inner: SharedStorage = Arc::new(MemoryStorage::new());
    inner.put("outside", b"x").await.unwrap();
    conformance::run_all(View::new(inner.clone(), "mounts/abc/").shared()).await;
    assert_eq!(inner.list("").await.unwrap(), ["mounts/", "outside"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_all(sqlite(&dir)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_conforms_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_all(sqlite(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_view_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let inner: SharedStorage = sqlite(&dir);
    inner.put("outside", b"x").await.unwrap();
    conformance::run_all(View::new(inner.clone(), "mounts/abc/").shared()).await;
    assert_eq!(inner.list("").await.unwrap(), ["mounts/", "outside"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_keeps_data_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = sqlite(&dir);
        conformance::run_all(store.clone()).await;
        store.put("reopen/a", b"1").await.unwrap();
        store.put("reopen/b/c", b"2").await.unwrap();
        store.delete_prefix("conformance/large_values/").await.unwrap();
    }
    let store = sqlite(&dir);
    assert_eq!(store.get("reopen/a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.list("reopen/").await.unwrap(), ["a", "b/"]);
    assert!(store.list("conformance/large_values/").await.unwrap().is_empty());
    assert_eq!(store.list("conformance/nested_listing/a/").await.unwrap(), ["b", "b/", "d"]);
    // The suite runs again on a store that already holds its keys.
    conformance::run_all(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_writes_share_commits() {
    const WRITERS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let before = store.commit_count();
    let start = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let store = store.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store.put(&format!("group/{i:03}"), &[1; 64]).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let commits = store.commit_count() - before;
    assert_eq!(store.list("group/").await.unwrap().len(), WRITERS);
    eprintln!("{WRITERS} concurrent puts took {commits} commits");
    assert!(commits < WRITERS as u64, "{WRITERS} concurrent puts took {commits} commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_huge_folder_is_listed_as_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let ops = (0..5000)
        .map(|i| coffer_storage::WriteOp::Put { key: format!("big/sub/{i:05}"), value: vec![0] })
        .chain(
            ["big/a", "big/z"]
                .map(|k| coffer_storage::WriteOp::Put { key: k.into(), value: vec![] }),
        )
        .collect();
    store.batch(ops).await.unwrap();
    assert_eq!(store.list("big/").await.unwrap(), ["a", "sub/", "z"]);
    assert_eq!(store.list_page("big/", Some("sub/"), None).await.unwrap(), ["z"]);
}
