//! The PKI's public endpoints answer without a token, raw, with their content types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, raw_request};
use serde_json::json;

#[test]
fn ca_crl_and_issuer_endpoints_are_public() {
    let server = Server::dev();
    assert_eq!(server.call("POST", "/v1/sys/mounts/pki", Some(&json!({"type": "pki"}))).0, 204);
    let (status, _) = server.call(
        "POST",
        "/v1/pki/root/generate/internal",
        Some(&json!({"common_name": "Public Root", "key_type": "ec", "ttl": "24h"})),
    );
    assert_eq!(status, 200);
    for (path, content_type) in [
        ("/v1/pki/ca/pem", "application/pem-certificate-chain"),
        ("/v1/pki/ca", "application/pkix-cert"),
        ("/v1/pki/crl", "application/pkix-crl"),
        ("/v1/pki/issuer/default/pem", "application/pem-certificate-chain"),
        ("/v1/pki/issuer/default/crl/pem", ""),
    ] {
        let (status, head, body) = raw_request(&server.addr, "GET", path, None, None, &[]).unwrap();
        assert_eq!(status, 200, "{path} without a token: {}", String::from_utf8_lossy(&body));
        assert!(!body.is_empty(), "{path}");
        if !content_type.is_empty() {
            assert!(head.to_ascii_lowercase().contains(content_type), "{path}: {head}");
        }
    }
    // Everything else in the mount still needs a token.
    let (status, _, _) =
        raw_request(&server.addr, "GET", "/v1/pki/roles/x", None, None, &[]).unwrap();
    assert_eq!(status, 403);
}
