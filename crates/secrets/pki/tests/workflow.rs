//! The microservices PKI guide through the engine: an EC root, URLs, a role for
//! `*.svc.example.internal`, issuing, and what relying parties see (openssl verify, CRL, OCSP).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Engine, Scratch, cert_text, openssl, text, verify};
use serde_json::json;

const DOMAIN: &str = "svc.example.internal";

async fn guide() -> (Engine, String, String) {
    let engine = Engine::new();
    let root = engine.ec_root("Example Internal Root CA").await;
    let root_pem = root["certificate"].as_str().unwrap().to_string();
    engine
        .write(
            "config/urls",
            json!({
                "issuing_certificates": "http://127.0.0.1:8200/v1/pki/ca",
                "crl_distribution_points": "http://127.0.0.1:8200/v1/pki/crl",
                "ocsp_servers": "http://127.0.0.1:8200/v1/pki/ocsp",
            }),
        )
        .await;
    engine
        .write(
            "roles/svc",
            json!({
                "allowed_domains": DOMAIN, "allow_subdomains": "true", "client_flag": "true",
                "server_flag": "true", "key_type": "ec", "key_bits": "256", "ttl": "5m", "max_ttl": "5m",
            }),
        )
        .await;
    (engine, root_pem, "svc".into())
}

#[tokio::test]
async fn root_is_a_self_signed_ec_ca_served_without_a_token() {
    let (engine, root_pem, _) = guide().await;
    let scratch = Scratch::new();
    let dump = cert_text(&scratch, &root_pem);
    assert!(dump.contains("Subject: CN = Example Internal Root CA"), "{dump}");
    assert!(dump.contains("prime256v1"), "{dump}");
    assert!(dump.contains("CA:TRUE"), "{dump}");
    assert!(dump.contains("Certificate Sign, CRL Sign"), "{dump}");
    let out = verify(&scratch, &root_pem, &root_pem, &[], None);
    assert!(out.status.success(), "{}", text(&out));
    let (content_type, body) = engine.read_raw("ca/pem").await;
    assert_eq!(content_type, "application/pem-certificate-chain");
    assert_eq!(String::from_utf8(body).unwrap().trim(), root_pem.trim());
    let (content_type, _) = engine.read_raw("ca").await;
    assert_eq!(content_type, "application/pkix-cert");
    let special = engine.backend.special_paths();
    for path in ["ca/pem", "crl", "ocsp", "cert/01:02"] {
        assert!(coffer_framework::SpecialPaths::matches(&special.unauthenticated, path), "{path}");
    }
}

#[tokio::test]
async fn role_reads_back_as_written() {
    let (engine, _, role) = guide().await;
    let data = engine.read_data(&format!("roles/{role}")).await;
    assert_eq!(data["allowed_domains"], json!([DOMAIN]));
    assert_eq!(data["allow_subdomains"], json!(true));
    assert_eq!(data["ttl"], json!(300));
    assert_eq!(data["max_ttl"], json!(300));
    assert_eq!(data["key_usage"], json!(["DigitalSignature", "KeyAgreement", "KeyEncipherment"]));
    let urls = engine.read_data("config/urls").await;
    assert_eq!(urls["ocsp_servers"], json!(["http://127.0.0.1:8200/v1/pki/ocsp"]));
}

#[tokio::test]
async fn issued_ec_leaf_verifies_and_carries_names_usages_and_urls() {
    let (engine, root_pem, role) = guide().await;
    let issued = engine
        .write(
            &format!("issue/{role}"),
            json!({"common_name": format!("web.{DOMAIN}"), "ttl": "5m"}),
        )
        .await;
    assert_eq!(issued["private_key_type"], "ec");
    assert!(issued["private_key"].as_str().unwrap().contains("BEGIN EC PRIVATE KEY"));
    assert_eq!(issued["issuing_ca"].as_str().unwrap().trim(), root_pem.trim());
    assert_eq!(issued["ca_chain"], json!([root_pem.trim()]));
    let serial = issued["serial_number"].as_str().unwrap();
    assert_eq!(serial.split(':').count(), 20);
    let leaf = issued["certificate"].as_str().unwrap();
    let scratch = Scratch::new();
    for purpose in ["sslserver", "sslclient"] {
        let out = verify(&scratch, leaf, &root_pem, &[], Some(purpose));
        assert!(out.status.success(), "{purpose}: {}", text(&out));
    }
    let dump = cert_text(&scratch, leaf);
    assert!(dump.contains(&format!("CN = web.{DOMAIN}")), "{dump}");
    assert!(dump.contains(&format!("DNS:web.{DOMAIN}")), "{dump}");
    assert!(
        dump.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{dump}"
    );
    assert!(dump.contains("Digital Signature, Key Agreement"), "{dump}");
    assert!(
        !dump.contains("Key Encipherment"),
        "EC leaves must not allow key encipherment: {dump}"
    );
    assert!(dump.contains("OCSP - URI:http://127.0.0.1:8200/v1/pki/ocsp"), "{dump}");
    assert!(dump.contains("CA Issuers - URI:http://127.0.0.1:8200/v1/pki/ca"), "{dump}");
    assert!(dump.contains("URI:http://127.0.0.1:8200/v1/pki/crl"), "{dump}");
    assert!(dump.contains("X509v3 Subject Key Identifier"), "{dump}");
    assert!(dump.contains("X509v3 Authority Key Identifier"), "{dump}");
    assert!(!dump.contains("Freshest CRL"), "{dump}");
    let lifetime = issued["expiration"].as_i64().unwrap() - issued["not_before"].as_i64().unwrap();
    assert!((300..=330).contains(&lifetime), "{lifetime}");
    assert!(engine.list("certs/").await.contains(&serial.to_string()));
}

#[tokio::test]
async fn names_outside_the_role_are_refused_with_400_naming_them() {
    let (engine, _, role) = guide().await;
    for (data, name) in [
        (json!({"common_name": "evil.example.com"}), "evil.example.com"),
        (json!({"common_name": format!("web.{DOMAIN}"), "alt_names": "bad.other"}), "bad.other"),
        (json!({"common_name": DOMAIN}), DOMAIN),
    ] {
        let err = engine.write_err(&format!("issue/{role}"), data).await;
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains(name), "{err}");
    }
    let err = engine
        .write_err(
            &format!("issue/{role}"),
            json!({"common_name": format!("a.{DOMAIN}"), "uri_sans": "spiffe://x"}),
        )
        .await;
    assert_eq!(err.status(), 400);
    let err = engine.write_err("issue/nope", json!({"common_name": "x"})).await;
    assert_eq!(err.to_string(), "unknown role: nope");
}

#[tokio::test]
async fn ttl_is_capped_at_the_role_max_with_a_warning_and_refused_past_the_ca() {
    let (engine, _, role) = guide().await;
    let response = engine
        .call(
            coffer_types::Operation::Update,
            &format!("issue/{role}"),
            json!({"common_name": format!("a.{DOMAIN}"), "ttl": "1h"}),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        response.warnings,
        vec!["TTL \"1h0m0s\" is longer than permitted maxTTL \"5m0s\", so maxTTL is being used"]
    );
    engine.write("roles/long", json!({"allow_any_name": true, "key_type": "ec"})).await;
    let err =
        engine.write_err("issue/long", json!({"common_name": "x.test", "ttl": "876000h"})).await;
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("beyond the expiration of the CA certificate"), "{err}");
}

#[tokio::test]
async fn revocation_shows_on_the_crl_and_through_ocsp() {
    let (engine, root_pem, role) = guide().await;
    let good = engine
        .write(&format!("issue/{role}"), json!({"common_name": format!("web.{DOMAIN}")}))
        .await;
    let leaked = engine
        .write(&format!("issue/{role}"), json!({"common_name": format!("leaked.{DOMAIN}")}))
        .await;
    let serial = leaked["serial_number"].as_str().unwrap();
    let revoked = engine.write("revoke", json!({"serial_number": serial})).await;
    assert_eq!(revoked["state"], "revoked");
    assert!(revoked["revocation_time"].as_i64().unwrap() > 0);
    let again = engine.write("revoke", json!({"serial_number": serial})).await;
    assert_eq!(again["revocation_time"], revoked["revocation_time"]);
    let cert = engine.read_data(&format!("cert/{serial}")).await;
    assert!(cert["revocation_time"].as_i64().unwrap() > 0);
    assert_eq!(engine.list("certs/revoked/").await, vec![serial.to_string()]);
    let err = engine.write_err("revoke", json!({"serial_number": "01:02"})).await;
    assert_eq!(err.to_string(), "certificate with serial 01:02 not found.");

    // The CRL: DER, signed by the root, listing only the revoked certificate.
    let scratch = Scratch::new();
    let (content_type, der) = engine.read_raw("crl").await;
    assert_eq!(content_type, "application/pkix-crl");
    let crl = scratch.file("crl.der", &der);
    let ca = scratch.file("ca.pem", format!("{root_pem}\n"));
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
    let hex_serial = serial.replace(':', "").to_uppercase();
    assert!(dump.contains(&hex_serial), "{dump}");
    assert!(
        !dump.contains(&good["serial_number"].as_str().unwrap().replace(':', "").to_uppercase()),
        "{dump}"
    );
    assert!(dump.contains("X509v3 CRL Number"), "{dump}");
    let (content_type, pem) = engine.read_raw("crl/pem").await;
    assert_eq!(content_type, "application/x-pem-file");
    assert!(String::from_utf8(pem).unwrap().starts_with("-----BEGIN X509 CRL-----"));

    // OCSP: requests made by openssl, answered over POST and GET, checked by openssl.
    for (name, issued, expected) in [("good", &good, "good"), ("leaked", &leaked, "revoked")] {
        let leaf = scratch
            .file(&format!("{name}.pem"), format!("{}\n", issued["certificate"].as_str().unwrap()));
        let request = scratch.path(&format!("{name}.req"));
        let out = openssl(&[
            "ocsp",
            "-issuer",
            ca.to_str().unwrap(),
            "-cert",
            leaf.to_str().unwrap(),
            "-no_nonce",
            "-reqout",
            request.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let request_der = std::fs::read(&request).unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&request_der);
        let post = engine
            .call(coffer_types::Operation::Update, "ocsp", json!({"http_raw_body": b64}))
            .await
            .unwrap()
            .unwrap()
            .raw
            .unwrap();
        assert_eq!(post.content_type, "application/ocsp-response");
        let get = engine.read_raw(&format!("ocsp/{b64}")).await.1;
        for body in [post.body, get] {
            let response = scratch.file(&format!("{name}.resp"), &body);
            let out = openssl(&[
                "ocsp",
                "-respin",
                response.to_str().unwrap(),
                "-issuer",
                ca.to_str().unwrap(),
                "-cert",
                leaf.to_str().unwrap(),
                "-VAfile",
                ca.to_str().unwrap(),
                "-no_nonce",
            ]);
            let dump = text(&out);
            assert!(out.status.success(), "{dump}");
            assert!(dump.contains("Response verify OK"), "{dump}");
            assert!(dump.contains(&format!("{}: {expected}", leaf.display())), "{dump}");
        }
    }
    let malformed = engine
        .call(coffer_types::Operation::Update, "ocsp", json!({"http_raw_body": "AAAA"}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(malformed.status, Some(400));
}

#[tokio::test]
async fn delta_crl_urls_and_user_ids_reach_the_certificate() {
    let (engine, _, _) = guide().await;
    engine
        .write("config/urls", json!({"delta_crl_distribution_points": "http://x/v1/pki/crl/delta"}))
        .await;
    engine
        .write(
            "roles/people",
            json!({"allow_any_name": true, "key_type": "ec", "allowed_user_ids": "u-*"}),
        )
        .await;
    let leaf =
        engine.write("issue/people", json!({"common_name": "p.test", "user_ids": "u-42"})).await;
    let scratch = Scratch::new();
    let dump = cert_text(&scratch, leaf["certificate"].as_str().unwrap());
    assert!(dump.contains("Freshest CRL"), "{dump}");
    assert!(dump.contains("URI:http://x/v1/pki/crl/delta"), "{dump}");
    assert!(dump.contains("UID = u-42"), "{dump}");
    let err = engine
        .write_err("issue/people", json!({"common_name": "p.test", "user_ids": "root"}))
        .await;
    assert_eq!(err.to_string(), "user_id root not allowed by this role");
}
