//! The embedded backend: one SQLite file in WAL mode, durable on every `Ok`, with group commit.
//!
//! Writes go to one writer thread that owns the only read-write connection. It takes every
//! job already queued (up to [`MAX_GROUP`]), applies them in one transaction, each inside its
//! own savepoint so a failing job is rolled back alone, commits once with `synchronous=FULL`,
//! and only then answers each caller. Many concurrent writers therefore share one `fsync`.
//!
//! Reads use a small pool of read-only connections on tokio's blocking threads; in WAL mode
//! they see the last committed state and never wait for the writer.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::{Storage, StorageError, WriteOp, child_of, prefix_end};

/// The most jobs committed in one transaction; bounds the latency of the first job in a group.
const MAX_GROUP: usize = 512;
/// Idle read connections kept open; more are opened on demand and closed after use.
const READERS: usize = 4;
/// Rows fetched per range query while listing.
const LIST_CHUNK: usize = 128;
/// How long a connection waits for a lock (only checkpoints contend in WAL mode).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One unit of work for the writer: all of it commits, or none of it.
#[derive(Debug)]
enum Write {
    Batch(Vec<WriteOp>),
    DeletePrefix(String),
}

/// A write and the caller waiting for its outcome.
struct Job {
    write: Write,
    reply: oneshot::Sender<Result<(), StorageError>>,
}

/// The pool of read-only connections.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// A storage in one SQLite file. See the module documentation for the write path.
///
/// Dropping it closes the queue and waits for the writer thread to finish the group it is
/// committing, so every write that returned `Ok` is on disk.
pub struct SqliteStorage {
    readers: Arc<Readers>,
    commits: Arc<AtomicU64>,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` and starts its writer thread.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| backend(&format!("open {}", path.display()), &e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| backend("busy_timeout", &e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)
                 WITHOUT ROWID;",
        )
        .map_err(|e| backend("initialise", &e))?;
        // journal_mode silently stays as it was when WAL is impossible (some file systems);
        // concurrent readers and our durability reasoning both depend on it.
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .map_err(|e| backend("journal_mode", &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Backend(format!(
                "{} cannot use WAL journaling (got {mode})",
                path.display()
            )));
        }

        let readers = Arc::new(Readers { path, idle: Mutex::new(Vec::new()) });
        // Fail now, not on the first read, when read connections cannot be opened.
        readers.give_back(readers.take()?);

        let commits = Arc::new(AtomicU64::new(0));
        let (jobs, queue) = mpsc::channel();
        let counter = Arc::clone(&commits);
        let writer = std::thread::Builder::new()
            .name("coffer-sqlite-writer".into())
            .spawn(move || writer_loop(conn, queue, counter))
            .map_err(|e| StorageError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStorage { readers, commits, jobs: Some(jobs), writer: Some(writer) })
    }

    /// How many transactions the writer has committed since `open`. With concurrent writers
    /// this is smaller than the number of writes: that is group commit at work.
    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Hands `write` to the writer thread and waits until it is committed (or failed).
    async fn submit(&self, write: Write) -> Result<(), StorageError> {
        let (reply, outcome) = oneshot::channel();
        let jobs = self.jobs.as_ref().ok_or(StorageError::Closed)?;
        jobs.send(Job { write, reply }).map_err(|_| StorageError::Closed)?;
        outcome.await.map_err(|_| StorageError::Closed)?
    }

    /// Runs `f` with a read connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn_blocking(move || readers.with(f))
                .await
                .map_err(|_| StorageError::Backend("read task failed".into()))?,
            // Polled outside tokio (another executor): no blocking pool, read in place.
            Err(_) => readers.with(f),
        }
    }
}

impl fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.readers.path)
            .field("commits", &self.commit_count())
            .finish_non_exhaustive()
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        // Closing the queue ends the writer's loop once it has answered what it holds.
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
    }
}

impl Readers {
    fn take(&self) -> Result<Connection, StorageError> {
        let idle =
            self.idle.lock().map_err(|_| StorageError::Backend("lock poisoned".into()))?.pop();
        if let Some(conn) = idle {
            return Ok(conn);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| backend(&format!("open {} for reading", self.path.display()), &e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| backend("busy_timeout", &e))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < READERS {
                idle.push(conn);
            }
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let conn = self.take()?;
        let out = f(&conn);
        self.give_back(conn);
        out
    }
}

/// A backend error naming what failed. SQLite's messages never quote bound values, and we
/// only ever add keys and paths, so no secret can leak through here.
fn backend(context: &str, e: &rusqlite::Error) -> StorageError {
    StorageError::Backend(format!("{context}: {e}"))
}

/// The writer thread: drain the queue, commit the group once, answer everyone.
fn writer_loop(conn: Connection, queue: mpsc::Receiver<Job>, commits: Arc<AtomicU64>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (writes, replies): (Vec<Write>, Vec<_>) =
            group.into_iter().map(|job| (job.write, job.reply)).unzip();
        match commit_group(&conn, &writes) {
            Ok(outcomes) => {
                commits.fetch_add(1, Ordering::Relaxed);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // The caller may have gone away (cancelled); its write still stands.
                    let _ = reply.send(outcome);
                }
            }
            Err(message) => {
                tracing::error!(error = %message, jobs = replies.len(), "SQLite group commit failed");
                for reply in replies {
                    let _ = reply.send(Err(StorageError::Backend(message.clone())));
                }
            }
        }
    }
}

/// Applies `writes` in one transaction, each in its own savepoint, and commits.
///
/// The outer `Err` means nothing was committed (every job fails); otherwise there is one
/// outcome per write, and the failed ones left no trace.
fn commit_group(
    conn: &Connection,
    writes: &[Write],
) -> Result<Vec<Result<(), StorageError>>, String> {
    let step = |sql: &str| conn.execute_batch(sql).map_err(|e| format!("{sql}: {e}"));
    let abort = |message: String| {
        // Best effort: after a failed COMMIT SQLite may already have rolled back.
        let _ = conn.execute_batch("ROLLBACK");
        Err(message)
    };
    step("BEGIN IMMEDIATE")?;
    let mut outcomes = Vec::with_capacity(writes.len());
    for write in writes {
        if let Err(message) = step("SAVEPOINT job") {
            return abort(message);
        }
        match apply(conn, write) {
            Ok(()) => {
                if let Err(message) = step("RELEASE job") {
                    return abort(message);
                }
                outcomes.push(Ok(()));
            }
            Err(error) => {
                if let Err(message) = step("ROLLBACK TO job").and_then(|()| step("RELEASE job")) {
                    return abort(message);
                }
                outcomes.push(Err(error));
            }
        }
    }
    if let Err(message) = step("COMMIT") {
        return abort(message);
    }
    Ok(outcomes)
}

/// The statements of one write, inside the caller's savepoint.
fn apply(conn: &Connection, write: &Write) -> Result<(), StorageError> {
    match write {
        Write::Batch(ops) => {
            let mut put = conn
                .prepare_cached(
                    "INSERT INTO kv (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .map_err(|e| backend("prepare put", &e))?;
            let mut delete = conn
                .prepare_cached("DELETE FROM kv WHERE key = ?1")
                .map_err(|e| backend("prepare delete", &e))?;
            for op in ops {
                match op {
                    WriteOp::Put { key, value } => put
                        .execute(params![key, value])
                        .map_err(|e| backend(&format!("put {key:?}"), &e))?,
                    WriteOp::Delete { key } => delete
                        .execute(params![key])
                        .map_err(|e| backend(&format!("delete {key:?}"), &e))?,
                };
            }
            Ok(())
        }
        Write::DeletePrefix(prefix) => {
            let context = || format!("delete prefix {prefix:?}");
            match prefix_end(prefix) {
                Some(end) => conn
                    .execute("DELETE FROM kv WHERE key >= ?1 AND key < ?2", params![prefix, end]),
                None => conn.execute("DELETE FROM kv WHERE key >= ?1", params![prefix]),
            }
            .map_err(|e| backend(&context(), &e))?;
            Ok(())
        }
    }
}

/// The immediate children of `prefix`, strictly after `after`, at most `limit`.
///
/// Range queries of [`LIST_CHUNK`] rows each; on a folder the scan restarts past the
/// folder's whole subtree, so a folder costs one query however many keys it holds.
fn list_children(
    conn: &Connection,
    prefix: &str,
    after: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<String>, StorageError> {
    let limit = limit.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let end = prefix_end(prefix);
    // The scan position: a key, and whether that key itself is still to be read.
    let (mut from, mut inclusive) = match after {
        // A folder cursor: everything inside it was on earlier pages.
        Some(a) if a.ends_with('/') => match prefix_end(&format!("{prefix}{a}")) {
            Some(past) => (past, true),
            None => return Ok(out),
        },
        Some(a) => (format!("{prefix}{a}"), false),
        None => (prefix.to_string(), true),
    };
    let fail = |e: rusqlite::Error| backend(&format!("list {prefix:?}"), &e);
    loop {
        let sql = match (inclusive, end.is_some()) {
            (true, true) => "SELECT key FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3",
            (false, true) => "SELECT key FROM kv WHERE key > ?1 AND key < ?2 ORDER BY key LIMIT ?3",
            (true, false) => "SELECT key FROM kv WHERE key >= ?1 ORDER BY key LIMIT ?2",
            (false, false) => "SELECT key FROM kv WHERE key > ?1 ORDER BY key LIMIT ?2",
        };
        let mut stmt = conn.prepare_cached(sql).map_err(fail)?;
        let chunk = i64::try_from(LIST_CHUNK).unwrap_or(i64::MAX);
        let mut rows = match &end {
            Some(upper) => stmt.query(params![from, upper, chunk]),
            None => stmt.query(params![from, chunk]),
        }
        .map_err(fail)?;
        let mut seen = 0;
        let mut jumped = false;
        while let Some(row) = rows.next().map_err(fail)? {
            seen += 1;
            let key: String = row.get(0).map_err(fail)?;
            // The range is exact (see `prefix_end`); this only guards the invariant.
            if !key.starts_with(prefix) {
                return Ok(out);
            }
            let Some(child) = child_of(prefix, &key) else {
                // The key equal to `prefix` itself is not a child of it.
                (from, inclusive) = (key, false);
                continue;
            };
            let folder_end = if child.ends_with('/') {
                Some(prefix_end(&format!("{prefix}{child}")))
            } else {
                None
            };
            if after.is_none_or(|a| child.as_str() > a) {
                out.push(child);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            match folder_end {
                Some(Some(past)) => {
                    (from, inclusive) = (past, true);
                    jumped = true;
                    break;
                }
                // No key sorts after this folder's subtree.
                Some(None) => return Ok(out),
                None => (from, inclusive) = (key, false),
            }
        }
        if !jumped && seen < LIST_CHUNK {
            return Ok(out);
        }
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_string();
        self.read(move |conn| {
            conn.prepare_cached("SELECT value FROM kv WHERE key = ?1")
                .and_then(|mut stmt| stmt.query_row(params![key], |row| row.get(0)).optional())
                .map_err(|e| backend(&format!("get {key:?}"), &e))
        })
        .await
    }

    async fn batch(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.submit(Write::Batch(ops)).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<String>, StorageError> {
        let prefix = prefix.to_string();
        let after = after.map(str::to_string);
        self.read(move |conn| list_children(conn, &prefix, after.as_deref(), limit)).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        self.submit(Write::DeletePrefix(prefix.to_string())).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn put(key: &str) -> WriteOp {
        WriteOp::Put { key: key.into(), value: b"v".to_vec() }
    }

    #[test]
    fn a_failing_job_rolls_back_alone() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
             CREATE TRIGGER reject BEFORE INSERT ON kv WHEN NEW.key = 'bad'
             BEGIN SELECT RAISE(ABORT, 'rejected'); END;",
        )
        .unwrap();
        let writes = vec![
            Write::Batch(vec![put("one")]),
            Write::Batch(vec![put("two"), put("bad")]),
            Write::Batch(vec![put("three")]),
        ];
        let outcomes = commit_group(&conn, &writes).unwrap();
        assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
        let error = outcomes[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("\"bad\"") && !error.contains("v\""), "{error}");
        let keys: Vec<String> = conn
            .prepare("SELECT key FROM kv ORDER BY key")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(keys, ["one", "three"]);
    }
}
