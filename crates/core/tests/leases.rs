//! Leases through the core: issued with every dynamic secret, renewed and revoked through the
//! engine, revoked with their token, at expiry, and force-revoked when the engine keeps failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_framework::{Backend, BackendConfig, Path, Req, Router, SecretRequest};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Request, Response, Result, SecretLease};
use serde_json::{Value, json};

/// A fake engine: `creds` hands out a leased secret; revocations are counted; `fail` makes
/// revocation fail.
#[derive(Default)]
struct Fake {
    revoked: AtomicUsize,
    renewed: AtomicUsize,
    fail: AtomicBool,
}

static FAKE: std::sync::OnceLock<Arc<Fake>> = std::sync::OnceLock::new();

fn fake_state() -> Arc<Fake> {
    FAKE.get_or_init(|| Arc::new(Fake::default())).clone()
}

async fn creds(_s: Arc<Fake>, req: Req) -> Result<Option<Response>> {
    let ttl = req.data().get("ttl").and_then(Value::as_i64).unwrap_or(60);
    let mut internal = serde_json::Map::new();
    internal.insert("username".into(), json!("v-user"));
    let mut r = Response::json(json!({"username": "v-user", "password": "p"}));
    r.secret = Some(SecretLease { ttl, max_ttl: 120, renewable: true, internal });
    Ok(Some(r))
}

async fn renew(s: Arc<Fake>, req: SecretRequest) -> Result<SecretLease> {
    assert_eq!(req.internal["username"], "v-user");
    s.renewed.fetch_add(1, Ordering::SeqCst);
    Ok(SecretLease { ttl: 0, max_ttl: 0, renewable: true, internal: req.internal })
}

async fn revoke(s: Arc<Fake>, _req: SecretRequest) -> Result<()> {
    if s.fail.load(Ordering::SeqCst) {
        return Err(Error::internal("database unreachable"));
    }
    s.revoked.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn factory(_c: BackendConfig) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(
        Router::new(fake_state())
            .path(Path::new("creds").read(creds).write(creds))
            .secret(renew, revoke),
    ))
}

async fn setup() -> Arc<Core> {
    let core = Core::new(
        Arc::new(MemoryStorage::new()),
        Registry::new().secrets("fake", factory),
        CoreConfig::new("inmem"),
    );
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("db/", "fake", "", ""), false).await.unwrap();
    core
}

async fn call(
    core: &Core,
    token: &str,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response> {
    core.handle(
        Request::new(op, path)
            .with_token(token)
            .with_data(data.as_object().cloned().unwrap_or_default()),
    )
    .await
}

// One test drives the whole life cycle: the fake's counters are shared.
#[tokio::test]
async fn lease_life_cycle() {
    let core = setup().await;
    let fake = fake_state();

    let r = call(&core, "root", Operation::Read, "db/creds", json!({})).await.unwrap();
    let lease = r.lease.unwrap();
    assert!(lease.lease_id.starts_with("db/creds/"));
    assert_eq!((lease.renewable, lease.lease_duration), (true, 60));
    let found = call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/lookup",
        json!({"lease_id": lease.lease_id}),
    )
    .await
    .unwrap();
    let data = found.data.unwrap();
    assert_eq!(data["id"], lease.lease_id.as_str());
    assert_eq!(data["path"], "db/creds");
    let keys = call(&core, "root", Operation::List, "sys/leases/lookup/db/creds/", json!({}))
        .await
        .unwrap();
    assert_eq!(keys.data.unwrap()["keys"].as_array().unwrap().len(), 1);

    let renewed = call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/renew",
        json!({"lease_id": lease.lease_id, "increment": 90}),
    )
    .await
    .unwrap();
    assert_eq!(renewed.lease.unwrap().lease_duration, 90);
    assert_eq!(fake.renewed.load(Ordering::SeqCst), 1);
    let capped = call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/renew",
        json!({"lease_id": lease.lease_id, "increment": 1000}),
    )
    .await
    .unwrap();
    assert!(capped.lease.unwrap().lease_duration <= 120);
    assert!(!capped.warnings.is_empty());

    // After a remount the lease (its id unchanged) renews through the mount's new path.
    let moved = json!({"from": "db", "to": "db2"});
    call(&core, "root", Operation::Update, "sys/remount", moved).await.unwrap();
    let renewed = call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/renew",
        json!({"lease_id": lease.lease_id, "increment": 30}),
    )
    .await
    .unwrap();
    assert_eq!(renewed.lease.unwrap().lease_duration, 30);
    let back = json!({"from": "db2", "to": "db"});
    call(&core, "root", Operation::Update, "sys/remount", back).await.unwrap();

    call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/revoke",
        json!({"lease_id": lease.lease_id}),
    )
    .await
    .unwrap();
    assert_eq!(fake.revoked.load(Ordering::SeqCst), 1);
    let gone = call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/lookup",
        json!({"lease_id": lease.lease_id}),
    )
    .await;
    assert_eq!(gone.unwrap_err(), Error::invalid("invalid lease"));
    let unknown = call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/renew",
        json!({"lease_id": "db/creds/nope"}),
    )
    .await;
    assert_eq!(unknown.unwrap_err(), Error::invalid("lease not found"));

    // Revoking a token revokes the leases it created (and its children's).
    let parent = call(&core, "root", Operation::Update, "auth/token/create", json!({}))
        .await
        .unwrap()
        .auth
        .unwrap();
    let parent = parent.client_token.expose().to_string();
    let child = call(&core, &parent, Operation::Update, "auth/token/create", json!({}))
        .await
        .unwrap()
        .auth
        .unwrap();
    let child = child.client_token.expose().to_string();
    call(&core, &child, Operation::Read, "db/creds", json!({})).await.unwrap();
    call(&core, &parent, Operation::Read, "db/creds", json!({})).await.unwrap();
    call(&core, "root", Operation::Update, "auth/token/revoke", json!({"token": parent}))
        .await
        .unwrap();
    assert_eq!(fake.revoked.load(Ordering::SeqCst), 3, "both leases revoked with the token tree");

    // Expiry revokes by itself.
    call(&core, "root", Operation::Update, "db/creds", json!({"ttl": 1})).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(fake.revoked.load(Ordering::SeqCst), 4, "expired lease revoked in the background");

    // A failing engine: the lease stays with its error, then force-revoke drops it.
    fake.fail.store(true, Ordering::SeqCst);
    let stuck =
        call(&core, "root", Operation::Read, "db/creds", json!({})).await.unwrap().lease.unwrap();
    let err = call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/revoke",
        json!({"lease_id": stuck.lease_id}),
    )
    .await;
    assert!(err.is_err());
    let still = call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/lookup",
        json!({"lease_id": stuck.lease_id}),
    )
    .await
    .unwrap();
    let data = still.data.unwrap();
    assert_eq!(data["revoke_attempts"], 1);
    assert!(data["last_revoke_error"].as_str().unwrap().contains("database unreachable"));
    let irrevocable = |core: Arc<Core>| async move {
        let r = call(&core, "root", Operation::Read, "sys/leases/irrevocable", json!({})).await;
        r.unwrap().data.unwrap()
    };
    assert_eq!(irrevocable(core.clone()).await["lease_count"], 0);
    // After six failed attempts the lease is listed as irrevocable, with its last error.
    for _ in 0..5 {
        let id = json!({"lease_id": stuck.lease_id});
        assert!(call(&core, "root", Operation::Update, "sys/leases/revoke", id).await.is_err());
    }
    let listed = irrevocable(core.clone()).await;
    assert_eq!(listed["lease_count"], 1);
    assert_eq!(listed["leases"][0]["lease_id"], stuck.lease_id.as_str());
    assert_eq!(listed["leases"][0]["attempts"], 6);
    call(&core, "root", Operation::Update, "sys/leases/revoke-force/db", json!({})).await.unwrap();
    assert_eq!(irrevocable(core.clone()).await["lease_count"], 0);
    assert!(
        call(
            &core,
            "root",
            Operation::Update,
            "sys/leases/lookup",
            json!({"lease_id": stuck.lease_id})
        )
        .await
        .is_err()
    );
    fake.fail.store(false, Ordering::SeqCst);

    // sync:false answers 202 and revokes in the background.
    let async_lease =
        call(&core, "root", Operation::Read, "db/creds", json!({})).await.unwrap().lease.unwrap();
    let r = call(
        &core,
        "root",
        Operation::Update,
        "sys/leases/revoke",
        json!({"lease_id": async_lease.lease_id, "sync": false}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, Some(202));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(fake.revoked.load(Ordering::SeqCst), 5);

    // Disabling the mount revokes what is left.
    call(&core, "root", Operation::Read, "db/creds", json!({})).await.unwrap();
    core.disable_mount("db/").await.unwrap();
    assert_eq!(fake.revoked.load(Ordering::SeqCst), 6);
}
