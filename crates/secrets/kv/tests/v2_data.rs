//! KV v2 `config` and `data/`: shapes, check-and-set, max_versions, merge patch,
//! delete_version_after and concurrent writers.
//!
//! - config: `config_defaults_and_updates`
//! - data read/write: `write_then_read_shapes`, `versions_and_missing_reads`, `write_validation`
//! - check-and-set: `cas_zero_match_and_mismatch`, `cas_required_by_mount_or_key`
//! - max_versions: `max_versions_prunes_oldest`, `key_max_versions_and_default_window`
//! - patch: `patch_merges_into_latest`, `patch_of_missing_or_deleted_latest`
//! - delete_version_after: `delete_version_after_expires_versions`
//! - concurrency: `concurrent_writers_get_distinct_versions`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use coffer_types::{Error, Operation};
use common::{Kv, body, error_of, is_timestamp, redact};
use serde_json::{Value, json};

#[tokio::test]
async fn config_defaults_and_updates() {
    let kv = Kv::v2();
    let defaults = json!({"cas_required": false, "delete_version_after": "0s", "max_versions": 0,
                          "metadata_cas_required": false});
    assert_eq!(kv.get("config").await, defaults);
    assert_eq!(kv.exists("config").await, Some(true), "config is never a create");

    // The CLI sends strings: weak typing applies.
    let written = kv
        .write(
            "config",
            json!({"max_versions": "5", "cas_required": "true", "delete_version_after": "1h"}),
        )
        .await
        .unwrap();
    assert!(written.is_none(), "POST config answers 204");
    assert_eq!(
        kv.get("config").await,
        json!({"cas_required": true, "delete_version_after": "1h0m0s", "max_versions": 5,
               "metadata_cas_required": false})
    );

    // Partial updates keep the other settings; a negative delay disables the feature.
    kv.write("config", json!({"delete_version_after": "-5s"})).await.unwrap();
    assert_eq!(kv.get("config").await["delete_version_after"], json!("-1s"));
    assert_eq!(kv.get("config").await["max_versions"], json!(5));
    kv.write("config", json!({"delete_version_after": 0, "cas_required": false})).await.unwrap();
    assert_eq!(kv.get("config").await["delete_version_after"], json!("0s"));

    assert!(
        error_of(kv.write("config", json!({"max_versions": -1})).await).contains("max_versions")
    );
    assert!(
        error_of(kv.write("config", json!({"cas_required": "maybe"})).await)
            .contains("cas_required")
    );
}

#[tokio::test]
async fn write_then_read_shapes() {
    let kv = Kv::v2();
    assert_eq!(kv.exists("data/foo").await, Some(false));
    let written = kv
        .write("data/foo", json!({"data": {"a": "b", "n": {"x": 1, "y": [1, 2]}}}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written.status, None);
    assert!(written.warnings.is_empty());
    let metadata = body(&written);
    assert_eq!(
        redact(metadata.clone()),
        json!({"created_time": "<time>", "custom_metadata": null, "deletion_time": "", "destroyed": false,
               "version": 1})
    );
    assert!(is_timestamp(metadata["created_time"].as_str().unwrap()));
    assert_eq!(kv.exists("data/foo").await, Some(true));

    let read = kv.get("data/foo").await;
    assert_eq!(read, json!({"data": {"a": "b", "n": {"x": 1, "y": [1, 2]}}, "metadata": metadata}));

    // Any JSON object is a valid secret, nested values included, and comes back verbatim.
    kv.put("foo", json!({"list": [1, {"x": null}], "flag": true, "n": 1.5})).await;
    assert_eq!(
        kv.get("data/foo").await["data"],
        json!({"list": [1, {"x": null}], "flag": true, "n": 1.5})
    );
}

#[tokio::test]
async fn versions_and_missing_reads() {
    let kv = Kv::v2();
    assert_eq!(kv.put("foo", json!({"v": 1})).await, 1);
    assert_eq!(kv.put("foo", json!({"v": 2})).await, 2);
    assert_eq!(kv.get("data/foo").await["data"], json!({"v": 2}));
    let first = body(&kv.read_with("data/foo", json!({"version": "1"})).await.unwrap().unwrap());
    assert_eq!(first["data"], json!({"v": 1}));
    assert_eq!(first["metadata"]["version"], json!(1));
    let latest = body(&kv.read_with("data/foo", json!({"version": 0})).await.unwrap().unwrap());
    assert_eq!(latest["metadata"]["version"], json!(2));

    assert_eq!(kv.read_with("data/foo", json!({"version": 7})).await.err(), Some(Error::NotFound));
    assert_eq!(kv.read("data/nope").await.err(), Some(Error::NotFound));
    assert_eq!(kv.read("data/").await.err(), Some(Error::NotFound));
    assert!(
        error_of(kv.read_with("data/foo", json!({"version": "abc"})).await).contains("version")
    );
}

#[tokio::test]
async fn write_validation() {
    let kv = Kv::v2();
    assert_eq!(error_of(kv.write("data/foo", json!({"a": "b"})).await), "no data provided");
    assert_eq!(error_of(kv.write("data/foo", json!({})).await), "no data provided");
    assert!(error_of(kv.write("data/foo", json!({"data": "str"})).await).contains("\"data\""));
    assert_eq!(
        error_of(kv.write("data/", json!({"data": {"a": 1}})).await),
        "cannot write to a path ending in '/'"
    );
    assert_eq!(
        error_of(kv.write("data/dir/", json!({"data": {"a": 1}})).await),
        "cannot write to a path ending in '/'"
    );
    let warned = kv.write("data/foo", json!({"data": {"a": 1}, "foo": 1})).await.unwrap().unwrap();
    assert_eq!(
        warned.warnings,
        vec!["Endpoint ignored these unrecognized parameters: [foo]".to_string()]
    );
    assert_eq!(body(&warned)["version"], json!(1));
    assert_eq!(
        kv.call(Operation::List, "data/", json!({})).await.err(),
        Some(Error::UnsupportedOperation)
    );
}

#[tokio::test]
async fn cas_zero_match_and_mismatch() {
    let kv = Kv::v2();
    let mismatch = "check-and-set parameter did not match the current version";
    let with_cas = |cas: Value| json!({"data": {"k": "v"}, "options": {"cas": cas}});
    let written = kv.write("data/c", with_cas(json!(0))).await.unwrap().unwrap();
    assert_eq!(body(&written)["version"], json!(1), "cas 0 creates an absent key");
    assert_eq!(error_of(kv.write("data/c", with_cas(json!(0))).await), mismatch);
    assert_eq!(
        body(&kv.write("data/c", with_cas(json!(1))).await.unwrap().unwrap())["version"],
        json!(2)
    );
    assert_eq!(
        body(&kv.write("data/c", with_cas(json!("2"))).await.unwrap().unwrap())["version"],
        json!(3)
    );
    assert_eq!(error_of(kv.write("data/c", with_cas(json!(5))).await), mismatch);
    assert_eq!(error_of(kv.write("data/c", with_cas(json!(-1))).await), mismatch);
    assert_eq!(
        error_of(kv.write("data/c", with_cas(json!("x"))).await),
        "error parsing check-and-set parameter"
    );
    assert_eq!(kv.metadata("c").await["current_version"], json!(3), "failed writes store nothing");
}

#[tokio::test]
async fn cas_required_by_mount_or_key() {
    let required = "check-and-set parameter required for this call";
    let kv = Kv::v2();
    kv.write("config", json!({"cas_required": true})).await.unwrap();
    assert_eq!(error_of(kv.write("data/a", json!({"data": {"x": 1}})).await), required);
    assert_eq!(kv.patch("data/a", json!({"data": {"x": 1}})).await.err(), Some(Error::NotFound));
    kv.write("data/a", json!({"data": {"x": 1}, "options": {"cas": 0}})).await.unwrap();
    assert_eq!(error_of(kv.patch("data/a", json!({"data": {"x": 2}})).await), required);

    let kv = Kv::v2();
    kv.put("b", json!({"x": 1})).await;
    kv.write("metadata/b", json!({"cas_required": true})).await.unwrap();
    assert_eq!(error_of(kv.write("data/b", json!({"data": {"x": 2}})).await), required);
    kv.write("data/b", json!({"data": {"x": 2}, "options": {"cas": 1}})).await.unwrap();
    assert_eq!(kv.put("other", json!({"x": 1})).await, 1, "other keys are not affected");
}

/// Number of version data entries kept in storage for one key.
async fn stored_versions(kv: &Kv) -> usize {
    let mut count = 0;
    for folder in kv.storage.list("versions/").await.unwrap() {
        count += kv.storage.list(&format!("versions/{folder}")).await.unwrap().len();
    }
    count
}

#[tokio::test]
async fn max_versions_prunes_oldest() {
    let kv = Kv::v2();
    kv.write("config", json!({"max_versions": 3})).await.unwrap();
    for i in 1..=2 {
        kv.put("m", json!({"i": i})).await;
    }
    assert_eq!(kv.metadata("m").await["oldest_version"], json!(0));
    kv.put("m", json!({"i": 3})).await;
    // The window is full: Vault reports 1 as the oldest version from here on.
    assert_eq!(kv.metadata("m").await["oldest_version"], json!(1));
    for i in 4..=5 {
        kv.put("m", json!({"i": i})).await;
    }
    let meta = kv.metadata("m").await;
    assert_eq!(meta["current_version"], json!(5));
    assert_eq!(meta["oldest_version"], json!(3));
    let kept: Vec<&String> = meta["versions"].as_object().unwrap().keys().collect();
    assert_eq!(kept, vec!["3", "4", "5"]);
    assert_eq!(stored_versions(&kv).await, 3, "data of pruned versions is deleted");
    assert_eq!(kv.read_with("data/m", json!({"version": 2})).await.err(), Some(Error::NotFound));
    assert_eq!(
        body(&kv.read_with("data/m", json!({"version": 3})).await.unwrap().unwrap())["data"],
        json!({"i": 3})
    );
}

#[tokio::test]
async fn key_max_versions_and_default_window() {
    let kv = Kv::v2();
    for i in 1..=12 {
        kv.put("d", json!({"i": i})).await;
    }
    let meta = kv.metadata("d").await;
    assert_eq!(meta["versions"].as_object().unwrap().len(), 10, "max_versions 0 keeps 10");
    assert_eq!(meta["oldest_version"], json!(3));

    // The window is the larger of the key's and the mount's setting, as in OpenBao.
    let kv = Kv::v2();
    kv.write("config", json!({"max_versions": 3})).await.unwrap();
    kv.write("metadata/k", json!({"max_versions": 5})).await.unwrap();
    kv.write("metadata/s", json!({"max_versions": 1})).await.unwrap();
    for i in 1..=7 {
        kv.put("k", json!({"i": i})).await;
        kv.put("s", json!({"i": i})).await;
    }
    assert_eq!(kv.metadata("k").await["versions"].as_object().unwrap().len(), 5);
    assert_eq!(kv.metadata("k").await["oldest_version"], json!(3));
    assert_eq!(kv.metadata("s").await["versions"].as_object().unwrap().len(), 3);
}

#[tokio::test]
async fn patch_merges_into_latest() {
    let kv = Kv::v2();
    kv.put("p", json!({"a": "1", "n": {"x": 1, "y": 2}, "keep": true})).await;
    let patched = kv
        .patch(
            "data/p",
            json!({"data": {"a": null, "n": {"x": null, "z": 3}, "new": "v", "absent": null}}),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        redact(body(&patched)),
        json!({"created_time": "<time>", "custom_metadata": null, "deletion_time": "", "destroyed": false,
               "version": 2})
    );
    assert_eq!(
        kv.get("data/p").await["data"],
        json!({"n": {"y": 2, "z": 3}, "keep": true, "new": "v"})
    );
    let first = body(&kv.read_with("data/p", json!({"version": 1})).await.unwrap().unwrap());
    assert_eq!(
        first["data"],
        json!({"a": "1", "n": {"x": 1, "y": 2}, "keep": true}),
        "patch adds a version"
    );

    let with_cas = kv
        .patch("data/p", json!({"data": {"b": 1}, "options": {"cas": 2}}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body(&with_cas)["version"], json!(3));
    assert_eq!(
        error_of(kv.patch("data/p", json!({"data": {"b": 1}, "options": {"cas": 1}})).await),
        "check-and-set parameter did not match the current version"
    );
    assert_eq!(
        error_of(kv.patch("data/p", json!({"options": {"cas": 3}})).await),
        "no data provided"
    );
}

#[tokio::test]
async fn patch_of_missing_or_deleted_latest() {
    let kv = Kv::v2();
    assert_eq!(kv.patch("data/none", json!({"data": {"a": 1}})).await.err(), Some(Error::NotFound));
    kv.put("p", json!({"a": 1})).await;
    kv.put("p", json!({"a": 2})).await;
    kv.delete("data/p").await.unwrap();
    let answer = kv.patch("data/p", json!({"data": {"a": 3}})).await.unwrap().unwrap();
    assert_eq!(answer.status, Some(404));
    // The 404 of a patch carries the version metadata itself, not {data, metadata}.
    assert_eq!(
        redact(body(&answer)),
        json!({"created_time": "<time>", "custom_metadata": null, "deletion_time": "<time>", "destroyed": false,
               "version": 2})
    );
    assert_eq!(kv.metadata("p").await["current_version"], json!(2), "nothing was written");

    kv.write("metadata/only", json!({"max_versions": 2})).await.unwrap();
    assert_eq!(kv.patch("data/only", json!({"data": {"a": 1}})).await.err(), Some(Error::NotFound));
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let kv = Kv::v2();
    kv.write("metadata/later", json!({"delete_version_after": "1h"})).await.unwrap();
    let written = body(&kv.write("data/later", json!({"data": {"a": 1}})).await.unwrap().unwrap());
    let created = humantime::parse_rfc3339(written["created_time"].as_str().unwrap()).unwrap();
    let deletion = humantime::parse_rfc3339(written["deletion_time"].as_str().unwrap()).unwrap();
    assert_eq!(deletion.duration_since(created).unwrap(), Duration::from_secs(3600));
    assert_eq!(
        kv.get("data/later").await["data"],
        json!({"a": 1}),
        "a future deletion time is still live"
    );

    kv.write("config", json!({"delete_version_after": "1s"})).await.unwrap();
    kv.put("soon", json!({"a": 1})).await;
    let live = kv.get("data/soon").await;
    assert_eq!(live["data"], json!({"a": 1}));
    assert!(is_timestamp(live["metadata"]["deletion_time"].as_str().unwrap()));
    // The key's own 1h is longer than the mount's 1s: the smaller delay applies.
    let later = body(&kv.write("data/later", json!({"data": {"a": 2}})).await.unwrap().unwrap());
    let created = humantime::parse_rfc3339(later["created_time"].as_str().unwrap()).unwrap();
    let deletion = humantime::parse_rfc3339(later["deletion_time"].as_str().unwrap()).unwrap();
    assert_eq!(deletion.duration_since(created).unwrap(), Duration::from_secs(1));

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = kv.read("data/soon").await.unwrap().unwrap();
    assert_eq!(expired.status, Some(404));
    assert_eq!(body(&expired)["data"], Value::Null);
    assert_eq!(body(&expired)["metadata"]["version"], json!(1));

    // Undelete restores the version with a fresh deletion time.
    kv.write("undelete/soon", json!({"versions": [1]})).await.unwrap();
    assert_eq!(kv.get("data/soon").await["data"], json!({"a": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_get_distinct_versions() {
    let kv = Arc::new(Kv::v2());
    let writers = 40;
    let mut tasks = Vec::new();
    for i in 0..writers {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move { kv.put("hot", json!({"writer": i})).await }));
    }
    let mut versions = BTreeSet::new();
    for task in tasks {
        assert!(versions.insert(task.await.unwrap()), "two writers got the same version");
    }
    assert_eq!(versions, (1..=writers).collect::<BTreeSet<u64>>());
    let meta = kv.metadata("hot").await;
    assert_eq!(meta["current_version"], json!(writers));
    assert_eq!(meta["versions"].as_object().unwrap().len(), 10);
    assert_eq!(stored_versions(&kv).await, 10);
}
