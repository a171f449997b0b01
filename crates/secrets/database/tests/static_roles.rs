//! Static roles against a real PostgreSQL, through the core.
//!
//! - `static_roles_rotate_on_create_on_demand_and_on_schedule`: the password changes (seen in
//!   `pg_authid`) when the role is created, on `rotate-role` and when `rotation_period`
//!   passes; reads and refusals follow Vault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use coffer_types::{Error, Operation};
use common::*;
use serde_json::json;

#[tokio::test]
async fn static_roles_rotate_on_create_on_demand_and_on_schedule() {
    let Some(url) = pg_url("static_roles_rotate_on_create_on_demand_and_on_schedule") else {
        return;
    };
    let guard = Cleanup::new(&url).await;
    let core = core().await;
    let admin = admin(&url).await;
    let user = format!("{}_app", guard.prefix);
    admin
        .batch_execute(&format!("CREATE ROLE {user} LOGIN PASSWORD 'Initial-pw-1'"))
        .await
        .unwrap();
    let initial = password_hash(&admin, &user).await.unwrap();
    let config = json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": templated(&url),
        "username": admin_user(&url),
        "password": "unused-with-trust",
        "allowed_roles": "app,dyn",
    });
    root(&core, Operation::Update, "database/config/pg", config).await.unwrap();

    // Refusals: too short a period, a role the connection does not allow, no username.
    let short = json!({"db_name": "pg", "username": user, "rotation_period": "4s"});
    let err = root(&core, Operation::Update, "database/static-roles/app", short).await.unwrap_err();
    assert_eq!(err, Error::invalid("rotation_period must be 5 seconds or more"));
    let other = json!({"db_name": "pg", "username": user, "rotation_period": "1h"});
    let err =
        root(&core, Operation::Update, "database/static-roles/other", other).await.unwrap_err();
    assert!(err.to_string().contains("is not an allowed role"));
    let nameless = json!({"db_name": "pg", "rotation_period": "1h"});
    assert!(root(&core, Operation::Update, "database/static-roles/app", nameless).await.is_err());
    let missing =
        json!({"db_name": "pg", "username": format!("{user}_missing"), "rotation_period": "1h"});
    let err =
        root(&core, Operation::Update, "database/static-roles/app", missing).await.unwrap_err();
    assert!(err.to_string().starts_with("error setting credentials"), "{err}");
    let gone = root(&core, Operation::Read, "database/static-roles/app", json!({})).await;
    assert_eq!(
        gone.unwrap_err(),
        Error::NotFound,
        "a role whose first rotation failed is not kept"
    );

    // Creating the role rotates the password at once.
    let role = json!({"db_name": "pg", "username": user, "rotation_period": "1h"});
    let written = root(&core, Operation::Update, "database/static-roles/app", role).await.unwrap();
    assert!(written.is_empty());
    let first = password_hash(&admin, &user).await.unwrap();
    assert_ne!(first, initial);
    let read = root(&core, Operation::Read, "database/static-roles/app", json!({})).await.unwrap();
    let data = read.data.unwrap();
    assert_eq!(data["username"], user.as_str());
    assert_eq!(data["db_name"], "pg");
    assert_eq!(data["rotation_period"], 3600);
    assert_eq!(data["credential_type"], "password");
    assert_eq!(data["rotation_statements"], json!([]));
    assert!(data["last_vault_rotation"].as_str().unwrap().ends_with('Z'));
    assert!(data.get("password").is_none());

    let creds = root(&core, Operation::Read, "database/static-creds/app", json!({})).await.unwrap();
    assert!(creds.lease.is_none_or(|l| l.lease_id.is_empty()), "static creds have no lease");
    let creds = creds.data.unwrap();
    let password = creds["password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 20);
    assert_eq!(creds["username"], user.as_str());
    assert!((3590..=3600).contains(&creds["ttl"].as_i64().unwrap()));
    assert!(login(&url, &user, &password).await.is_ok());

    // rotate-role sets a new one.
    root(&core, Operation::Update, "database/rotate-role/app", json!({})).await.unwrap();
    let second = password_hash(&admin, &user).await.unwrap();
    assert_ne!(second, first);
    let creds = root(&core, Operation::Read, "database/static-creds/app", json!({})).await.unwrap();
    assert_ne!(creds.data.unwrap()["password"].as_str().unwrap(), password);

    // Updates: the username is fixed; names are shared with dynamic roles.
    let rename = json!({"username": "someone-else"});
    assert!(root(&core, Operation::Update, "database/static-roles/app", rename).await.is_err());
    let clash = json!({"db_name": "pg", "creation_statements": "SELECT 1"});
    let err = root(&core, Operation::Update, "database/roles/app", clash).await.unwrap_err();
    assert_eq!(err, Error::invalid("Role and Static Role names must be unique"));
    let keys = root(&core, Operation::List, "database/static-roles/", json!({})).await.unwrap();
    assert_eq!(keys.data.unwrap()["keys"], json!(["app"]));
    let unknown = root(&core, Operation::Read, "database/static-creds/nope", json!({})).await;
    assert_eq!(unknown.unwrap_err(), Error::invalid("unknown role: nope"));

    // The background task rotates when the period has passed.
    root(&core, Operation::Update, "database/static-roles/app", json!({"rotation_period": 5}))
        .await
        .unwrap();
    let mut rotated = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if password_hash(&admin, &user).await.unwrap() != second {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "rotated on schedule");

    root(&core, Operation::Delete, "database/static-roles/app", json!({})).await.unwrap();
    let gone = root(&core, Operation::Read, "database/static-roles/app", json!({})).await;
    assert_eq!(gone.unwrap_err(), Error::NotFound);
    assert!(role_exists(&admin, &user).await, "deleting a static role keeps the user");
}
