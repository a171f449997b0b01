//! Tokens and ACL policies with the real `bao` CLI: a service token reaches only its paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, bao, bao_json, bao_ok, run_bao};

const APP_POLICY: &str = r#"
# The app may read its own secrets and nothing else.
path "secret/data/app/*" {
  capabilities = ["read", "list"]
}
path "secret/metadata/app/*" {
  capabilities = ["list"]
}
"#;

#[test]
fn policies_and_tokens_with_the_real_cli() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let policy_file = dir.path().join("app.hcl");
    std::fs::write(&policy_file, APP_POLICY).unwrap();

    bao_ok(&bao, &server, &["policy", "write", "app", policy_file.to_str().unwrap()]);
    let listed = bao_json(&bao, &server, &["policy", "list"]);
    assert_eq!(listed, serde_json::json!(["app", "default", "root"]));
    let read = bao_ok(&bao, &server, &["policy", "read", "app"]);
    assert!(read.contains("secret/data/app/*"), "{read}");

    bao_ok(&bao, &server, &["kv", "put", "secret/app/config", "db=postgres://app"]);
    bao_ok(&bao, &server, &["kv", "put", "secret/other/config", "db=postgres://other"]);

    let created = bao_json(&bao, &server, &["token", "create", "-policy=app", "-ttl=1h"]);
    let token = created["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(created["auth"]["policies"], serde_json::json!(["app", "default"]));
    assert_eq!(created["auth"]["lease_duration"], 3600);

    let mut app = server.share();
    app.token = token.clone();
    let got = bao_json(&bao, &app, &["kv", "get", "secret/app/config"]);
    assert_eq!(got["data"]["data"]["db"], "postgres://app");
    let denied = run_bao(&bao, &app, &["kv", "get", "secret/other/config"]);
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("permission denied"));
    let denied = run_bao(&bao, &app, &["kv", "put", "secret/app/config", "db=evil"]);
    assert!(!denied.status.success(), "read-only policy must not write");
    let denied = run_bao(&bao, &app, &["secrets", "list"]);
    assert!(String::from_utf8_lossy(&denied.stderr).contains("permission denied"));

    let me = bao_json(&bao, &app, &["token", "lookup"]);
    assert_eq!(me["data"]["policies"], serde_json::json!(["app", "default"]));
    let renewed = bao_json(&bao, &app, &["token", "renew", "-increment=30m"]);
    assert_eq!(renewed["auth"]["lease_duration"], 1800);
    let caps = bao_ok(&bao, &app, &["token", "capabilities", "secret/data/app/x"]);
    assert!(caps.contains("list") && caps.contains("read"), "{caps}");

    bao_ok(&bao, &server, &["token", "revoke", &token]);
    let after = run_bao(&bao, &app, &["kv", "get", "secret/app/config"]);
    assert!(!after.status.success(), "revoked token still works");
    bao_ok(&bao, &server, &["policy", "delete", "app"]);
    let listed = bao_json(&bao, &server, &["policy", "list"]);
    assert_eq!(listed, serde_json::json!(["default", "root"]));
}
