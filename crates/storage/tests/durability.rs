//! A write that returned `Ok` survives `kill -9` of the process: the test re-runs its own
//! binary as a child that writes and reports each acknowledged key, kills it mid-stream,
//! reopens the file and finds every acknowledged key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_storage::{SqliteStorage, Storage};

const DB_ENV: &str = "COFFER_STORAGE_KILL_TEST_DB";
const ACKS_BEFORE_KILL: usize = 300;

/// The child: only does something when started by `acknowledged_writes_survive_kill_9`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_child_writer() {
    let Ok(path) = std::env::var(DB_ENV) else { return };
    let store = Arc::new(SqliteStorage::open(path).unwrap());
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        let stdout = stdout.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let key = format!("kill/{t}/{i:08}");
                store.put(&key, key.as_bytes()).await.unwrap();
                let mut out = stdout.lock().unwrap();
                writeln!(out, "acked {key}").unwrap();
                out.flush().unwrap();
                i += 1;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    if std::env::var(DB_ENV).is_ok() {
        return; // We are the child; the parent runs this test.
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_9_child_writer", "--nocapture", "--test-threads=1"])
        .env(DB_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(key) = line.strip_prefix("acked ") {
            acked.push(key.to_string());
            if acked.len() == ACKS_BEFORE_KILL {
                child.kill().unwrap(); // SIGKILL: no destructor, no final checkpoint.
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(acked.len(), ACKS_BEFORE_KILL, "the child stopped early");

    let store = SqliteStorage::open(&path).unwrap();
    for key in &acked {
        let value = store.get(key).await.unwrap();
        assert_eq!(value.as_deref(), Some(key.as_bytes()), "acknowledged {key} was lost");
    }
}
