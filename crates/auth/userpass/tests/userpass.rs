//! Userpass through the core, as a client sees it.
//!
//! Contents: user CRUD and read shape (never a password); login (token settings,
//! lookup-self); wrong password and unknown user refused alike, after comparable work;
//! password change; policies endpoint; bcrypt import; renewal follows the user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Request, Response};
use serde_json::{Value, json};

const INVALID: &str = "invalid username or password";

async fn core() -> Arc<Core> {
    let registry = Registry::new().auth("userpass", coffer_userpass::factory);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("userpass/", "userpass", "", "auth_"), true).await.unwrap();
    core
}

fn request(op: Operation, path: &str, data: Value) -> Request {
    Request::new(op, format!("auth/userpass/{path}"))
        .with_data(data.as_object().cloned().unwrap_or_default())
}

async fn root(core: &Core, op: Operation, path: &str, data: Value) -> Result<Response, Error> {
    core.handle(request(op, path, data).with_token("root")).await
}

async fn read(core: &Core, path: &str) -> Result<Value, Error> {
    root(core, Operation::Read, path, json!({})).await.map(|r| Value::Object(r.data.unwrap()))
}

async fn login(core: &Core, user: &str, password: &str) -> Result<Response, Error> {
    core.handle(request(Operation::Update, &format!("login/{user}"), json!({"password": password})))
        .await
}

fn assert_invalid(result: Result<Response, Error>) {
    let err = result.expect_err("the login must fail");
    assert_eq!((err.status(), err.to_string().as_str()), (400, INVALID));
}

#[tokio::test]
async fn users_crud_and_read_shape() {
    let core = core().await;
    let r = root(
        &core,
        Operation::Update,
        "users/alice",
        json!({"password": "pw", "policies": "P, ops", "token_ttl": "1h"}),
    )
    .await
    .unwrap();
    assert!(r.is_empty(), "a user write is a 204");
    let user = read(&core, "users/alice").await.unwrap();
    assert_eq!(user["token_policies"], json!(["ops", "p"]));
    assert_eq!(user["token_ttl"], 3600);
    for key in ["token_bound_cidrs", "token_max_ttl", "token_num_uses", "token_type"] {
        assert!(user.get(key).is_some(), "user read lacks {key}: {user}");
    }
    let text = user.to_string();
    assert!(!text.contains("password") && !text.contains("argon2"), "{text}");

    root(&core, Operation::Update, "users/bob", json!({"password": "x"})).await.unwrap();
    let listed = root(&core, Operation::List, "users/", json!({})).await.unwrap();
    assert_eq!(listed.data.unwrap()["keys"], json!(["alice", "bob"]));

    let missing = root(&core, Operation::Update, "users/carol", json!({"token_ttl": 60})).await;
    assert_eq!(missing.unwrap_err().status(), 400, "a new user needs a password");

    root(&core, Operation::Delete, "users/bob", json!({})).await.unwrap();
    assert_eq!(read(&core, "users/bob").await.unwrap_err(), Error::NotFound);
    assert_invalid(login(&core, "bob", "x").await);
}

#[tokio::test]
async fn login_issues_a_token_with_the_user_settings() {
    let core = core().await;
    root(
        &core,
        Operation::Update,
        "users/alice",
        json!({"password": "correct horse", "token_policies": "p", "token_ttl": "30m"}),
    )
    .await
    .unwrap();
    let auth = login(&core, "alice", "correct horse").await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["default", "p"]);
    assert_eq!(auth.lease_duration, 1800);
    assert!(auth.orphan);
    assert_eq!(auth.metadata.unwrap()["username"], "alice");

    let token = auth.client_token.expose().to_string();
    let me = core
        .handle(Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["display_name"], "userpass-alice");
    assert_eq!(me["path"], "auth/userpass/login/alice");
    assert_eq!(me["policies"], json!(["default", "p"]));
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_are_refused_alike() {
    let core = core().await;
    root(&core, Operation::Update, "users/alice", json!({"password": "pw"})).await.unwrap();
    assert_invalid(login(&core, "alice", "wrong").await);
    assert_invalid(login(&core, "alice", "").await);
    assert_invalid(login(&core, "mallory", "pw").await);

    // Unknown users cost a real password verification too (a lookup alone is ~1000x faster).
    let time = |user: &'static str| {
        let core = core.clone();
        async move {
            let start = Instant::now();
            for _ in 0..3 {
                let _ = login(&core, user, "wrong").await;
            }
            start.elapsed()
        }
    };
    let known = time("alice").await;
    let unknown = time("mallory").await;
    assert!(unknown * 5 >= known, "unknown users answer too fast: {unknown:?} vs {known:?}");
}

#[tokio::test]
async fn password_and_policy_updates() {
    let core = core().await;
    root(&core, Operation::Update, "users/alice", json!({"password": "old", "policies": "a"}))
        .await
        .unwrap();
    root(&core, Operation::Update, "users/alice/password", json!({"password": "new"}))
        .await
        .unwrap();
    assert_invalid(login(&core, "alice", "old").await);
    assert!(login(&core, "alice", "new").await.is_ok());
    let missing =
        root(&core, Operation::Update, "users/ghost/password", json!({"password": "x"})).await;
    assert_eq!(missing.unwrap_err().status(), 400);
    // Set through the legacy name, the read echoes it; set through token_policies, it is
    // forgotten (as the reference does).
    assert_eq!(read(&core, "users/alice").await.unwrap()["policies"], json!(["a"]));
    root(&core, Operation::Update, "users/alice/policies", json!({"token_policies": "b,c"}))
        .await
        .unwrap();
    assert!(read(&core, "users/alice").await.unwrap().get("policies").is_none());
    let auth = login(&core, "alice", "new").await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["b", "c", "default"]);
    // A profile update keeps the password.
    root(&core, Operation::Update, "users/alice", json!({"token_ttl": "10m"})).await.unwrap();
    let auth = login(&core, "alice", "new").await.unwrap().auth.unwrap();
    assert_eq!(auth.lease_duration, 600);
}

#[tokio::test]
async fn imported_bcrypt_hashes_verify() {
    let core = core().await;
    let hash = bcrypt::hash("legacy pw", 4).unwrap();
    assert!(hash.starts_with("$2"));
    root(
        &core,
        Operation::Update,
        "users/old",
        json!({"password_hash": hash, "token_policies": "p"}),
    )
    .await
    .unwrap();
    assert!(login(&core, "old", "legacy pw").await.is_ok());
    assert_invalid(login(&core, "old", "other").await);
    let bad =
        root(&core, Operation::Update, "users/x", json!({"password_hash": "plain-text"})).await;
    assert_eq!(bad.unwrap_err().status(), 400, "only bcrypt hashes import");

    // A password change moves the user to argon2id.
    root(&core, Operation::Update, "users/old/password", json!({"password": "fresh"}))
        .await
        .unwrap();
    assert!(login(&core, "old", "fresh").await.is_ok());
}

/// Renewal follows the user as it is now (OpenBao 2.7, checked): new TTLs apply, changed
/// policies refuse with a 500, a deleted user gets an empty answer and no renewal.
#[tokio::test]
async fn renewal_follows_the_user() {
    let core = core().await;
    let user = json!({"password": "pw", "token_policies": "a", "token_ttl": "1h"});
    root(&core, Operation::Update, "users/bob", user).await.unwrap();
    let token = login(&core, "bob", "pw").await.unwrap().auth.unwrap().client_token;
    let token = token.expose().to_string();
    let renew = || async {
        core.handle(Request::new(Operation::Update, "auth/token/renew-self").with_token(&token))
            .await
    };
    root(&core, Operation::Update, "users/bob", json!({"token_ttl": "20m"})).await.unwrap();
    assert_eq!(renew().await.unwrap().auth.unwrap().lease_duration, 1200);
    root(&core, Operation::Update, "users/bob", json!({"token_policies": "a,b"})).await.unwrap();
    let refused = renew().await.unwrap_err();
    assert_eq!(
        (refused.status(), refused.to_string().as_str()),
        (500, "failed to renew entry: policies have changed, not renewing")
    );
    root(&core, Operation::Delete, "users/bob", json!({})).await.unwrap();
    assert!(renew().await.unwrap().is_empty(), "204, as OpenBao answers");
}
