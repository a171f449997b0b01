//! KV v2 soft delete, `delete/`, `undelete/`, `destroy/`, and the 404 that carries a body.
//!
//! - `DELETE data/x`: `soft_delete_of_latest_answers_404_with_body`
//! - `delete/` and `undelete/`: `delete_and_undelete_listed_versions`
//! - `destroy/`: `destroy_wipes_data_for_good`
//! - errors and no-ops: `version_lists_are_validated`, `missing_keys_and_versions_are_no_ops`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_types::{Error, Operation};
use common::{Kv, body, error_of, is_timestamp, redact};
use serde_json::{Value, json};

async fn two_versions() -> Kv {
    let kv = Kv::v2();
    kv.put("x", json!({"v": 1})).await;
    kv.put("x", json!({"v": 2})).await;
    kv
}

async fn read_version(kv: &Kv, version: u64) -> coffer_types::Response {
    kv.read_with("data/x", json!({ "version": version })).await.unwrap().unwrap()
}

#[tokio::test]
async fn soft_delete_of_latest_answers_404_with_body() {
    let kv = two_versions().await;
    assert!(kv.delete("data/x").await.unwrap().is_none(), "DELETE answers 204");

    let answer = kv.read("data/x").await.unwrap().unwrap();
    assert_eq!(answer.status, Some(404));
    assert_eq!(
        redact(body(&answer)),
        json!({"data": null, "metadata": {"created_time": "<time>", "custom_metadata": null,
               "deletion_time": "<time>", "destroyed": false, "version": 2}})
    );
    assert_eq!(
        body(&read_version(&kv, 1).await)["data"],
        json!({"v": 1}),
        "older versions stay readable"
    );

    let meta = kv.metadata("x").await;
    assert!(is_timestamp(meta["versions"]["2"]["deletion_time"].as_str().unwrap()));
    assert_eq!(meta["versions"]["1"]["deletion_time"], json!(""));

    // Deleting again keeps the first deletion time.
    let first_deletion = meta["versions"]["2"]["deletion_time"].clone();
    kv.delete("data/x").await.unwrap();
    assert_eq!(kv.metadata("x").await["versions"]["2"]["deletion_time"], first_deletion);

    // A new write is live again.
    kv.put("x", json!({"v": 3})).await;
    assert_eq!(kv.get("data/x").await["data"], json!({"v": 3}));
}

#[tokio::test]
async fn delete_and_undelete_listed_versions() {
    let kv = two_versions().await;
    assert!(kv.write("delete/x", json!({"versions": [1, "2"]})).await.unwrap().is_none());
    assert_eq!(read_version(&kv, 1).await.status, Some(404));
    assert_eq!(read_version(&kv, 2).await.status, Some(404));

    assert!(kv.write("undelete/x", json!({"versions": ["1"]})).await.unwrap().is_none());
    let restored = read_version(&kv, 1).await;
    assert_eq!(restored.status, None);
    assert_eq!(body(&restored)["data"], json!({"v": 1}));
    assert_eq!(body(&restored)["metadata"]["deletion_time"], json!(""));
    assert_eq!(read_version(&kv, 2).await.status, Some(404));

    // The CLI sends a comma-separated string.
    kv.write("undelete/x", json!({"versions": "1,2"})).await.unwrap();
    assert_eq!(kv.get("data/x").await["data"], json!({"v": 2}));
    kv.write("delete/x", json!({"versions": "2"})).await.unwrap();
    assert_eq!(kv.read("data/x").await.unwrap().unwrap().status, Some(404));
}

#[tokio::test]
async fn destroy_wipes_data_for_good() {
    let kv = two_versions().await;
    assert!(kv.write("destroy/x", json!({"versions": [1]})).await.unwrap().is_none());
    let answer = read_version(&kv, 1).await;
    assert_eq!(answer.status, Some(404));
    assert_eq!(
        redact(body(&answer)),
        json!({"data": null, "metadata": {"created_time": "<time>", "custom_metadata": null,
               "deletion_time": "", "destroyed": true, "version": 1}})
    );
    let meta = kv.metadata("x").await;
    assert_eq!(
        redact(meta["versions"]["1"].clone()),
        json!({"created_time": "<time>", "deletion_time": "", "destroyed": true})
    );

    // The data is gone from storage: only version 2 remains under versions/.
    let folders = kv.storage.list("versions/").await.unwrap();
    assert_eq!(folders.len(), 1);
    let kept = kv.storage.list(&format!("versions/{}", folders[0])).await.unwrap();
    assert_eq!(kept, vec!["2".to_string()]);

    // Undelete cannot bring it back; a soft-deleted version can still be destroyed.
    kv.write("undelete/x", json!({"versions": [1]})).await.unwrap();
    assert_eq!(read_version(&kv, 1).await.status, Some(404));
    kv.delete("data/x").await.unwrap();
    kv.write("destroy/x", json!({"versions": [2]})).await.unwrap();
    let latest = kv.read("data/x").await.unwrap().unwrap();
    assert_eq!(latest.status, Some(404));
    assert_eq!(body(&latest)["metadata"]["destroyed"], json!(true));
    // Subkeys of a destroyed version answer the same way.
    let subkeys = kv.read("subkeys/x").await.unwrap().unwrap();
    assert_eq!(subkeys.status, Some(404));
    assert_eq!(body(&subkeys)["subkeys"], Value::Null);
}

#[tokio::test]
async fn version_lists_are_validated() {
    let kv = two_versions().await;
    assert_eq!(error_of(kv.write("delete/x", json!({})).await), "No version number provided");
    assert_eq!(
        error_of(kv.write("undelete/x", json!({"versions": []})).await),
        "No version number provided"
    );
    assert_eq!(error_of(kv.write("destroy/x", json!({})).await), "no version number provided");
    assert_eq!(
        error_of(kv.write("delete/x", json!({"versions": ["x"]})).await),
        "error converting input for field \"versions\": cannot parse 'x' as int"
    );
    assert_eq!(
        kv.call(Operation::Delete, "destroy/x", json!({})).await.err(),
        Some(Error::UnsupportedOperation)
    );
    assert_eq!(
        kv.call(Operation::Read, "delete/x", json!({})).await.err(),
        Some(Error::UnsupportedOperation)
    );
}

#[tokio::test]
async fn missing_keys_and_versions_are_no_ops() {
    let kv = two_versions().await;
    let before = kv.metadata("x").await;
    for path in ["delete/x", "undelete/x", "destroy/x"] {
        assert!(kv.write(path, json!({"versions": [0, 99, -1]})).await.unwrap().is_none());
    }
    assert_eq!(kv.metadata("x").await, before);
    for path in ["delete/none", "undelete/none", "destroy/none"] {
        assert!(kv.write(path, json!({"versions": [1]})).await.unwrap().is_none());
    }
    assert!(kv.delete("data/none").await.unwrap().is_none());
    assert_eq!(kv.read("metadata/none").await.err(), Some(Error::NotFound));
    assert_eq!(kv.exists("data/none").await, Some(false), "no-ops create nothing");
}
