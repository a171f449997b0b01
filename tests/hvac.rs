//! hvac, the Python Vault client, drives Coffer's APIs (tests/python/): KV v2, PKI, the
//! AppRole, Kubernetes and JWT auth helpers against a dev server, and TLS certificate auth
//! against a TLS server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::tls::TlsServer;
use common::{Server, python};

#[test]
fn hvac_suite() {
    let Some(python) = python() else { return };
    let server = Server::dev();
    let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
    let out = Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", tests])
        .env("VAULT_ADDR", server.url())
        .env("VAULT_TOKEN", &server.token)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hvac tests failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
}

/// hvac's cert auth helpers over a real TLS handshake (`tests/python/tls_cert_hvac.py`, which
/// the suite above does not collect).
#[test]
fn hvac_cert_login_over_tls() {
    let Some(python) = python() else { return };
    let tls = TlsServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/tls_cert_hvac.py");
    let out = Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", script])
        .env("VAULT_ADDR", format!("https://{}", tls.addr))
        .env("VAULT_CACERT", &tls.server_cert)
        .env("VAULT_TOKEN", &tls.root)
        .env("COFFER_CERT_DIR", tls.dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hvac cert tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 passed"), "{stdout}");
}
