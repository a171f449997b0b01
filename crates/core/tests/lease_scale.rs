//! Leases at scale, by counting storage calls (issue 6): unseal reads no lease, expiry reads
//! the head of its index and pages through a crowded slot, and revoking a prefix or a token
//! pages through more leases than one page holds. Nothing here is timed.
//!
//! - `unseal_reads_no_lease_and_expiry_reads_only_the_head`
//! - `expiry_pages_through_a_crowded_slot`
//! - `prefix_and_token_revocation_page_through_many_leases`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_framework::{Backend, BackendConfig, Path, Req, Router, SecretRequest};
use coffer_storage::{MemoryStorage, Storage, StorageError, WriteOp};
use coffer_types::{Operation, Request, Response, Result, SecretLease};
use serde_json::{Value, json};

/// More than one page of every index walk (pages hold 256 entries).
const MANY: usize = 600;

/// Physical keys of the lease store.
const LEASES: &str = "sys/expire/";

/// Counts the revocations of one test's engine (each test registers its own).
#[derive(Default)]
struct Fake {
    revoked: AtomicUsize,
}

static FAKES: [OnceLock<Arc<Fake>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

fn fake<const N: usize>() -> Arc<Fake> {
    FAKES[N].get_or_init(|| Arc::new(Fake::default())).clone()
}

async fn creds(_s: Arc<Fake>, req: Req) -> Result<Option<Response>> {
    let ttl = req.data().get("ttl").and_then(Value::as_i64).unwrap_or(600);
    let mut r = Response::json(json!({"username": "v-user"}));
    r.secret =
        Some(SecretLease { ttl, max_ttl: 3600, renewable: true, internal: Default::default() });
    Ok(Some(r))
}

async fn renew(_s: Arc<Fake>, req: SecretRequest) -> Result<SecretLease> {
    Ok(SecretLease { ttl: 0, max_ttl: 0, renewable: true, internal: req.internal })
}

async fn revoke(s: Arc<Fake>, _req: SecretRequest) -> Result<()> {
    s.revoked.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn factory<const N: usize>(_c: BackendConfig) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(
        Router::new(fake::<N>())
            .path(Path::new("creds/{name}").read(creds).write(creds))
            .secret(renew, revoke),
    ))
}

/// What the lease store asked of the physical storage.
#[derive(Default, Debug, Clone)]
struct Calls {
    /// `get` of a lease entry.
    lease_gets: usize,
    /// `list_page` anywhere in the lease store.
    lists: usize,
    /// `list_page` without a limit (a whole folder at once) in the lease store.
    unbounded_lists: Vec<String>,
}

/// Memory storage that records what the lease store reads.
struct Counting {
    inner: MemoryStorage,
    calls: Mutex<Calls>,
}

impl Counting {
    fn take(&self) -> Calls {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl Storage for Counting {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        if key.starts_with(&format!("{LEASES}lease/")) {
            self.calls.lock().unwrap().lease_gets += 1;
        }
        self.inner.get(key).await
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
        if prefix.starts_with(LEASES) {
            let mut calls = self.calls.lock().unwrap();
            calls.lists += 1;
            if limit.is_none() {
                calls.unbounded_lists.push(prefix.to_string());
            }
        }
        self.inner.list_page(prefix, after, limit).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        self.inner.delete_prefix(prefix).await
    }
}

/// A dev core over counting storage with engine `N` mounted at `db/`; returns the unseal key.
async fn setup<const N: usize>() -> (Arc<Core>, Arc<Counting>, String) {
    let storage = Arc::new(Counting { inner: MemoryStorage::new(), calls: Mutex::default() });
    let core = Core::new(
        storage.clone(),
        Registry::new().secrets("fake", factory::<N>),
        CoreConfig::new("inmem"),
    );
    let init = core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("db/", "fake", "", ""), false).await.unwrap();
    let key = hex::encode(init.keys[0].as_slice());
    (core, storage, key)
}

async fn call(core: &Core, token: &str, op: Operation, path: &str, data: Value) -> Response {
    core.handle(
        Request::new(op, path)
            .with_token(token)
            .with_data(data.as_object().cloned().unwrap_or_default()),
    )
    .await
    .unwrap()
}

/// Issues `n` leases at `db/creds/<role>` with `ttl` seconds, as `token`.
async fn issue(core: &Core, token: &str, role: &str, n: usize, ttl: i64) {
    for _ in 0..n {
        call(core, token, Operation::Update, &format!("db/creds/{role}"), json!({"ttl": ttl}))
            .await;
    }
}

async fn stored_leases(core: &Core) -> usize {
    let r = core
        .handle(Request::new(Operation::List, "sys/leases/lookup/db/creds/").with_token("root"))
        .await;
    let Ok(r) = r else { return 0 };
    let folders = r.data.unwrap()["keys"].as_array().unwrap().clone();
    let mut n = 0;
    for folder in folders {
        let path = format!("sys/leases/lookup/db/creds/{}", folder.as_str().unwrap());
        let r = core.handle(Request::new(Operation::List, &path).with_token("root")).await;
        n += r.map(|r| r.data.unwrap()["keys"].as_array().unwrap().len()).unwrap_or(0);
    }
    n
}

#[tokio::test]
async fn unseal_reads_no_lease_and_expiry_reads_only_the_head() {
    let (core, storage, key) = setup::<0>().await;
    issue(&core, "root", "a", MANY / 2, 600).await;
    issue(&core, "root", "b", MANY / 2, 900).await;
    core.seal().await.unwrap();
    storage.take();

    core.unseal(Some(&key), false).await.unwrap();
    // One pass of the expiry task, as the background tick makes it.
    call(&core, "root", Operation::Update, "sys/leases/tidy", json!({})).await;
    let calls = storage.take();
    assert_eq!(calls.lease_gets, 0, "unseal and an expiry pass read no lease: {calls:?}");
    assert!(calls.unbounded_lists.is_empty(), "whole folders listed: {calls:?}");
    assert!(calls.lists <= 4, "expiry reads the head of its index only: {calls:?}");
    assert_eq!(stored_leases(&core).await, MANY);
}

#[tokio::test]
async fn expiry_pages_through_a_crowded_slot() {
    let (core, storage, _) = setup::<1>().await;
    issue(&core, "root", "a", MANY, 1).await;
    issue(&core, "root", "b", 3, 600).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while fake::<1>().revoked.load(Ordering::SeqCst) < MANY {
        assert!(std::time::Instant::now() < deadline, "expired leases were not all revoked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(storage.take().unbounded_lists.is_empty(), "whole folders listed");
    assert_eq!(stored_leases(&core).await, 3, "only the leases still valid remain");
}

#[tokio::test]
async fn prefix_and_token_revocation_page_through_many_leases() {
    let (core, storage, _) = setup::<2>().await;
    issue(&core, "root", "a", MANY / 2, 600).await;
    issue(&core, "root", "b", MANY / 2, 600).await;
    storage.take();
    call(&core, "root", Operation::Update, "sys/leases/revoke-prefix/db/creds", json!({})).await;
    assert!(storage.take().unbounded_lists.is_empty(), "whole folders listed");
    assert_eq!(fake::<2>().revoked.load(Ordering::SeqCst), MANY);
    assert_eq!(stored_leases(&core).await, 0);

    let token = call(&core, "root", Operation::Update, "auth/token/create", json!({})).await;
    let token = token.auth.unwrap().client_token.expose().to_string();
    issue(&core, &token, "c", MANY, 600).await;
    storage.take();
    call(&core, "root", Operation::Update, "auth/token/revoke", json!({"token": token})).await;
    assert!(storage.take().unbounded_lists.is_empty(), "whole folders listed");
    assert_eq!(fake::<2>().revoked.load(Ordering::SeqCst), 2 * MANY);
    assert_eq!(stored_leases(&core).await, 0);
}
