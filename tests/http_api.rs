//! The HTTP contract over a real socket: envelope, error bodies and statuses, lenient bodies,
//! methods, token headers, health flags and limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, raw_request, request};
use serde_json::{Value, json};

#[test]
fn envelope_and_error_bodies() {
    let server = Server::dev();
    let (status, body) =
        server.call("PUT", "/v1/secret/data/a", Some(&json!({"data": {"k": "v"}})));
    assert_eq!(status, 200);
    for key in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(body.get(key).is_some(), "envelope lacks {key}: {body}");
    }
    assert_eq!(body["request_id"].as_str().unwrap().len(), 36);

    assert_eq!(server.call("GET", "/v1/secret/data/missing", None), (404, json!({"errors": []})));
    let (status, body) = server.call("GET", "/v1/nomount/x", None);
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0], "no handler for route \"nomount/x\". route entry not found.");
    assert_eq!(
        request(&server.addr, "GET", "/v1/secret/data/a", None, None).unwrap(),
        (403, json!({"errors": ["permission denied"]}))
    );
    assert_eq!(
        request(&server.addr, "GET", "/v1/secret/data/a", Some("bogus"), None).unwrap().0,
        403
    );
    assert_eq!(
        request(&server.addr, "GET", "/elsewhere", None, None).unwrap(),
        (404, json!({"errors": []}))
    );
    let (status, _, _) =
        raw_request(&server.addr, "BREW", "/v1/secret/data/a", Some(&server.token), None, &[])
            .unwrap();
    assert_eq!(status, 405);
}

#[test]
fn headers_bodies_and_methods() {
    let server = Server::dev();
    let addr = &server.addr;
    let token = server.token.as_str();
    // Bearer works when X-Vault-Token is absent.
    let bearer = format!("Bearer {token}");
    let (status, _, _) =
        raw_request(addr, "GET", "/v1/sys/mounts", None, None, &[("Authorization", &bearer)])
            .unwrap();
    assert_eq!(status, 200);
    // JSON under a form content type is still JSON; a real form body is a form.
    let (status, _, _) = raw_request(
        addr,
        "PUT",
        "/v1/secret/data/form",
        Some(token),
        Some(br#"{"data":{"a":"1"}}"#.to_vec()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    )
    .unwrap();
    assert_eq!(status, 200);
    server.call("POST", "/v1/sys/mounts/v1kv", Some(&json!({"type": "kv"})));
    let (status, _, _) = raw_request(
        addr,
        "POST",
        "/v1/v1kv/f",
        Some(token),
        Some(b"user=u&role=a&role=b".to_vec()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    )
    .unwrap();
    assert_eq!(status, 204);
    let (_, body) = server.call("GET", "/v1/v1kv/f", None);
    assert_eq!(body["data"], json!({"user": "u", "role": "a,b"}));
    // Literal null body is empty data; malformed JSON is a 400 naming the problem.
    let (status, _, _) = raw_request(
        addr,
        "PUT",
        "/v1/sys/mounts/nullbody",
        Some(token),
        Some(b"null".to_vec()),
        &[],
    )
    .unwrap();
    assert_eq!(status, 400, "enable without type must fail");
    let (status, _, body) =
        raw_request(addr, "PUT", "/v1/secret/data/x", Some(token), Some(b"{nope".to_vec()), &[])
            .unwrap();
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("failed to decode JSON input"));
    // PATCH needs the merge-patch content type.
    let (status, _, _) =
        raw_request(addr, "PATCH", "/v1/secret/data/form", Some(token), Some(b"{}".to_vec()), &[])
            .unwrap();
    assert_eq!(status, 415);
    // LIST and GET ?list=true are the same; an empty list is 404.
    let (status, via_list, _) =
        raw_request(addr, "LIST", "/v1/secret/metadata", Some(token), None, &[]).unwrap();
    assert_eq!(status, 200, "{via_list}");
    let (_, via_get) = server.call("GET", "/v1/secret/metadata?list=true", None);
    assert_eq!(via_get["data"]["keys"], json!(["form"]));
    assert_eq!(server.call("GET", "/v1/secret/metadata/nothing/?list=true", None).0, 404);
    // Standard response headers, and the namespace header.
    let (_, head, _) = raw_request(
        addr,
        "GET",
        "/v1/sys/mounts",
        Some(token),
        None,
        &[("X-Vault-Namespace", "root")],
    )
    .unwrap();
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("cache-control: no-store") && head.contains("content-type: application/json")
    );
    assert!(head.contains("x-vault-namespace: root"));
    let (status, _, _) = raw_request(
        addr,
        "GET",
        "/v1/sys/mounts",
        Some(token),
        None,
        &[("X-Vault-Namespace", "team-a")],
    )
    .unwrap();
    assert_eq!(status, 404);
}

#[test]
fn oversized_bodies_are_refused() {
    let server = Server::dev();
    let big = vec![b' '; 33 * 1024 * 1024];
    let result = raw_request(
        &server.addr,
        "PUT",
        "/v1/secret/data/big",
        Some(&server.token),
        Some(big),
        &[],
    );
    // The server answers 413 (it may close the connection before reading everything).
    if let Ok((status, _, _)) = result {
        assert_eq!(status, 413);
    }
    assert_eq!(server.call("GET", "/v1/secret/data/big", None).0, 404);
}

#[test]
fn health_flags_and_unsupported_methods() {
    let server = Server::dev();
    let (status, body) = request(&server.addr, "GET", "/v1/sys/health", None, None).unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["sealed"], false);
    assert_eq!(body["initialized"], true);
    assert!(body["cluster_name"].as_str().unwrap().starts_with("vault-cluster-"));
    assert_eq!(
        request(&server.addr, "GET", "/v1/sys/health?activecode=299", None, None).unwrap().0,
        299
    );
    assert_eq!(
        request(&server.addr, "GET", "/v1/sys/health?activecode=abc", None, None).unwrap(),
        (400, json!({"errors": []}))
    );
    let (status, _, body) =
        raw_request(&server.addr, "HEAD", "/v1/sys/health", None, None, &[]).unwrap();
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(request(&server.addr, "POST", "/v1/sys/health", None, None).unwrap().0, 405);
    let (_, seal_status) = request(&server.addr, "GET", "/v1/sys/seal-status", None, None).unwrap();
    assert_eq!(seal_status["type"], "shamir");
    assert_eq!(seal_status["sealed"], false);
    assert!(seal_status["commit_date"].is_string(), "{seal_status}");
    assert_eq!(
        seal_status["commit_date"], seal_status["build_date"],
        "OpenBao's and Vault's names"
    );
    assert_eq!(
        request(&server.addr, "GET", "/v1/sys/leader", None, None).unwrap().1,
        json!({"ha_enabled": false})
    );

    // Sealing needs a token; afterwards everything but the lifecycle endpoints is 503.
    assert_eq!(request(&server.addr, "PUT", "/v1/sys/seal", None, None).unwrap().0, 403);
    assert_eq!(server.call("PUT", "/v1/sys/seal", None).0, 204);
    assert_eq!(
        server.call("GET", "/v1/secret/data/a", None),
        (503, json!({"errors": ["Vault is sealed"]}))
    );
    assert_eq!(request(&server.addr, "GET", "/v1/sys/health", None, None).unwrap().0, 503);
    assert_eq!(
        request(&server.addr, "GET", "/v1/sys/health?sealedcode=200", None, None).unwrap().0,
        200
    );
    let (_, status) = request(&server.addr, "GET", "/v1/sys/seal-status", None, None).unwrap();
    assert_eq!(status["sealed"], Value::Bool(true));
}

#[test]
fn unseal_errors_and_reinit() {
    let server = Server::dev();
    let (status, body) = server.call(
        "PUT",
        "/v1/sys/init",
        Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
    );
    assert_eq!((status, body), (400, json!({"errors": ["Vault is already initialized"]})));
    let (status, body) = server.call("PUT", "/v1/sys/unseal", Some(&json!({})));
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0],
        "'key' must be specified in request body as JSON, or 'reset' set to true"
    );
}

#[test]
fn mounts_are_injected_and_ui_preflight_answers() {
    let server = Server::dev();
    let (_, mounts) = server.call("GET", "/v1/sys/mounts", None);
    assert_eq!(mounts["secret/"]["type"], "kv");
    assert_eq!(mounts["data"]["secret/"]["type"], "kv");
    let (_, auth) = server.call("GET", "/v1/sys/auth", None);
    assert_eq!(auth["token/"]["type"], "token");
    // As the reference lists them: auth mounts carry their token type and empty options.
    assert_eq!(auth["token/"]["config"]["token_type"], "default-service");
    assert_eq!(mounts["sys/"]["seal_wrap"], true);
    let userpass = json!({"type": "userpass"});
    assert_eq!(server.call("POST", "/v1/sys/auth/up", Some(&userpass)).0, 204);
    let (_, up) = server.call("GET", "/v1/sys/auth/up", None);
    assert_eq!(up["data"]["config"]["token_type"], "default-service");
    assert_eq!(up["data"]["options"], json!({}));
    // No write names a folder, on any mount (the reference's rule).
    let (status, body) = server.call("PUT", "/v1/sys/leases/revoke-force/up/", None);
    assert_eq!((status, body), (400, json!({"errors": ["cannot write to a path ending in '/'"]})));
    // Tune reads repeat their fields at the top level, as the reference's do.
    let (_, tune) = server.call("GET", "/v1/sys/auth/up/tune", None);
    assert_eq!(tune["token_type"], "default-service");
    assert_eq!(tune["data"]["default_lease_ttl"], tune["default_lease_ttl"]);
    let (status, tidy) = server.call("POST", "/v1/auth/token/tidy", None);
    assert_eq!(status, 202, "{tidy}");
    // Metrics under the reference's names, as JSON or Prometheus text.
    let (status, metrics) = server.call("GET", "/v1/sys/metrics", None);
    assert_eq!(status, 200);
    let names: Vec<&str> =
        metrics["Gauges"].as_array().unwrap().iter().filter_map(|g| g["Name"].as_str()).collect();
    assert!(names.contains(&"vault.core.unsealed"), "{metrics}");
    let (status, headers, body) = raw_request(
        &server.addr,
        "GET",
        "/v1/sys/metrics?format=prometheus",
        Some(&server.token),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("\nvault_core_unsealed{cluster="), "{text}");
    assert!(format!("{headers:?}").contains("text/plain; version=0.0.4"), "{headers:?}");
    let (status, ui) = server.call("GET", "/v1/sys/internal/ui/mounts/secret/foo/bar", None);
    assert_eq!(status, 200);
    assert_eq!(ui["data"]["path"], "secret/");
    assert_eq!(ui["data"]["options"]["version"], "2");
    let (status, _) = server.call("GET", "/v1/sys/internal/ui/mounts/nowhere/x", None);
    assert_eq!(status, 403);
    // KV v1's refresh hint is the mount's default lease TTL, tuned or not.
    let kv1 = json!({"type": "kv", "config": {"default_lease_ttl": "90s"}});
    assert_eq!(server.call("POST", "/v1/sys/mounts/kvt", Some(&kv1)).0, 204);
    assert_eq!(server.call("POST", "/v1/kvt/a", Some(&json!({"k": "v"}))).0, 204);
    assert_eq!(server.call("GET", "/v1/kvt/a", None).1["lease_duration"], 90);
    let tune = json!({"default_lease_ttl": "45s"});
    assert_eq!(server.call("POST", "/v1/sys/mounts/kvt/tune", Some(&tune)).0, 204);
    assert_eq!(server.call("GET", "/v1/kvt/a", None).1["lease_duration"], 45);
    // A v1 mount upgrades to v2 in place (bao kv enable-versioning); there is no way back.
    let kv1 = json!({"type": "kv-v1"});
    assert_eq!(server.call("POST", "/v1/sys/mounts/kvup", Some(&kv1)).0, 204);
    assert_eq!(server.call("POST", "/v1/kvup/a/b", Some(&json!({"x": "1"}))).0, 204);
    assert_eq!(server.call("POST", "/v1/kvup/c", Some(&json!({"y": "2"}))).0, 204);
    let upgrade = json!({"options": {"version": "2"}});
    let (status, tuned) = server.call("POST", "/v1/sys/mounts/kvup/tune", Some(&upgrade));
    assert_eq!(status, 200);
    assert!(tuned["warnings"][0].as_str().unwrap().starts_with("Upgrading mount"), "{tuned}");
    let (status, read) = server.call("GET", "/v1/kvup/data/a/b", None);
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["data"]["data"], json!({"x": "1"}));
    assert_eq!(read["data"]["metadata"]["version"], 1);
    assert_eq!(server.call("GET", "/v1/kvup/data/c", None).1["data"]["data"], json!({"y": "2"}));
    let (_, listed) = server.call("LIST", "/v1/kvup/metadata/", None);
    assert_eq!(listed["data"]["keys"], json!(["a/", "c"]));
    let downgrade = json!({"options": {"version": "1"}});
    let (status, refused) = server.call("POST", "/v1/sys/mounts/kvup/tune", Some(&downgrade));
    assert_eq!(
        (status, refused),
        (400, json!({"errors": ["cannot downgrade mount from version 2"]}))
    );
    // A mount listed for everyone shows anonymous callers only what a login page needs.
    let tune = json!({"listing_visibility": "unauth"});
    let (status, _) = server.call("POST", "/v1/sys/mounts/secret/tune", Some(&tune));
    assert_eq!(status, 204);
    let (status, anonymous) =
        request(&server.addr, "GET", "/v1/sys/internal/ui/mounts", None, None).unwrap();
    assert_eq!(status, 200);
    let mut keys: Vec<&String> =
        anonymous["data"]["secret"]["secret/"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["description", "options", "type"]);
    let (_, listed) = server.call("GET", "/v1/sys/internal/ui/mounts", None);
    assert!(listed["data"]["secret"]["secret/"]["accessor"].is_string(), "{listed}");
    let (status, lookup) = server.call("GET", "/v1/auth/token/lookup-self", None);
    assert_eq!(status, 200);
    assert_eq!(lookup["data"]["policies"], json!(["root"]));
    assert_eq!(lookup["data"]["id"], server.token.as_str());
}
