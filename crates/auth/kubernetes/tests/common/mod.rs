//! Test support of the Kubernetes method: the helpers shared with the JWT tests (key pairs,
//! JWTs, a local HTTP server standing in for the Kubernetes API), and a dev core with the method.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../jwt/tests/common/support.rs"]
mod support;

use std::sync::Arc;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Response};
use serde_json::json;
pub use support::*;

/// A dev core (root token `root`) with the Kubernetes method at `auth/kubernetes/`.
pub async fn core() -> Arc<Core> {
    let registry = Registry::new().auth("kubernetes", coffer_kubernetes::factory);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("kubernetes/", "kubernetes", "", "auth_"), true)
        .await
        .unwrap();
    core
}

/// A login at `auth/kubernetes/login` (unauthenticated).
pub async fn login(core: &Core, role: &str, jwt: &str) -> Result<Response, Error> {
    call(core, None, Operation::Update, "auth/kubernetes/login", json!({"role": role, "jwt": jwt}))
        .await
}

/// The status and message of a refused login, checked not to echo the JWT.
pub async fn refused(core: &Core, role: &str, jwt: &str) -> (u16, String) {
    let err = login(core, role, jwt).await.expect_err("the login must be refused");
    let msg = err.to_string();
    assert!(jwt.len() < 8 || !msg.contains(jwt), "the error echoes the JWT");
    (err.status(), msg)
}
