//! Audit with the real `bao` CLI: `bao audit enable file`, and the log of a `kv put` holds the
//! HMAC of the value, never the value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, bao, bao_json, bao_ok, run_bao};

#[test]
fn kv_put_is_audited_with_the_value_hashed() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    bao_ok(&bao, &server, &["audit", "enable", "file", &format!("file_path={}", log.display())]);
    let devices = bao_json(&bao, &server, &["audit", "list"]);
    assert_eq!(devices["file/"]["type"], "file");

    let secret = "correct-horse-battery-staple";
    bao_ok(&bao, &server, &["kv", "put", "secret/audited", &format!("password={secret}")]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(secret), "the secret reached the audit log");
    assert!(!text.contains(&server.token), "the token reached the audit log");
    let hash =
        bao_json(&bao, &server, &["write", "sys/audit-hash/file", &format!("input={secret}")]);
    let hashed = hash["data"]["hash"].as_str().unwrap();
    assert!(text.contains(hashed), "the log holds the HMAC of the value");
    let entries: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        entries
            .iter()
            .any(|e| e["type"] == "request" && e["request"]["path"] == "secret/data/audited")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["type"] == "response" && e["request"]["path"] == "secret/data/audited")
    );

    bao_ok(&bao, &server, &["audit", "disable", "file"]);
    let after = run_bao(&bao, &server, &["audit", "list"]);
    assert!(String::from_utf8_lossy(&after.stdout).contains("No audit devices are enabled"));
}
