//! The core without HTTP: init, unseal with Shamir shares, seal, mounts, and deny by default.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Request};
use serde_json::json;

fn core() -> Arc<Core> {
    Core::new(Arc::new(MemoryStorage::new()), Registry::new(), CoreConfig::new("inmem"))
}

fn hex_keys(result: &coffer_core::InitResult) -> Vec<String> {
    result.keys.iter().map(|k| hex::encode(k.as_slice())).collect()
}

#[tokio::test]
async fn init_unseal_seal_with_shares() {
    let core = core();
    assert!(!core.seal_status().await.unwrap().initialized);
    let init = core.init(3, 2).await.unwrap();
    let keys = hex_keys(&init);
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k.len() == 66), "33-byte shares");
    assert!(core.is_sealed(), "init leaves the server sealed");
    assert_eq!(core.init(1, 1).await.err(), Some(Error::invalid("Vault is already initialized")));

    let status = core.unseal(Some(&keys[0]), false).await.unwrap();
    assert!(status.sealed);
    assert_eq!(status.progress, 1);
    assert!(!status.nonce.is_empty());
    // The same share twice does not count twice.
    assert_eq!(core.unseal(Some(&keys[0]), false).await.unwrap().progress, 1);
    let status = core.unseal(Some(&keys[2]), false).await.unwrap();
    assert!(!status.sealed);
    assert_eq!(status.progress, 0);

    let token = init.root_token.expose().to_string();
    let read = Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token);
    let answer = core.handle(read).await.unwrap();
    assert_eq!(answer.data.unwrap()["policies"], json!(["root"]));

    core.seal().await.unwrap();
    assert!(core.is_sealed());
    let read = Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token);
    assert_eq!(core.handle(read).await.err(), Some(Error::Sealed));

    // Reset drops progress; wrong shares (from another init) do not unseal.
    core.unseal(Some(&keys[1]), false).await.unwrap();
    assert_eq!(core.unseal(None, true).await.unwrap().progress, 0);
    let other = core_keys().await;
    core.unseal(Some(&other[0]), false).await.unwrap();
    assert!(core.unseal(Some(&other[1]), false).await.is_err());
    assert!(core.is_sealed());
}

async fn core_keys() -> Vec<String> {
    let other = core();
    hex_keys(&other.init(3, 2).await.unwrap())
}

#[tokio::test]
async fn bad_seal_configurations_are_refused() {
    let core = core();
    assert!(core.init(2, 3).await.is_err());
    assert!(core.init(0, 0).await.is_err());
    assert!(core.init(3, 1).await.is_err());
    assert!(!core.seal_status().await.unwrap().initialized);
}

#[tokio::test]
async fn requests_need_a_valid_token_and_mounts_persist() {
    let core = core();
    let init = core.init_dev(Some("dev-root"), &[]).await.unwrap();
    assert_eq!(init.root_token.expose(), "dev-root");
    let no_token = Request::new(Operation::Read, "sys/mounts");
    assert_eq!(core.handle(no_token).await.err(), Some(Error::PermissionDenied));
    let bad_token = Request::new(Operation::Read, "sys/mounts").with_token("nope");
    assert_eq!(core.handle(bad_token).await.err(), Some(Error::PermissionDenied));
    let unknown = Request::new(Operation::Read, "nowhere/x").with_token("dev-root");
    assert_eq!(core.handle(unknown).await.err(), Some(Error::NoRoute("nowhere/x".into())));

    let entry = MountEntry::new("data/", "nosuchengine", "", "");
    let err = core.enable_mount(entry, false).await.unwrap_err();
    assert_eq!(err, Error::invalid("plugin not found in the catalog: nosuchengine"));
    let reserved = MountEntry::new("sys/", "kv", "", "");
    assert!(core.enable_mount(reserved, false).await.is_err());
    let mounts = core
        .handle(Request::new(Operation::Read, "sys/mounts").with_token("dev-root"))
        .await
        .unwrap();
    assert!(mounts.data.unwrap().contains_key("sys/"));
}
