//! The issue path keeps parsed roles and issuers; every change to them must show on the very
//! next issue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Engine, Scratch, cert_text};
use serde_json::json;

#[tokio::test]
async fn role_changes_apply_to_the_next_issue() {
    let engine = Engine::new();
    engine.ec_root("Cache Root").await;
    let role =
        json!({"allowed_domains": "one.internal", "allow_subdomains": true, "key_type": "ec"});
    engine.write("roles/web", role).await;
    engine.write("issue/web", json!({"common_name": "a.one.internal"})).await;

    let role =
        json!({"allowed_domains": "two.internal", "allow_subdomains": true, "key_type": "ec"});
    engine.write("roles/web", role).await;
    let refused = engine.write_err("issue/web", json!({"common_name": "a.one.internal"})).await;
    assert!(refused.to_string().contains("a.one.internal"), "{refused}");
    engine.write("issue/web", json!({"common_name": "a.two.internal"})).await;

    engine.call(coffer_types::Operation::Delete, "roles/web", json!({})).await.unwrap();
    let gone = engine.write_err("issue/web", json!({"common_name": "a.two.internal"})).await;
    assert!(gone.to_string().contains("unknown role"), "{gone}");
}

#[tokio::test]
async fn issuer_and_url_changes_apply_to_the_next_issue() {
    let engine = Engine::new();
    let first = engine.ec_root("First Root").await;
    engine.write("roles/web", json!({"allow_any_name": true, "key_type": "ec"})).await;
    let leaf = engine.write("issue/web", json!({"common_name": "a.internal"})).await;
    assert_eq!(leaf["issuing_ca"], first["certificate"]);

    let second = engine
        .write(
            "root/generate/internal",
            json!({"common_name": "Second Root", "key_type": "ec", "issuer_name": "second"}),
        )
        .await;
    engine.write("config/issuers", json!({"default": "second"})).await;
    engine
        .write("config/urls", json!({"crl_distribution_points": "http://127.0.0.1:1/v1/pki/crl"}))
        .await;
    let leaf = engine.write("issue/web", json!({"common_name": "b.internal"})).await;
    assert_eq!(leaf["issuing_ca"], second["certificate"]);
    let scratch = Scratch::new();
    let dump = cert_text(&scratch, leaf["certificate"].as_str().unwrap());
    assert!(dump.contains("Issuer: CN = Second Root"), "{dump}");
    assert!(dump.contains("http://127.0.0.1:1/v1/pki/crl"), "{dump}");

    engine.write("issuer/second", json!({"usage": "read-only,crl-signing"})).await;
    let refused = engine.write_err("issue/web", json!({"common_name": "c.internal"})).await;
    assert!(refused.to_string().contains("not allowed to issue"), "{refused}");
}
