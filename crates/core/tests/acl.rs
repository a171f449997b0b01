//! ACL enforcement through the core: deny by default, policies grant, sudo paths, the default
//! policy, capabilities endpoints and policy CRUD rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_core::Core;
use coffer_types::{Error, Operation};

use common::{call, dev};
use serde_json::json;

async fn token_with(core: &Core, policies: &[&str]) -> String {
    let r =
        call(core, "root", Operation::Update, "auth/token/create", json!({ "policies": policies }))
            .await
            .unwrap();
    r.auth.unwrap().client_token.expose().to_string()
}

#[tokio::test]
async fn policies_grant_and_deny() {
    let core = dev().await;
    let policy = r#"
        path "sys/mounts" { capabilities = ["read"] }
        path "sys/seal" { capabilities = ["update"] }
        path "auth/token/roles/*" { capabilities = ["create", "read", "update", "list"] }
        path "auth/token/roles/secret-*" { capabilities = ["deny"] }
    "#;
    call(&core, "root", Operation::Update, "sys/policies/acl/ops", json!({ "policy": policy }))
        .await
        .unwrap();
    let t = token_with(&core, &["ops"]).await;
    assert!(call(&core, &t, Operation::Read, "sys/mounts", json!({})).await.is_ok());
    assert_eq!(
        call(&core, &t, Operation::Read, "sys/auth", json!({})).await.unwrap_err(),
        Error::PermissionDenied
    );
    // sys/seal is root-protected: update alone is not enough.
    assert_eq!(
        call(&core, &t, Operation::Update, "sys/seal", json!({})).await.unwrap_err(),
        Error::PermissionDenied
    );
    assert!(call(&core, &t, Operation::Update, "auth/token/roles/web", json!({})).await.is_ok());
    assert_eq!(
        call(&core, &t, Operation::Update, "auth/token/roles/secret-x", json!({}))
            .await
            .unwrap_err(),
        Error::PermissionDenied
    );
    // The default policy lets every token look itself up.
    let me = call(&core, &t, Operation::Read, "auth/token/lookup-self", json!({})).await.unwrap();
    assert_eq!(me.data.unwrap()["policies"], json!(["default", "ops"]));
    // Children must stay within the parent's policies.
    let err =
        call(&core, &t, Operation::Update, "auth/token/create", json!({"policies": ["admin"]}))
            .await;
    assert!(err.is_err());
}

#[tokio::test]
async fn create_is_distinguished_from_update() {
    let core = dev().await;
    let policy = r#"path "auth/token/roles/*" { capabilities = ["update", "read"] }"#;
    call(&core, "root", Operation::Update, "sys/policies/acl/upd", json!({ "policy": policy }))
        .await
        .unwrap();
    call(&core, "root", Operation::Update, "auth/token/roles/existing", json!({})).await.unwrap();
    let t = token_with(&core, &["upd"]).await;
    assert!(
        call(&core, &t, Operation::Update, "auth/token/roles/existing", json!({"orphan": true}))
            .await
            .is_ok()
    );
    assert_eq!(
        call(&core, &t, Operation::Update, "auth/token/roles/new", json!({})).await.unwrap_err(),
        Error::PermissionDenied,
        "writing a new item needs create"
    );
}

#[tokio::test]
async fn policy_crud_and_capabilities() {
    let core = dev().await;
    let list = call(&core, "root", Operation::List, "sys/policies/acl/", json!({})).await.unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["default", "root"]));
    // The legacy read carries the ACL read's fields, the text as `rules` (as the reference).
    let legacy = call(&core, "root", Operation::Read, "sys/policy/default", json!({})).await;
    let legacy = legacy.unwrap().data.unwrap();
    for key in [
        "name",
        "rules",
        "version",
        "cas_required",
        "modified",
        "allow_slashes_in_identity_templates",
    ] {
        assert!(legacy.contains_key(key), "{key}: {legacy:?}");
    }
    let bad =
        call(&core, "root", Operation::Update, "sys/policies/acl/x", json!({"policy": "path {"}))
            .await
            .unwrap_err();
    assert!(bad.to_string().starts_with("failed to parse policy"), "{bad}");
    let empty =
        call(&core, "root", Operation::Update, "sys/policies/acl/x", json!({})).await.unwrap_err();
    assert_eq!(empty, Error::invalid("'policy' parameter not supplied or empty"));
    let root = call(
        &core,
        "root",
        Operation::Update,
        "sys/policies/acl/root",
        json!({"policy": "path \"a\" {}"}),
    )
    .await;
    assert_eq!(root.unwrap_err(), Error::invalid("cannot update \"root\" policy"));
    assert_eq!(
        call(&core, "root", Operation::Delete, "sys/policies/acl/default", json!({}))
            .await
            .unwrap_err(),
        Error::invalid("cannot delete default policy")
    );
    call(
        &core,
        "root",
        Operation::Update,
        "sys/policies/acl/Reader",
        json!({"policy": "path \"secret/*\" { capabilities = [\"read\", \"list\"] }"}),
    )
    .await
    .unwrap();
    let read =
        call(&core, "root", Operation::Read, "sys/policies/acl/reader", json!({})).await.unwrap();
    assert_eq!(read.data.unwrap()["name"], "reader");
    let t = token_with(&core, &["reader"]).await;
    let caps = call(
        &core,
        "root",
        Operation::Update,
        "sys/capabilities",
        json!({"token": t, "paths": ["secret/a", "other"]}),
    )
    .await
    .unwrap();
    let data = caps.data.unwrap();
    assert_eq!(data["secret/a"], json!(["list", "read"]));
    assert_eq!(data["other"], json!(["deny"]));
    let self_caps =
        call(&core, &t, Operation::Update, "sys/capabilities-self", json!({"path": "secret/x"}))
            .await
            .unwrap();
    assert_eq!(self_caps.data.unwrap()["capabilities"], json!(["list", "read"]));
    let root_caps =
        call(&core, "root", Operation::Update, "sys/capabilities-self", json!({"path": "x"}))
            .await
            .unwrap();
    assert_eq!(root_caps.data.unwrap()["capabilities"], json!(["root"]));
    call(&core, "root", Operation::Delete, "sys/policies/acl/reader", json!({})).await.unwrap();
    let caps = call(
        &core,
        "root",
        Operation::Update,
        "sys/capabilities",
        json!({"token": t, "path": "secret/a"}),
    )
    .await
    .unwrap();
    assert_eq!(
        caps.data.unwrap()["capabilities"],
        json!(["deny"]),
        "deleting a policy takes effect at once"
    );
}
