//! Dynamic credentials against a real PostgreSQL, through the core.
//!
//! - `credentials_log_in_renew_and_are_revoked`: login, granted and denied statements,
//!   `VALID UNTIL` set and moved by renew, revoke ends open sessions and drops the user,
//!   revoking a user that is already gone succeeds.
//! - `expiry_and_token_revocation_drop_users`: the core's expiry and token cascade.
//! - `default_username_and_password_follow_vault`: `v-token-<role>-<random>-<unix>` and the
//!   default password policy.
//! - `refusals_and_failed_creation`: allowed_roles default none, unknown roles, a failing
//!   creation statement rolled back without the password in the error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use coffer_types::{Operation, unix_now};
use common::*;
use serde_json::json;

/// A schema with one table, a connection allowing every role, and a role `ro` whose users
/// may read the table. Returns the root password used in the config.
async fn fixture(core: &coffer_core::Core, guard: &Cleanup, ttl: i64) -> String {
    let p = &guard.prefix;
    let admin = admin(&guard.url).await;
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {p}; CREATE TABLE {p}.items (id int); INSERT INTO {p}.items VALUES (1), (2)"
        ))
        .await
        .unwrap();
    let root_password = format!("rootpw-{}", coffer_types::random_base62(12));
    root(
        core,
        Operation::Update,
        "database/config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": templated(&guard.url),
            "username": admin_user(&guard.url),
            "password": root_password,
            "allowed_roles": "*",
            "username_template": format!("{{{{ printf \"{p}_%s_%s\" .RoleName (random 8 | lowercase) }}}}"),
        }),
    )
    .await
    .unwrap();
    let creation = format!(
        "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}'; \
         GRANT USAGE ON SCHEMA {p} TO \"{{{{name}}}}\"; GRANT SELECT ON ALL TABLES IN SCHEMA {p} TO \"{{{{name}}}}\";"
    );
    root(
        core,
        Operation::Update,
        "database/roles/ro",
        json!({"db_name": "pg", "creation_statements": creation, "default_ttl": ttl, "max_ttl": 3600}),
    )
    .await
    .unwrap();
    root_password
}

async fn issue(core: &coffer_core::Core, token: &str) -> (String, String, String) {
    let r = call(core, token, Operation::Read, "database/creds/ro", json!({})).await.unwrap();
    let data = r.data.unwrap();
    let lease = r.lease.unwrap();
    let s = |k: &str| data[k].as_str().unwrap().to_string();
    (s("username"), s("password"), lease.lease_id)
}

#[tokio::test]
async fn credentials_log_in_renew_and_are_revoked() {
    let Some(url) = pg_url("credentials_log_in_renew_and_are_revoked") else { return };
    let guard = Cleanup::new(&url).await;
    let core = core().await;
    let root_password = fixture(&core, &guard, 600).await;
    let admin = admin(&url).await;
    let p = &guard.prefix;

    let r = root(&core, Operation::Read, "database/creds/ro", json!({})).await.unwrap();
    assert!(!shown(&r).contains(&root_password));
    let lease = r.lease.clone().unwrap();
    assert!(lease.lease_id.starts_with("database/creds/ro/"));
    assert!(lease.renewable);
    assert_eq!(lease.lease_duration, 600);
    let data = r.data.unwrap();
    let (user, password) = (data["username"].as_str().unwrap(), data["password"].as_str().unwrap());
    assert!(user.starts_with(&format!("{p}_ro_")));

    // The user logs in and can do what the creation statements grant, and nothing more.
    let client = login(&url, user, password).await.unwrap();
    let rows = client.query(&format!("SELECT id FROM {p}.items ORDER BY id"), &[]).await.unwrap();
    assert_eq!(rows.len(), 2);
    let denied = client.batch_execute(&format!("INSERT INTO {p}.items VALUES (3)")).await;
    assert!(denied.unwrap_err().to_string().contains("db error"));

    // VALID UNTIL follows the lease, and renew moves it.
    let until = valid_until(&admin, user).await.unwrap();
    assert!((until - (unix_now() + 600)).abs() <= 5, "valid until {until}");
    let renewed = root(
        &core,
        Operation::Update,
        "sys/leases/renew",
        json!({"lease_id": lease.lease_id, "increment": 1800}),
    )
    .await
    .unwrap();
    assert_eq!(renewed.lease.unwrap().lease_duration, 1800);
    let until = valid_until(&admin, user).await.unwrap();
    assert!((until - (unix_now() + 1800)).abs() <= 5, "renewed valid until {until}");
    // Beyond max_ttl both the lease and VALID UNTIL are capped.
    root(
        &core,
        Operation::Update,
        "sys/leases/renew",
        json!({"lease_id": lease.lease_id, "increment": 99999}),
    )
    .await
    .unwrap();
    let until = valid_until(&admin, user).await.unwrap();
    assert!(until <= unix_now() + 3600 + 2, "capped valid until {until}");

    // Revoking ends the open session, refuses new logins and drops the user.
    root(&core, Operation::Update, "sys/leases/revoke", json!({"lease_id": lease.lease_id}))
        .await
        .unwrap();
    assert!(client.simple_query("SELECT 1").await.is_err(), "open session ended");
    assert!(login(&url, user, password).await.is_err());
    assert!(!role_exists(&admin, user).await);

    // A user dropped behind the engine's back revokes cleanly (revocation is idempotent).
    let (user, _, lease_id) = issue(&core, "root").await;
    drop_role(&admin, &user).await;
    root(&core, Operation::Update, "sys/leases/revoke", json!({"lease_id": lease_id}))
        .await
        .unwrap();
    let gone =
        root(&core, Operation::Update, "sys/leases/lookup", json!({"lease_id": lease_id})).await;
    assert!(gone.is_err(), "lease removed after an idempotent revoke");
}

#[tokio::test]
async fn expiry_and_token_revocation_drop_users() {
    let Some(url) = pg_url("expiry_and_token_revocation_drop_users") else { return };
    let guard = Cleanup::new(&url).await;
    let core = core().await;
    fixture(&core, &guard, 2).await;
    let admin = admin(&url).await;

    let (expiring, password, _) = issue(&core, "root").await;
    assert!(login(&url, &expiring, &password).await.is_ok());

    // A child token's credentials go with it.
    let child = root(&core, Operation::Update, "auth/token/create", json!({})).await.unwrap();
    let child = child.auth.unwrap().client_token.expose().to_string();
    let (owned, _, _) = issue(&core, &child).await;
    assert!(role_exists(&admin, &owned).await);
    root(&core, Operation::Update, "auth/token/revoke", json!({"token": child})).await.unwrap();
    assert!(!role_exists(&admin, &owned).await, "token revocation dropped the user");

    // The 2 s lease expires and the core's background task revokes it.
    let mut waited = 0;
    while role_exists(&admin, &expiring).await && waited < 60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert!(!role_exists(&admin, &expiring).await, "expired user dropped");
    assert!(login(&url, &expiring, &password).await.is_err());
}

#[tokio::test]
async fn default_username_and_password_follow_vault() {
    let Some(url) = pg_url("default_username_and_password_follow_vault") else { return };
    let guard = Cleanup::new(&url).await;
    let core = core().await;
    fixture(&core, &guard, 600).await;
    // Back to the default template.
    root(&core, Operation::Update, "database/config/pg", json!({"username_template": ""}))
        .await
        .unwrap();
    let r = root(&core, Operation::Read, "database/creds/ro", json!({})).await.unwrap();
    let data = r.data.unwrap();
    let user = data["username"].as_str().unwrap();
    guard.track(user);
    let parts: Vec<&str> = user.split('-').collect();
    assert_eq!(&parts[..3], ["v", "token", "ro"], "{user}");
    assert_eq!(parts[3].len(), 20);
    assert!(parts[4].parse::<i64>().is_ok_and(|t| (t - unix_now()).abs() < 60));
    let password = data["password"].as_str().unwrap();
    assert_eq!(password.len(), 20);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    for class in [char::is_ascii_uppercase, char::is_ascii_lowercase, char::is_ascii_digit] {
        assert!(password.chars().any(|c| class(&c)), "{password}");
    }
    assert!(password.contains('-'));
    assert!(login(&url, user, password).await.is_ok());
    let lease = r.lease.unwrap().lease_id;
    root(&core, Operation::Update, "sys/leases/revoke", json!({"lease_id": lease})).await.unwrap();
    assert!(!role_exists(&admin(&url).await, user).await);
}

#[tokio::test]
async fn refusals_and_failed_creation() {
    let Some(url) = pg_url("refusals_and_failed_creation") else { return };
    let guard = Cleanup::new(&url).await;
    let core = core().await;
    let root_password = fixture(&core, &guard, 600).await;
    let admin = admin(&url).await;

    let unknown = root(&core, Operation::Read, "database/creds/nope", json!({})).await.unwrap_err();
    assert_eq!(unknown.to_string(), "unknown role: nope");
    assert_eq!(unknown.status(), 400);

    // allowed_roles defaults to none.
    root(
        &core,
        Operation::Update,
        "database/config/closed",
        json!({"plugin_name": "postgresql-database-plugin", "connection_url": templated(&url),
               "username": admin_user(&url), "password": root_password}),
    )
    .await
    .unwrap();
    let read = root(&core, Operation::Read, "database/config/closed", json!({})).await.unwrap();
    assert_eq!(read.data.unwrap()["allowed_roles"], json!([]));
    root(
        &core,
        Operation::Update,
        "database/roles/shut",
        json!({"db_name": "closed", "creation_statements": "SELECT 1"}),
    )
    .await
    .unwrap();
    let refused = root(&core, Operation::Read, "database/creds/shut", json!({})).await.unwrap_err();
    assert_eq!(refused.status(), 400);
    assert!(refused.to_string().contains("is not an allowed role"), "{refused}");

    // A failing creation is rolled back, and the error does not show the password.
    let p = &guard.prefix;
    root(
        &core,
        Operation::Update,
        "database/roles/broken",
        json!({"db_name": "pg", "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN",
            // The server echoes the unknown column: the password, which must not show.
            "SELECT \"{{password}}\" FROM pg_roles",
        ], "rollback_statements": "SELECT 1"}),
    )
    .await
    .unwrap();
    let err = root(&core, Operation::Read, "database/creds/broken", json!({})).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("[redacted]"), "{message}");
    assert!(!message.contains(&root_password));
    let leftovers = admin
        .query("SELECT 1 FROM pg_roles WHERE rolname LIKE $1", &[&format!("{p}_broken_%")])
        .await
        .unwrap();
    assert!(leftovers.is_empty(), "creation rolled back");

    // Role reads show the statements as written, one element per string.
    let role =
        root(&core, Operation::Read, "database/roles/ro", json!({})).await.unwrap().data.unwrap();
    assert_eq!(role["creation_statements"].as_array().unwrap().len(), 1);
    assert_eq!(role["db_name"], "pg");
    assert_eq!(role["default_ttl"], 600);
    assert_eq!(role["max_ttl"], 3600);
    assert_eq!(role["credential_type"], "password");
    assert_eq!(role["renew_statements"], json!([]));
    let keys =
        root(&core, Operation::List, "database/roles/", json!({})).await.unwrap().data.unwrap();
    assert_eq!(keys["keys"], json!(["broken", "ro", "shut"]));
    let bad = root(&core, Operation::Update, "database/roles/x", json!({"db_name": "pg"})).await;
    assert_eq!(bad.unwrap_err().to_string(), "empty creation statements");
    let bad = root(
        &core,
        Operation::Update,
        "database/roles/x",
        json!({"db_name": "pg", "creation_statements": "SELECT 1", "default_ttl": "2h", "max_ttl": "1h"}),
    )
    .await;
    assert!(bad.is_err());
}
