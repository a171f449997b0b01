//! The Kubernetes method driven through the core, against a fake API server whose TokenReview
//! endpoint checks the reviewer's bearer token and vouches for tokens it has not revoked.
//!
//! - `token_review_login_and_denials`: success (token, policies, entity, metadata), then
//!   wrong namespace, wrong name, wrong audience, expired, revoked (TokenReview says no),
//!   a refused reviewer token, `none` and HS256, unknown role.
//! - `without_a_reviewer_token_the_jwt_reviews_itself`
//! - `pem_keys_validate_locally_without_an_api_call`
//! - `namespace_selector_admits_labelled_namespaces`
//! - `config_and_role_validation`
//! - `renewal_follows_the_role`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use base64::Engine;
use coffer_types::Operation;
use common::*;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

const REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

/// A projected service-account token's claims.
fn projected(namespace: &str, name: &str, uid: &str, aud: &str) -> Value {
    json!({
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "aud": [aud], "iat": now(), "nbf": now(), "exp": now() + 600,
        "kubernetes.io": {
            "namespace": namespace,
            "pod": {"name": format!("{name}-7d9f"), "uid": "pod-uid"},
            "serviceaccount": {"name": name, "uid": uid},
        },
    })
}

/// A legacy secret-based token's claims (no time claims at all).
fn legacy(namespace: &str, name: &str, uid: &str) -> Value {
    json!({
        "iss": "kubernetes/serviceaccount",
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": format!("{name}-token-abcde"),
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": uid,
    })
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// The fake API server's knobs and what it saw.
#[derive(Default)]
struct Cluster {
    /// The bearer the reviewer must present ("" = the reviewed token itself).
    reviewer: String,
    revoked: HashSet<String>,
    last_body: Option<Value>,
    /// Labels of the namespaces the API server knows.
    namespaces: std::collections::HashMap<String, Value>,
}

async fn fake_cluster(reviewer: &str) -> (FakeServer, Arc<Mutex<Cluster>>) {
    let cluster = Arc::new(Mutex::new(Cluster { reviewer: reviewer.into(), ..Cluster::default() }));
    let state = cluster.clone();
    let server = FakeServer::start(move |seen| {
        let mut cluster = state.lock().unwrap();
        if let Some(ns) = seen.path.strip_prefix("/api/v1/namespaces/") {
            if seen.authorization.as_deref() != Some(format!("Bearer {}", cluster.reviewer).as_str()) {
                return (401, json!({"kind": "Status", "status": "Failure", "code": 401}));
            }
            return match cluster.namespaces.get(ns) {
                Some(labels) => (200, json!({"kind": "Namespace", "metadata": {"name": ns, "labels": labels}})),
                None => (404, json!({"kind": "Status", "status": "Failure", "code": 404})),
            };
        }
        if seen.method != "POST" || seen.path != REVIEWS {
            return (404, json!({"kind": "Status", "status": "Failure", "code": 404}));
        }
        cluster.last_body = Some(seen.body.clone());
        let token = seen.body["spec"]["token"].as_str().unwrap_or_default().to_string();
        let expected =
            if cluster.reviewer.is_empty() { token.clone() } else { cluster.reviewer.clone() };
        if seen.authorization.as_deref() != Some(format!("Bearer {expected}").as_str()) {
            return (
                401,
                json!({"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401}),
            );
        }
        if cluster.revoked.contains(&token) {
            return (201, json!({"kind": "TokenReview", "status": {"user": {}, "error": "[invalid bearer token, token has been invalidated]"}}));
        }
        let claims = payload(&token);
        let (namespace, name, uid) = match claims.get("kubernetes.io") {
            Some(k) => (
                k["namespace"].as_str().unwrap_or_default().to_string(),
                k["serviceaccount"]["name"].as_str().unwrap_or_default().to_string(),
                k["serviceaccount"]["uid"].as_str().unwrap_or_default().to_string(),
            ),
            None => (
                claims["kubernetes.io/serviceaccount/namespace"].as_str().unwrap_or_default().into(),
                claims["kubernetes.io/serviceaccount/service-account.name"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                claims["kubernetes.io/serviceaccount/service-account.uid"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            ),
        };
        let audiences = seen.body["spec"]["audiences"].clone();
        let audiences = if audiences.is_null() { json!(["https://kubernetes.default.svc"]) } else { audiences };
        (
            201,
            json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                   "spec": seen.body["spec"].clone(),
                   "status": {"authenticated": true, "audiences": audiences,
                              "user": {"username": format!("system:serviceaccount:{namespace}:{name}"),
                                       "uid": uid, "groups": ["system:serviceaccounts"]}}}),
        )
    })
    .await;
    (server, cluster)
}

async fn app_role(core: &coffer_core::Core) {
    write(
        core,
        "auth/kubernetes/role/app",
        json!({
            "bound_service_account_names": "app,web-*",
            "bound_service_account_namespaces": ["prod"],
            "audience": "vault",
            "token_policies": ["k8s-app"],
            "token_ttl": "1h",
        }),
    )
    .await;
}

#[tokio::test]
async fn token_review_login_and_denials() {
    let core = core().await;
    let (server, cluster) = fake_cluster("reviewer-token").await;
    write(
        &core,
        "auth/kubernetes/config",
        json!({"kubernetes_host": server.url(), "token_reviewer_jwt": "reviewer-token"}),
    )
    .await;
    app_role(&core).await;
    // Not verified locally (no pem_keys): any key will do, the API server decides.
    let key = TestKey::generate(Algorithm::RS256);

    let jwt = key.sign(Some("k"), &projected("prod", "app", "uid-app", "vault"));
    let auth = login(&core, "app", &jwt).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["default", "k8s-app"]);
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.orphan);
    assert!(!auth.entity_id.is_empty());
    let metadata = Value::Object(auth.metadata.unwrap());
    assert_eq!(
        metadata,
        json!({"role": "app", "service_account_name": "app", "service_account_namespace": "prod",
               "service_account_secret_name": "", "service_account_uid": "uid-app"})
    );
    let body = cluster.lock().unwrap().last_body.clone().unwrap();
    assert_eq!(body["spec"]["token"], jwt.as_str());
    assert_eq!(body["spec"]["audiences"], json!(["vault"]));
    assert_eq!(body["kind"], "TokenReview");
    let token = auth.client_token.expose().to_string();
    let me = call(&core, Some(&token), Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["display_name"], "kubernetes-prod-app");
    assert_eq!(me["policies"], json!(["default", "k8s-app"]));
    // Globs match names; the same service account finds the same entity.
    let web = key.sign(None, &projected("prod", "web-1", "uid-web", "vault"));
    assert!(login(&core, "app", &web).await.is_ok());
    let again = login(&core, "app", &jwt).await.unwrap().auth.unwrap();
    assert_eq!(again.entity_id, auth.entity_id);

    let reviews = server.hits(REVIEWS);
    let denied = |ns: &str, name: &str, aud: &str| key.sign(None, &projected(ns, name, "u", aud));
    assert_eq!(
        refused(&core, "app", &denied("dev", "app", "vault")).await,
        (403, "namespace not authorized".into())
    );
    assert_eq!(
        refused(&core, "app", &denied("prod", "db", "vault")).await,
        (403, "service account name not authorized".into())
    );
    assert_eq!(
        refused(&core, "app", &denied("prod", "app", "other")).await,
        (
            403,
            "invalid audience (aud) claim: audience claim does not match any expected audience"
                .into()
        )
    );
    let mut old = projected("prod", "app", "uid-app", "vault");
    old["iat"] = json!(now() - 7200);
    old["nbf"] = json!(now() - 7200);
    old["exp"] = json!(now() - 3600);
    assert_eq!(
        refused(&core, "app", &key.sign(None, &old)).await,
        (403, "invalid expiration time (exp) claim: token is expired".into())
    );
    assert_eq!(server.hits(REVIEWS), reviews, "bindings are checked before any API call");

    // The API server no longer vouches for the token (deleted pod or account).
    cluster.lock().unwrap().revoked.insert(jwt.clone());
    assert_eq!(refused(&core, "app", &jwt).await, (403, "permission denied".into()));
    cluster.lock().unwrap().revoked.clear();
    // The reviewer's own token is refused by the API server.
    cluster.lock().unwrap().reviewer = "rotated".into();
    assert_eq!(refused(&core, "app", &jwt).await, (403, "permission denied".into()));
    cluster.lock().unwrap().reviewer = "reviewer-token".into();
    assert!(login(&core, "app", &jwt).await.is_ok());

    let claims = projected("prod", "app", "uid-app", "vault");
    let (status, msg) = refused(&core, "app", &unsigned(&claims)).await;
    assert_eq!((status, msg.contains("unsupported signing algorithm")), (403, true));
    let (status, msg) = refused(&core, "app", &sign_hs256(b"secret", &claims)).await;
    assert_eq!((status, msg.contains("unsupported signing algorithm")), (403, true));
    assert_eq!(refused(&core, "nope", &jwt).await, (400, "invalid role name \"nope\"".into()));
    assert_eq!(refused(&core, "", &jwt).await, (400, "missing role".into()));
    assert_eq!(refused(&core, "app", "").await, (400, "missing jwt".into()));
}

#[tokio::test]
async fn legacy_tokens_and_alias_by_name() {
    let core = core().await;
    let (server, cluster) = fake_cluster("").await;
    // No reviewer token: the login JWT authenticates its own review.
    write(
        &core,
        "auth/kubernetes/config",
        json!({"kubernetes_host": server.url(), "disable_local_ca_jwt": false}),
    )
    .await;
    write(
        &core,
        "auth/kubernetes/role/any",
        json!({"bound_service_account_names": "*", "bound_service_account_namespaces": "team-*",
               "alias_name_source": "serviceaccount_name", "policies": "legacy"}),
    )
    .await;
    let key = TestKey::generate(Algorithm::ES256);
    let jwt = key.sign(None, &legacy("team-a", "worker", "uid-w"));
    let auth = login(&core, "any", &jwt).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["default", "legacy"]);
    let metadata = auth.metadata.unwrap();
    assert_eq!(metadata["service_account_secret_name"], "worker-token-abcde");
    let body = cluster.lock().unwrap().last_body.clone().unwrap();
    assert!(body["spec"].get("audiences").is_none(), "no audience asked when the token has none");
    let entity = call(
        &core,
        Some("root"),
        Operation::Read,
        &format!("identity/entity/id/{}", auth.entity_id),
        json!({}),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(entity["aliases"][0]["name"], "team-a/worker");
}

#[tokio::test]
async fn pem_keys_validate_locally_without_an_api_call() {
    let core = core().await;
    let (server, _cluster) = fake_cluster("reviewer-token").await;
    let rsa = TestKey::generate(Algorithm::RS256);
    let ec = TestKey::generate(Algorithm::ES256);
    let other = TestKey::generate(Algorithm::RS256);
    write(
        &core,
        "auth/kubernetes/config",
        json!({"kubernetes_host": server.url(), "pem_keys": [rsa.public_pem, ec.public_pem]}),
    )
    .await;
    app_role(&core).await;
    let claims = projected("prod", "app", "uid-app", "vault");
    assert!(login(&core, "app", &rsa.sign(None, &claims)).await.is_ok());
    assert!(login(&core, "app", &ec.sign(None, &claims)).await.is_ok());
    assert_eq!(
        refused(&core, "app", &other.sign(None, &claims)).await,
        (403, "permission denied".into())
    );
    let ed = TestKey::generate(Algorithm::EdDSA);
    assert_eq!(
        refused(&core, "app", &ed.sign(None, &claims)).await.0,
        403,
        "EdDSA is not a Kubernetes algorithm"
    );
    assert_eq!(server.total.load(std::sync::atomic::Ordering::SeqCst), 0, "no API call");
}

#[tokio::test]
async fn config_and_role_validation() {
    let core = core().await;
    let err = |r: Result<coffer_types::Response, coffer_types::Error>| {
        let e = r.unwrap_err();
        (e.status(), e.to_string())
    };
    // Unconfigured: a 500, as in Vault.
    write(
        &core,
        "auth/kubernetes/role/r",
        json!({"bound_service_account_names": "a", "bound_service_account_namespaces": "b"}),
    )
    .await;
    assert_eq!(
        refused(&core, "r", "a.b.c").await,
        (500, "could not load backend configuration".into())
    );

    let cfg =
        |data: Value| call(&core, Some("root"), Operation::Update, "auth/kubernetes/config", data);
    assert_eq!(err(cfg(json!({})).await), (400, "no host provided".into()));
    assert_eq!(
        err(cfg(json!({"kubernetes_host": "https://k8s", "disable_local_ca_jwt": true})).await),
        (400, "kubernetes_ca_cert must be given when disable_local_ca_jwt is true".into())
    );
    assert_eq!(
        err(cfg(json!({"kubernetes_host": "https://k8s", "pem_keys": "nope"})).await).0,
        400
    );
    assert_eq!(
        err(cfg(json!({"kubernetes_host": "https://k8s", "kubernetes_ca_cert": "not a pem"})).await),
        (400, "could not parse CA PEM value successfully".into())
    );
    cfg(json!({"kubernetes_host": "https://k8s:6443", "token_reviewer_jwt": "secret-reviewer"}))
        .await
        .unwrap();
    let read = call(&core, Some("root"), Operation::Read, "auth/kubernetes/config", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(read["token_reviewer_jwt_set"], true);
    assert_eq!(read["disable_iss_validation"], true);
    assert_eq!(read["pem_keys"], json!([]));
    assert!(!Value::Object(read).to_string().contains("secret-reviewer"));

    let role =
        |data: Value| call(&core, Some("root"), Operation::Update, "auth/kubernetes/role/x", data);
    assert_eq!(
        err(role(json!({"bound_service_account_namespaces": "b"})).await),
        (400, "\"bound_service_account_names\" can not be empty".into())
    );
    assert_eq!(
        err(role(json!({"bound_service_account_names": "a"})).await),
        (
            400,
            "\"bound_service_account_namespaces\" can not be empty if \"bound_service_account_namespace_selector\" is not set"
                .into()
        )
    );
    assert_eq!(
        err(role(
            json!({"bound_service_account_names": "*,a", "bound_service_account_namespaces": "b"})
        )
        .await),
        (400, "can not mix \"*\" with values".into())
    );
    assert_eq!(
        err(role(
            json!({"bound_service_account_names": "a", "bound_service_account_namespaces": "b",
                        "alias_name_source": "pod"})
        )
        .await)
        .0,
        400
    );
    role(json!({"bound_service_account_names": "a", "bound_service_account_namespaces": "b", "ttl": 60}))
        .await
        .unwrap();
    let read = call(&core, Some("root"), Operation::Read, "auth/kubernetes/role/x", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(read["alias_name_source"], "serviceaccount_uid");
    assert_eq!(read["bound_service_account_names"], json!(["a"]));
    assert_eq!(read["bound_service_account_namespace_selector"], "");
    assert_eq!(read["token_ttl"], 60);
    assert!(read.get("audience").is_none());
    let list = call(&core, Some("root"), Operation::List, "auth/kubernetes/role/", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(list["keys"], json!(["r", "x"]));
}

#[tokio::test]
async fn namespace_selector_admits_labelled_namespaces() {
    let core = core().await;
    let (server, cluster) = fake_cluster("reviewer-token").await;
    cluster.lock().unwrap().namespaces.insert("shop".into(), json!({"team": "web", "env": "prod"}));
    cluster.lock().unwrap().namespaces.insert("lab".into(), json!({"team": "web", "env": "dev"}));
    write(
        &core,
        "auth/kubernetes/config",
        json!({"kubernetes_host": server.url(), "token_reviewer_jwt": "reviewer-token"}),
    )
    .await;
    let bad = call(
        &core,
        Some("root"),
        Operation::Update,
        "auth/kubernetes/role/sel",
        json!({"bound_service_account_names": "*", "bound_service_account_namespace_selector": "team=web"}),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.to_string(), "invalid \"bound_service_account_namespace_selector\" configured");
    write(
        &core,
        "auth/kubernetes/role/sel",
        json!({"bound_service_account_names": "*",
               "bound_service_account_namespace_selector":
                   "{\"matchLabels\":{\"team\":\"web\"},\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\"]}]}"}),
    )
    .await;
    let key = TestKey::generate(Algorithm::RS256);
    let claims = |ns: &str| {
        let mut c = projected(ns, "app", "uid-1", "vault");
        c["aud"] = json!([]);
        c
    };
    assert!(login(&core, "sel", &key.sign(None, &claims("shop"))).await.is_ok());
    assert_eq!(server.hits("/api/v1/namespaces/shop"), 1);
    assert_eq!(
        refused(&core, "sel", &key.sign(None, &claims("lab"))).await,
        (403, "namespace not authorized".into())
    );
    assert_eq!(
        refused(&core, "sel", &key.sign(None, &claims("gone"))).await,
        (403, "namespace not authorized".into())
    );
}

/// Renewal follows the role as it is now (OpenBao 2.7): new TTLs apply; a deleted role
/// refuses with a 500.
#[tokio::test]
async fn renewal_follows_the_role() {
    let core = core().await;
    let (server, _cluster) = fake_cluster("reviewer-token").await;
    let key = TestKey::generate(Algorithm::RS256);
    let config = json!({"kubernetes_host": server.url(), "pem_keys": [key.public_pem]});
    write(&core, "auth/kubernetes/config", config).await;
    app_role(&core).await;
    let jwt = key.sign(None, &projected("prod", "app", "uid-app", "vault"));
    let token = login(&core, "app", &jwt).await.unwrap().auth.unwrap().client_token;
    let renew = || async {
        call(&core, Some(token.expose()), Operation::Update, "auth/token/renew-self", json!({}))
            .await
    };
    write(&core, "auth/kubernetes/role/app", json!({"token_ttl": "20m"})).await;
    assert_eq!(renew().await.unwrap().auth.unwrap().lease_duration, 1200);
    call(&core, Some("root"), Operation::Delete, "auth/kubernetes/role/app", json!({}))
        .await
        .unwrap();
    let refused = renew().await.unwrap_err();
    assert_eq!(
        (refused.status(), refused.to_string().as_str()),
        (500, "failed to renew entry: role app does not exist during renewal")
    );
}
