//! KV v1: objects stored verbatim, the `ttl` refresh hint, delete, list, existence.
//!
//! - `roundtrip_is_verbatim_with_ttl_hint`, `ttl_hint_forms`
//! - `writes_are_validated_but_open`, `delete_and_list`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_types::{Error, Operation};
use common::{Kv, body, error_of};
use serde_json::{Value, json};

async fn lease_duration(kv: &Kv, path: &str) -> i64 {
    let response = kv.read(path).await.unwrap().unwrap();
    let lease = response.lease.expect("v1 reads carry a lease hint");
    assert_eq!(lease.lease_id, "");
    assert!(!lease.renewable);
    lease.lease_duration
}

#[tokio::test]
async fn roundtrip_is_verbatim_with_ttl_hint() {
    let kv = Kv::v1();
    assert_eq!(kv.exists("foo").await, Some(false));
    let secret = json!({"a": 1, "ttl": "30m", "n": {"x": [1, null]}, "s": "text"});
    assert!(kv.write("foo", secret.clone()).await.unwrap().is_none(), "PUT answers 204");
    assert_eq!(kv.exists("foo").await, Some(true));
    let response = kv.read("foo").await.unwrap().unwrap();
    assert_eq!(body(&response), secret);
    assert_eq!(response.status, None);
    assert_eq!(lease_duration(&kv, "foo").await, 1800);

    // A write replaces the whole object.
    kv.write("foo", json!({"b": 2})).await.unwrap();
    assert_eq!(kv.get("foo").await, json!({"b": 2}));
    assert_eq!(lease_duration(&kv, "foo").await, 2_764_800, "the default mount TTL");
}

#[tokio::test]
async fn ttl_hint_forms() {
    let kv = Kv::v1();
    let cases = [
        (json!({"a": 1, "ttl": 90}), 90),
        (json!({"a": 1, "ttl": "90"}), 90),
        (json!({"a": 1, "ttl": "1h30m"}), 5400),
        (json!({"a": 1, "lease": "1h"}), 3600),
        (json!({"a": 1, "ttl": "bogus"}), 2_764_800),
    ];
    for (secret, expected) in cases {
        kv.write("t", secret.clone()).await.unwrap();
        assert_eq!(lease_duration(&kv, "t").await, expected, "{secret}");
        assert_eq!(kv.get("t").await, secret, "the ttl key is kept as written");
    }
}

#[tokio::test]
async fn writes_are_validated_but_open() {
    let kv = Kv::v1();
    assert_eq!(error_of(kv.write("foo", json!({})).await), "missing data fields");
    assert_eq!(
        error_of(kv.write("dir/", json!({"a": 1})).await),
        "cannot write to a path ending in '/'"
    );
    assert_eq!(
        error_of(kv.write("", json!({"a": 1})).await),
        "cannot write to a path ending in '/'"
    );
    // Any field is accepted without the unrecognized-parameters warning.
    let answer =
        kv.write("foo", json!({"anything": 1, "data": {"x": 1}, "options": true})).await.unwrap();
    assert!(answer.is_none());
    assert_eq!(
        kv.call(Operation::Patch, "foo", json!({"a": 1})).await.err(),
        Some(Error::UnsupportedOperation)
    );
}

#[tokio::test]
async fn delete_and_list() {
    let kv = Kv::v1();
    for key in ["foo", "bar", "dir/q", "dir/deeper/r"] {
        kv.write(key, json!({"k": key})).await.unwrap();
    }
    let keys = |r: Option<coffer_types::Response>| body(&r.unwrap())["keys"].clone();
    assert_eq!(keys(kv.list("").await.unwrap()), json!(["bar", "dir/", "foo"]));
    assert_eq!(keys(kv.list("dir/").await.unwrap()), json!(["deeper/", "q"]));
    assert_eq!(keys(kv.list("dir").await.unwrap()), json!(["deeper/", "q"]));
    assert_eq!(keys(kv.list("none/").await.unwrap()), json!([]));

    assert!(kv.delete("foo").await.unwrap().is_none(), "DELETE answers 204");
    assert_eq!(kv.read("foo").await.err(), Some(Error::NotFound));
    assert!(kv.delete("foo").await.unwrap().is_none(), "and is idempotent");
    assert_eq!(kv.read("missing").await.err(), Some(Error::NotFound));
    assert_eq!(keys(kv.list("").await.unwrap()), json!(["bar", "dir/"]));
    assert_eq!(kv.get("dir/q").await, json!({"k": "dir/q"}));
    let _: Value = kv.get("bar").await;
}
