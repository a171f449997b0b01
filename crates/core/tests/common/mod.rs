//! Shared setup of the core's tests: a dev core over memory storage with the root token `root`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use coffer_core::{Core, CoreConfig, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Request, Response};
use serde_json::Value;

/// A dev core (initialised, unsealed, root token `root`) with the engines of `registry`.
pub async fn dev_with(registry: Registry) -> Arc<Core> {
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core
}

/// A dev core with no engines.
pub async fn dev() -> Arc<Core> {
    dev_with(Registry::new()).await
}

/// One request with `token` and JSON `data`.
pub async fn call(
    core: &Core,
    token: &str,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response, Error> {
    let data = data.as_object().cloned().unwrap_or_default();
    core.handle(Request::new(op, path).with_token(token).with_data(data)).await
}
