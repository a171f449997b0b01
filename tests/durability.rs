//! The embedded store keeps every acknowledged write through SIGKILL, and nothing on disk
//! holds a secret in plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, request};
use serde_json::{Value, json};

fn write_config(dir: &Path, addr: &str) -> std::path::PathBuf {
    let config = dir.join("coffer.hcl");
    std::fs::write(
        &config,
        format!(
            "storage \"embedded\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address = \"{addr}\"\n  tls_disable = \"true\"\n}}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    config
}

/// Initialises with one share and unseals; returns (unseal key, root token).
fn init_and_unseal(server: &mut Server) -> (String, String) {
    let (status, init) = server.call(
        "PUT",
        "/v1/sys/init",
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    );
    assert_eq!(status, 200, "{init}");
    let key = init["keys"][0].as_str().unwrap().to_string();
    server.token = init["root_token"].as_str().unwrap().to_string();
    unseal(server, &key);
    (key, server.token.clone())
}

fn unseal(server: &Server, key: &str) {
    let (status, body) = server.call("PUT", "/v1/sys/unseal", Some(&json!({"key": key})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sealed"], false, "{body}");
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", common::free_port());
    let config = write_config(dir.path(), &addr);
    let mut server = Server::with_config(&config, &addr);
    let (key, token) = init_and_unseal(&mut server);
    let (status, _) = server.call("POST", "/v1/sys/mounts/secret", Some(&json!({"type": "kv-v2"})));
    assert_eq!(status, 204);

    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_millis(1500);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (addr, token, acknowledged) = (addr.clone(), token.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                loop {
                    let (path, value) = (format!("w{w}/k{i}"), format!("value-{w}-{i}"));
                    let body = json!({"data": {"v": value}});
                    match request(
                        &addr,
                        "PUT",
                        &format!("/v1/secret/data/{path}"),
                        Some(&token),
                        Some(&body),
                    ) {
                        Ok((200, _)) => acknowledged.lock().unwrap().push((path, value)),
                        Ok((status, body)) => panic!("write failed with {status}: {body}"),
                        Err(_) => return, // the server is gone
                    }
                    i += 1;
                    if Instant::now() > deadline + Duration::from_secs(5) {
                        return;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill9();
    for w in writers {
        w.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 50, "too few writes to prove anything: {}", acknowledged.len());

    let mut server = Server::with_config(&config, &addr);
    server.token = token;
    unseal(&server, &key);
    for (path, value) in &acknowledged {
        let (status, body) = server.call("GET", &format!("/v1/secret/data/{path}"), None);
        assert_eq!(status, 200, "acknowledged write {path} lost after SIGKILL: {body}");
        assert_eq!(body["data"]["data"]["v"], Value::String(value.clone()));
    }
}

fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(files_below(&path)) } else { out.push(path) }
    }
    out
}

#[test]
fn no_file_on_disk_holds_a_secret_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", common::free_port());
    let config = write_config(dir.path(), &addr);
    let mut server = Server::with_config(&config, &addr);
    init_and_unseal(&mut server);
    server.call(
        "POST",
        "/v1/sys/mounts/secret",
        Some(&json!({"type": "kv", "options": {"version": "2"}})),
    );
    let secret = "plaintext-canary-7f3a9c1e";
    let (status, _) =
        server.call("PUT", "/v1/secret/data/canary", Some(&json!({"data": {"password": secret}})));
    assert_eq!(status, 200);
    let (status, _) =
        server.call("PUT", "/v1/secret/data/canary-key-name", Some(&json!({"data": {"x": "y"}})));
    assert_eq!(status, 200);
    // Rotate, then write again: the new term encrypts too.
    assert_eq!(server.call("PUT", "/v1/sys/rotate", None).0, 204);
    let (_, key_status) = server.call("GET", "/v1/sys/key-status", None);
    assert_eq!(key_status["data"]["term"], 2);
    assert_eq!(key_status["term"], 2, "key-status is an injected route");
    server.call("PUT", "/v1/secret/data/canary2", Some(&json!({"data": {"password": secret}})));
    server.terminate();

    let files = files_below(&dir.path().join("data"));
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} contains the secret in plaintext",
            file.display()
        );
    }
}
