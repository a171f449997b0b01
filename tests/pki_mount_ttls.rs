//! The PKI engine honours its mount's TTLs as OpenBao does (observed on OpenBao 2.7.2): an
//! untuned mount caps a root's TTL at the system max (768h) with a warning; a tuned default
//! lease TTL is what a leaf gets when neither request nor role sets one, and a tuned max caps a
//! leaf whose role has no max_ttl, with the same warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use serde_json::{Value, json};

fn hours_left(body: &Value) -> f64 {
    let expiration = body["data"]["expiration"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    (expiration - now.as_secs() as i64) as f64 / 3600.0
}

fn capped(requested: &str, max: &str) -> String {
    format!(
        r#"TTL \"{requested}\" is longer than permitted maxTTL \"{max}\", so maxTTL is being used"#
    )
}

#[test]
fn mount_ttls_cap_roots_and_default_leaves() {
    let server = Server::dev();
    assert_eq!(server.call("POST", "/v1/sys/mounts/pki", Some(&json!({"type": "pki"}))).0, 204);
    let root = json!({"common_name": "Capped Root", "key_type": "ec", "ttl": "87600h"});
    let (status, body) = server.call("POST", "/v1/pki/root/generate/internal", Some(&root));
    assert_eq!(status, 200, "{body}");
    assert!(body["warnings"].to_string().contains(&capped("87600h0m0s", "768h0m0s")), "{body}");
    assert!((767.9..=768.0).contains(&hours_left(&body)), "{body}");

    let role = json!({"allow_any_name": true, "key_type": "ec"});
    assert_eq!(server.call("POST", "/v1/pki/roles/r", Some(&role)).0, 200);
    let tune = json!({"default_lease_ttl": "1h", "max_lease_ttl": "2h"});
    assert_eq!(server.call("POST", "/v1/sys/mounts/pki/tune", Some(&tune)).0, 204);
    let leaf = |body: Value| server.call("POST", "/v1/pki/issue/r", Some(&body));

    let (status, body) = leaf(json!({"common_name": "a.b"}));
    assert_eq!(status, 200, "{body}");
    assert!((0.99..=1.0).contains(&hours_left(&body)), "{body}");

    let (status, body) = leaf(json!({"common_name": "a.b", "ttl": "5h"}));
    assert_eq!(status, 200, "{body}");
    assert!(body["warnings"].to_string().contains(&capped("5h0m0s", "2h0m0s")), "{body}");
    assert!((1.99..=2.0).contains(&hours_left(&body)), "{body}");
}
