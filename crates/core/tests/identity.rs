//! Identity through the core: entities created, changed and deleted over the API, their
//! policies added to their tokens, disabled entities refused, and aliases tying logins to an
//! entity made beforehand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_framework::{Backend, BackendConfig, Path, Req, Router, SpecialPaths};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Login, Operation, Request, Response, Result};
use serde_json::{Value, json};

async fn login(_s: Arc<()>, req: Req) -> Result<Option<Response>> {
    let user = req.data().get("user").and_then(Value::as_str).unwrap_or("anon").to_string();
    let login = Login { alias_name: user.clone(), display_name: user, ..Login::default() };
    Ok(Some(Response { login: Some(login), ..Response::default() }))
}

fn fake(_config: BackendConfig) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(
        Router::new(Arc::new(()))
            .special_paths(SpecialPaths { unauthenticated: vec!["login".into()], sudo: vec![] })
            .path(Path::new("login").open_fields().write(login)),
    ))
}

async fn setup() -> Arc<Core> {
    let core = Core::new(
        Arc::new(MemoryStorage::new()),
        Registry::new().auth("fake", fake),
        CoreConfig::new("inmem"),
    );
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("fake/", "fake", "", "auth_"), true).await.unwrap();
    core
}

async fn call(
    core: &Core,
    token: &str,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response> {
    let req = Request::new(op, path)
        .with_token(token)
        .with_data(data.as_object().cloned().unwrap_or_default());
    core.handle(req).await
}

async fn root(core: &Core, op: Operation, path: &str, data: Value) -> Value {
    let r = call(core, "root", op, path, data).await.unwrap();
    r.data.map(Value::Object).unwrap_or(Value::Null)
}

async fn login_as(core: &Core, user: &str) -> String {
    let req = Request::new(Operation::Update, "auth/fake/login")
        .with_data(json!({ "user": user }).as_object().cloned().unwrap());
    core.handle(req).await.unwrap().auth.unwrap().client_token.expose().to_string()
}

#[tokio::test]
async fn entities_policies_and_aliases() {
    let core = setup().await;
    let reader = r#"path "secret-ish/*" { capabilities = ["read"] }"#;
    root(&core, Operation::Update, "sys/policies/acl/reader", json!({"policy": reader})).await;

    // An entity made beforehand, with an alias: the login becomes that entity.
    let made = root(
        &core,
        Operation::Update,
        "identity/entity",
        json!({"name": "svc-a", "metadata": {"team": "pay"}}),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["name"], "svc-a");
    let accessor = root(&core, Operation::Read, "sys/auth/fake", json!({})).await["accessor"]
        .as_str()
        .unwrap()
        .to_string();
    let alias = root(
        &core,
        Operation::Update,
        "identity/entity-alias",
        json!({"name": "alice", "canonical_id": id, "mount_accessor": accessor}),
    )
    .await;
    assert_eq!(alias["canonical_id"], id.as_str());
    let token = login_as(&core, "alice").await;
    let me = root(&core, Operation::Update, "auth/token/lookup", json!({"token": token})).await;
    assert_eq!(me["entity_id"], id.as_str());

    // The entity's policies join its tokens'; a disabled entity's tokens are refused.
    let caps = |core: Arc<Core>, token: String| async move {
        call(
            &core,
            &token,
            Operation::Update,
            "sys/capabilities-self",
            json!({"path": "secret-ish/x"}),
        )
        .await
        .map(|r| Value::Object(r.data.unwrap())["capabilities"].clone())
    };
    assert_eq!(caps(core.clone(), token.clone()).await.unwrap(), json!(["deny"]));
    root(
        &core,
        Operation::Update,
        &format!("identity/entity/id/{id}"),
        json!({"policies": ["reader"]}),
    )
    .await;
    assert_eq!(caps(core.clone(), token.clone()).await.unwrap(), json!(["read"]));
    // Logins and lookups show what the identity adds, as the reference does.
    let again = Request::new(Operation::Update, "auth/fake/login")
        .with_data(json!({"user": "alice"}).as_object().cloned().unwrap());
    let auth = core.handle(again).await.unwrap().auth.unwrap();
    assert_eq!(auth.identity_policies, ["reader"]);
    assert_eq!(auth.policies, ["default", "reader"]);
    assert_eq!(auth.token_policies, ["default"]);
    let looked = root(&core, Operation::Update, "auth/token/lookup", json!({"token": token})).await;
    assert_eq!(looked["identity_policies"], json!(["reader"]));
    let read = root(&core, Operation::Read, "identity/entity/name/svc-a", json!({})).await;
    assert_eq!(
        (read["policies"].clone(), read["metadata"].clone()),
        (json!(["reader"]), json!({"team": "pay"}))
    );
    root(&core, Operation::Update, "identity/entity/name/svc-a", json!({"disabled": true})).await;
    assert_eq!(caps(core.clone(), token.clone()).await.unwrap_err(), Error::PermissionDenied);

    let listed = root(&core, Operation::List, "identity/entity/id/", json!({})).await;
    assert_eq!(listed["key_info"][&id]["name"], "svc-a");
    root(&core, Operation::Delete, &format!("identity/entity/id/{id}"), json!({})).await;
    let gone = call(&core, "root", Operation::Read, "identity/entity/name/svc-a", json!({})).await;
    assert!(gone.is_err() || gone.unwrap().data.is_none());
    let dangling = call(
        &core,
        "root",
        Operation::Read,
        &format!("identity/entity-alias/id/{}", alias["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert!(dangling.is_err() || dangling.unwrap().data.is_none(), "its aliases go with it");
}

#[tokio::test]
async fn groups_give_their_policies_to_their_members() {
    let core = setup().await;
    let reader = r#"path "secret-ish/*" { capabilities = ["read"] }"#;
    root(&core, Operation::Update, "sys/policies/acl/reader", json!({"policy": reader})).await;
    let token = login_as(&core, "bob").await;
    let me = root(&core, Operation::Update, "auth/token/lookup", json!({"token": token})).await;
    let entity = me["entity_id"].as_str().unwrap().to_string();
    let caps = || async {
        let r = call(
            &core,
            &token,
            Operation::Update,
            "sys/capabilities-self",
            json!({"path": "secret-ish/x"}),
        )
        .await
        .unwrap();
        Value::Object(r.data.unwrap())["capabilities"].clone()
    };
    assert_eq!(caps().await, json!(["deny"]));
    let group = root(
        &core,
        Operation::Update,
        "identity/group",
        json!({"name": "readers", "policies": ["reader"], "member_entity_ids": [entity, entity]}),
    )
    .await;
    let id = group["id"].as_str().unwrap().to_string();
    assert_eq!(caps().await, json!(["read"]));
    let read = root(&core, Operation::Read, "identity/group/name/readers", json!({})).await;
    assert_eq!(read["member_entity_ids"], json!([entity]));
    assert_eq!(read["type"], "internal");
    let listed = root(&core, Operation::List, "identity/group/id/", json!({})).await;
    assert_eq!(listed["key_info"][&id]["name"], "readers");
    root(
        &core,
        Operation::Update,
        &format!("identity/group/id/{id}"),
        json!({"member_entity_ids": []}),
    )
    .await;
    assert_eq!(caps().await, json!(["deny"]), "leaving the group takes its policies away");
    // A deleted entity leaves its groups.
    root(
        &core,
        Operation::Update,
        &format!("identity/group/id/{id}"),
        json!({"member_entity_ids": [entity]}),
    )
    .await;
    root(&core, Operation::Delete, &format!("identity/entity/id/{entity}"), json!({})).await;
    let read = root(&core, Operation::Read, &format!("identity/group/id/{id}"), json!({})).await;
    assert_eq!(read["member_entity_ids"], Value::Null);
    let nested = call(
        &core,
        "root",
        Operation::Update,
        "identity/group",
        json!({"name": "n", "member_group_ids": [id]}),
    )
    .await;
    assert_eq!(nested.unwrap_err().status(), 400);
    root(&core, Operation::Delete, "identity/group/name/readers", json!({})).await;
    let gone =
        call(&core, "root", Operation::Read, &format!("identity/group/id/{id}"), json!({})).await;
    assert!(gone.is_err() || gone.unwrap().data.is_none());
}
