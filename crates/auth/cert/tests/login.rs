//! Cert logins driven through the core, with certificates made by the `openssl` CLI.
//!
//! - `login_issues_a_token_with_the_roles_policies_and_metadata`
//! - `a_certificate_from_another_ca_is_refused`
//! - `a_common_name_not_allowed_is_refused`
//! - `no_certificate_is_refused`
//! - `login_with_a_name_tries_only_that_role`, `login_without_a_name_takes_the_first_match`
//! - `intermediates_come_from_the_client_chain`
//! - `a_pinned_leaf_must_match_exactly`
//! - `a_server_only_certificate_is_refused`
//! - `required_and_metadata_extensions`
//! - `token_bound_cidrs_apply_at_login`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_types::Operation;
use common::*;
use serde_json::{Value, json};

const UNTRUSTED: &str = "invalid certificate or no client certificate supplied";
const NO_MATCH: &str =
    "no chain matching all constraints could be found for this login certificate";

#[tokio::test]
async fn login_issues_a_token_with_the_roles_policies_and_metadata() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let web = pki.client(&ca, "web", "/CN=web.client.test/OU=eng", "");
    let core = core().await;
    write(
        &core,
        "auth/cert/certs/web",
        json!({"certificate": &ca.pem, "token_policies": "web-read", "token_ttl": "1h"}),
    )
    .await;

    let auth = login(&core, Some("web"), &[&web]).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["default", "web-read"]);
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.orphan && auth.renewable);
    assert!(!auth.entity_id.is_empty(), "an entity for the alias (the CN)");
    let metadata = Value::Object(auth.metadata.unwrap());
    assert_eq!(
        metadata,
        json!({
            "authority_key_id": ca.subject_key_id(),
            "cert_name": "web",
            "common_name": "web.client.test",
            "serial_number": SERIAL_DECIMAL,
            "subject_key_id": web.subject_key_id(),
        })
    );
    assert_eq!(web.subject_key_id().split(':').count(), 20, "colon hex: {metadata}");

    let token = auth.client_token.expose().to_string();
    let me = call(&core, Some(&token), Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["display_name"], "cert-web");
    assert_eq!(me["path"], "auth/cert/login");
    assert_eq!(me["meta"]["common_name"], "web.client.test");

    // The same client logs in again as the same entity.
    let again = login(&core, None, &[&web]).await.unwrap().auth.unwrap();
    assert_eq!(again.entity_id, auth.entity_id);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let other_ca = pki.root("other", "Other CA");
    let intruder = pki.client(&other_ca, "intruder", "/CN=web.client.test", "");
    let core = core().await;
    write(&core, "auth/cert/certs/web", json!({"certificate": &ca.pem})).await;
    assert_eq!(refused(&core, Some("web"), &[&intruder]).await, (400, UNTRUSTED.into()));
    assert_eq!(refused(&core, None, &[&intruder]).await, (400, UNTRUSTED.into()));
    // Sending the trusted CA along does not help: the chain must verify.
    assert_eq!(refused(&core, None, &[&intruder, &ca]).await, (400, UNTRUSTED.into()));
}

#[tokio::test]
async fn a_common_name_not_allowed_is_refused() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let web = pki.client(&ca, "web", "/CN=web.client.test", "");
    let core = core().await;
    write(
        &core,
        "auth/cert/certs/api",
        json!({"certificate": &ca.pem, "allowed_common_names": "api.*,db.*"}),
    )
    .await;
    assert_eq!(refused(&core, Some("api"), &[&web]).await, (400, NO_MATCH.into()));
    assert_eq!(refused(&core, None, &[&web]).await, (400, NO_MATCH.into()));
    write(&core, "auth/cert/certs/api", json!({"allowed_common_names": "api.*,web.*"})).await;
    assert!(login(&core, Some("api"), &[&web]).await.is_ok());
}

#[tokio::test]
async fn no_certificate_is_refused() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let core = core().await;
    write(&core, "auth/cert/certs/web", json!({"certificate": &ca.pem})).await;
    let expected = (400, "no client certificate found".to_string());
    assert_eq!(refused(&core, Some("web"), &[]).await, expected);
    assert_eq!(refused(&core, None, &[]).await, expected);
}

/// Roles `a-other` (another CA), `b-web` (only `api.*`), `c-web` and `d-web` (the client's
/// CA, different policies).
async fn four_roles() -> (Pki, Cert, std::sync::Arc<coffer_core::Core>) {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let other_ca = pki.root("other", "Other CA");
    let web = pki.client(&ca, "web", "/CN=web.client.test", "");
    let core = core().await;
    write(
        &core,
        "auth/cert/certs/a-other",
        json!({"certificate": &other_ca.pem, "policies": "other"}),
    )
    .await;
    write(
        &core,
        "auth/cert/certs/b-web",
        json!({"certificate": &ca.pem, "policies": "b", "allowed_common_names": "api.*"}),
    )
    .await;
    write(&core, "auth/cert/certs/c-web", json!({"certificate": &ca.pem, "policies": "c"})).await;
    write(&core, "auth/cert/certs/d-web", json!({"certificate": &ca.pem, "policies": "d"})).await;
    (pki, web, core)
}

#[tokio::test]
async fn login_with_a_name_tries_only_that_role() {
    let (_pki, web, core) = four_roles().await;
    let auth = login(&core, Some("d-web"), &[&web]).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["d", "default"]);
    assert_eq!(auth.metadata.unwrap()["cert_name"], "d-web");
    let auth = login(&core, Some("D-Web"), &[&web]).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["d", "default"], "names are case-insensitive");
    assert_eq!(refused(&core, Some("a-other"), &[&web]).await, (400, UNTRUSTED.into()));
    assert_eq!(refused(&core, Some("b-web"), &[&web]).await, (400, NO_MATCH.into()));
    assert_eq!(refused(&core, Some("missing"), &[&web]).await, (400, UNTRUSTED.into()));
}

#[tokio::test]
async fn login_without_a_name_takes_the_first_match() {
    let (_pki, web, core) = four_roles().await;
    let auth = login(&core, None, &[&web]).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["c", "default"], "a-other does not trust it, b-web refuses it");
    assert_eq!(auth.metadata.unwrap()["cert_name"], "c-web");
}

#[tokio::test]
async fn intermediates_come_from_the_client_chain() {
    let pki = Pki::new();
    let root = pki.root("root", "Root CA");
    let issuing = pki.intermediate(&root, "issuing", "Issuing CA");
    let web = pki.client(&issuing, "web", "/CN=web.client.test", "");
    let core = core().await;
    write(&core, "auth/cert/certs/root", json!({"certificate": &root.pem})).await;
    let auth = login(&core, None, &[&web, &issuing]).await.unwrap().auth.unwrap();
    assert_eq!(auth.metadata.unwrap()["authority_key_id"], issuing.subject_key_id());
    assert_eq!(refused(&core, None, &[&web]).await, (400, UNTRUSTED.into()));

    // Trusting the intermediate itself is enough, without the root.
    write(&core, "auth/cert/certs/root", json!({"certificate": &issuing.pem})).await;
    assert!(login(&core, None, &[&web]).await.is_ok());
}

#[tokio::test]
async fn a_pinned_leaf_must_match_exactly() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let web = pki.client(&ca, "web", "/CN=web.client.test", "");
    let sibling = pki.client(&ca, "sibling", "/CN=web.client.test", "");
    let core = core().await;
    write(&core, "auth/cert/certs/pinned", json!({"certificate": &web.pem, "policies": "pin"}))
        .await;
    let auth = login(&core, None, &[&web]).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["default", "pin"]);
    assert_eq!(auth.metadata.unwrap()["serial_number"], SERIAL_DECIMAL);
    assert_eq!(refused(&core, None, &[&sibling]).await, (400, UNTRUSTED.into()));
}

#[tokio::test]
async fn a_server_only_certificate_is_refused() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let server = pki.issue(
        &ca,
        "server",
        "/CN=web.client.test",
        "basicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n",
        "0x77",
    );
    let core = core().await;
    write(&core, "auth/cert/certs/web", json!({"certificate": &ca.pem})).await;
    assert_eq!(refused(&core, None, &[&server]).await, (400, UNTRUSTED.into()));
    let pinned = call(
        &core,
        Some("root"),
        Operation::Update,
        "auth/cert/certs/pinned",
        json!({"certificate": &server.pem}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        pinned.to_string(),
        "nonCA certificates should have TLS client authentication set as an extended key usage"
    );
}

#[tokio::test]
async fn required_and_metadata_extensions() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let extra = "subjectAltName = DNS:web.internal,email:ops@example.com,URI:spiffe://prod/web\n1.2.3.4 = ASN1:UTF8String:hello\n";
    let web = pki.client(&ca, "web", "/CN=web.client.test/OU=eng", extra);
    let core = core().await;
    let role = json!({
        "certificate": &ca.pem,
        "required_extensions": "1.2.3.4:hel*",
        "allowed_metadata_extensions": "1.2.3.4,9.9.9",
        "allowed_dns_sans": "*.internal",
        "allowed_email_sans": "ops@*",
        "allowed_uri_sans": "spiffe://prod/*",
        "allowed_organizational_units": "eng",
    });
    write(&core, "auth/cert/certs/web", role).await;
    let auth = login(&core, None, &[&web]).await.unwrap().auth.unwrap();
    let metadata = auth.metadata.unwrap();
    assert_eq!(metadata["1-2-3-4"], "hello");
    assert!(!metadata.contains_key("9-9-9"));

    for (field, value) in [
        ("required_extensions", "1.2.3.4:bye"),
        ("required_extensions", "1.2.3.5:*"),
        ("allowed_dns_sans", "*.external"),
        ("allowed_uri_sans", "spiffe://dev/*"),
        ("allowed_organizational_units", "sales"),
        ("allowed_names", "nobody"),
    ] {
        write(&core, "auth/cert/certs/web", json!({ field: value })).await;
        assert_eq!(refused(&core, None, &[&web]).await, (400, NO_MATCH.into()), "{field}");
        write(&core, "auth/cert/certs/web", json!({ field: [] })).await;
    }
    assert!(login(&core, None, &[&web]).await.is_ok());
}

#[tokio::test]
async fn token_bound_cidrs_apply_at_login() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let web = pki.client(&ca, "web", "/CN=web.client.test", "");
    let core = core().await;
    write(
        &core,
        "auth/cert/certs/web",
        json!({"certificate": &ca.pem, "token_bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    let mut req = coffer_types::Request::new(Operation::Update, "auth/cert/login");
    req.peer_certificates = std::sync::Arc::new(vec![web.der.clone()]);
    req.remote_addr = Some("192.168.1.1:5000".parse().unwrap());
    assert_eq!(core.handle(req.clone()).await.unwrap_err().status(), 403);
    req.remote_addr = Some("10.1.1.1:5000".parse().unwrap());
    assert!(core.handle(req).await.is_ok());
}
