//! hvac, the Python Vault client, drives Coffer's KV v2 and PKI APIs (tests/python/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

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
