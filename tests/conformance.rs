//! The guide's own workflow (`../shared/conformance/`): the microservices PKI guide end to end
//! with the real `bao` CLI, `openssl`, Python's `cryptography` and `ssl` — against Coffer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn the_guide_workflow_passes_against_coffer() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/run.sh");
    if !suite.exists() {
        eprintln!("skipping: {} is not here", suite.display());
        return;
    }
    let Some(bao) = common::bao() else { return };
    let server_cmd = format!(
        "{} server --dev --dev-listen-address $ADDR --dev-root-token-id $ROOT_TOKEN",
        env!("CARGO_BIN_EXE_coffer")
    );
    let out = Command::new("bash")
        .arg(&suite)
        .env("SERVER_CMD", server_cmd)
        .env("BAO", &bao)
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or("").to_string();
    assert!(
        out.status.success(),
        "conformance suite: {summary}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(summary.contains(" passed, 0 failed"), "{summary}");
}
