//! Transit through the core, as a client sees it: keys and their versions, encrypt/decrypt/
//! rewrap, data keys, HMACs, signatures, batches, and the reference's refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Request, Response};
use serde_json::{Value, json};

async fn core() -> Arc<Core> {
    let registry = Registry::new().secrets("transit", coffer_transit::factory);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("transit/", "transit", "", ""), false).await.unwrap();
    core
}

async fn call(core: &Core, op: Operation, path: &str, data: Value) -> Result<Response, Error> {
    let req = Request::new(op, format!("transit/{path}"))
        .with_token("root")
        .with_data(data.as_object().cloned().unwrap_or_default());
    core.handle(req).await
}

async fn write(core: &Core, path: &str, data: Value) -> Value {
    Value::Object(call(core, Operation::Update, path, data).await.unwrap().data.unwrap())
}

fn error(result: Result<Response, Error>) -> String {
    result.unwrap_err().to_string()
}

#[tokio::test]
async fn encrypt_decrypt_rotate_and_rewrap() {
    let core = core().await;
    let key = write(&core, "keys/app", json!({})).await;
    assert_eq!(key["type"], "aes256-gcm96");
    assert_eq!(
        (key["latest_version"].clone(), key["supports_encryption"].clone()),
        (json!(1), json!(true))
    );
    let hello = json!({"plaintext": "aGVsbG8="});
    let sealed = write(&core, "encrypt/app", hello.clone()).await;
    let ciphertext = sealed["ciphertext"].as_str().unwrap().to_string();
    assert!(ciphertext.starts_with("vault:v1:"), "{ciphertext}");
    let again = write(&core, "encrypt/app", hello).await;
    assert_ne!(again["ciphertext"], sealed["ciphertext"], "a fresh nonce each time");
    let opened = write(&core, "decrypt/app", json!({"ciphertext": ciphertext})).await;
    assert_eq!(opened["plaintext"], "aGVsbG8=");

    let rotated = write(&core, "keys/app/rotate", json!({})).await;
    assert_eq!(rotated["latest_version"], 2);
    assert_eq!(rotated["keys"].as_object().unwrap().len(), 2);
    let rewrapped = write(&core, "rewrap/app", json!({"ciphertext": ciphertext})).await;
    let newer = rewrapped["ciphertext"].as_str().unwrap().to_string();
    assert!(newer.starts_with("vault:v2:"), "{newer}");
    write(&core, "keys/app/config", json!({"min_decryption_version": 2})).await;
    let old =
        call(&core, Operation::Update, "decrypt/app", json!({"ciphertext": ciphertext})).await;
    assert_eq!(error(old), "ciphertext or signature version is disallowed by policy (too old)");
    assert_eq!(
        write(&core, "decrypt/app", json!({"ciphertext": newer})).await["plaintext"],
        "aGVsbG8="
    );

    // Tampering, garbage and unknown keys are refused with the reference's words.
    let mut tampered = newer.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let bad = call(&core, Operation::Update, "decrypt/app", json!({"ciphertext": tampered})).await;
    assert_eq!(bad.unwrap_err().status(), 400);
    for (ciphertext, message) in [
        ("garbage", "invalid ciphertext: no prefix"),
        ("vault:v2:AAAA", "invalid ciphertext length"),
    ] {
        let r =
            call(&core, Operation::Update, "decrypt/app", json!({"ciphertext": ciphertext})).await;
        assert_eq!(error(r), message);
    }
    let nokey = call(&core, Operation::Update, "decrypt/none", json!({"ciphertext": newer})).await;
    assert_eq!(error(nokey), "encryption key not found");

    // Deletion must be allowed first.
    let refused = call(&core, Operation::Delete, "keys/app", json!({})).await;
    assert_eq!(error(refused), "error deleting policy app: deletion is not allowed for this key");
    write(&core, "keys/app/config", json!({"deletion_allowed": true})).await;
    call(&core, Operation::Delete, "keys/app", json!({})).await.unwrap();
    assert!(
        call(&core, Operation::Read, "keys/app", json!({}))
            .await
            .unwrap_or_default()
            .data
            .is_none()
    );
}

#[tokio::test]
async fn batches_upserts_and_data_keys() {
    let core = core().await;
    // Encrypting with an unknown key creates it, of the type asked for.
    let batch = json!({"type": "chacha20-poly1305", "batch_input": [
        {"plaintext": "b25l", "reference": "a"}, {"plaintext": "dHdv"}]});
    let sealed = write(&core, "encrypt/fresh", batch).await;
    let results = sealed["batch_results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["reference"], "a");
    let key = write(&core, "keys/fresh", json!({})).await;
    assert_eq!(key["type"], "chacha20-poly1305");
    let items: Vec<Value> =
        results.iter().map(|r| json!({"ciphertext": r["ciphertext"]})).collect();
    let mut with_bad = items.clone();
    with_bad.push(json!({"ciphertext": "nope"}));
    let opened = call(&core, Operation::Update, "decrypt/fresh", json!({"batch_input": with_bad}))
        .await
        .unwrap();
    assert_eq!(opened.status, Some(400), "a failed item fails the batch, results kept");
    let opened = opened.data.unwrap();
    let opened = opened["batch_results"].as_array().unwrap();
    assert_eq!(
        (opened[0]["plaintext"].clone(), opened[1]["plaintext"].clone()),
        (json!("b25l"), json!("dHdv"))
    );
    assert_eq!(opened[2]["error"], "invalid ciphertext: no prefix");

    let data_key = write(&core, "datakey/plaintext/fresh", json!({"bits": 128})).await;
    let plain = data_key["plaintext"].as_str().unwrap();
    let unwrapped =
        write(&core, "decrypt/fresh", json!({"ciphertext": data_key["ciphertext"]})).await;
    assert_eq!(unwrapped["plaintext"], plain);
    let wrapped = write(&core, "datakey/wrapped/fresh", json!({})).await;
    assert!(wrapped.get("plaintext").is_none());
}

#[tokio::test]
async fn hmacs_and_signatures() {
    let core = core().await;
    write(&core, "keys/mac", json!({})).await;
    let input = json!({"input": "aGVsbG8="});
    let tag = write(&core, "hmac/mac/sha2-512", input.clone()).await["hmac"].clone();
    assert!(tag.as_str().unwrap().starts_with("vault:v1:"));
    let ok = write(&core, "verify/mac/sha2-512", json!({"input": "aGVsbG8=", "hmac": tag})).await;
    assert_eq!(ok["valid"], true);
    let wrong = write(&core, "verify/mac/sha2-512", json!({"input": "aGk=", "hmac": tag})).await;
    assert_eq!(wrong["valid"], false);

    for key_type in ["ed25519", "ecdsa-p256"] {
        let key = write(&core, &format!("keys/{key_type}"), json!({"type": key_type})).await;
        assert_eq!(key["supports_signing"], true);
        assert!(key["keys"]["1"]["public_key"].as_str().is_some_and(|k| !k.is_empty()));
        let signed = write(&core, &format!("sign/{key_type}"), input.clone()).await;
        let signature = signed["signature"].clone();
        let check = |input: &str| json!({"input": input, "signature": signature});
        let valid = write(&core, &format!("verify/{key_type}"), check("aGVsbG8=")).await;
        assert_eq!(valid["valid"], true, "{key_type}");
        let invalid = write(&core, &format!("verify/{key_type}"), check("aGk=")).await;
        assert_eq!(invalid["valid"], false, "{key_type}");
    }
    let not_signing = call(&core, Operation::Update, "sign/mac", input).await;
    assert_eq!(error(not_signing), "key type aes256-gcm96 does not support signing");
    // An encrypt creates only keys that encrypt, and nothing when it refuses.
    let upsert = json!({"plaintext": "aGk=", "type": "ed25519"});
    let refused = call(&core, Operation::Update, "encrypt/nope", upsert).await;
    assert_eq!(error(refused), "unknown key type ed25519");
    let absent = call(&core, Operation::Read, "keys/nope", json!({})).await;
    assert!(absent.is_err() || absent.unwrap().data.is_none());
    let derived = call(&core, Operation::Update, "keys/d", json!({"derived": true})).await;
    assert_eq!(derived.unwrap_err().status(), 400);
}

#[tokio::test]
async fn refusals_and_auto_rotation() {
    let core = core().await;
    write(&core, "keys/k", json!({})).await;
    for (path, body, message) in [
        ("encrypt/k", json!({}), "missing plaintext to encrypt"),
        ("decrypt/k", json!({}), "missing ciphertext to decrypt"),
        ("hmac/k", json!({}), "missing input for HMAC"),
        ("keys/h", json!({"type": "hmac", "key_size": 5}), "invalid key_size 5"),
        ("keys/h", json!({"type": "hmac", "key_size": 100_000}), "invalid key_size 100000"),
        (
            "keys/r",
            json!({"auto_rotate_period": "10m"}),
            "auto rotate period must be 0 to disable or at least an hour",
        ),
    ] {
        let result = call(&core, Operation::Update, path, body).await;
        assert_eq!(error(result), message, "{path}");
    }
    write(&core, "keys/e", json!({"type": "ecdsa-p256"})).await;
    let prehashed = json!({"input": "aGk=", "prehashed": true});
    let refused = call(&core, Operation::Update, "sign/e", prehashed).await;
    assert_eq!(error(refused), "prehashed input is not supported by this server");
    let hmac_key = write(&core, "keys/h", json!({"type": "hmac", "key_size": 64})).await;
    assert_eq!(hmac_key["type"], "hmac");

    // A key whose period has run out rotates on its next use.
    write(&core, "keys/k/config", json!({"auto_rotate_period": "1h"})).await;
    let fresh = write(&core, "encrypt/k", json!({"plaintext": "aGk="})).await;
    assert_eq!(fresh["key_version"], 1, "not due yet");
    let read = call(&core, Operation::Read, "keys/k", json!({})).await.unwrap();
    assert_eq!(read.data.unwrap()["auto_rotate_period"], 3600);
}
