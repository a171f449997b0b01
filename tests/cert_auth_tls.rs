//! TLS certificate auth over a real TLS handshake: a `coffer server` started from a config
//! file with a TLS listener is initialised and unsealed over TLS, cert auth is enabled, and
//! clients log in with `curl --cert` and `bao login -method=cert`; a certificate from another
//! CA and a connection without any certificate are refused. The tokens renew only over a
//! connection presenting the login's certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::bao;
use common::tls::TlsServer;
use serde_json::{Value, json};

fn bao_login(bao: &Path, addr: &str, dir: &Path, ca: &Path, client: &str) -> Output {
    let (cert, key) = (dir.join(format!("{client}.pem")), dir.join(format!("{client}.key")));
    Command::new(bao)
        .args(["login", "-format=json", "-method=cert"])
        .arg(format!("-client-cert={}", cert.display()))
        .arg(format!("-client-key={}", key.display()))
        .arg("name=web")
        .env("VAULT_ADDR", format!("https://{addr}"))
        .env("VAULT_CACERT", ca)
        .env("HOME", dir)
        .env_remove("VAULT_TOKEN")
        .env_remove("BAO_TOKEN")
        .env_remove("BAO_ADDR")
        .env_remove("BAO_CACERT")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn cert_login_over_a_real_tls_handshake() {
    let tls = TlsServer::start();
    let d = tls.dir.path();

    // curl presents the client certificate in the handshake.
    let (status, body) = tls.login(Some("web"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["policies"], json!(["default", "web"]));
    assert_eq!(body["auth"]["metadata"]["common_name"], "web.client.test");
    assert_eq!(body["auth"]["metadata"]["cert_name"], "web");
    let (status, body) = tls.login(Some("intruder"));
    let untrusted = json!({"errors": ["invalid certificate or no client certificate supplied"]});
    assert_eq!((status, body), (400, untrusted));
    let (status, body) = tls.login(None);
    assert_eq!((status, body), (400, json!({"errors": ["no client certificate found"]})));

    // The real CLI, as the docs tell users to log in.
    let Some(bao) = bao() else { return };
    let out = bao_login(&bao, &tls.addr, d, &tls.server_cert, "web");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let auth: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(auth["auth"]["token_policies"], json!(["default", "web"]));
    assert!(auth["auth"]["client_token"].as_str().unwrap().starts_with("s."));
    let out = bao_login(&bao, &tls.addr, d, &tls.server_cert, "intruder");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("invalid certificate or no client certificate supplied"), "{stderr}");
}

/// Renewal binding over real TLS, with the statuses and messages OpenBao 2.7 gives: the login
/// certificate renews (curl and `bao token renew`); no certificate is a 400, another key
/// under the same CA and subject a 500, a certificate of another CA a 400; refusals leave the
/// TTL alone.
#[test]
fn cert_tokens_renew_only_with_the_login_certificate() {
    let tls = TlsServer::start();
    let (status, body) = tls.login(Some("web"));
    assert_eq!(status, 200, "{body}");
    let token = body["auth"]["client_token"].as_str().unwrap().to_string();
    let renew = |client: Option<&str>, increment: &str| {
        let body = json!({ "increment": increment });
        tls.call("POST", "auth/token/renew-self", Some(&token), Some(&body), client)
    };
    let ttl = || {
        let (status, me) = tls.call("GET", "auth/token/lookup-self", Some(&token), None, None);
        assert_eq!(status, 200, "{me}");
        me["data"]["ttl"].as_i64().unwrap()
    };

    let (status, body) = renew(Some("web"), "2h");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["lease_duration"], 7200, "{body}");
    assert!(ttl() > 7000);

    let (status, body) = renew(None, "5h");
    assert_eq!((status, body), (400, json!({"errors": ["no client certificate found"]})));
    let (status, body) = renew(Some("web2"), "5h");
    let mismatch = "failed to renew entry: client identity during renewal not matching client identity used during login";
    assert_eq!((status, body), (500, json!({"errors": [mismatch]})));
    let (status, body) = renew(Some("intruder"), "5h");
    let untrusted = json!({"errors": ["invalid certificate or no client certificate supplied"]});
    assert_eq!((status, body), (400, untrusted));
    assert!(ttl() <= 7200, "refused renewals leave the TTL alone");

    // The real CLI renews over a connection presenting the login certificate.
    let Some(bao) = bao() else { return };
    let d = tls.dir.path();
    let bao_renew = |client: Option<&str>| {
        let mut cmd = Command::new(&bao);
        cmd.args(["token", "renew", "-format=json", "-increment=3h"]);
        if let Some(c) = client {
            cmd.arg(format!("-client-cert={}", d.join(format!("{c}.pem")).display()));
            cmd.arg(format!("-client-key={}", d.join(format!("{c}.key")).display()));
        }
        cmd.env("VAULT_ADDR", format!("https://{}", tls.addr))
            .env("VAULT_CACERT", &tls.server_cert)
            .env("VAULT_TOKEN", &token)
            .env("HOME", d)
            .env_remove("BAO_TOKEN")
            .env_remove("BAO_ADDR")
            .env_remove("BAO_CACERT")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = bao_renew(Some("web"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let renewed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(renewed["auth"]["lease_duration"], 10800);
    let out = bao_renew(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no client certificate found"), "{stderr}");
}
