//! Many clients renewing the same lease at once (every instance of a service sharing one
//! database lease): the engine sees one call at a time for that lease, every renewal
//! succeeds, and exactly one expiry index entry is left, so expiry revokes the lease at its
//! final time and not at a time a concurrent renewal replaced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_framework::{Backend, BackendConfig, Path, Req, Router, SecretRequest};
use coffer_storage::{MemoryStorage, Storage};
use coffer_types::{Operation, Request, Response, Result, SecretLease};
use serde_json::{Value, json};

/// A fake engine that notices when two calls for one lease overlap.
#[derive(Default)]
struct Fake {
    in_flight: Mutex<HashSet<String>>,
    overlapped: AtomicBool,
    renewed: AtomicUsize,
}

impl Fake {
    /// Marks `lease_id` busy for a moment, as a database round trip would.
    async fn engine_call(&self, lease_id: &str) {
        if !self.in_flight.lock().unwrap().insert(lease_id.to_string()) {
            self.overlapped.store(true, Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.in_flight.lock().unwrap().remove(lease_id);
    }
}

static FAKE: std::sync::OnceLock<Arc<Fake>> = std::sync::OnceLock::new();

fn fake_state() -> Arc<Fake> {
    FAKE.get_or_init(|| Arc::new(Fake::default())).clone()
}

async fn creds(_s: Arc<Fake>, _req: Req) -> Result<Option<Response>> {
    let mut r = Response::json(json!({"username": "v-user"}));
    r.secret =
        Some(SecretLease { ttl: 60, max_ttl: 3600, renewable: true, internal: Default::default() });
    Ok(Some(r))
}

async fn renew(s: Arc<Fake>, req: SecretRequest) -> Result<SecretLease> {
    s.engine_call(&req.lease_id).await;
    s.renewed.fetch_add(1, Ordering::SeqCst);
    Ok(SecretLease { ttl: 0, max_ttl: 0, renewable: true, internal: req.internal })
}

async fn revoke(s: Arc<Fake>, req: SecretRequest) -> Result<()> {
    s.engine_call(&req.lease_id).await;
    Ok(())
}

fn factory(_c: BackendConfig) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(
        Router::new(fake_state()).path(Path::new("creds").read(creds)).secret(renew, revoke),
    ))
}

async fn call(core: &Core, op: Operation, path: &str, data: Value) -> Result<Response> {
    core.handle(
        Request::new(op, path)
            .with_token("root")
            .with_data(data.as_object().cloned().unwrap_or_default()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_renewals_of_one_lease_take_turns_and_leave_one_expiry_entry() {
    let physical = Arc::new(MemoryStorage::new());
    let core = Core::new(
        physical.clone(),
        Registry::new().secrets("fake", factory),
        CoreConfig::new("inmem"),
    );
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("db/", "fake", "", ""), false).await.unwrap();
    let lease_id =
        call(&core, Operation::Read, "db/creds", json!({})).await.unwrap().lease.unwrap().lease_id;

    // Distinct increments, so each renewal moves the lease to another expiry slot.
    let mut renewals = tokio::task::JoinSet::new();
    for i in 0..32 {
        let (core, lease_id) = (core.clone(), lease_id.clone());
        renewals.spawn(async move {
            let body = json!({"lease_id": lease_id, "increment": 100 + 10 * i});
            call(&core, Operation::Update, "sys/leases/renew", body).await
        });
    }
    while let Some(done) = renewals.join_next().await {
        done.unwrap().expect("every concurrent renewal succeeds");
    }
    let fake = fake_state();
    assert_eq!(fake.renewed.load(Ordering::SeqCst), 32);
    assert!(
        !fake.overlapped.load(Ordering::SeqCst),
        "the engine saw overlapping calls for one lease"
    );

    let slots = physical.list("sys/expire/expiry/").await.unwrap();
    assert_eq!(slots.len(), 1, "one expiry slot for one lease, got {slots:?}");
    let entries = physical.list(&format!("sys/expire/expiry/{}", slots[0])).await.unwrap();
    assert_eq!(entries.len(), 1);

    // A revocation racing renewals is serialised with them too, and removes the lease.
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (core, lease_id) = (core.clone(), lease_id.clone());
        racing.spawn(async move {
            let (path, body) = if i == 4 {
                ("sys/leases/revoke", json!({"lease_id": lease_id}))
            } else {
                ("sys/leases/renew", json!({"lease_id": lease_id, "increment": 500 + i}))
            };
            call(&core, Operation::Update, path, body).await.map_err(|e| e.to_string())
        });
    }
    while let Some(done) = racing.join_next().await {
        // A renewal after the revocation answers "lease not found"; nothing else fails.
        if let Err(e) = done.unwrap() {
            assert!(e.contains("lease not found"), "{e}");
        }
    }
    assert!(!fake.overlapped.load(Ordering::SeqCst));
    assert!(physical.list("sys/expire/expiry/").await.unwrap().is_empty());
    assert!(physical.list("sys/expire/lease/db/creds/").await.unwrap().is_empty());
}
