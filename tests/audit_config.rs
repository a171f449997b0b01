//! An audit device declared in the server config is enabled at unseal, and SIGHUP reopens its
//! file (log rotation).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

#[test]
fn config_declared_audit_device_and_sighup_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", common::free_port());
    let log = dir.path().join("audit.log");
    let config = dir.path().join("c.hcl");
    std::fs::write(
        &config,
        format!(
            "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  address = \"{addr}\"\n  tls_disable = true\n}}\naudit \"file\" \"to-file\" {{\n  description = \"declared\"\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
            log.display()
        ),
    )
    .unwrap();
    let mut server = Server::with_config(&config, &addr);
    let (status, init) = server.call(
        "PUT",
        "/v1/sys/init",
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    );
    assert_eq!(status, 200);
    server.token = init["root_token"].as_str().unwrap().to_string();
    let key = init["keys"][0].as_str().unwrap().to_string();
    assert_eq!(server.call("PUT", "/v1/sys/unseal", Some(&json!({"key": key}))).0, 200);

    let (_, devices) = server.call("GET", "/v1/sys/audit", None);
    assert_eq!(devices["data"]["to-file/"]["description"], "declared");
    server.call("GET", "/v1/sys/mounts", None);
    assert!(std::fs::read_to_string(&log).unwrap().contains("sys/mounts"));

    // Rotate: move the file away, SIGHUP, and the next entries land in a new file.
    let rotated = dir.path().join("audit.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.exists() && Instant::now() < deadline {
        server.call("GET", "/v1/sys/health", None);
        server.call("GET", "/v1/sys/auth", None);
        std::thread::sleep(Duration::from_millis(100));
    }
    server.call("GET", "/v1/sys/auth", None);
    let fresh = std::fs::read_to_string(&log).expect("SIGHUP reopened the audit file");
    assert!(fresh.contains("sys/auth"));
}
