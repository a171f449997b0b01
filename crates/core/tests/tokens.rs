//! The token store through the core: create, lookup, renew, revoke cascades, orphans, uses,
//! roles and expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_core::Core;
use coffer_types::{Error, Operation, Response};

use common::{call, dev};
use serde_json::{Value, json};

async fn create(core: &Core, token: &str, data: Value) -> (String, Response) {
    let r = call(core, token, Operation::Update, "auth/token/create", data).await.unwrap();
    (r.auth.as_ref().unwrap().client_token.expose().to_string(), r)
}

async fn lookup(core: &Core, token: &str) -> Result<Value, Error> {
    let r = call(core, "root", Operation::Update, "auth/token/lookup", json!({ "token": token }))
        .await?;
    Ok(Value::Object(r.data.unwrap()))
}

#[tokio::test]
async fn create_lookup_and_defaults() {
    let core = dev().await;
    let (child, r) = create(
        &core,
        "root",
        json!({"policies": ["App", "app"], "ttl": "1h", "meta": {"team": "a"}}),
    )
    .await;
    let auth = r.auth.unwrap();
    assert!(child.starts_with("s.") && child.len() == 26);
    assert_eq!(auth.policies, vec!["app", "default"]);
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.renewable && !auth.orphan);
    let info = lookup(&core, &child).await.unwrap();
    assert_eq!(info["path"], "auth/token/create");
    assert_eq!(info["display_name"], "token");
    assert_eq!(info["meta"], json!({"team": "a"}));
    assert_eq!(info["creation_ttl"], 3600);
    let unknown = lookup(&core, "s.nope").await.unwrap_err();
    assert_eq!(unknown, Error::Forbidden("bad token".into()));
    // TTL above the max is capped with a warning.
    let (_, r) = create(&core, "root", json!({"policies": ["x"], "ttl": "100000h"})).await;
    assert_eq!(r.auth.unwrap().lease_duration, 768 * 3600);
    assert_eq!(
        r.warnings,
        [
            "TTL of \"100000h\" exceeded the effective max_ttl of \"768h\"; TTL value is capped accordingly"
        ]
    );
    // Root children without a TTL never expire.
    let (_, r) = create(&core, "root", json!({})).await;
    assert_eq!(r.auth.unwrap().lease_duration, 0);
}

#[tokio::test]
async fn revoking_a_parent_revokes_children_unless_orphaned() {
    let core = dev().await;
    let (parent, _) = create(&core, "root", json!({"policies": ["p"]})).await;
    let (child, _) = create(&core, "root", json!({"policies": ["p"]})).await;
    let (grandchild, _) =
        create(&core, "root", json!({"policies": ["p"], "no_parent": true})).await;
    assert_eq!(lookup(&core, &grandchild).await.unwrap()["orphan"], true);
    call(&core, "root", Operation::Update, "auth/token/revoke", json!({"token": parent}))
        .await
        .unwrap();
    assert!(lookup(&core, &parent).await.is_err());
    assert!(lookup(&core, &child).await.is_ok());

    // A root child with its own children: revoke cascades; revoke-orphan does not.
    let (mid, _) = create(&core, "root", json!({})).await;
    let (leaf, _) = create(&core, &mid, json!({"policies": ["q"]})).await;
    assert_eq!(lookup(&core, &leaf).await.unwrap()["orphan"], false);
    call(&core, "root", Operation::Update, "auth/token/revoke", json!({"token": mid}))
        .await
        .unwrap();
    assert!(lookup(&core, &leaf).await.is_err(), "child revoked with its parent");

    let (mid, _) = create(&core, "root", json!({})).await;
    let (leaf, _) = create(&core, &mid, json!({"policies": ["q"]})).await;
    call(&core, "root", Operation::Update, "auth/token/revoke-orphan", json!({"token": mid}))
        .await
        .unwrap();
    assert!(lookup(&core, &mid).await.is_err());
    assert_eq!(lookup(&core, &leaf).await.unwrap()["orphan"], true);
    // Unknown tokens revoke fine.
    assert!(
        call(&core, "root", Operation::Update, "auth/token/revoke", json!({"token": "s.x"}))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn renew_accessors_and_roles() {
    let core = dev().await;
    let (t, r) =
        create(&core, "root", json!({"policies": ["a"], "ttl": "10m", "explicit_max_ttl": "1h"}))
            .await;
    let accessor = r.auth.unwrap().accessor;
    let renewed = call(
        &core,
        "root",
        Operation::Update,
        "auth/token/renew",
        json!({"token": t, "increment": "30m"}),
    )
    .await
    .unwrap();
    assert_eq!(renewed.auth.unwrap().lease_duration, 1800);
    // Without an increment, a renewal grants the last renewal's TTL again (the reference's
    // lease keeps it), not the creation TTL.
    let again = call(&core, "root", Operation::Update, "auth/token/renew", json!({"token": t}))
        .await
        .unwrap();
    assert_eq!(again.auth.unwrap().lease_duration, 1800);
    let capped = call(
        &core,
        "root",
        Operation::Update,
        "auth/token/renew",
        json!({"token": t, "increment": "5h"}),
    )
    .await
    .unwrap();
    assert!(capped.auth.unwrap().lease_duration <= 3600);
    assert!(!capped.warnings.is_empty());
    let by_accessor = call(
        &core,
        "root",
        Operation::Update,
        "auth/token/lookup-accessor",
        json!({"accessor": accessor}),
    )
    .await
    .unwrap();
    assert_eq!(by_accessor.data.unwrap()["id"], "");
    let root_renew = call(&core, "root", Operation::Update, "auth/token/renew-self", json!({}))
        .await
        .unwrap_err();
    assert_eq!(root_renew, Error::invalid("lease is not renewable"));
    let list =
        call(&core, "root", Operation::List, "auth/token/accessors/", json!({})).await.unwrap();
    assert!(list.data.unwrap()["keys"].as_array().unwrap().contains(&json!(accessor)));
    let gone = call(
        &core,
        "root",
        Operation::Update,
        "auth/token/revoke-accessor",
        json!({"accessor": accessor}),
    )
    .await
    .unwrap();
    assert!(gone.is_empty());
    let again = call(
        &core,
        "root",
        Operation::Update,
        "auth/token/revoke-accessor",
        json!({"accessor": accessor}),
    )
    .await
    .unwrap();
    assert_eq!(again.warnings, vec!["No token found with this accessor"]);

    call(
        &core,
        "root",
        Operation::Update,
        "auth/token/roles/web",
        json!({"allowed_policies": "web,base", "token_period": "1h"}),
    )
    .await
    .unwrap();
    let role =
        call(&core, "root", Operation::Read, "auth/token/roles/web", json!({})).await.unwrap();
    let role = role.data.unwrap();
    assert_eq!(role["allowed_policies"], json!(["base", "web"]));
    // Set through token_period, the legacy period reads 0 and uses are not shown (as the
    // reference reads the role back).
    assert_eq!((role["token_period"].clone(), role["period"].clone()), (json!(3600), json!(0)));
    assert!(role.get("token_num_uses").is_none());
    let (rt, r) = create_on(&core, "auth/token/create/web", json!({})).await;
    let auth = r.auth.unwrap();
    assert_eq!(auth.policies, vec!["base", "default", "web"]);
    assert_eq!(auth.lease_duration, 3600);
    assert_eq!(lookup(&core, &rt).await.unwrap()["path"], "auth/token/create/web");
    let refused = call(
        &core,
        "root",
        Operation::Update,
        "auth/token/create/web",
        json!({"policies": ["admin"]}),
    )
    .await;
    assert!(refused.is_err());
}

async fn create_on(core: &Core, path: &str, data: Value) -> (String, Response) {
    let r = call(core, "root", Operation::Update, path, data).await.unwrap();
    (r.auth.as_ref().unwrap().client_token.expose().to_string(), r)
}

#[tokio::test]
async fn uses_and_expiry() {
    let core = dev().await;
    let (t, _) = create(&core, "root", json!({"num_uses": 2})).await;
    assert!(call(&core, &t, Operation::Read, "sys/mounts", json!({})).await.is_ok());
    assert_eq!(lookup(&core, &t).await.unwrap()["num_uses"], 1);
    assert!(call(&core, &t, Operation::Read, "sys/mounts", json!({})).await.is_ok());
    assert_eq!(
        call(&core, &t, Operation::Read, "sys/mounts", json!({})).await.unwrap_err(),
        Error::PermissionDenied
    );
    // The last use may be the token's own endpoints, which see it spent (num_uses -1), as
    // the reference shows it; it is revoked once that request ends.
    let self_call = |token: String, op: Operation, path: &'static str| {
        let core = core.clone();
        async move { call(&core, &token, op, path, json!({})).await }
    };
    let (once, _) = create(&core, "root", json!({"num_uses": 1})).await;
    let seen = self_call(once.clone(), Operation::Read, "auth/token/lookup-self").await.unwrap();
    assert_eq!(seen.data.unwrap()["num_uses"], -1);
    let after = self_call(once, Operation::Read, "auth/token/lookup-self").await.unwrap_err();
    assert_eq!(after, Error::PermissionDenied);
    let (once, _) = create(&core, "root", json!({"num_uses": 1})).await;
    let renew = self_call(once.clone(), Operation::Update, "auth/token/renew-self").await;
    assert_eq!(renew.unwrap_err(), Error::invalid("token not found"));
    assert!(lookup(&core, &once).await.is_err(), "revoked after its last use");
    let (once, _) = create(&core, "root", json!({"num_uses": 1})).await;
    assert!(self_call(once, Operation::Update, "auth/token/revoke-self").await.is_ok());

    let (short, _) = create(&core, "root", json!({"ttl": "1s", "policies": ["x"]})).await;
    assert!(lookup(&core, &short).await.is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(lookup(&core, &short).await.is_err(), "expired tokens stop working at once");
    let list =
        call(&core, "root", Operation::List, "auth/token/accessors/", json!({})).await.unwrap();
    assert_eq!(
        list.data.unwrap()["keys"].as_array().unwrap().len(),
        1,
        "only root is left after cleanup"
    );
}

#[tokio::test]
async fn batch_tokens_as_the_reference_issues_them() {
    let core = dev().await;
    let maker = r#"path "auth/token/create" { capabilities = ["update"] }"#;
    call(&core, "root", Operation::Update, "sys/policies/acl/maker", json!({"policy": maker}))
        .await
        .unwrap();
    let (parent, _) = create(&core, "root", json!({"policies": ["maker"]})).await;
    let (batch, r) = create(&core, &parent, json!({"type": "batch", "ttl": "1h"})).await;
    assert!(batch.starts_with("b."), "{batch}");
    let auth = r.auth.unwrap();
    assert_eq!((auth.accessor.as_str(), auth.renewable, auth.lease_duration), ("", false, 3600));
    let me = call(&core, &batch, Operation::Read, "auth/token/lookup-self", json!({})).await;
    let me = me.unwrap().data.unwrap();
    assert_eq!((me["type"].clone(), me["accessor"].clone()), (json!("batch"), json!("")));
    let renew = call(&core, &batch, Operation::Update, "auth/token/renew-self", json!({})).await;
    assert_eq!(renew.unwrap_err(), Error::invalid("batch tokens cannot be renewed"));
    let revoke = call(&core, &batch, Operation::Update, "auth/token/revoke-self", json!({})).await;
    assert_eq!(revoke.unwrap_err(), Error::invalid("batch tokens cannot be revoked"));
    let child = call(&core, &batch, Operation::Update, "auth/token/create", json!({})).await;
    assert_eq!(child.unwrap_err(), Error::invalid("batch tokens cannot create more tokens"));
    // It dies with its parent.
    call(&core, &parent, Operation::Update, "auth/token/revoke-self", json!({})).await.unwrap();
    assert!(lookup(&core, &batch).await.is_err());

    let role = |data: Value| call(&core, "root", Operation::Update, "auth/token/roles/b", data);
    assert_eq!(
        role(json!({"token_type": "batch"})).await.unwrap_err(),
        Error::invalid(
            "'token_type' cannot be 'batch' when role is set to generate non-orphan tokens"
        )
    );
    role(json!({"token_type": "batch", "orphan": true})).await.unwrap();
    let (from_role, _) = create_on(&core, "auth/token/create/b", json!({})).await;
    assert!(from_role.starts_with("b."), "{from_role}");
}
