//! Audit through the core: every request and response recorded with secrets HMAC'd, and a
//! device that cannot write stops requests before anything changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

mod common;

use coffer_core::{Core, CoreConfig, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Request, Response};
use common::dev;
use serde_json::{Value, json};

/// A request with the root token.
async fn call(core: &Core, op: Operation, path: &str, data: Value) -> Result<Response, Error> {
    common::call(core, "root", op, path, data).await
}

#[tokio::test]
async fn requests_are_recorded_with_secrets_hashed() {
    let core = dev().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    call(
        &core,
        Operation::Update,
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await
    .unwrap();
    let list = call(&core, Operation::Read, "sys/audit", json!({})).await.unwrap();
    assert_eq!(list.data.unwrap()["file/"]["type"], "file");

    call(
        &core,
        Operation::Update,
        "auth/token/roles/canary",
        json!({"path_suffix": "super-secret-value"}),
    )
    .await
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("super-secret-value"), "a request value reached the audit log in clear");
    assert!(
        !text.contains("\"client_token\":\"root\""),
        "the token reached the audit log in clear"
    );
    assert!(text.contains("\"client_token\":\"hmac-sha256:"), "{text}");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last_request = lines.iter().rev().find(|l| l["type"] == "request").unwrap();
    assert_eq!(last_request["request"]["path"], "auth/token/roles/canary");
    let hashed = last_request["request"]["data"]["path_suffix"].as_str().unwrap();
    assert!(hashed.starts_with("hmac-sha256:"));
    let expected = call(
        &core,
        Operation::Update,
        "sys/audit-hash/file",
        json!({"input": "super-secret-value"}),
    )
    .await
    .unwrap();
    assert_eq!(expected.data.unwrap()["hash"], hashed);
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "response" && l["request"]["path"] == "auth/token/roles/canary")
    );

    // Denied requests are recorded too, with their error.
    let denied = core.handle(Request::new(Operation::Read, "sys/mounts").with_token("nope")).await;
    assert_eq!(denied.unwrap_err(), Error::PermissionDenied);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().last().unwrap().contains("permission denied"));
}

#[tokio::test]
async fn an_audit_device_that_cannot_write_fails_closed() {
    let core = dev().await;
    call(
        &core,
        Operation::Update,
        "sys/audit/full",
        json!({"type": "file", "options": {"file_path": "/dev/full"}}),
    )
    .await
    .unwrap();
    let write = call(&core, Operation::Update, "auth/token/roles/never", json!({})).await;
    assert!(matches!(write, Err(Error::Internal(_))), "{write:?}");
    // Every request fails while no device can record it, disabling the device included; the
    // operator's way out is the core API (or the config file).
    assert!(call(&core, Operation::Delete, "sys/audit/full", json!({})).await.is_err());
    core.disable_audit("full/").await.unwrap();
    let role = call(&core, Operation::Read, "auth/token/roles/never", json!({})).await;
    assert_eq!(role.unwrap_err(), Error::NotFound, "nothing changed while audit failed");
}

#[tokio::test]
async fn devices_survive_a_seal_and_unseal() {
    let core = Core::new(Arc::new(MemoryStorage::new()), Registry::new(), CoreConfig::new("inmem"));
    let init = core.init(1, 1).await.unwrap();
    let key = hex::encode(init.keys[0].as_slice());
    core.unseal(Some(&key), false).await.unwrap();
    let token = init.root_token.expose().to_string();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    let enable = Request::new(Operation::Update, "sys/audit/file").with_token(&token).with_data(
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}})
            .as_object()
            .cloned()
            .unwrap(),
    );
    core.handle(enable).await.unwrap();
    core.seal().await.unwrap();
    core.unseal(Some(&key), false).await.unwrap();
    let before = std::fs::read_to_string(&log).unwrap().lines().count();
    core.handle(Request::new(Operation::Read, "sys/mounts").with_token(&token)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), before + 2);
}
