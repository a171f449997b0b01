//! Revocation beyond the guide: revoke-with-key, delta CRLs, CRL config, OCSP edge cases,
//! leases, tidy and re-signing self-issued roots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use coffer_types::Operation;
use common::{Engine, Scratch, openssl, text, verify};
use serde_json::{Value, json};

async fn setup() -> (Engine, Value) {
    let engine = Engine::new();
    let root = engine.ec_root("Root").await;
    engine
        .write("roles/r", json!({"allow_any_name": true, "key_type": "ec", "max_ttl": "1h"}))
        .await;
    (engine, root)
}

fn crl_text(scratch: &Scratch, der: &[u8], root: &Value) -> String {
    let crl = scratch.file("x.crl", der);
    let ca = scratch.file("ca.pem", format!("{}\n", root["certificate"].as_str().unwrap()));
    let out = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-CAfile",
        ca.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    let dump = text(&out);
    assert!(out.status.success() && dump.contains("verify OK"), "{dump}");
    dump
}

#[tokio::test]
async fn revoke_with_key_needs_the_matching_key() {
    let (engine, _) = setup().await;
    let a = engine.write("issue/r", json!({"common_name": "a.test"})).await;
    let b = engine.write("issue/r", json!({"common_name": "b.test"})).await;
    let err = engine
        .write_err(
            "revoke-with-key",
            json!({"serial_number": a["serial_number"], "private_key": b["private_key"]}),
        )
        .await;
    assert_eq!(err.to_string(), "failed to validate private key match with certificate");
    let ok = engine
        .write(
            "revoke-with-key",
            json!({"certificate": a["certificate"], "private_key": a["private_key"]}),
        )
        .await;
    assert_eq!(ok["state"], "revoked");
    let both = engine
        .write_err("revoke", json!({"serial_number": "01", "certificate": a["certificate"]}))
        .await;
    assert_eq!(both.status(), 400);
    let root_serial = engine.read_data("issuer/default").await;
    let root_cert = root_serial["certificate"].as_str().unwrap().to_string();
    let err = engine.write_err("revoke", json!({"certificate": root_cert})).await;
    assert!(err.to_string().contains("its own CRL"), "{err}");
}

#[tokio::test]
async fn delta_crls_carry_new_revocations_until_the_next_full_crl() {
    let (engine, root) = setup().await;
    let first = engine.write("issue/r", json!({"common_name": "a.test"})).await;
    engine.write("revoke", json!({"serial_number": first["serial_number"]})).await;
    let config = engine
        .write("config/crl", json!({"auto_rebuild": true, "enable_delta": true, "expiry": "48h"}))
        .await;
    assert_eq!(config["expiry"], "48h");
    assert_eq!(config["delta_rebuild_interval"], "15m");
    let second = engine.write("issue/r", json!({"common_name": "b.test"})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    engine.write("revoke", json!({"serial_number": second["serial_number"]})).await;
    let scratch = Scratch::new();
    let (_, delta) = engine.read_raw("crl/delta").await;
    let dump = crl_text(&scratch, &delta, &root);
    assert!(dump.contains("Delta CRL Indicator: critical"), "{dump}");
    let hex = |v: &Value| v.as_str().unwrap().replace(':', "").to_uppercase();
    assert!(dump.contains(&hex(&second["serial_number"])), "{dump}");
    let (_, full) = engine.read_raw("crl").await;
    let dump = crl_text(&scratch, &full, &root);
    assert!(dump.contains(&hex(&first["serial_number"])), "{dump}");
    let rotated = engine.read_data("crl/rotate").await;
    assert_eq!(rotated["success"], true);
    let (_, full) = engine.read_raw("crl").await;
    let dump = crl_text(&scratch, &full, &root);
    assert!(dump.contains(&hex(&second["serial_number"])), "{dump}");
    let pem = engine.read_data(&format!("issuer/{}/crl", "default")).await;
    assert!(pem["crl"].as_str().unwrap().starts_with("-----BEGIN X509 CRL-----"));
    let err = engine.write_err("config/crl", json!({"auto_rebuild": false})).await;
    assert!(err.to_string().contains("delta"), "{err}");
}

#[tokio::test]
async fn with_delta_crls_off_an_empty_delta_crl_follows_each_full_crl() {
    let (engine, root) = setup().await;
    let leaf = engine.write("issue/r", json!({"common_name": "a.test"})).await;
    engine.write("revoke", json!({"serial_number": leaf["serial_number"]})).await;
    let scratch = Scratch::new();
    let number = |dump: &str, label: &str| {
        let after = dump.split(label).nth(1).unwrap_or_default();
        after.split_whitespace().next().unwrap_or_default().to_string()
    };
    let (_, full) = engine.read_raw("crl").await;
    let full = crl_text(&scratch, &full, &root);
    let hex = leaf["serial_number"].as_str().unwrap().replace(':', "").to_uppercase();
    assert!(full.contains(&hex), "{full}");
    for path in ["crl/delta", "issuer/default/crl/delta/der"] {
        let (content_type, delta) = engine.read_raw(path).await;
        assert_eq!(content_type, "application/pkix-crl");
        let delta = crl_text(&scratch, &delta, &root);
        assert!(delta.contains("Delta CRL Indicator: critical"), "{delta}");
        assert!(!delta.contains(&hex), "the full CRL already lists it: {delta}");
        let base = number(&delta, "Delta CRL Indicator: critical");
        assert_eq!(base, number(&full, "CRL Number:"), "{delta}");
    }
    let (content_type, pem) = engine.read_raw("crl/delta/pem").await;
    assert_eq!(content_type, "application/x-pem-file");
    assert!(String::from_utf8_lossy(&pem).starts_with("-----BEGIN X509 CRL-----"));
    let json = engine.read_data("cert/delta-crl").await;
    assert!(json["certificate"].as_str().unwrap().starts_with("-----BEGIN X509 CRL-----"));
    let rotated = engine.read("crl/rotate-delta").await.unwrap();
    assert_eq!(
        rotated.warnings,
        ["requested rebuild of delta CRL when delta CRL is not enabled; this is a no-op"]
    );
}

#[tokio::test]
async fn ocsp_answers_unknown_for_foreign_issuers_and_unauthorized_when_disabled() {
    let (engine, root) = setup().await;
    let other = Engine::new();
    let other_root = other.ec_root("Other").await;
    other.write("roles/r", json!({"allow_any_name": true, "key_type": "ec"})).await;
    let foreign = other.write("issue/r", json!({"common_name": "x.test", "ttl": "1h"})).await;
    let scratch = Scratch::new();
    let ca = scratch.file("ca.pem", format!("{}\n", other_root["certificate"].as_str().unwrap()));
    let our_ca = scratch.file("ours.pem", format!("{}\n", root["certificate"].as_str().unwrap()));
    let leaf = scratch.file("leaf.pem", format!("{}\n", foreign["certificate"].as_str().unwrap()));
    let req = scratch.path("req.der");
    let out = openssl(&[
        "ocsp",
        "-issuer",
        ca.to_str().unwrap(),
        "-cert",
        leaf.to_str().unwrap(),
        "-no_nonce",
        "-reqout",
        req.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let body = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&req).unwrap());
    let answer = engine
        .call(Operation::Update, "ocsp", json!({"http_raw_body": body}))
        .await
        .unwrap()
        .unwrap();
    let resp = scratch.file("resp.der", answer.raw.unwrap().body);
    let out = openssl(&[
        "ocsp",
        "-respin",
        resp.to_str().unwrap(),
        "-issuer",
        ca.to_str().unwrap(),
        "-cert",
        leaf.to_str().unwrap(),
        "-VAfile",
        our_ca.to_str().unwrap(),
        "-no_nonce",
    ]);
    assert!(text(&out).contains(": unknown"), "{}", text(&out));
    engine.write("config/crl", json!({"ocsp_disable": true})).await;
    let answer = engine
        .call(Operation::Update, "ocsp", json!({"http_raw_body": body}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.status, Some(401));
    assert_eq!(answer.raw.unwrap().body, vec![0x30, 0x03, 0x0a, 0x01, 0x06]);
}

#[tokio::test]
async fn leases_revoke_their_certificates() {
    let (engine, _) = setup().await;
    engine
        .write(
            "roles/leased",
            json!({"allow_any_name": true, "key_type": "ec", "generate_lease": true}),
        )
        .await;
    let response = engine
        .call(Operation::Update, "issue/leased", json!({"common_name": "l.test", "ttl": "10m"}))
        .await
        .unwrap()
        .unwrap();
    let secret = response.secret.expect("a lease");
    assert!(!secret.renewable);
    assert!((590..=600).contains(&secret.ttl), "{}", secret.ttl);
    let serial = response.data.unwrap()["serial_number"].as_str().unwrap().to_string();
    let request = coffer_framework::SecretRequest {
        lease_id: "pki/issue/leased/x".into(),
        internal: secret.internal,
        increment: 0,
        issue_time: 0,
        storage: engine.storage.clone(),
        mount_point: "pki/".into(),
    };
    engine.backend.revoke_secret(request).await.unwrap();
    assert!(
        engine.read_data(&format!("cert/{serial}")).await["revocation_time"].as_i64().unwrap() > 0
    );
}

#[tokio::test]
async fn tidy_removes_expired_certificates_and_revocations() {
    let (engine, root) = setup().await;
    engine.write("roles/short", json!({"allow_any_name": true, "key_type": "ec", "ttl": "1s", "not_before_duration": 0})).await;
    let short = engine.write("issue/short", json!({"common_name": "s.test"})).await;
    engine.write("revoke", json!({"serial_number": short["serial_number"]})).await;
    let long = engine.write("issue/r", json!({"common_name": "l.test"})).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let none = engine.call(Operation::Update, "tidy", json!({})).await.unwrap().unwrap();
    assert_eq!(none.status, Some(202));
    assert!(none.warnings[0].contains("No targets"), "{:?}", none.warnings);
    let started = engine
        .call(
            Operation::Update,
            "tidy",
            json!({"tidy_cert_store": true, "tidy_revoked_certs": true, "safety_buffer": "0s"}),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(started.status, Some(202));
    let mut status = Value::Null;
    for _ in 0..100 {
        status = engine.read_data("tidy-status").await;
        if status["state"] != "Running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status["state"], "Finished", "{status}");
    assert_eq!(status["cert_store_deleted_count"], 1, "{status}");
    assert_eq!(status["revoked_cert_deleted_count"], 1, "{status}");
    let certs = engine.list("certs/").await;
    assert!(!certs.contains(&short["serial_number"].as_str().unwrap().to_string()));
    assert!(certs.contains(&long["serial_number"].as_str().unwrap().to_string()));
    assert!(engine.list_maybe("certs/revoked/").await.is_empty());
    let scratch = Scratch::new();
    let (_, crl) = engine.read_raw("crl").await;
    assert!(
        !crl_text(&scratch, &crl, &root)
            .contains(&short["serial_number"].as_str().unwrap().replace(':', "").to_uppercase())
    );
    let auto = engine
        .write(
            "config/auto-tidy",
            json!({"enabled": true, "tidy_cert_store": true, "interval_duration": "1h"}),
        )
        .await;
    assert_eq!(auto["interval_duration"], 3600);
    assert_eq!(auto["safety_buffer"], 259200);
    assert_eq!(engine.read_data("config/auto-tidy").await["enabled"], true);
}

#[tokio::test]
async fn sign_self_issued_cross_signs_another_root() {
    let (engine, root) = setup().await;
    let other = Engine::new();
    let new_root = other.ec_root("New Root").await;
    let signed = engine
        .write("root/sign-self-issued", json!({"certificate": new_root["certificate"]}))
        .await;
    let scratch = Scratch::new();
    let out = verify(
        &scratch,
        signed["certificate"].as_str().unwrap(),
        root["certificate"].as_str().unwrap(),
        &[],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let leaf = engine.write("issue/r", json!({"common_name": "x.test"})).await;
    let err = engine
        .write_err("root/sign-self-issued", json!({"certificate": leaf["certificate"]}))
        .await;
    assert_eq!(err.to_string(), "given certificate is not self-issued");
}
