//! `sys/tools/random` and `sys/tools/hash`, with the reference's answers and refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use coffer_types::Operation;
use common::{call, dev};
use serde_json::{Value, json};

async fn tool(core: &coffer_core::Core, path: &str, data: Value) -> Result<Value, String> {
    call(core, "root", Operation::Update, path, data)
        .await
        .map(|r| Value::Object(r.data.unwrap()))
        .map_err(|e| format!("{} {e}", e.status()))
}

#[tokio::test]
async fn random_bytes_in_the_asked_size_and_encoding() {
    let core = dev().await;
    let default = tool(&core, "sys/tools/random", json!({})).await.unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(default["random_bytes"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes.len(), 32);
    let again = tool(&core, "sys/tools/random", json!({})).await.unwrap();
    assert_ne!(default, again, "two draws differ");
    let hex = tool(&core, "sys/tools/random", json!({"bytes": 8, "format": "hex"})).await.unwrap();
    assert_eq!(hex["random_bytes"].as_str().unwrap().len(), 16);
    // The count in the URL wins over the body's.
    let url = tool(&core, "sys/tools/random/8", json!({"bytes": 4})).await.unwrap();
    assert_eq!(url["random_bytes"].as_str().unwrap().len(), 12);
    let sourced =
        call(&core, "root", Operation::Update, "sys/tools/random/seal/8", json!({})).await.unwrap();
    assert_eq!(
        sourced.warnings,
        ["no seal/entropy augmentation available, using platform entropy source"]
    );
    for (path, body, error) in [
        (
            "sys/tools/random",
            json!({"format": "bad"}),
            "400 unsupported encoding format \"bad\"; must be \"hex\" or \"base64\"",
        ),
        ("sys/tools/random", json!({"bytes": 0}), "400 'bytes' cannot be less than 1"),
        ("sys/tools/random", json!({"bytes": 200000}), "400 'bytes' should be less than 131072"),
        (
            "sys/tools/random/bogus/8",
            json!({}),
            "400 unsupported entropy source \"bogus\"; must be \"platform\" or \"seal\", or \"all\"",
        ),
    ] {
        assert_eq!(tool(&core, path, body).await.unwrap_err(), error, "{path}");
    }
}

#[tokio::test]
async fn hashes_of_base64_input() {
    let core = dev().await;
    let hello = json!({"input": "aGVsbG8="});
    let sum = |v: Value| v["sum"].as_str().unwrap().to_string();
    assert_eq!(
        sum(tool(&core, "sys/tools/hash", hello.clone()).await.unwrap()),
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    let b64 = json!({"input": "aGVsbG8=", "format": "base64"});
    assert_eq!(
        sum(tool(&core, "sys/tools/hash", b64).await.unwrap()),
        "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
    );
    assert_eq!(
        sum(tool(&core, "sys/tools/hash/sha2-224", hello.clone()).await.unwrap()),
        "ea09ae9cc6768c50fcee903ed054556e5bfc8347907f12598aa24193"
    );
    assert_eq!(
        sum(tool(&core, "sys/tools/hash/sha3-256", hello.clone()).await.unwrap()),
        "3338be694f50c5f338814986cdf0686453a888b84f424d792af4b9202398f392"
    );
    assert_eq!(
        sum(tool(&core, "sys/tools/hash", json!({})).await.unwrap()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let md5 = json!({"input": "aGVsbG8=", "algorithm": "md5"});
    assert_eq!(
        tool(&core, "sys/tools/hash", md5).await.unwrap_err(),
        "400 unsupported algorithm md5"
    );
    let bad = tool(&core, "sys/tools/hash", json!({"input": "@@"})).await.unwrap_err();
    assert!(bad.starts_with("400 unable to decode input as base64"), "{bad}");
    let format = json!({"input": "aGVsbG8=", "format": "x"});
    assert_eq!(
        tool(&core, "sys/tools/hash", format).await.unwrap_err(),
        "400 unsupported encoding format x; must be \"hex\" or \"base64\""
    );
}
