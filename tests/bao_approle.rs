//! AppRole with the real `bao` CLI: role, role-id, secret-id, login; and the denial cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, bao, bao_json, bao_ok, run_bao};

#[test]
fn approle_login_and_denials() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    bao_ok(&bao, &server, &["auth", "enable", "approle"]);
    bao_ok(
        &bao,
        &server,
        &[
            "write",
            "auth/approle/role/web",
            "token_policies=web",
            "token_ttl=1h",
            "secret_id_num_uses=2",
        ],
    );
    let role = bao_json(&bao, &server, &["read", "auth/approle/role/web"]);
    assert_eq!(role["data"]["token_policies"], serde_json::json!(["web"]));
    assert_eq!(role["data"]["token_ttl"], 3600);
    let role_id =
        bao_json(&bao, &server, &["read", "auth/approle/role/web/role-id"])["data"]["role_id"]
            .as_str()
            .unwrap()
            .to_string();
    let secret = bao_json(&bao, &server, &["write", "-f", "auth/approle/role/web/secret-id"]);
    let secret_id = secret["data"]["secret_id"].as_str().unwrap().to_string();
    assert_eq!(secret["data"]["secret_id_num_uses"], 2);
    let accessors = bao_json(&bao, &server, &["list", "auth/approle/role/web/secret-id"]);
    assert_eq!(accessors, serde_json::json!([secret["data"]["secret_id_accessor"]]));
    // A wrapped secret ID names its accessor in wrap_info, as the reference does; the
    // trusted orchestrator can track it without unwrapping.
    let wrapped = bao_json(
        &bao,
        &server,
        &["write", "-f", "-wrap-ttl=60s", "auth/approle/role/web/secret-id"],
    );
    let accessor = wrapped["wrap_info"]["wrapped_accessor"].as_str().unwrap().to_string();
    let token = wrapped["wrap_info"]["token"].as_str().unwrap().to_string();
    let unwrapped = bao_json(&bao, &server, &["unwrap", &token]);
    assert_eq!(unwrapped["data"]["secret_id_accessor"], accessor.as_str());
    bao_ok(
        &bao,
        &server,
        &[
            "write",
            "auth/approle/role/web/secret-id-accessor/destroy",
            &format!("secret_id_accessor={accessor}"),
        ],
    );

    let login = bao_json(
        &bao,
        &server,
        &[
            "write",
            "auth/approle/login",
            &format!("role_id={role_id}"),
            &format!("secret_id={secret_id}"),
        ],
    );
    assert_eq!(login["auth"]["policies"], serde_json::json!(["default", "web"]));
    assert_eq!(login["auth"]["metadata"]["role_name"], "web");
    assert_eq!(login["auth"]["lease_duration"], 3600);
    assert_eq!(login["auth"]["orphan"], true);
    assert!(!login["auth"]["entity_id"].as_str().unwrap().is_empty());

    for (rid, sid) in [(role_id.as_str(), "wrong-secret"), ("wrong-role", secret_id.as_str())] {
        let out = run_bao(
            &bao,
            &server,
            &[
                "write",
                "auth/approle/login",
                &format!("role_id={rid}"),
                &format!("secret_id={sid}"),
            ],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Code: 400") && err.contains("invalid role or secret ID"), "{err}");
    }
    // The second use spends the secret ID; a third is refused.
    bao_ok(
        &bao,
        &server,
        &[
            "write",
            "auth/approle/login",
            &format!("role_id={role_id}"),
            &format!("secret_id={secret_id}"),
        ],
    );
    let spent = run_bao(
        &bao,
        &server,
        &[
            "write",
            "auth/approle/login",
            &format!("role_id={role_id}"),
            &format!("secret_id={secret_id}"),
        ],
    );
    assert!(!spent.status.success(), "a used-up secret ID still logs in");

    let listed = bao_json(&bao, &server, &["list", "auth/approle/role"]);
    assert_eq!(listed, serde_json::json!(["web"]));
    bao_ok(&bao, &server, &["delete", "auth/approle/role/web"]);
    let gone = run_bao(&bao, &server, &["read", "auth/approle/role/web"]);
    assert!(!gone.status.success());
}
