//! The README's walkthrough runs as written, against a dev server, with `coffer` on PATH.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::Server;

/// The shell blocks of the README section whose heading starts with `heading`.
fn shell_blocks(readme: &str, heading: &str) -> Vec<String> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    section
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("\n```").next())
        .map(String::from)
        .collect()
}

#[test]
fn five_minute_walkthrough_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = shell_blocks(&readme, "Five minutes");
    assert!(!blocks.is_empty());
    let server = Server::dev();
    let bin_dir =
        std::path::Path::new(env!("CARGO_BIN_EXE_coffer")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let home = tempfile::tempdir().unwrap();
    // The blocks run in one shell, in order, as a reader would type them. The walkthrough
    // talks to 127.0.0.1:8200 with the token `root`; point it at this test's server.
    {
        // `! cmd` never stops a `set -e` script; check the denial for real at the end.
        let block = format!(
            "{}\nif VAULT_TOKEN=$APP_TOKEN coffer secrets list; then exit 1; fi",
            blocks.join("\n")
        );
        let script = block
            .replace("http://127.0.0.1:8200", &server.url())
            .replace("VAULT_TOKEN=root", &format!("VAULT_TOKEN={}", server.token));
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("PATH", &path)
            .env("HOME", home.path())
            .env_remove("COFFER_ADDR")
            .env_remove("COFFER_TOKEN")
            .current_dir(home.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README block failed:\n{script}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
