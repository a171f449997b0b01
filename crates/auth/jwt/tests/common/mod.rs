//! Test support of the JWT method: the shared helpers, and a dev core with the method.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Response};
use serde_json::json;
pub use support::*;

/// A dev core (root token `root`) with the JWT method mounted at `auth/jwt/`.
pub async fn core() -> Arc<Core> {
    let registry = Registry::new().auth("jwt", coffer_jwt::factory);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("jwt/", "jwt", "", "auth_"), true).await.unwrap();
    core
}

/// A login at `auth/jwt/login` (unauthenticated).
pub async fn login(core: &Core, role: &str, jwt: &str) -> Result<Response, Error> {
    call(core, None, Operation::Update, "auth/jwt/login", json!({"role": role, "jwt": jwt})).await
}

/// The 400 message of a refused login, checked not to echo the JWT.
pub async fn refused(core: &Core, role: &str, jwt: &str) -> String {
    let err = login(core, role, jwt).await.expect_err("the login must be refused");
    assert_eq!(err.status(), 400, "{err}");
    let msg = err.to_string();
    assert!(jwt.len() < 8 || !msg.contains(jwt), "the error echoes the JWT");
    msg
}
