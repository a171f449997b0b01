//! Connections against a real PostgreSQL, through the core.
//!
//! - `connection_config_round_trip`: write (verified), read without the password, partial
//!   updates, LIST, DELETE, `reset`, and the refusals (plugin, unreachable server, bad
//!   `password_authentication`), none of which shows the password.
//! - `literal_password_warns_and_is_redacted`: a password inside `connection_url`.
//! - `rotate_root_changes_the_stored_hash`: on a trust-auth server the new password is seen
//!   through `pg_authid` (the SCRAM cluster test proves logins).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_types::{Error, Operation};
use common::*;
use serde_json::json;

const PLUGIN: &str = "postgresql-database-plugin";

#[tokio::test]
async fn connection_config_round_trip() {
    let Some(url) = pg_url("connection_config_round_trip") else { return };
    let _guard = Cleanup::new(&url).await;
    let core = core().await;
    let secret = format!("root-{}", coffer_types::random_base62(16));
    let body = json!({
        "plugin_name": PLUGIN,
        "connection_url": templated(&url),
        "username": admin_user(&url),
        "password": secret,
        "allowed_roles": "ro, rw",
        "max_open_connections": "2",
    });
    let written = root(&core, Operation::Update, "database/config/pg", body).await.unwrap();
    assert!(written.is_empty(), "204 without warnings");

    let read = root(&core, Operation::Read, "database/config/pg", json!({})).await.unwrap();
    assert!(!shown(&read).contains(&secret));
    let data = read.data.unwrap();
    assert_eq!(data["allowed_roles"], json!(["ro", "rw"]));
    assert_eq!(data["plugin_name"], PLUGIN);
    assert_eq!(data["plugin_version"], "");
    assert_eq!(data["password_policy"], "");
    assert_eq!(data["root_credentials_rotate_statements"], json!([]));
    assert_eq!(data["connection_details"]["connection_url"], templated(&url));
    assert_eq!(data["connection_details"]["username"], admin_user(&url));
    assert!(data["connection_details"].get("password").is_none());
    // The reference does not echo verify_connection.
    assert!(data.get("verify_connection").is_none());

    // A partial update keeps the other fields.
    root(&core, Operation::Update, "database/config/pg", json!({"allowed_roles": ["*"]}))
        .await
        .unwrap();
    let data =
        root(&core, Operation::Read, "database/config/pg", json!({})).await.unwrap().data.unwrap();
    assert_eq!(data["allowed_roles"], json!(["*"]));
    assert_eq!(data["connection_details"]["connection_url"], templated(&url));

    let keys = root(&core, Operation::List, "database/config/", json!({})).await.unwrap();
    assert_eq!(keys.data.unwrap()["keys"], json!(["pg"]));
    root(&core, Operation::Update, "database/reset/pg", json!({})).await.unwrap();
    let missing = root(&core, Operation::Update, "database/reset/nope", json!({})).await;
    assert_eq!(missing.unwrap_err().status(), 400);

    // Refusals.
    let bad_plugin =
        json!({"plugin_name": "mysql-database-plugin", "connection_url": templated(&url)});
    let err = root(&core, Operation::Update, "database/config/x", bad_plugin).await.unwrap_err();
    assert_eq!(err.status(), 400);
    let err = root(&core, Operation::Update, "database/config/x", json!({"connection_url": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err, Error::invalid("empty plugin name"));
    let unreachable = json!({
        "plugin_name": PLUGIN,
        "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
        "username": "postgres",
        "password": secret,
    });
    let err =
        root(&core, Operation::Update, "database/config/x", unreachable.clone()).await.unwrap_err();
    assert_eq!(err.status(), 400);
    let message = err.to_string();
    assert!(
        message.starts_with("error creating database object: error verifying connection: "),
        "{message}"
    );
    assert!(!message.contains(&secret));
    let mut unverified = unreachable;
    unverified["verify_connection"] = json!(false);
    root(&core, Operation::Update, "database/config/x", unverified).await.unwrap();
    let bad_auth = json!({"password_authentication": "md5", "verify_connection": false});
    let err = root(&core, Operation::Update, "database/config/x", bad_auth).await.unwrap_err();
    assert_eq!(err.status(), 400);

    root(&core, Operation::Delete, "database/config/x", json!({})).await.unwrap();
    let gone = root(&core, Operation::Read, "database/config/x", json!({})).await;
    assert_eq!(gone.unwrap_err(), Error::NotFound);
}

#[tokio::test]
async fn literal_password_warns_and_is_redacted() {
    let Some(url) = pg_url("literal_password_warns_and_is_redacted") else { return };
    let core = core().await;
    let literal = templated(&url).replace("{{username}}:{{password}}", "postgres:Lit3ral-pw");
    let body = json!({"plugin_name": PLUGIN, "connection_url": literal, "allowed_roles": "*"});
    let written = root(&core, Operation::Update, "database/config/lit", body).await.unwrap();
    assert_eq!(written.warnings.len(), 1);
    assert!(written.warnings[0].starts_with("Password found in connection_url"));
    let read = root(&core, Operation::Read, "database/config/lit", json!({})).await.unwrap();
    assert!(!shown(&read).contains("Lit3ral-pw"));
    let shown_url =
        read.data.unwrap()["connection_details"]["connection_url"].as_str().unwrap().to_string();
    assert!(shown_url.starts_with("postgresql://postgres:*****@"), "{shown_url}");
    // Root rotation needs the template.
    let err =
        root(&core, Operation::Update, "database/rotate-root/lit", json!({})).await.unwrap_err();
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn rotate_root_changes_the_stored_hash() {
    let Some(url) = pg_url("rotate_root_changes_the_stored_hash") else { return };
    let guard = Cleanup::new(&url).await;
    let core = core().await;
    let admin = admin(&url).await;
    let root_user = format!("{}_root", guard.prefix);
    admin
        .batch_execute(&format!("CREATE ROLE {root_user} LOGIN CREATEROLE PASSWORD 'Initial-pw-1'"))
        .await
        .unwrap();
    let before = password_hash(&admin, &root_user).await.unwrap();
    let body = json!({
        "plugin_name": PLUGIN,
        "connection_url": templated(&url),
        "username": root_user,
        "password": "Initial-pw-1",
        "allowed_roles": "ro",
    });
    root(&core, Operation::Update, "database/config/pg", body).await.unwrap();
    let rotated =
        root(&core, Operation::Update, "database/rotate-root/pg", json!({})).await.unwrap();
    assert!(rotated.is_empty(), "204");
    let after = password_hash(&admin, &root_user).await.unwrap();
    assert_ne!(before, after);
    let read = root(&core, Operation::Read, "database/config/pg", json!({})).await.unwrap();
    assert!(!shown(&read).contains("Initial-pw-1"));

    // The engine keeps working with the new password: it can create users.
    let creation =
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'";
    let role = json!({"db_name": "pg", "creation_statements": creation, "default_ttl": 60});
    root(&core, Operation::Update, "database/roles/ro", role).await.unwrap();
    let template = format!("{{{{ printf \"{}_%s\" (random 6 | lowercase) }}}}", guard.prefix);
    root(&core, Operation::Update, "database/config/pg", json!({"username_template": template}))
        .await
        .unwrap();
    let creds = root(&core, Operation::Read, "database/creds/ro", json!({})).await.unwrap();
    let user = creds.data.unwrap()["username"].as_str().unwrap().to_string();
    assert!(role_exists(&admin, &user).await);
    let lease = creds.lease.unwrap().lease_id;
    root(&core, Operation::Update, "sys/leases/revoke", json!({"lease_id": lease})).await.unwrap();
    assert!(!role_exists(&admin, &user).await);
}
