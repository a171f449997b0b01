//! Trusted certificates and config through the core: what writes accept and refuse, and the
//! shape of reads (compared with OpenBao 2.7's answers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_types::Operation;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn write_read_list_delete() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let core = core().await;
    let bad = call(
        &core,
        Some("root"),
        Operation::Update,
        "auth/cert/certs/bad",
        json!({"certificate": "nope"}),
    )
    .await
    .unwrap_err();
    assert_eq!((bad.status(), bad.to_string()), (400, "failed to parse certificate".into()));
    let missing = call(
        &core,
        Some("root"),
        Operation::Update,
        "auth/cert/certs/bad",
        json!({"display_name": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.to_string(), "failed to parse certificate");

    let response = write(
        &core,
        "auth/cert/certs/Web",
        json!({"certificate": &ca.pem, "policies": "b,a", "ttl": "1h"}),
    )
    .await;
    assert!(response.warnings.is_empty(), "{:?}", response.warnings);
    let mut got = read(&core, "auth/cert/certs/web").await.unwrap();
    assert_eq!(got["certificate"], ca.pem.as_str());
    got["certificate"] = json!("...");
    let expected = json!({
        "allowed_common_names": null, "allowed_dns_sans": null, "allowed_email_sans": null,
        "allowed_metadata_extensions": null, "allowed_names": null,
        "allowed_organizational_units": null, "allowed_uri_sans": null, "certificate": "...",
        "display_name": "web", "ocsp_ca_certificates": "", "ocsp_enabled": false,
        "ocsp_fail_open": false, "ocsp_query_all_servers": false, "ocsp_servers_override": null,
        "policies": ["a", "b"], "required_extensions": null, "token_bound_cidrs": [],
        "token_explicit_max_ttl": 0, "token_max_ttl": 0, "token_no_default_policy": false,
        "token_num_uses": 0, "token_period": 0, "token_policies": ["a", "b"],
        "token_strictly_bind_ip": false, "token_ttl": 3600, "token_type": "default", "ttl": 3600,
    });
    assert_eq!(got, expected);

    // An update keeps what it does not carry; an empty list reads as [] rather than null.
    write(
        &core,
        "auth/cert/certs/web",
        json!({"allowed_common_names": "", "display_name": "Hello", "token_policies": "c"}),
    )
    .await;
    let got = read(&core, "auth/cert/certs/web").await.unwrap();
    assert_eq!(got["allowed_common_names"], json!([]));
    assert_eq!(got["display_name"], "Hello");
    assert_eq!(got["token_policies"], json!(["c"]));
    // Set through token_policies, the legacy name is dropped (as the reference reads it);
    // the legacy ttl, not touched, stays.
    assert!(got.get("policies").is_none(), "{got}");
    assert_eq!(got["ttl"], 3600);
    assert_eq!(got["certificate"], ca.pem.as_str());

    write(&core, "auth/cert/certs/api", json!({"certificate": &ca.pem})).await;
    let list =
        call(&core, Some("root"), Operation::List, "auth/cert/certs/", json!({})).await.unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["api", "web"]));
    call(&core, Some("root"), Operation::Delete, "auth/cert/certs/WEB", json!({})).await.unwrap();
    assert_eq!(read(&core, "auth/cert/certs/web").await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn writes_refuse_what_would_not_be_honoured() {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let core = core().await;
    let cases = [
        (json!({"ocsp_enabled": true}), "OCSP checking is not supported"),
        (json!({"required_extensions": "1.2.3.4"}), "expected <oid>:<value>"),
        (json!({"token_ttl": "2h", "token_max_ttl": "1h"}), "cannot be greater"),
        (json!({"token_ttl": "soon"}), "token_ttl"),
    ];
    for (mut body, expected) in cases {
        body["certificate"] = Value::String(ca.pem.clone());
        let err = call(&core, Some("root"), Operation::Update, "auth/cert/certs/web", body.clone())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400, "{body}");
        assert!(err.to_string().contains(expected), "{body}: {err}");
    }
    assert_eq!(read(&core, "auth/cert/certs/web").await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn config_defaults_and_updates() {
    let core = core().await;
    let defaults = json!({"disable_binding": false, "enable_identity_alias_metadata": false, "ocsp_cache_size": 0});
    assert_eq!(read(&core, "auth/cert/config").await.unwrap(), defaults);
    write(&core, "auth/cert/config", json!({"enable_identity_alias_metadata": "true"})).await;
    write(&core, "auth/cert/config", json!({"ocsp_cache_size": 5})).await;
    let err = call(
        &core,
        Some("root"),
        Operation::Update,
        "auth/cert/config",
        json!({"ocsp_cache_size": 1}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "invalid cache size, must be >= 2 and <= 100000");
    assert_eq!(
        read(&core, "auth/cert/config").await.unwrap(),
        json!({"disable_binding": false, "enable_identity_alias_metadata": true, "ocsp_cache_size": 5})
    );
}

#[tokio::test]
async fn login_is_unauthenticated_and_role_paths_are_not() {
    let core = core().await;
    let err = call(&core, None, Operation::Read, "auth/cert/config", json!({})).await.unwrap_err();
    assert_eq!(err.status(), 403);
    let err = call(&core, None, Operation::Update, "auth/cert/login", json!({})).await.unwrap_err();
    assert_eq!((err.status(), err.to_string()), (400, "no client certificate found".into()));
}
