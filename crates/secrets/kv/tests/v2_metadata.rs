//! KV v2 `metadata/`, `subkeys/`, listing, paths outside the versioned API, and the factory.
//!
//! - metadata read: `metadata_read_shape`
//! - metadata write: `metadata_write_sets_settings_without_a_version`, `custom_metadata_in_data_responses`
//! - metadata patch: `metadata_patch_merges_fields`
//! - metadata check-and-set: `metadata_cas`
//! - metadata delete: `metadata_delete_removes_every_version`
//! - list: `list_keys_and_folders`
//! - subkeys: `subkeys_with_depth_and_version`
//! - other paths: `non_prefixed_paths_answer_404_with_warning`, `factory_picks_the_version`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_types::{Error, Operation};
use common::{Kv, body, error_of, redact};
use serde_json::{Value, json};

#[tokio::test]
async fn metadata_read_shape() {
    let kv = Kv::v2();
    kv.put("foo", json!({"a": 1})).await;
    kv.put("foo", json!({"a": 2})).await;
    kv.write("destroy/foo", json!({"versions": [1]})).await.unwrap();
    kv.delete("data/foo").await.unwrap();
    assert_eq!(
        redact(kv.metadata("foo").await),
        json!({"cas_required": false, "created_time": "<time>", "current_metadata_version": 0,
               "current_version": 2, "custom_metadata": null, "delete_version_after": "0s",
               "max_versions": 0, "metadata_cas_required": false, "oldest_version": 0,
               "updated_time": "<time>",
               "versions": {"1": {"created_time": "<time>", "deletion_time": "", "destroyed": true},
                            "2": {"created_time": "<time>", "deletion_time": "<time>", "destroyed": false}}})
    );
    let meta = kv.metadata("foo").await;
    assert_eq!(meta["created_time"], meta["versions"]["1"]["created_time"]);
    assert_eq!(
        meta["updated_time"], meta["versions"]["2"]["created_time"],
        "deletes do not touch updated_time"
    );
    assert_eq!(kv.read("metadata/none").await.err(), Some(Error::NotFound));
}

#[tokio::test]
async fn metadata_write_sets_settings_without_a_version() {
    let kv = Kv::v2();
    assert_eq!(kv.exists("metadata/new").await, Some(false));
    assert!(kv.write("metadata/new", json!({})).await.unwrap().is_none());
    assert_eq!(
        kv.exists("metadata/new").await,
        Some(false),
        "a write without settings creates nothing"
    );

    let written = kv
        .write(
            "metadata/new",
            json!({"max_versions": "3", "cas_required": true, "delete_version_after": "1h30m",
                   "custom_metadata": {"owner": "me", "n": 5, "on": true}}),
        )
        .await
        .unwrap();
    assert!(written.is_none(), "metadata write answers 204");
    assert_eq!(kv.exists("metadata/new").await, Some(true));
    assert_eq!(kv.exists("data/new").await, Some(true));
    assert_eq!(
        redact(kv.metadata("new").await),
        json!({"cas_required": true, "created_time": "<time>", "current_metadata_version": 1,
               "current_version": 0, "custom_metadata": {"n": "5", "on": "1", "owner": "me"},
               "delete_version_after": "1h30m0s", "max_versions": 3, "metadata_cas_required": false,
               "oldest_version": 0, "updated_time": "<time>", "versions": {}})
    );
    assert_eq!(kv.read("data/new").await.err(), Some(Error::NotFound), "no version was created");

    // Only the given settings change; every write bumps current_metadata_version.
    kv.write("metadata/new", json!({"cas_required": false})).await.unwrap();
    let meta = kv.metadata("new").await;
    assert_eq!(
        (meta["cas_required"].clone(), meta["max_versions"].clone()),
        (json!(false), json!(3))
    );
    assert_eq!(meta["current_metadata_version"], json!(2));
    kv.write("metadata/new", json!({"custom_metadata": {}})).await.unwrap();
    assert_eq!(kv.metadata("new").await["custom_metadata"], Value::Null);

    assert!(
        error_of(kv.write("metadata/new", json!({"delete_version_after": "-1h"})).await)
            .contains("negative")
    );
    assert!(
        error_of(kv.write("metadata/new", json!({"custom_metadata": {"a": ""}})).await)
            .starts_with("custom_metadata validation failed")
    );
    assert!(
        error_of(kv.write("metadata/new", json!({"custom_metadata": {"a": {"b": 1}}})).await)
            .starts_with("custom_metadata validation failed")
    );
    assert_eq!(
        error_of(kv.write("metadata/", json!({"max_versions": 1})).await),
        "cannot write to a path ending in '/'"
    );

    // A key may not switch off what the mount mandates: Vault warns (so the answer is a 200).
    kv.write("config", json!({"cas_required": true})).await.unwrap();
    let warned = kv.write("metadata/new", json!({"cas_required": false})).await.unwrap().unwrap();
    assert_eq!(
        warned.warnings,
        vec![
            "\"cas_required\" set to false, but is mandated by backend config. This value will be ignored."
        ]
    );
}

#[tokio::test]
async fn custom_metadata_in_data_responses() {
    let kv = Kv::v2();
    kv.write("metadata/c", json!({"custom_metadata": {"team": "core"}})).await.unwrap();
    let written = kv
        .write("data/c", json!({"data": {"a": 1}, "options": {"cas": 0}}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body(&written)["custom_metadata"], json!({"team": "core"}));
    assert_eq!(body(&written)["version"], json!(1));
    assert_eq!(kv.get("data/c").await["metadata"]["custom_metadata"], json!({"team": "core"}));
    assert_eq!(
        body(&kv.read("subkeys/c").await.unwrap().unwrap())["metadata"]["custom_metadata"],
        json!({"team": "core"})
    );
}

#[tokio::test]
async fn metadata_patch_merges_fields() {
    let kv = Kv::v2();
    assert_eq!(
        kv.patch("metadata/none", json!({"max_versions": 3})).await.err(),
        Some(Error::NotFound)
    );
    kv.put("p", json!({"a": 1})).await;
    kv.write(
        "metadata/p",
        json!({"max_versions": 4, "cas_required": true, "custom_metadata": {"owner": "me", "n": "5"}}),
    )
    .await
    .unwrap();
    let patched = kv
        .patch(
            "metadata/p",
            json!({"custom_metadata": {"owner": null, "team": "x"}, "max_versions": 6}),
        )
        .await
        .unwrap();
    assert!(patched.is_none(), "metadata patch answers 204");
    let meta = kv.metadata("p").await;
    assert_eq!(meta["custom_metadata"], json!({"n": "5", "team": "x"}));
    assert_eq!(meta["max_versions"], json!(6));
    assert_eq!(meta["cas_required"], json!(true), "fields not in the patch are kept");
    assert_eq!(meta["current_version"], json!(1), "no version is created");
    assert_eq!(meta["current_metadata_version"], json!(2));

    // null resets a setting; a null map clears the custom metadata.
    kv.patch("metadata/p", json!({"cas_required": null, "custom_metadata": null})).await.unwrap();
    let meta = kv.metadata("p").await;
    assert_eq!(
        (meta["cas_required"].clone(), meta["custom_metadata"].clone()),
        (json!(false), Value::Null)
    );
    assert!(
        error_of(kv.patch("metadata/p", json!({"custom_metadata": {"a": [1]}})).await)
            .starts_with("custom_metadata validation failed")
    );
}

#[tokio::test]
async fn metadata_cas() {
    let kv = Kv::v2();
    kv.put("m", json!({"a": 1})).await;
    kv.write("metadata/m", json!({"metadata_cas_required": true})).await.unwrap();
    assert_eq!(kv.metadata("m").await["metadata_cas_required"], json!(true));
    let required = "metadata check-and-set parameter required for this call";
    let mismatch = "metadata check-and-set parameter does not match the current version";
    assert_eq!(error_of(kv.write("metadata/m", json!({"max_versions": 4})).await), required);
    assert_eq!(error_of(kv.patch("metadata/m", json!({"max_versions": 4})).await), required);
    assert_eq!(
        error_of(kv.write("metadata/m", json!({"max_versions": 4, "metadata_cas": 0})).await),
        mismatch
    );
    kv.write("metadata/m", json!({"max_versions": 4, "metadata_cas": 1})).await.unwrap();
    kv.patch("metadata/m", json!({"metadata_cas_required": false, "metadata_cas": "2"}))
        .await
        .unwrap();
    kv.write("metadata/m", json!({"max_versions": 5})).await.unwrap();
    // Given without being required, it is still checked.
    assert_eq!(
        error_of(kv.write("metadata/m", json!({"max_versions": 6, "metadata_cas": 9})).await),
        mismatch
    );
    assert_eq!(kv.metadata("m").await["max_versions"], json!(5));
    // Data writes do not count as metadata writes.
    kv.put("m", json!({"a": 2})).await;
    assert_eq!(kv.metadata("m").await["current_metadata_version"], json!(4));
}

#[tokio::test]
async fn metadata_delete_removes_every_version() {
    let kv = Kv::v2();
    for i in 0..3 {
        kv.put("gone", json!({"i": i})).await;
    }
    kv.put("stays", json!({"i": 1})).await;
    assert!(kv.delete("metadata/gone").await.unwrap().is_none());
    assert_eq!(kv.read("metadata/gone").await.err(), Some(Error::NotFound));
    assert_eq!(kv.read("data/gone").await.err(), Some(Error::NotFound));
    assert_eq!(kv.read_with("data/gone", json!({"version": 1})).await.err(), Some(Error::NotFound));
    assert_eq!(
        kv.storage.list("versions/").await.unwrap().len(),
        1,
        "only the other key's data is left"
    );
    assert_eq!(body(&kv.list("metadata/").await.unwrap().unwrap()), json!({"keys": ["stays"]}));
    assert!(kv.delete("metadata/gone").await.unwrap().is_none(), "deleting twice is fine");

    // The key starts over at version 1.
    assert_eq!(kv.put("gone", json!({"i": 9})).await, 1);
}

#[tokio::test]
async fn list_keys_and_folders() {
    let kv = Kv::v2();
    for key in ["foo", "app/db", "app/x/y", "zeta"] {
        kv.put(key, json!({"a": 1})).await;
    }
    kv.write("metadata/meta-only", json!({"max_versions": 1})).await.unwrap();
    let keys = |r: Option<coffer_types::Response>| body(&r.unwrap())["keys"].clone();
    assert_eq!(
        keys(kv.list("metadata/").await.unwrap()),
        json!(["app/", "foo", "meta-only", "zeta"])
    );
    assert_eq!(keys(kv.list("metadata/app/").await.unwrap()), json!(["db", "x/"]));
    assert_eq!(keys(kv.list("metadata/app").await.unwrap()), json!(["db", "x/"]));
    assert_eq!(keys(kv.list("metadata/app/x/").await.unwrap()), json!(["y"]));
    // No keys: an empty list, which the core turns into a 404.
    assert_eq!(keys(kv.list("metadata/none/").await.unwrap()), json!([]));

    let page = kv.call(Operation::List, "metadata/", json!({"limit": 2})).await.unwrap();
    assert_eq!(keys(page), json!(["app/", "foo"]));
    let page =
        kv.call(Operation::List, "metadata/", json!({"after": "foo", "limit": "2"})).await.unwrap();
    assert_eq!(keys(page), json!(["meta-only", "zeta"]));
}

#[tokio::test]
async fn subkeys_with_depth_and_version() {
    let kv = Kv::v2();
    kv.put("s", json!({"pw": {"n2": {"a": 1}, "nested": [1, 2], "empty": {}}, "user": "x"})).await;
    kv.put("s", json!({"only": "v2"})).await;
    let read = |query: Value| {
        let kv = &kv;
        async move { body(&kv.read_with("subkeys/s", query).await.unwrap().unwrap()) }
    };
    let full = read(json!({"version": 1})).await;
    assert_eq!(
        redact(full),
        json!({"metadata": {"created_time": "<time>", "custom_metadata": null, "deletion_time": "",
                            "destroyed": false, "version": 1},
               "subkeys": {"pw": {"n2": {"a": null}, "nested": null, "empty": null}, "user": null}})
    );
    assert_eq!(
        read(json!({"version": 1, "depth": 1})).await["subkeys"],
        json!({"pw": null, "user": null})
    );
    assert_eq!(
        read(json!({"version": "1", "depth": "2"})).await["subkeys"],
        json!({"pw": {"n2": null, "nested": null, "empty": null}, "user": null})
    );
    assert_eq!(read(json!({})).await["subkeys"], json!({"only": null}));
    assert_eq!(kv.read_with("subkeys/s", json!({"version": 9})).await.err(), Some(Error::NotFound));
    assert_eq!(kv.read("subkeys/none").await.err(), Some(Error::NotFound));

    kv.delete("data/s").await.unwrap();
    let deleted = kv.read("subkeys/s").await.unwrap().unwrap();
    assert_eq!(deleted.status, Some(404));
    assert_eq!(
        redact(body(&deleted)),
        json!({"metadata": {"created_time": "<time>", "custom_metadata": null, "deletion_time": "<time>",
                            "destroyed": false, "version": 2},
               "subkeys": null})
    );
}

#[tokio::test]
async fn non_prefixed_paths_answer_404_with_warning() {
    let kv = Kv::v2();
    kv.put("foo", json!({"a": 1})).await;
    let warning = |command: &str| {
        format!(
            "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API \
             endpoints to use. If using the Vault CLI, use 'vault kv {command}' for this operation."
        )
    };
    let cases = [
        (Operation::Read, "foo", "get"),
        (Operation::Update, "foo", "put"),
        (Operation::Create, "foo", "put"),
        (Operation::Patch, "foo", "patch"),
        (Operation::Delete, "foo", "delete"),
        (Operation::List, "foo/", "list"),
        (Operation::Read, "", "get"),
        (Operation::Read, "subkeys", "get"),
        (Operation::Read, "data2", "get"),
    ];
    for (operation, path, command) in cases {
        let answer = kv.call(operation, path, json!({"a": 1})).await.unwrap().unwrap();
        assert_eq!(answer.status, Some(404), "{operation:?} {path}");
        assert_eq!(answer.data, None, "data is null");
        assert_eq!(answer.warnings, vec![warning(command)], "{operation:?} {path}");
    }
    for path in ["data", "metadata", "delete", "undelete", "destroy"] {
        let answer =
            kv.call(Operation::Update, path, json!({"data": {"a": 1}})).await.unwrap().unwrap();
        assert_eq!(answer.status, Some(404), "{path}");
        assert_eq!(
            answer.warnings,
            vec!["Non-listing operations on the root of a K/V v2 mount are not supported."]
        );
    }
    assert_eq!(kv.get("data/foo").await["data"], json!({"a": 1}), "the versioned paths still work");
}

#[tokio::test]
async fn factory_picks_the_version() {
    for options in
        [json!({}), json!({"version": "1"}), json!({"version": 1}), json!({"version": ""})]
    {
        let kv = Kv::with_options(options.clone()).unwrap();
        kv.write("foo", json!({"a": 1})).await.unwrap();
        assert_eq!(kv.get("foo").await, json!({"a": 1}), "{options} is v1");
    }
    for options in [json!({"version": "2"}), json!({"version": 2})] {
        let kv = Kv::with_options(options.clone()).unwrap();
        assert_eq!(kv.get("config").await["max_versions"], json!(0), "{options} is v2");
    }
    assert!(Kv::with_options(json!({"version": "3"})).is_err());
}
