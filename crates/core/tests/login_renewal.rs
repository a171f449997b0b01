//! The renewal hook: renewing a token that a login issued asks the auth method, which sees
//! what the login stored (policies, metadata, internal data) and the renewing connection's
//! client certificates, and may renew on new terms, decline (204) or refuse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_framework::{
    Backend, BackendConfig, IssuedLogin, LoginRenewal, Path, RenewTerms, Req, Router, SpecialPaths,
    read_json,
};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Login, Operation, Request, Response, Result};
use serde_json::{Value, json};

async fn login(_s: Arc<()>, _req: Req) -> Result<Option<Response>> {
    let mut login = Login {
        policies: vec!["app".into()],
        ttl: 600,
        max_ttl: 7200,
        display_name: "judged".into(),
        ..Login::default()
    };
    login.metadata.insert("who".into(), json!("alice"));
    login.internal.insert("binding".into(), json!("kept-from-login"));
    Ok(Some(Response { login: Some(login), ..Response::default() }))
}

/// The test sets the method's next verdict through this route.
async fn set_verdict(_s: Arc<()>, req: Req) -> Result<Option<Response>> {
    let bytes = serde_json::to_vec(req.data()).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put("verdict", &bytes).await?;
    Ok(None)
}

async fn judge(_s: Arc<()>, req: Req, login: IssuedLogin) -> Result<LoginRenewal> {
    // What the login stored comes back, and the renewing connection's certificates.
    assert_eq!(login.internal_str("binding"), "kept-from-login");
    assert_eq!(login.metadata_str("who"), "alice");
    assert_eq!(login.policies, vec!["app", "default"]);
    assert_eq!(req.inner.path, "login");
    let verdict: Value = read_json(req.storage(), "verdict").await?.unwrap_or(json!({}));
    let presented = req.inner.peer_certificates.first().cloned().unwrap_or_default();
    match verdict["verdict"].as_str().unwrap_or("unchanged") {
        "terms" => Ok(LoginRenewal::Terms(RenewTerms { ttl: 60, max_ttl: 0, period: 0 })),
        "declined" => Ok(LoginRenewal::Declined),
        "need-cert" if presented != b"cert" => Err(Error::invalid("no client certificate found")),
        "need-cert" => Ok(LoginRenewal::Unchanged),
        "internal" => Err(Error::internal("role \"x\" does not exist during renewal")),
        _ => Ok(LoginRenewal::Unchanged),
    }
}

fn judged(_config: BackendConfig) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(
        Router::new(Arc::new(()))
            .special_paths(SpecialPaths { unauthenticated: vec!["login".into()], sudo: vec![] })
            .path(Path::new("login").write(login))
            .path(Path::new("verdict").open_fields().write(set_verdict))
            .login_renewal(judge),
    ))
}

async fn setup() -> (Arc<Core>, String) {
    let registry = Registry::new().auth("judged", judged);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("judged/", "judged", "", "auth_"), true).await.unwrap();
    let auth = core
        .handle(Request::new(Operation::Update, "auth/judged/login"))
        .await
        .unwrap()
        .auth
        .unwrap();
    (core, auth.client_token.expose().to_string())
}

async fn verdict(core: &Core, verdict: &str) {
    let req = Request::new(Operation::Update, "auth/judged/verdict")
        .with_token("root")
        .with_data(json!({ "verdict": verdict }).as_object().cloned().unwrap());
    core.handle(req).await.unwrap();
}

async fn renew(core: &Core, token: &str, increment: &str, cert: &[u8]) -> Result<Response> {
    let mut req = Request::new(Operation::Update, "auth/token/renew-self")
        .with_token(token)
        .with_data(json!({ "increment": increment }).as_object().cloned().unwrap());
    if !cert.is_empty() {
        req.peer_certificates = Arc::new(vec![cert.to_vec()]);
    }
    core.handle(req).await
}

#[tokio::test]
async fn unchanged_renews_on_the_issued_terms() {
    let (core, token) = setup().await;
    let auth = renew(&core, &token, "1h", b"").await.unwrap().auth.unwrap();
    assert_eq!(auth.lease_duration, 3600, "the increment, within the login's 2h max");
    let auth = renew(&core, &token, "0", b"").await.unwrap().auth.unwrap();
    assert_eq!(auth.lease_duration, 600, "no increment: the login's TTL");
}

#[tokio::test]
async fn new_terms_apply() {
    let (core, token) = setup().await;
    verdict(&core, "terms").await;
    let auth = renew(&core, &token, "0", b"").await.unwrap().auth.unwrap();
    assert_eq!(auth.lease_duration, 60);
    // Max 0 on the new terms is the mount's maximum (32 days), no longer the login's 2h.
    let auth = renew(&core, &token, "10h", b"").await.unwrap().auth.unwrap();
    assert_eq!(auth.lease_duration, 36000);
}

#[tokio::test]
async fn declined_is_an_empty_answer_and_the_token_stays_as_it_was() {
    let (core, token) = setup().await;
    verdict(&core, "declined").await;
    assert!(renew(&core, &token, "1h", b"").await.unwrap().is_empty());
    let me = core
        .handle(Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token))
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(me["ttl"].as_i64().unwrap() <= 600);
    assert!(me.get("last_renewal").is_none());
}

#[tokio::test]
async fn refusals_keep_their_status_and_internal_ones_are_wrapped() {
    let (core, token) = setup().await;
    verdict(&core, "need-cert").await;
    let refused = renew(&core, &token, "1h", b"").await.unwrap_err();
    assert_eq!(refused, Error::invalid("no client certificate found"));
    assert!(renew(&core, &token, "1h", b"cert").await.is_ok());
    verdict(&core, "internal").await;
    let refused = renew(&core, &token, "1h", b"cert").await.unwrap_err();
    assert_eq!(
        refused,
        Error::internal("failed to renew entry: role \"x\" does not exist during renewal")
    );
}

#[tokio::test]
async fn token_store_tokens_are_not_judged() {
    let (core, _) = setup().await;
    verdict(&core, "internal").await;
    let child = core
        .handle(
            Request::new(Operation::Update, "auth/token/create")
                .with_token("root")
                .with_data(json!({"ttl": "1h"}).as_object().cloned().unwrap()),
        )
        .await
        .unwrap()
        .auth
        .unwrap();
    let auth = renew(&core, child.client_token.expose(), "2h", b"").await.unwrap().auth.unwrap();
    assert_eq!(auth.lease_duration, 7200);
}
