//! AppRole through the core, as a client sees it.
//!
//! Contents: role CRUD and read shape; role IDs (read, custom, uniqueness); secret IDs
//! (generate, custom, lookup, list, accessor operations, destroy, bounds from the role);
//! login (token settings, lookup-self, the one error for bad credentials, uses, TTL expiry,
//! `bind_secret_id=false` with CIDRs, concurrent last use); role delete removes secret IDs;
//! tidy; renewal follows the role.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Request, Response};
use serde_json::{Value, json};

const INVALID: &str = "invalid role or secret ID";

async fn core() -> Arc<Core> {
    let registry = Registry::new().auth("approle", coffer_approle::factory);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("approle/", "approle", "", "auth_"), true).await.unwrap();
    core
}

fn request(op: Operation, path: &str, data: Value) -> Request {
    Request::new(op, format!("auth/approle/{path}"))
        .with_data(data.as_object().cloned().unwrap_or_default())
}

async fn root(core: &Core, op: Operation, path: &str, data: Value) -> Result<Response, Error> {
    core.handle(request(op, path, data).with_token("root")).await
}

fn data(r: Response) -> Value {
    Value::Object(r.data.expect("a response with data"))
}

async fn write(core: &Core, path: &str, body: Value) -> Value {
    let r = root(core, Operation::Update, path, body).await.unwrap();
    r.data.map(Value::Object).unwrap_or(Value::Null)
}

async fn read(core: &Core, path: &str) -> Result<Value, Error> {
    root(core, Operation::Read, path, json!({})).await.map(data)
}

async fn role_id(core: &Core, role: &str) -> String {
    read(core, &format!("role/{role}/role-id")).await.unwrap()["role_id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn secret_id(core: &Core, role: &str, body: Value) -> Value {
    write(core, &format!("role/{role}/secret-id"), body).await
}

async fn login_from(core: &Core, body: Value, from: Option<&str>) -> Result<Response, Error> {
    let mut req = request(Operation::Update, "login", body);
    req.remote_addr = from.map(|a| a.parse::<SocketAddr>().unwrap());
    core.handle(req).await
}

async fn login(core: &Core, role_id: &str, secret_id: &str) -> Result<Response, Error> {
    login_from(core, json!({"role_id": role_id, "secret_id": secret_id}), None).await
}

fn assert_invalid(result: Result<Response, Error>) {
    let err = result.expect_err("the login must fail");
    assert_eq!(err.status(), 400);
    assert_eq!(err.to_string(), INVALID);
}

#[tokio::test]
async fn role_crud_and_read_shape() {
    let core = core().await;
    // The CLI sends every value as a string.
    let r = root(
        &core,
        Operation::Update,
        "role/web",
        json!({"token_policies": "web, Ops", "token_ttl": "1h", "token_max_ttl": "2h",
               "secret_id_num_uses": "7", "secret_id_ttl": "10m",
               "token_bound_cidrs": "127.0.0.1/32, 10.0.0.0/8"}),
    )
    .await
    .unwrap();
    assert!(r.is_empty(), "a role write is a 204");
    let role = read(&core, "role/web").await.unwrap();
    for key in [
        "bind_secret_id",
        "local_secret_ids",
        "secret_id_bound_cidrs",
        "secret_id_num_uses",
        "secret_id_ttl",
        "token_bound_cidrs",
        "token_explicit_max_ttl",
        "token_max_ttl",
        "token_no_default_policy",
        "token_num_uses",
        "token_period",
        "token_policies",
        "token_strictly_bind_ip",
        "token_ttl",
        "token_type",
    ] {
        assert!(role.get(key).is_some(), "role read lacks {key}: {role}");
    }
    assert_eq!(role["bind_secret_id"], true);
    assert_eq!(role["secret_id_bound_cidrs"], Value::Null);
    assert_eq!(role["secret_id_num_uses"], 7);
    assert_eq!(role["secret_id_ttl"], 600);
    assert_eq!(role["token_ttl"], 3600);
    assert_eq!(role["token_max_ttl"], 7200);
    assert_eq!(role["token_policies"], json!(["ops", "web"]));
    assert_eq!(role["token_bound_cidrs"], json!(["127.0.0.1", "10.0.0.0/8"]));
    assert_eq!(role["token_type"], "default");

    // An update changes only what it names.
    write(&core, "role/web", json!({"token_num_uses": 3})).await;
    let role = read(&core, "role/web").await.unwrap();
    assert_eq!(role["token_num_uses"], 3);
    assert_eq!(role["token_ttl"], 3600);

    write(&core, "role/db", json!({})).await;
    let listed = root(&core, Operation::List, "role/", json!({})).await.unwrap();
    assert_eq!(data(listed)["keys"], json!(["db", "web"]));

    let bad = root(&core, Operation::Update, "role/web", json!({"bind_secret_id": "maybe"})).await;
    let err = bad.err().unwrap();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("bind_secret_id"), "{err}");
    let bad = root(&core, Operation::Update, "role/web", json!({"token_ttl": "3h"})).await;
    assert_eq!(bad.err().unwrap().status(), 400, "token_ttl above token_max_ttl");
    let bad =
        root(&core, Operation::Update, "role/web", json!({"token_bound_cidrs": "not-a-cidr"}))
            .await;
    assert_eq!(bad.err().unwrap().status(), 400);

    root(&core, Operation::Delete, "role/web", json!({})).await.unwrap();
    assert_eq!(read(&core, "role/web").await.err().unwrap(), Error::NotFound);
    assert_eq!(read(&core, "role/nope").await.err().unwrap(), Error::NotFound);
}

#[tokio::test]
async fn role_ids_read_custom_and_unique() {
    let core = core().await;
    write(&core, "role/web", json!({})).await;
    write(&core, "role/db", json!({})).await;
    let generated = role_id(&core, "web").await;
    assert_eq!(generated.len(), 36, "UUID-shaped: {generated}");
    assert_eq!(generated.matches('-').count(), 4);

    let r = root(&core, Operation::Update, "role/web/role-id", json!({"role_id": "my-web-id"}))
        .await
        .unwrap();
    assert!(r.is_empty());
    assert_eq!(role_id(&core, "web").await, "my-web-id");
    let sid = secret_id(&core, "web", json!({})).await["secret_id"].as_str().unwrap().to_string();
    assert!(login(&core, "my-web-id", &sid).await.is_ok());
    assert_invalid(login(&core, &generated, &sid).await);

    let taken =
        root(&core, Operation::Update, "role/db/role-id", json!({"role_id": "my-web-id"})).await;
    assert_eq!(taken.err().unwrap().status(), 400, "a role ID belongs to one role");
    let missing =
        root(&core, Operation::Update, "role/ghost/role-id", json!({"role_id": "x"})).await;
    assert_eq!(missing.err().unwrap().status(), 400);
}

#[tokio::test]
async fn secret_id_generate_lookup_list_and_destroy() {
    let core = core().await;
    write(&core, "role/web", json!({"secret_id_ttl": "1h", "secret_id_num_uses": 5})).await;
    let created = secret_id(
        &core,
        "web",
        json!({"metadata": "{\"env\":\"prod\"}", "num_uses": "3", "ttl": "30m", "cidr_list": "127.0.0.1/32"}),
    )
    .await;
    let sid = created["secret_id"].as_str().unwrap().to_string();
    let accessor = created["secret_id_accessor"].as_str().unwrap().to_string();
    assert_eq!(sid.len(), 36);
    assert_eq!(created["secret_id_num_uses"], 3);
    assert_eq!(created["secret_id_ttl"], 1800);

    let looked = write(&core, "role/web/secret-id/lookup", json!({"secret_id": sid})).await;
    assert_eq!(looked["secret_id_accessor"], accessor.as_str());
    assert_eq!(looked["secret_id_num_uses"], 3);
    assert_eq!(looked["secret_id_ttl"], 1800);
    assert_eq!(looked["metadata"], json!({"env": "prod"}));
    assert_eq!(looked["cidr_list"], json!(["127.0.0.1"]));
    for key in ["creation_time", "expiration_time", "last_updated_time", "token_bound_cidrs"] {
        assert!(looked.get(key).is_some(), "lookup lacks {key}: {looked}");
    }
    assert!(looked.get("secret_id").is_none(), "a lookup never shows the secret");
    let by_accessor =
        write(&core, "role/web/secret-id-accessor/lookup", json!({"secret_id_accessor": accessor}))
            .await;
    assert_eq!(by_accessor["metadata"], json!({"env": "prod"}));

    let unknown =
        root(&core, Operation::Update, "role/web/secret-id/lookup", json!({"secret_id": "nope"}))
            .await
            .unwrap();
    assert!(unknown.data.is_none(), "an unknown secret ID looks up as nothing");

    let custom =
        write(&core, "role/web/custom-secret-id", json!({"secret_id": "my-own-secret"})).await;
    assert_eq!(custom["secret_id"], "my-own-secret");
    assert_eq!(custom["secret_id_num_uses"], 5, "the role's default uses");
    assert_eq!(custom["secret_id_ttl"], 3600, "the role's default TTL");
    let again = root(
        &core,
        Operation::Update,
        "role/web/custom-secret-id",
        json!({"secret_id": "my-own-secret"}),
    )
    .await;
    assert_eq!(again.err().unwrap().status(), 400, "a secret ID is registered once");

    let listed =
        data(root(&core, Operation::List, "role/web/secret-id/", json!({})).await.unwrap());
    let mut keys: Vec<String> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    keys.sort();
    let mut expected =
        vec![accessor.clone(), custom["secret_id_accessor"].as_str().unwrap().to_string()];
    expected.sort();
    assert_eq!(keys, expected, "the list shows accessors, never secrets");

    write(&core, "role/web/secret-id-accessor/destroy", json!({"secret_id_accessor": accessor}))
        .await;
    assert_invalid(
        login_from(
            &core,
            json!({"role_id": role_id(&core, "web").await, "secret_id": sid}),
            Some("127.0.0.1:1"),
        )
        .await,
    );
    write(&core, "role/web/secret-id/destroy", json!({"secret_id": "my-own-secret"})).await;
    let empty = root(&core, Operation::List, "role/web/secret-id/", json!({})).await;
    assert_eq!(empty.err().unwrap(), Error::NotFound);

    // The role bounds the settings of its secret IDs.
    let long = root(&core, Operation::Update, "role/web/secret-id", json!({"ttl": "2h"}))
        .await
        .err()
        .unwrap();
    assert_eq!(long.to_string(), "ttl cannot be longer than the role's secret_id_ttl");
    let bad =
        root(&core, Operation::Update, "role/web/secret-id", json!({"metadata": "not json"})).await;
    assert_eq!(bad.err().unwrap().status(), 400);
    let missing = root(&core, Operation::Update, "role/ghost/secret-id", json!({})).await;
    assert_eq!(missing.err().unwrap().status(), 400);
}

#[tokio::test]
async fn login_issues_a_token_with_the_role_settings() {
    let core = core().await;
    write(
        &core,
        "role/web",
        json!({"token_policies": "web", "token_ttl": "1h", "token_max_ttl": "2h"}),
    )
    .await;
    let rid = role_id(&core, "web").await;
    let sid = secret_id(&core, "web", json!({"metadata": {"team": "blue"}})).await["secret_id"]
        .as_str()
        .unwrap()
        .to_string();

    // A stale token on the login path is ignored.
    let req = request(Operation::Update, "login", json!({"role_id": rid, "secret_id": sid}))
        .with_token("stale");
    let auth = core.handle(req).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["default", "web"]);
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.orphan && auth.renewable);
    let metadata = auth.metadata.clone().unwrap();
    assert_eq!(metadata["role_name"], "web");
    assert_eq!(metadata["team"], "blue");

    let token = auth.client_token.expose().to_string();
    let me = core
        .handle(Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token))
        .await
        .unwrap();
    let me = data(me);
    assert_eq!(me["path"], "auth/approle/login");
    assert_eq!(me["display_name"], "approle");
    assert_eq!(me["policies"], json!(["default", "web"]));
    assert_eq!(me["meta"]["role_name"], "web");

    assert_invalid(login(&core, &rid, "wrong-secret").await);
    assert_invalid(login(&core, "wrong-role-id", &sid).await);
    assert_invalid(login(&core, "wrong-role-id", "wrong-secret").await);
    let missing = login_from(&core, json!({"role_id": rid}), None).await.err().unwrap();
    assert_eq!((missing.status(), missing.to_string().as_str()), (400, "missing secret_id"));
    let missing = login_from(&core, json!({"secret_id": sid}), None).await.err().unwrap();
    assert_eq!((missing.status(), missing.to_string().as_str()), (400, "missing role_id"));
}

#[tokio::test]
async fn used_up_and_expired_secret_ids_are_refused() {
    let core = core().await;
    write(&core, "role/web", json!({})).await;
    let rid = role_id(&core, "web").await;
    let sid = secret_id(&core, "web", json!({"num_uses": 2})).await["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(login(&core, &rid, &sid).await.is_ok());
    let left = write(&core, "role/web/secret-id/lookup", json!({"secret_id": sid})).await;
    assert_eq!(left["secret_id_num_uses"], 1, "lookup shows the uses left");
    assert!(login(&core, &rid, &sid).await.is_ok());
    assert_invalid(login(&core, &rid, &sid).await);
    let gone = root(&core, Operation::List, "role/web/secret-id/", json!({})).await;
    assert_eq!(gone.err().unwrap(), Error::NotFound, "a used-up secret ID is deleted");

    let short = secret_id(&core, "web", json!({"ttl": "1s"})).await["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    let lasting =
        secret_id(&core, "web", json!({})).await["secret_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_invalid(login(&core, &rid, &short).await);
    assert!(login(&core, &rid, &lasting).await.is_ok(), "a secret ID without TTL lasts");
}

#[tokio::test]
async fn the_last_use_is_spent_once_under_concurrent_logins() {
    let core = core().await;
    write(&core, "role/web", json!({})).await;
    let rid = role_id(&core, "web").await;
    let sid = secret_id(&core, "web", json!({"num_uses": 1})).await["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (core, rid, sid) = (core.clone(), rid.clone(), sid.clone());
        tasks.push(tokio::spawn(async move { login(&core, &rid, &sid).await.is_ok() }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1, "one use, one token");
}

#[tokio::test]
async fn bind_secret_id_false_needs_a_source_address_in_the_bound_cidrs() {
    let core = core().await;
    let no_constraint =
        root(&core, Operation::Update, "role/open", json!({"bind_secret_id": false})).await;
    assert_eq!(no_constraint.err().unwrap().status(), 400, "a role needs at least one constraint");

    write(
        &core,
        "role/local",
        json!({"bind_secret_id": "false", "secret_id_bound_cidrs": "127.0.0.0/8"}),
    )
    .await;
    let role = read(&core, "role/local").await.unwrap();
    assert_eq!(role["bind_secret_id"], false);
    assert_eq!(role["secret_id_bound_cidrs"], json!(["127.0.0.0/8"]));
    let rid = role_id(&core, "local").await;
    let ok = login_from(&core, json!({"role_id": rid}), Some("127.0.0.1:40000")).await.unwrap();
    assert_eq!(ok.auth.unwrap().metadata.unwrap()["role_name"], "local");
    assert!(login_from(&core, json!({"role_id": rid}), Some("10.0.0.1:40000")).await.is_err());
    let unknown = login_from(&core, json!({"role_id": rid}), None).await;
    assert_eq!(unknown.err().unwrap().status(), 400, "no source address: fail closed");
    let refused = root(&core, Operation::Update, "role/local/secret-id", json!({})).await;
    assert_eq!(refused.err().unwrap().status(), 400, "no secret IDs for a role that binds none");
}

#[tokio::test]
async fn deleting_a_role_removes_its_secret_ids() {
    let core = core().await;
    write(&core, "role/web", json!({})).await;
    let mut secrets = Vec::new();
    for _ in 0..20 {
        secrets.push(
            secret_id(&core, "web", json!({})).await["secret_id"].as_str().unwrap().to_string(),
        );
    }
    let old_rid = role_id(&core, "web").await;
    root(&core, Operation::Delete, "role/web", json!({})).await.unwrap();
    assert_invalid(login(&core, &old_rid, &secrets[0]).await);

    // A new role of the same name starts with no secret IDs, and the old ones do not work.
    write(&core, "role/web", json!({})).await;
    let listed = root(&core, Operation::List, "role/web/secret-id/", json!({})).await;
    assert_eq!(listed.err().unwrap(), Error::NotFound);
    let rid = role_id(&core, "web").await;
    for sid in &secrets {
        assert_invalid(login(&core, &rid, sid).await);
    }
}

#[tokio::test]
async fn tidy_removes_expired_secret_ids() {
    let core = core().await;
    write(&core, "role/web", json!({})).await;
    secret_id(&core, "web", json!({"ttl": "1s"})).await;
    let keep = secret_id(&core, "web", json!({})).await["secret_id_accessor"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = root(&core, Operation::Update, "tidy/secret-id", json!({})).await.unwrap();
    assert_eq!(r.status, Some(202));
    assert!(!r.warnings.is_empty());
    let mut keys = Value::Null;
    for _ in 0..50 {
        keys = data(root(&core, Operation::List, "role/web/secret-id/", json!({})).await.unwrap())
            ["keys"]
            .clone();
        if keys == json!([keep]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(keys, json!([keep]));
}

/// Renewal follows the role as it is now (OpenBao 2.7, checked): new TTLs apply, policy
/// changes do not matter, a deleted role refuses with a 500.
#[tokio::test]
async fn renewal_follows_the_role() {
    let core = core().await;
    write(&core, "role/web", json!({"token_policies": "a", "token_ttl": "1h"})).await;
    let (rid, sid) = (role_id(&core, "web").await, secret_id(&core, "web", json!({})).await);
    let auth = login(&core, &rid, sid["secret_id"].as_str().unwrap()).await.unwrap();
    let token = auth.auth.unwrap().client_token.expose().to_string();
    let renew = || async {
        core.handle(Request::new(Operation::Update, "auth/token/renew-self").with_token(&token))
            .await
    };
    write(&core, "role/web", json!({"token_policies": "a,b", "token_ttl": "20m"})).await;
    assert_eq!(renew().await.unwrap().auth.unwrap().lease_duration, 1200);
    root(&core, Operation::Delete, "role/web", json!({})).await.unwrap();
    let refused = renew().await.unwrap_err();
    assert_eq!(
        (refused.status(), refused.to_string().as_str()),
        (500, "failed to renew entry: role \"web\" does not exist during renewal")
    );
}

/// Reads echo the legacy `policies` and `period` only when the role was set through them,
/// as OpenBao does (hvac's `token_policies` writes read back without them).
#[tokio::test]
async fn legacy_names_are_echoed_only_when_used() {
    let core = core().await;
    write(&core, "role/new", json!({"token_policies": "a", "token_period": "1h"})).await;
    let role = read(&core, "role/new").await.unwrap();
    assert!(role.get("policies").is_none() && role.get("period").is_none(), "{role}");
    write(&core, "role/old", json!({"policies": "a", "period": "1h"})).await;
    let role = read(&core, "role/old").await.unwrap();
    assert_eq!((&role["policies"], &role["period"]), (&json!(["a"]), &json!(3600)));
    assert_eq!(role["token_policies"], json!(["a"]));
}

#[tokio::test]
async fn a_batch_role_logs_in_with_batch_tokens() {
    let core = core().await;
    let role = json!({"token_type": "batch", "token_policies": "app", "token_ttl": "10m"});
    assert!(root(&core, Operation::Update, "role/ci", role).await.unwrap().is_empty());
    let id = role_id(&core, "ci").await;
    let secret = secret_id(&core, "ci", json!({})).await;
    let auth = login(&core, &id, secret["secret_id"].as_str().unwrap()).await.unwrap();
    let auth = auth.auth.unwrap();
    assert!(auth.client_token.expose().starts_with("b."));
    assert_eq!((auth.accessor.as_str(), auth.renewable), ("", false));
    assert_eq!(auth.lease_duration, 600);
    let me = core
        .handle(
            Request::new(Operation::Read, "auth/token/lookup-self")
                .with_token(auth.client_token.expose()),
        )
        .await
        .unwrap();
    assert_eq!(data(me)["type"], "batch");
}

#[tokio::test]
async fn one_setting_at_a_time() {
    let core = core().await;
    write(&core, "role/f", json!({"token_policies": "a,b", "secret_id_ttl": "10m"})).await;
    assert_eq!(
        read(&core, "role/f/policies").await.unwrap(),
        json!({"token_policies": ["a", "b"]})
    );
    assert_eq!(read(&core, "role/f/secret-id-ttl").await.unwrap(), json!({"secret_id_ttl": 600}));
    assert_eq!(
        read(&core, "role/f/token-bound-cidrs").await.unwrap(),
        json!({"token_bound_cidrs": null})
    );
    assert_eq!(read(&core, "role/f/period").await.unwrap(), json!({"token_period": 0}));
    write(&core, "role/f/token-ttl", json!({"token_ttl": "1h"})).await;
    assert_eq!(read(&core, "role/f/token-ttl").await.unwrap(), json!({"token_ttl": 3600}));
    write(&core, "role/f/policies", json!({"policies": "c"})).await;
    assert_eq!(
        read(&core, "role/f/policies").await.unwrap(),
        json!({"token_policies": ["c"], "policies": ["c"]})
    );
    root(&core, Operation::Delete, "role/f/secret-id-ttl", json!({})).await.unwrap();
    assert_eq!(read(&core, "role/f").await.unwrap()["secret_id_ttl"], 0);
    root(&core, Operation::Delete, "role/f/policies", json!({})).await.unwrap();
    assert_eq!(read(&core, "role/f/policies").await.unwrap(), json!({"token_policies": []}));
    let missing =
        root(&core, Operation::Update, "role/nope/token-ttl", json!({"token_ttl": 5})).await;
    assert_eq!(missing.unwrap_err(), Error::invalid("role nope does not exist"));
    assert_eq!(
        read(&core, "role/f/local-secret-ids").await.unwrap(),
        json!({"local_secret_ids": false})
    );
}
