//! Our own `coffer` CLI against a Coffer server, the way a user types it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::Server;
use serde_json::{Value, json};

fn coffer(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .env("COFFER_ADDR", server.url())
        .env("COFFER_TOKEN", &server.token)
        .env("HOME", std::env::temp_dir())
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .output()
        .unwrap()
}

fn ok(server: &Server, args: &[&str]) -> String {
    let out = coffer(server, args);
    assert!(
        out.status.success(),
        "coffer {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(server: &Server, args: &[&str]) -> Value {
    let out = ok(server, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed non-JSON ({e}): {out}"))
}

#[test]
fn status_kv_and_secrets() {
    let server = Server::dev();
    let status = ok(&server, &["status"]);
    assert!(status.contains("Sealed") && status.contains("false"), "{status}");

    ok(&server, &["kv", "put", "secret/app", "user=svc", "pass=p1"]);
    assert_eq!(ok(&server, &["kv", "get", "-field=pass", "secret/app"]).trim(), "p1");
    let got = json_of(&server, &["kv", "get", "-format=json", "secret/app"]);
    assert_eq!(got["data"]["data"], json!({"user": "svc", "pass": "p1"}));
    ok(&server, &["kv", "patch", "secret/app", "pass=p2"]);
    assert_eq!(ok(&server, &["kv", "get", "-field=pass", "secret/app"]).trim(), "p2");
    assert_eq!(ok(&server, &["kv", "get", "-version=1", "-field=pass", "secret/app"]).trim(), "p1");
    let listed = ok(&server, &["kv", "list", "secret/"]);
    assert!(listed.contains("app"), "{listed}");
    ok(&server, &["kv", "delete", "secret/app"]);
    assert!(!coffer(&server, &["kv", "get", "-field=pass", "secret/app"]).status.success());
    ok(&server, &["kv", "undelete", "-versions=2", "secret/app"]);
    ok(&server, &["kv", "destroy", "-versions=1", "secret/app"]);
    let meta = json_of(&server, &["kv", "metadata", "get", "-format=json", "secret/app"]);
    assert_eq!(meta["data"]["versions"]["1"]["destroyed"], true);

    ok(&server, &["secrets", "enable", "-path=plain", "kv"]);
    ok(&server, &["write", "plain/cfg", "a=1", "b=two"]);
    assert_eq!(ok(&server, &["read", "-field=b", "plain/cfg"]).trim(), "two");
    let listed = json_of(&server, &["list", "-format=json", "plain/"]);
    assert_eq!(listed, json!(["cfg"]));
    ok(&server, &["delete", "plain/cfg"]);
    assert!(!coffer(&server, &["read", "plain/cfg"]).status.success());
    ok(&server, &["secrets", "tune", "-max-lease-ttl=2h", "plain"]);
    let mounts = json_of(&server, &["secrets", "list", "-format=json"]);
    assert_eq!(mounts["plain/"]["type"], "kv");
    ok(&server, &["secrets", "disable", "plain"]);
    let mounts = json_of(&server, &["secrets", "list", "-format=json"]);
    assert!(mounts.get("plain/").is_none());

    let denied = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["kv", "get", "secret/app"])
        .env("COFFER_ADDR", server.url())
        .env("COFFER_TOKEN", "bogus")
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("Code: 403"));
}

#[test]
fn operator_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", common::free_port());
    let config = dir.path().join("c.hcl");
    std::fs::write(
        &config,
        format!(
            "storage \"embedded\" {{\n path = \"{}\"\n}}\nlistener \"tcp\" {{\n address = \"{addr}\"\n tls_disable = true\n}}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut server = Server::with_config(&config, &addr);
    assert_eq!(coffer(&server, &["status"]).status.code(), Some(2));
    let init = json_of(
        &server,
        &["operator", "init", "-key-shares=3", "-key-threshold=2", "-format=json"],
    );
    let keys: Vec<String> = serde_json::from_value(init["unseal_keys_b64"].clone()).unwrap();
    server.token = init["root_token"].as_str().unwrap().to_string();
    ok(&server, &["operator", "unseal", &keys[0]]);
    ok(&server, &["operator", "unseal", &keys[1]]);
    assert_eq!(coffer(&server, &["status"]).status.code(), Some(0));
    let rotated = ok(&server, &["operator", "rotate"]);
    assert!(rotated.contains('2'), "{rotated}");
    ok(&server, &["operator", "seal"]);
    assert_eq!(coffer(&server, &["status"]).status.code(), Some(2));
}
