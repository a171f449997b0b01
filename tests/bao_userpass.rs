//! Userpass with the real `bao` CLI: `bao login -method=userpass`, wrong passwords and unknown
//! users refused alike, password change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Server, bao, bao_json, bao_ok};

fn login(
    bao: &std::path::Path,
    server: &Server,
    home: &std::path::Path,
    user: &str,
    password: &str,
) -> std::process::Output {
    Command::new(bao)
        .args([
            "login",
            "-method=userpass",
            "-format=json",
            &format!("username={user}"),
            &format!("password={password}"),
        ])
        .env("VAULT_ADDR", server.url())
        .env("HOME", home)
        .env_remove("VAULT_TOKEN")
        .env_remove("BAO_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn userpass_login_with_the_real_cli() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    let home = tempfile::tempdir().unwrap();
    bao_ok(&bao, &server, &["auth", "enable", "userpass"]);
    bao_ok(
        &bao,
        &server,
        &["write", "auth/userpass/users/alice", "password=correct horse", "token_policies=ops"],
    );
    let user = bao_json(&bao, &server, &["read", "auth/userpass/users/alice"]);
    assert_eq!(user["data"]["token_policies"], serde_json::json!(["ops"]));
    assert!(user["data"].get("password").is_none() && user["data"].get("password_hash").is_none());

    let ok = login(&bao, &server, home.path(), "alice", "correct horse");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let auth: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(auth["auth"]["policies"], serde_json::json!(["default", "ops"]));
    assert_eq!(auth["auth"]["metadata"]["username"], "alice");

    for (user, password) in [("alice", "wrong"), ("mallory", "correct horse")] {
        let out = login(&bao, &server, home.path(), user, password);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid username or password"));
    }
    bao_ok(
        &bao,
        &server,
        &["write", "auth/userpass/users/alice/password", "password=battery staple"],
    );
    assert!(!login(&bao, &server, home.path(), "alice", "correct horse").status.success());
    assert!(login(&bao, &server, home.path(), "alice", "battery staple").status.success());

    // The legacy `policies` parameter, as older scripts send it.
    bao_ok(&bao, &server, &["write", "auth/userpass/users/bob", "password=pw", "policies=p"]);
    let ok = login(&bao, &server, home.path(), "bob", "pw");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let auth: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(auth["auth"]["policies"], serde_json::json!(["default", "p"]));
}
