//! The real `bao` CLI (OpenBao 2.7.2) against a Coffer server: status, operator lifecycle,
//! KV v2 end to end, and secrets engines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, bao, bao_json, bao_ok, run_bao};
use serde_json::json;

#[test]
fn status_and_secrets_engines() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    let out = bao_ok(&bao, &server, &["status"]);
    assert!(out.contains("Sealed") && out.contains("false"), "{out}");
    // What this build carries: every engine is built in.
    let plugins = bao_ok(&bao, &server, &["plugin", "list"]);
    for name in ["approle", "kv", "pki", "postgresql-database-plugin"] {
        assert!(plugins.contains(name), "{plugins}");
    }
    let kv = bao_ok(&bao, &server, &["plugin", "info", "secret", "kv"]);
    assert!(kv.contains("builtin") && kv.contains("true"), "{kv}");
    let history = bao_ok(&bao, &server, &["version-history"]);
    assert!(history.contains("2.7.2"), "{history}");

    bao_ok(&bao, &server, &["secrets", "enable", "-path=kv1", "kv"]);
    bao_ok(&bao, &server, &["secrets", "enable", "-version=2", "-path=kv2", "kv"]);
    let mounts = bao_json(&bao, &server, &["secrets", "list"]);
    assert_eq!(mounts["kv1/"]["type"], "kv");
    assert_eq!(mounts["kv2/"]["options"]["version"], "2");
    assert_eq!(mounts["secret/"]["options"]["version"], "2");
    assert!(mounts["sys/"].is_object());

    let again = run_bao(&bao, &server, &["secrets", "enable", "-path=kv1", "kv"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("path is already in use"));

    bao_ok(&bao, &server, &["secrets", "tune", "-max-lease-ttl=87600h", "kv1"]);
    let (status, tune) = server.call("GET", "/v1/sys/mounts/kv1/tune", None);
    assert_eq!(status, 200);
    assert_eq!(tune["data"]["max_lease_ttl"], 87600 * 3600);

    // bao kv enable-versioning upgrades the v1 mount in place; its secrets stay readable.
    bao_ok(&bao, &server, &["kv", "put", "kv1/app", "token=t-1"]);
    bao_ok(&bao, &server, &["kv", "enable-versioning", "kv1"]);
    let got = bao_json(&bao, &server, &["kv", "get", "kv1/app"]);
    assert_eq!(got["data"]["data"]["token"], "t-1");
    assert_eq!(got["data"]["metadata"]["version"], 1);

    // bao secrets move: the data follows the mount to its new path.
    bao_ok(&bao, &server, &["secrets", "move", "kv1", "kv1-moved"]);
    let got = bao_json(&bao, &server, &["kv", "get", "kv1-moved/app"]);
    assert_eq!(got["data"]["data"]["token"], "t-1");
    let (status, refused) =
        server.call("POST", "/v1/sys/remount", Some(&json!({"from": "kv1-moved", "to": "secret"})));
    assert_eq!((status, refused), (400, json!({"errors": ["path already in use at \"secret/\""]})));
    let (status, _) =
        server.call("POST", "/v1/sys/remount", Some(&json!({"from": "sys", "to": "sys2"})));
    assert_eq!(status, 400);
    bao_ok(&bao, &server, &["secrets", "move", "kv1-moved", "kv1"]);

    bao_ok(&bao, &server, &["secrets", "disable", "kv1"]);
    let mounts = bao_json(&bao, &server, &["secrets", "list"]);
    assert!(mounts.get("kv1/").is_none());
}

#[test]
fn kv_v2_lifecycle_with_the_real_cli() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    bao_ok(&bao, &server, &["kv", "put", "secret/app/db", "user=app", "password=s3cr3t"]);
    let got = bao_json(&bao, &server, &["kv", "get", "secret/app/db"]);
    assert_eq!(got["data"]["data"], json!({"user": "app", "password": "s3cr3t"}));
    assert_eq!(got["data"]["metadata"]["version"], 1);

    bao_ok(&bao, &server, &["kv", "patch", "secret/app/db", "password=rotated"]);
    let got = bao_json(&bao, &server, &["kv", "get", "secret/app/db"]);
    assert_eq!(got["data"]["data"], json!({"user": "app", "password": "rotated"}));
    assert_eq!(got["data"]["metadata"]["version"], 2);

    let field =
        bao_ok(&bao, &server, &["kv", "get", "-field=password", "-version=1", "secret/app/db"]);
    assert_eq!(field.trim(), "s3cr3t");

    bao_ok(&bao, &server, &["kv", "put", "secret/app/other", "a=b"]);
    let list = bao_json(&bao, &server, &["kv", "list", "secret/app"]);
    assert_eq!(list, json!(["db", "other"]));
    let top = bao_json(&bao, &server, &["kv", "list", "secret/"]);
    assert_eq!(top, json!(["app/"]));

    let meta = bao_json(&bao, &server, &["kv", "metadata", "get", "secret/app/db"]);
    assert_eq!(meta["data"]["current_version"], 2);
    assert!(meta["data"]["versions"]["1"].is_object());

    bao_ok(&bao, &server, &["kv", "delete", "secret/app/db"]);
    let deleted = bao_json(&bao, &server, &["kv", "get", "secret/app/db"]);
    assert_eq!(deleted["data"]["data"], serde_json::Value::Null);
    assert_ne!(deleted["data"]["metadata"]["deletion_time"], "");
    bao_ok(&bao, &server, &["kv", "undelete", "-versions=2", "secret/app/db"]);
    let got = bao_json(&bao, &server, &["kv", "get", "secret/app/db"]);
    assert_eq!(got["data"]["data"]["password"], "rotated");

    bao_ok(&bao, &server, &["kv", "destroy", "-versions=1", "secret/app/db"]);
    let meta = bao_json(&bao, &server, &["kv", "metadata", "get", "secret/app/db"]);
    assert_eq!(meta["data"]["versions"]["1"]["destroyed"], true);

    bao_ok(&bao, &server, &["kv", "metadata", "delete", "secret/app/db"]);
    assert!(!run_bao(&bao, &server, &["kv", "get", "secret/app/db"]).status.success());
}

#[test]
fn kv_v1_with_the_real_cli() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    bao_ok(&bao, &server, &["secrets", "enable", "-path=plain", "kv"]);
    bao_ok(&bao, &server, &["kv", "put", "plain/web", "ttl=30m", "k=v"]);
    let got = bao_json(&bao, &server, &["kv", "get", "plain/web"]);
    assert_eq!(got["data"]["k"], "v");
    assert_eq!(got["lease_duration"], 1800);
    bao_ok(&bao, &server, &["kv", "delete", "plain/web"]);
    assert!(!run_bao(&bao, &server, &["kv", "get", "plain/web"]).status.success());
}

#[test]
fn operator_init_unseal_seal_with_the_real_cli() {
    let Some(bao) = bao() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("coffer.hcl");
    std::fs::write(
        &config,
        format!(
            "storage \"embedded\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address = \"{addr}\"\n  tls_disable = true\n}}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut server = Server::with_config(&config, &addr);

    let status = run_bao(&bao, &server, &["status"]);
    assert_eq!(status.status.code(), Some(2), "uninitialised server is reported sealed");

    let init = bao_json(&bao, &server, &["operator", "init", "-key-shares=3", "-key-threshold=2"]);
    let keys: Vec<String> = serde_json::from_value(init["unseal_keys_b64"].clone()).unwrap();
    assert_eq!(keys.len(), 3);
    let root = init["root_token"].as_str().unwrap().to_string();
    assert!(root.starts_with("s."));
    server.token = root;

    let sealed = server.call("GET", "/v1/secret/data/x", None);
    assert_eq!(sealed, (503, json!({"errors": ["Vault is sealed"]})));

    let progress = bao_json(&bao, &server, &["operator", "unseal", &keys[0]]);
    assert_eq!(progress["sealed"], true);
    assert_eq!(progress["progress"], 1);
    let unsealed = bao_json(&bao, &server, &["operator", "unseal", &keys[2]]);
    assert_eq!(unsealed["sealed"], false);
    assert_eq!(run_bao(&bao, &server, &["status"]).status.code(), Some(0));

    bao_ok(&bao, &server, &["secrets", "enable", "-version=2", "-path=secret", "kv"]);
    bao_ok(&bao, &server, &["kv", "put", "secret/survives", "value=restart"]);
    bao_ok(&bao, &server, &["operator", "seal"]);
    assert_eq!(run_bao(&bao, &server, &["status"]).status.code(), Some(2));

    // A restart keeps everything; the new process starts sealed.
    server.terminate();
    let mut server2 = Server::with_config(&config, &addr);
    server2.token = server.token.clone();
    bao_ok(&bao, &server2, &["operator", "unseal", &keys[1]]);
    bao_ok(&bao, &server2, &["operator", "unseal", &keys[0]]);
    let got = bao_json(&bao, &server2, &["kv", "get", "secret/survives"]);
    assert_eq!(got["data"]["data"]["value"], "restart");
}

#[test]
fn response_wrapping_with_the_real_cli() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    bao_ok(&bao, &server, &["kv", "put", "secret/wrapped", "api_key=k-123"]);
    let wrapped = bao_json(&bao, &server, &["kv", "get", "-wrap-ttl=2m", "secret/wrapped"]);
    let token = wrapped["wrap_info"]["token"].as_str().unwrap().to_string();
    assert_eq!(wrapped["wrap_info"]["ttl"], 120);
    assert!(wrapped["data"].is_null());
    let unwrapped = bao_json(&bao, &server, &["unwrap", &token]);
    assert_eq!(unwrapped["data"]["data"]["api_key"], "k-123");
    let again = run_bao(&bao, &server, &["unwrap", &token]);
    assert!(!again.status.success(), "a wrapping token works once");
}
