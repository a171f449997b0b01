//! The JWT method driven through the core: configuration with PEM keys, a JWKS URL and OIDC
//! discovery; roles; logins that succeed (token, policies, entity) and every refusal a user
//! can meet, with Vault's 400 messages.
//!
//! - `pem_keys_login_and_denials`: success, then wrong audience, expired, other key, HS256
//!   with the public key as secret, `none`, bound claims, issuer, stray audience, oidc role.
//! - `jwks_url_keys_are_cached_and_refetched_on_unknown_kid`
//! - `oidc_discovery_finds_the_key_set`
//! - `config_and_role_validation`
//! - `renewal_follows_the_role`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_types::Operation;
use common::*;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

const ISSUER: &str = "https://ci.example.com";

fn claims(sub: &str, aud: Value, env: &str) -> Value {
    json!({
        "iss": ISSUER, "sub": sub, "aud": aud, "env": env, "email": format!("{sub}@example.com"),
        "iat": now(), "exp": now() + 300,
    })
}

async fn ci_role(core: &coffer_core::Core) {
    write(
        core,
        "auth/jwt/role/ci",
        json!({
            "role_type": "jwt", "user_claim": "sub", "bound_audiences": "api",
            "bound_claims": {"env": ["prod", "staging"]}, "claim_mappings": {"email": "mail"},
            "token_policies": "ci,deploy", "token_ttl": "10m",
        }),
    )
    .await;
}

#[tokio::test]
async fn pem_keys_login_and_denials() {
    let core = core().await;
    let key = TestKey::generate(Algorithm::RS256);
    let other = TestKey::generate(Algorithm::RS256);
    write(
        &core,
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": [key.public_pem], "bound_issuer": ISSUER}),
    )
    .await;
    ci_role(&core).await;

    // Success: a token with the role's policies, metadata from the claims, an entity.
    let jwt = key.sign(None, &claims("alice", json!(["api"]), "prod"));
    let auth = login(&core, "ci", &jwt).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["ci", "default", "deploy"]);
    assert_eq!(auth.lease_duration, 600);
    assert!(auth.orphan);
    assert!(!auth.entity_id.is_empty(), "the login creates an identity entity");
    let metadata = auth.metadata.unwrap();
    assert_eq!(metadata["role"], "ci");
    assert_eq!(metadata["mail"], "alice@example.com");
    let token = auth.client_token.expose().to_string();
    let me = call(&core, Some(&token), Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["display_name"], "jwt-alice");
    assert_eq!(me["policies"], json!(["ci", "default", "deploy"]));
    assert_eq!(me["path"], "auth/jwt/login");
    let again = login(&core, "CI", &jwt).await.unwrap().auth.unwrap();
    assert_eq!(again.entity_id, auth.entity_id, "the same user claim finds the same entity");

    // Refusals.
    let wrong_aud = key.sign(None, &claims("alice", json!("web"), "prod"));
    assert_eq!(
        refused(&core, "ci", &wrong_aud).await,
        "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience"
    );
    let mut old = claims("alice", json!("api"), "prod");
    old["iat"] = json!(now() - 7200);
    old["exp"] = json!(now() - 3600);
    assert_eq!(
        refused(&core, "ci", &key.sign(None, &old)).await,
        "error validating token: invalid expiration time (exp) claim: token is expired"
    );
    let forged = other.sign(None, &claims("alice", json!("api"), "prod"));
    assert_eq!(
        refused(&core, "ci", &forged).await,
        "error validating token: error verifying token signature: failed to verify id token signature"
    );
    let tampered = {
        let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
        let evil = claims("root", json!("api"), "prod");
        parts[1] = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&evil).unwrap())
        };
        parts.join(".")
    };
    assert!(refused(&core, "ci", &tampered).await.contains("failed to verify id token signature"));
    let hmac = sign_hs256(key.public_pem.as_bytes(), &claims("alice", json!("api"), "prod"));
    assert_eq!(
        refused(&core, "ci", &hmac).await,
        "error validating token: invalid algorithm (alg) header parameter: unsupported signing algorithm"
    );
    let none = unsigned(&claims("alice", json!("api"), "prod"));
    assert!(refused(&core, "ci", &none).await.contains("unsupported signing algorithm"));
    let dev = key.sign(None, &claims("alice", json!("api"), "dev"));
    assert_eq!(
        refused(&core, "ci", &dev).await,
        "error validating claims: claim \"env\" does not match any associated bound claim values"
    );
    let mut foreign = claims("alice", json!("api"), "prod");
    foreign["iss"] = json!("https://evil.example.com");
    assert_eq!(
        refused(&core, "ci", &key.sign(None, &foreign)).await,
        "error validating token: invalid issuer (iss) claim"
    );
    assert!(refused(&core, "ci", "not-a-jwt").await.contains("malformed token"));
    assert_eq!(refused(&core, "", &jwt).await, "missing role");
    assert_eq!(refused(&core, "nope", &jwt).await, "role \"nope\" could not be found");
    assert_eq!(refused(&core, "ci", "").await, "missing token");

    // A role without audiences refuses tokens that carry one.
    write(
        &core,
        "auth/jwt/role/noaud",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_subject": "alice"}),
    )
    .await;
    assert_eq!(
        refused(&core, "noaud", &jwt).await,
        "audience claim found in JWT but no audiences bound to the role"
    );
    let mut no_aud = claims("alice", json!(null), "prod");
    no_aud.as_object_mut().unwrap().remove("aud");
    assert!(login(&core, "noaud", &key.sign(None, &no_aud)).await.is_ok());
    let bob = key.sign(None, &json!({"iss": ISSUER, "sub": "bob", "exp": now() + 60}));
    assert_eq!(
        refused(&core, "noaud", &bob).await,
        "error validating token: invalid subject (sub) claim"
    );

    // Roles are `oidc` unless told otherwise, and `jwt` logins refuse them.
    write(
        &core,
        "auth/jwt/role/web",
        json!({"user_claim": "sub", "allowed_redirect_uris": "https://app/callback"}),
    )
    .await;
    let role = call(&core, Some("root"), Operation::Read, "auth/jwt/role/web", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(role["role_type"], "oidc");
    assert_eq!(refused(&core, "web", &jwt).await, "role with oidc role_type is not allowed");

    // The default role stands in for a missing one.
    write(
        &core,
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": key.public_pem, "bound_issuer": ISSUER, "default_role": "ci"}),
    )
    .await;
    assert!(login(&core, "", &jwt).await.is_ok());
}

#[tokio::test]
async fn token_bound_cidrs_refuse_unknown_sources_with_403() {
    let core = core().await;
    let key = TestKey::generate(Algorithm::ES256);
    write(&core, "auth/jwt/config", json!({"jwt_validation_pubkeys": [key.public_pem]})).await;
    write(
        &core,
        "auth/jwt/role/net",
        json!({"role_type": "jwt", "user_claim": "sub", "token_bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    let jwt = key.sign(None, &json!({"sub": "svc", "exp": now() + 60}));
    let err = login(&core, "net", &jwt).await.unwrap_err();
    assert_eq!(err.status(), 403);
}

fn jwks_server_keys(keys: &[(&TestKey, &str)]) -> Value {
    json!({"keys": keys.iter().map(|(k, kid)| k.jwk(kid)).collect::<Vec<_>>()})
}

#[tokio::test]
async fn jwks_url_keys_are_cached_and_refetched_on_unknown_kid() {
    let core = core().await;
    let ec = TestKey::generate(Algorithm::ES256);
    let ed = TestKey::generate(Algorithm::EdDSA);
    let rsa = TestKey::generate(Algorithm::RS256);
    let served =
        std::sync::Arc::new(std::sync::Mutex::new(jwks_server_keys(&[(&ec, "a"), (&ed, "b")])));
    let current = served.clone();
    let server = FakeServer::start(move |seen| match seen.path.as_str() {
        "/keys" => (200, current.lock().unwrap().clone()),
        _ => (404, json!({})),
    })
    .await;
    write(&core, "auth/jwt/config", json!({"jwks_url": format!("{}/keys", server.url())})).await;
    assert_eq!(server.hits("/keys"), 1, "the key set is checked when the config is written");
    write(
        &core,
        "auth/jwt/role/gh",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_claims_type": "glob",
               "bound_claims": {"repository": "acme/*"}, "bound_audiences": ["coffer"],
               "token_policies": ["gh"]}),
    )
    .await;
    let claims =
        |repo: &str| json!({"sub": "repo:x", "repository": repo, "aud": "coffer", "iat": now()});
    let auth = login(&core, "gh", &ec.sign(Some("a"), &claims("acme/web"))).await.unwrap();
    assert_eq!(auth.auth.unwrap().policies, vec!["default", "gh"]);
    assert!(login(&core, "gh", &ed.sign(Some("b"), &claims("acme/api"))).await.is_ok());
    assert_eq!(server.hits("/keys"), 1, "known keys come from the cache");
    assert!(
        refused(&core, "gh", &ec.sign(Some("a"), &claims("other/web")))
            .await
            .contains("repository")
    );

    // The provider rotates to a new key: the unknown kid triggers one refetch.
    *served.lock().unwrap() = jwks_server_keys(&[(&rsa, "c")]);
    assert!(login(&core, "gh", &rsa.sign(Some("c"), &claims("acme/web"))).await.is_ok());
    assert_eq!(server.hits("/keys"), 2);
    // A forged kid right after does not make the server fetch again.
    let forged = TestKey::generate(Algorithm::RS256);
    assert!(
        refused(&core, "gh", &forged.sign(Some("zzz"), &claims("acme/web")))
            .await
            .contains("signature")
    );
    assert_eq!(server.hits("/keys"), 2, "refetches are throttled");

    // A key set that cannot be fetched is refused at config time, unless told to skip.
    let err = call(
        &core,
        Some("root"),
        Operation::Update,
        "auth/jwt/config",
        json!({"jwks_url": format!("{}/missing", server.url())}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "error checking jwks URL");
    let skipped = write(
        &core,
        "auth/jwt/config",
        json!({"jwks_url": format!("{}/missing", server.url()), "skip_jwks_validation": true}),
    )
    .await;
    assert_eq!(skipped.warnings, vec!["error checking jwks URL"]);
    assert!(
        refused(&core, "gh", &rsa.sign(Some("c"), &claims("acme/web")))
            .await
            .contains("fetching keys")
    );
}

#[tokio::test]
async fn oidc_discovery_finds_the_key_set() {
    let core = core().await;
    let key = TestKey::generate(Algorithm::EdDSA);
    let jwks = jwks_server_keys(&[(&key, "k1")]);
    let issuer = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let iss = issuer.clone();
    let server = FakeServer::start(move |seen| {
        let base = iss.lock().unwrap().clone();
        match seen.path.as_str() {
            "/.well-known/openid-configuration" => {
                (200, json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}))
            }
            "/jwks" => (200, jwks.clone()),
            _ => (404, json!({})),
        }
    })
    .await;
    *issuer.lock().unwrap() = server.url();
    let written = write(
        &core,
        "auth/jwt/config",
        json!({"oidc_discovery_url": format!("{}/.well-known/openid-configuration", server.url()),
               "bound_issuer": server.url()}),
    )
    .await;
    assert_eq!(written.warnings.len(), 1, "the well-known suffix is trimmed with a warning");
    let config = call(&core, Some("root"), Operation::Read, "auth/jwt/config", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(config["oidc_discovery_url"], format!("{}/", server.url()), "as Vault trims it");
    assert_eq!(config["status"], "valid");
    assert_eq!(config["jwt_supported_algs"], json!([]));
    write(
        &core,
        "auth/jwt/role/k8s",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer",
               "token_policies": "apps"}),
    )
    .await;
    let jwt = key.sign(
        Some("k1"),
        &json!({"iss": server.url(), "sub": "system:serviceaccount:ns:sa", "aud": ["coffer"],
                "exp": now() + 60}),
    );
    let auth = login(&core, "k8s", &jwt).await.unwrap().auth.unwrap();
    assert_eq!(auth.policies, vec!["apps", "default"]);

    // The discovery document must name the configured issuer.
    *issuer.lock().unwrap() = "https://elsewhere.example.com".into();
    let err = call(
        &core,
        Some("root"),
        Operation::Update,
        "auth/jwt/config",
        json!({"oidc_discovery_url": server.url()}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "error checking oidc discovery URL");
}

#[tokio::test]
async fn config_and_role_validation() {
    let core = core().await;
    let key = TestKey::generate(Algorithm::RS256);
    let err = |r: Result<coffer_types::Response, coffer_types::Error>| {
        let e = r.unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };
    let cfg = |data: Value| call(&core, Some("root"), Operation::Update, "auth/jwt/config", data);
    assert_eq!(
        err(cfg(json!({})).await),
        "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set"
    );
    assert!(
        err(cfg(json!({"jwt_validation_pubkeys": "garbage"})).await)
            .contains("error parsing public key")
    );
    assert!(
        err(cfg(json!({"jwt_validation_pubkeys": key.public_pem, "jwt_supported_algs": "HS256"}))
            .await)
        .contains("unsupported signing algorithm: HS256")
    );
    // Login before any configuration.
    assert_eq!(refused(&core, "ci", "a.b.c").await, "could not load configuration");
    cfg(json!({"jwt_validation_pubkeys": key.public_pem, "jwt_supported_algs": "RS256"}))
        .await
        .unwrap();

    let role = |data: Value| call(&core, Some("root"), Operation::Update, "auth/jwt/role/r", data);
    assert_eq!(
        err(role(json!({"user_claim": "sub"})).await),
        "'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified."
    );
    assert_eq!(
        err(role(json!({"role_type": "jwt", "user_claim": "sub"})).await),
        "must have at least one bound constraint when creating/updating a role"
    );
    assert_eq!(
        err(role(json!({"role_type": "jwt", "bound_subject": "x"})).await),
        "a user claim must be defined on the role"
    );
    assert_eq!(
        err(role(json!({"role_type": "saml", "user_claim": "sub"})).await),
        "invalid 'role_type': saml"
    );
    assert!(
        err(role(json!({"role_type": "jwt", "user_claim": "sub", "bound_claims_type": "glob",
                        "bound_claims": {"n": 1}}))
        .await)
        .contains("bound claim \"n\"")
    );
    assert!(
        err(role(json!({"role_type": "jwt", "user_claim": "sub", "bound_subject": "x",
                        "claim_mappings": {"a": "role"}}))
        .await)
        .contains("reserved")
    );
    // The CLI sends bound_claims as a JSON string; leeways accept durations and -1.
    role(json!({"role_type": "jwt", "user_claim": "sub", "bound_claims": "{\"env\":\"prod\"}",
                "clock_skew_leeway": "-1", "expiration_leeway": "2m", "ttl": "5m"}))
    .await
    .unwrap();
    let read = call(&core, Some("root"), Operation::Read, "auth/jwt/role/r", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(read["bound_claims"], json!({"env": "prod"}));
    assert_eq!(read["clock_skew_leeway"], -1);
    assert_eq!(read["expiration_leeway"], 120);
    assert_eq!(read["token_ttl"], 300, "legacy ttl fills token_ttl");
    assert_eq!(read["ttl"], 300, "a legacy name used is echoed, as the reference does");
    assert!(read.get("policies").is_none());
    for empty in ["allowed_redirect_uris", "claim_mappings", "oauth2_metadata", "oidc_scopes"] {
        assert_eq!(read[empty], Value::Null, "{empty} reads as null when empty");
    }
    assert_eq!(read["bound_claims_type"], "string");
    assert_eq!(read["callback_mode"], "client");
    // An update keeps what it does not mention.
    role(json!({"token_policies": "a"})).await.unwrap();
    let read = call(&core, Some("root"), Operation::Read, "auth/jwt/role/r", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(read["role_type"], "jwt");
    assert_eq!(read["token_policies"], json!(["a"]));
    let list = call(&core, Some("root"), Operation::List, "auth/jwt/role/", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(list["keys"], json!(["r"]));
    call(&core, Some("root"), Operation::Delete, "auth/jwt/role/r", json!({})).await.unwrap();
    let gone = call(&core, Some("root"), Operation::Read, "auth/jwt/role/r", json!({})).await;
    assert_eq!(gone.unwrap_err().status(), 404);
    // ES256 is outside the configured algorithms.
    write(
        &core,
        "auth/jwt/role/r",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_subject": "s"}),
    )
    .await;
    let ec = TestKey::generate(Algorithm::ES256);
    assert!(
        refused(&core, "r", &ec.sign(None, &json!({"sub": "s", "exp": now() + 60})))
            .await
            .contains("token signed with unexpected algorithm")
    );
}

/// Renewal follows the role as it is now (OpenBao 2.7): new TTLs apply; a deleted role
/// refuses with a 500.
#[tokio::test]
async fn renewal_follows_the_role() {
    let core = core().await;
    let key = TestKey::generate(Algorithm::RS256);
    let config = json!({"jwt_validation_pubkeys": [key.public_pem], "bound_issuer": ISSUER});
    write(&core, "auth/jwt/config", config).await;
    ci_role(&core).await;
    let jwt = key.sign(None, &claims("alice", json!(["api"]), "prod"));
    let token = login(&core, "ci", &jwt).await.unwrap().auth.unwrap().client_token;
    let renew = || async {
        call(&core, Some(token.expose()), Operation::Update, "auth/token/renew-self", json!({}))
            .await
    };
    write(&core, "auth/jwt/role/ci", json!({"token_ttl": "20m"})).await;
    assert_eq!(renew().await.unwrap().auth.unwrap().lease_duration, 1200);
    call(&core, Some("root"), Operation::Delete, "auth/jwt/role/ci", json!({})).await.unwrap();
    let refused = renew().await.unwrap_err();
    assert_eq!(
        (refused.status(), refused.to_string().as_str()),
        (500, "failed to renew entry: role ci does not exist during renewal")
    );
}
