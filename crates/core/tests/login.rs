//! An auth method's login becomes an orphan token with the method's settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_framework::{Backend, BackendConfig, Path, Req, Router, SpecialPaths};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Login, Operation, Request, Response, Result};
use serde_json::json;

async fn login(_s: Arc<()>, req: Req) -> Result<Option<Response>> {
    if req.data().get("password").and_then(|v| v.as_str()) != Some("right") {
        return Err(Error::invalid("invalid credentials"));
    }
    let mut metadata = serde_json::Map::new();
    metadata.insert("user".into(), json!("alice"));
    let login = Login {
        policies: vec!["App".into()],
        metadata,
        display_name: "alice".into(),
        ttl: 600,
        max_ttl: 1200,
        alias_name: "alice".into(),
        ..Login::default()
    };
    Ok(Some(Response { login: Some(login), ..Response::default() }))
}

async fn login_bound(_s: Arc<()>, _req: Req) -> Result<Option<Response>> {
    let login = Login {
        policies: vec!["app".into()],
        bound_cidrs: vec!["10.0.0.0/8".into()],
        ..Login::default()
    };
    Ok(Some(Response { login: Some(login), ..Response::default() }))
}

fn fake(_config: BackendConfig) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(
        Router::new(Arc::new(()))
            .special_paths(SpecialPaths {
                unauthenticated: vec!["login".into(), "login-bound".into()],
                sudo: vec![],
            })
            .path(Path::new("login").write(login))
            .path(Path::new("login-bound").write(login_bound)),
    ))
}

#[tokio::test]
async fn login_issues_an_orphan_token() {
    let registry = Registry::new().auth("fake", fake);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("fake/", "fake", "", "auth_"), true).await.unwrap();

    let bad = Request::new(Operation::Update, "auth/fake/login")
        .with_data(json!({"password": "wrong"}).as_object().cloned().unwrap());
    assert!(core.handle(bad).await.is_err());
    // A stale token on a login path is ignored.
    let req = Request::new(Operation::Update, "auth/fake/login")
        .with_token("stale")
        .with_data(json!({"password": "right"}).as_object().cloned().unwrap());
    let auth = core.handle(req).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["app", "default"]);
    assert_eq!(auth.lease_duration, 600);
    assert!(auth.orphan && auth.renewable);
    assert_eq!(auth.metadata.unwrap()["user"], "alice");

    let token = auth.client_token.expose().to_string();
    let me = core
        .handle(Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token))
        .await
        .unwrap();
    let data = me.data.unwrap();
    assert_eq!(data["path"], "auth/fake/login");
    assert_eq!(data["display_name"], "fake-alice");
    let renewed = core
        .handle(
            Request::new(Operation::Update, "auth/token/renew-self")
                .with_token(&token)
                .with_data(json!({"increment": "1h"}).as_object().cloned().unwrap()),
        )
        .await
        .unwrap();
    assert!(
        renewed.auth.unwrap().lease_duration <= 1200,
        "renewal stays within the login's max_ttl"
    );

    // Login tokens are leases under their login path: revoking that prefix revokes them,
    // a sibling prefix does not, and the root token (no TTL, no lease) is never touched.
    let revoke_prefix = |prefix: &str| {
        Request::new(Operation::Update, format!("sys/leases/revoke-prefix/{prefix}"))
            .with_token("root")
            .with_data(json!({"sync": true}).as_object().cloned().unwrap())
    };
    let self_lookup =
        |token: &str| Request::new(Operation::Read, "auth/token/lookup-self").with_token(token);
    core.handle(revoke_prefix("auth/fake/login-bound")).await.unwrap();
    assert!(core.handle(self_lookup(&token)).await.is_ok(), "another path's tokens stay");
    core.handle(revoke_prefix("auth")).await.unwrap();
    assert_eq!(core.handle(self_lookup(&token)).await.unwrap_err(), Error::PermissionDenied);
    assert!(core.handle(self_lookup("root")).await.is_ok(), "the root token has no lease");
    let again = Request::new(Operation::Update, "auth/fake/login")
        .with_data(json!({"password": "right"}).as_object().cloned().unwrap());
    let token = core.handle(again).await.unwrap().auth.unwrap().client_token.expose().to_string();

    // Disabling the auth mount revokes the tokens its logins issued.
    core.disable_mount("auth/fake/").await.unwrap();
    let gone = core
        .handle(Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token))
        .await;
    assert_eq!(gone.unwrap_err(), Error::PermissionDenied);
}

#[tokio::test]
async fn logins_get_an_entity_and_templated_policies_render_for_it() {
    let registry = Registry::new().auth("fake", fake);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("fake/", "fake", "", "auth_"), true).await.unwrap();
    let accessor = core.mount_table().unwrap().get("auth/fake/").unwrap().entry.accessor.clone();
    let policy = format!(
        "path \"auth/token/roles/{{{{identity.entity.aliases.{accessor}.name}}}}\" {{ capabilities = [\"create\", \"update\", \"read\"] }}"
    );
    let write = Request::new(Operation::Update, "sys/policies/acl/app")
        .with_token("root")
        .with_data(json!({ "policy": policy }).as_object().cloned().unwrap());
    core.handle(write).await.unwrap();

    let login_once = || async {
        let req = Request::new(Operation::Update, "auth/fake/login")
            .with_data(json!({"password": "right"}).as_object().cloned().unwrap());
        core.handle(req).await.unwrap().auth.unwrap()
    };
    let first = login_once().await;
    let second = login_once().await;
    assert!(!first.entity_id.is_empty());
    assert_eq!(first.entity_id, second.entity_id, "the same alias finds the same entity");

    // The login carries the templated `app` policy: it reaches the role named after its alias.
    let token = first.client_token.expose().to_string();
    let own = Request::new(Operation::Update, "auth/token/roles/alice").with_token(&token);
    assert!(core.handle(own).await.is_ok());
    let foreign = Request::new(Operation::Update, "auth/token/roles/bob").with_token(&token);
    assert_eq!(core.handle(foreign).await.unwrap_err(), Error::PermissionDenied);
    let entity = core
        .handle(
            Request::new(Operation::Read, format!("identity/entity/id/{}", first.entity_id))
                .with_token(&token),
        )
        .await
        .expect("the default policy lets a token read its own entity");
    let data = entity.data.unwrap();
    assert_eq!(data["aliases"][0]["name"], "alice");
    assert_eq!(data["aliases"][0]["mount_accessor"], accessor.as_str());
    let other = core
        .handle(Request::new(Operation::Read, "identity/entity/id/someone-else").with_token(&token))
        .await;
    assert_eq!(other.unwrap_err(), Error::PermissionDenied);
}

#[tokio::test]
async fn tokens_bound_to_cidrs_only_work_from_there() {
    let registry = Registry::new().auth("fake", fake);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("fake/", "fake", "", "auth_"), true).await.unwrap();
    let auth = core
        .handle(Request::new(Operation::Update, "auth/fake/login-bound"))
        .await
        .unwrap()
        .auth
        .unwrap();
    let token = auth.client_token.expose().to_string();
    let mut inside = Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token);
    inside.remote_addr = Some("10.1.2.3:5000".parse().unwrap());
    assert!(core.handle(inside).await.is_ok());
    let mut outside = Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token);
    outside.remote_addr = Some("127.0.0.1:5000".parse().unwrap());
    assert_eq!(core.handle(outside).await.unwrap_err(), Error::PermissionDenied);
}
