//! hvac, the Python Vault client, drives Coffer's APIs (tests/python/): KV v2, PKI, the
//! AppRole, Kubernetes and JWT auth helpers against a dev server, and TLS certificate auth
//! against a TLS server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsStr;
use std::process::{Command, Output};

use common::tls::TlsServer;
use common::{Server, python};

/// Runs pytest on `target` (a folder or a script) with `env` set.
fn pytest(python: impl AsRef<OsStr>, target: &str, env: &[(&str, &OsStr)]) -> Output {
    Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", target])
        .envs(env.iter().copied())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run pytest")
}

#[test]
fn hvac_suite() {
    let Some(python) = python() else { return };
    let server = Server::dev();
    let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
    let url = server.url();
    let env = [("VAULT_ADDR", OsStr::new(&url)), ("VAULT_TOKEN", OsStr::new(&server.token))];
    let out = pytest(python, tests, &env);
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
    let url = format!("https://{}", tls.addr);
    let env = [
        ("VAULT_ADDR", OsStr::new(&url)),
        ("VAULT_CACERT", tls.server_cert.as_ref()),
        ("VAULT_TOKEN", OsStr::new(&tls.root)),
        ("COFFER_CERT_DIR", tls.dir.path().as_os_str()),
    ];
    let out = pytest(python, script, &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hvac cert tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 passed"), "{stdout}");
}
