//! Renewal of cert-auth tokens, driven through the core with chosen client chains: the same
//! certificate renews, anything else is refused with OpenBao's status and message (checked
//! against OpenBao 2.7 over real TLS).
//!
//! - `the_login_certificate_renews_and_extends_the_ttl`
//! - `no_certificate_another_key_or_another_ca_cannot_renew`
//! - `renew_accessor_binds_to_the_connection_of_the_renewal`
//! - `changed_policies_refuse_and_changed_ttls_apply`
//! - `disable_binding_renews_without_a_certificate`
//! - `a_deleted_role_leaves_the_token_unrenewed`
//! - `the_binding_is_never_shown`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use coffer_core::Core;
use coffer_types::{Error, Operation, Request, Response};
use common::*;
use serde_json::{Value, json};

const UNTRUSTED: &str = "invalid certificate or no client certificate supplied";
const MISMATCH: &str = "failed to renew entry: client identity during renewal not matching client identity used during login";

/// A token store request with `token`, presenting `chain` on the connection.
async fn over(
    core: &Core,
    token: &str,
    path: &str,
    data: Value,
    chain: &[&Cert],
) -> Result<Response, Error> {
    let mut req = Request::new(Operation::Update, path)
        .with_data(data.as_object().cloned().unwrap())
        .with_token(token);
    req.peer_certificates = Arc::new(chain.iter().map(|c| c.der.clone()).collect());
    core.handle(req).await
}

/// The status and message of a refused renewal.
async fn refused(core: &Core, token: &str, chain: &[&Cert]) -> (u16, String) {
    match over(core, token, "auth/token/renew-self", json!({}), chain).await {
        Ok(r) => panic!("renewal unexpectedly succeeded: {:?}", r.auth.map(|a| a.lease_duration)),
        Err(e) => (e.status(), e.to_string()),
    }
}

/// Seconds left on `token`.
async fn ttl(core: &Core, token: &str) -> i64 {
    let me = call(core, Some(token), Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    me["ttl"].as_i64().unwrap()
}

struct Setup {
    core: Arc<Core>,
    web: Cert,
    /// Same CA, same subject, another key.
    web2: Cert,
    /// Same subject from another CA.
    intruder: Cert,
    token: String,
    accessor: String,
}

/// Role `web` (1h TTL, 10h max) trusting `ca`, and a token from a login with `web`.
async fn setup() -> Setup {
    let pki = Pki::new();
    let ca = pki.root("ca", "Test CA");
    let other = pki.root("other", "Other CA");
    let web = pki.client(&ca, "web", "/CN=web.client.test", "");
    let web2 = pki.client(&ca, "web2", "/CN=web.client.test", "");
    let intruder = pki.client(&other, "intruder", "/CN=web.client.test", "");
    let core = core().await;
    let role = json!({"certificate": &ca.pem, "token_policies": "web", "token_ttl": "1h",
        "token_max_ttl": "10h"});
    write(&core, "auth/cert/certs/web", role).await;
    let auth = login(&core, Some("web"), &[&web]).await.unwrap().auth.unwrap();
    Setup {
        core,
        web,
        web2,
        intruder,
        token: auth.client_token.expose().to_string(),
        accessor: auth.accessor,
    }
}

#[tokio::test]
async fn the_login_certificate_renews_and_extends_the_ttl() {
    let s = setup().await;
    assert!(ttl(&s.core, &s.token).await <= 3600);
    let renewed =
        over(&s.core, &s.token, "auth/token/renew-self", json!({"increment": "2h"}), &[&s.web])
            .await
            .unwrap();
    let auth = renewed.auth.unwrap();
    assert_eq!(auth.lease_duration, 7200, "the increment, within the role's 10h max");
    assert_eq!(auth.client_token.expose(), s.token);
    assert!(ttl(&s.core, &s.token).await > 7000);
    // Without an increment, the role's TTL.
    let renewed =
        over(&s.core, &s.token, "auth/token/renew-self", json!({}), &[&s.web]).await.unwrap();
    assert_eq!(renewed.auth.unwrap().lease_duration, 3600);
}

#[tokio::test]
async fn no_certificate_another_key_or_another_ca_cannot_renew() {
    let s = setup().await;
    assert_eq!(refused(&s.core, &s.token, &[]).await, (400, "no client certificate found".into()));
    assert_eq!(refused(&s.core, &s.token, &[&s.web2]).await, (500, MISMATCH.into()));
    assert_eq!(refused(&s.core, &s.token, &[&s.intruder]).await, (400, UNTRUSTED.into()));
    assert!(ttl(&s.core, &s.token).await <= 3600, "refusals leave the TTL alone");
    // `auth/token/renew` by root over a connection without the certificate fails alike.
    let by_root = over(&s.core, "root", "auth/token/renew", json!({"token": &s.token}), &[]).await;
    assert_eq!(by_root.unwrap_err(), Error::invalid("no client certificate found"));
}

#[tokio::test]
async fn renew_accessor_binds_to_the_connection_of_the_renewal() {
    let s = setup().await;
    let body = json!({"accessor": &s.accessor, "increment": "3h"});
    let renewed =
        over(&s.core, "root", "auth/token/renew-accessor", body.clone(), &[&s.web]).await.unwrap();
    let auth = renewed.auth.unwrap();
    assert_eq!((auth.client_token.expose(), auth.lease_duration), ("", 10800));
    let refused = over(&s.core, "root", "auth/token/renew-accessor", body, &[&s.web2]).await;
    assert_eq!(refused.unwrap_err().status(), 500);
}

#[tokio::test]
async fn changed_policies_refuse_and_changed_ttls_apply() {
    let s = setup().await;
    write(&s.core, "auth/cert/certs/web", json!({"token_policies": "web,extra"})).await;
    assert_eq!(
        refused(&s.core, &s.token, &[&s.web]).await,
        (500, "failed to renew entry: policies have changed, not renewing".into())
    );
    // Back to the same policies (`default` does not count), with a shorter TTL.
    write(
        &s.core,
        "auth/cert/certs/web",
        json!({"token_policies": "default,web", "token_ttl": "30m"}),
    )
    .await;
    let renewed =
        over(&s.core, &s.token, "auth/token/renew-self", json!({}), &[&s.web]).await.unwrap();
    assert_eq!(renewed.auth.unwrap().lease_duration, 1800);
}

#[tokio::test]
async fn disable_binding_renews_without_a_certificate() {
    let s = setup().await;
    write(&s.core, "auth/cert/config", json!({"disable_binding": true})).await;
    let renewed = over(&s.core, &s.token, "auth/token/renew-self", json!({}), &[]).await.unwrap();
    assert_eq!(renewed.auth.unwrap().lease_duration, 3600);
    let renewed =
        over(&s.core, &s.token, "auth/token/renew-self", json!({}), &[&s.web2]).await.unwrap();
    assert!(renewed.auth.is_some());
}

#[tokio::test]
async fn a_deleted_role_leaves_the_token_unrenewed() {
    let s = setup().await;
    call(&s.core, Some("root"), Operation::Delete, "auth/cert/certs/web", json!({})).await.unwrap();
    let answer =
        over(&s.core, &s.token, "auth/token/renew-self", json!({"increment": "5h"}), &[&s.web])
            .await
            .unwrap();
    assert!(answer.is_empty(), "204, as OpenBao answers");
    assert!(ttl(&s.core, &s.token).await <= 3600);
}

#[tokio::test]
async fn the_binding_is_never_shown() {
    let s = setup().await;
    let lookups = [
        call(&s.core, Some(&s.token), Operation::Read, "auth/token/lookup-self", json!({})).await,
        call(
            &s.core,
            Some("root"),
            Operation::Update,
            "auth/token/lookup-accessor",
            json!({"accessor": &s.accessor}),
        )
        .await,
    ];
    for lookup in lookups {
        let text = Value::Object(lookup.unwrap().data.unwrap()).to_string();
        assert!(!text.contains("certificate\""), "{text}");
        assert!(!text.contains("internal"), "{text}");
    }
    let renewed =
        over(&s.core, &s.token, "auth/token/renew-self", json!({}), &[&s.web]).await.unwrap();
    let auth = serde_json::to_string(&renewed.auth.unwrap()).unwrap();
    assert!(!auth.contains("internal") && !auth.contains("\"certificate\""), "{auth}");
}
