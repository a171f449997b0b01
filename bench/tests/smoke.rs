//! CI smoke: `coffer-bench smoke` against a dev Coffer this test starts. Every supported
//! workload runs for about a second; the test asserts that requests succeed, never how fast.
//!
//! The coffer binary is taken from `target/{debug,release}/coffer` (the workspace test run
//! builds it); without one the test says so and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Kills the server even when the test fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The newest built coffer binary; `None` (with a message saying so) when there is none.
fn coffer_binary() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let found = ["target/debug/coffer", "target/release/coffer"]
        .iter()
        .map(|p| workspace.join(p))
        .filter(|p| p.exists())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    if found.is_none() {
        eprintln!(
            "skipping: no target/{{debug,release}}/coffer; build it first (cargo build -p coffer)"
        );
    }
    found
}

/// Runs `coffer-bench` (without a database from the environment): whether it succeeded, and
/// its stdout and stderr for assertion messages.
fn bench(command: &mut Command) -> (bool, String) {
    let out = command.env_remove("COFFER_BENCH_DATABASE").output().unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// Starts `coffer server --dev` on a free port with `token` as its root token.
fn dev_server(coffer: &Path, token: &str) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(coffer)
        .args(["server", "--dev", "--dev-listen-address", &addr, "--dev-root-token-id", token])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Server(child), addr)
}

#[test]
fn every_supported_workload_succeeds_against_a_dev_coffer() {
    let Some(coffer) = coffer_binary() else { return };
    let (_server, addr) = dev_server(&coffer, "smoke-root");
    // `smoke` waits for sys/health itself, and fails if any set-up workload had a failed request.
    let url = format!("http://{addr}");
    let (succeeded, report) = bench(Command::new(env!("CARGO_BIN_EXE_coffer-bench")).args([
        "smoke",
        "--addr",
        &url,
        "--token",
        "smoke-root",
        "--wait",
        "60s",
    ]));
    assert!(succeeded, "smoke failed against {}:\n{report}", coffer.display());
    assert!(report.contains("| kv2-read |"), "kv2-read did not run:\n{report}");
    eprintln!("{report}");
}

/// The lease scale probe (issue 6), small: 2,000 leases, a restart, half a second each of
/// renew and revoke. Needs PostgreSQL (`COFFER_TEST_POSTGRES_URL`, as the database engine's
/// tests); asserts that every step worked, never how fast.
#[test]
fn lease_probe_runs_small_against_a_durable_coffer() {
    let Some(coffer) = coffer_binary() else { return };
    let Ok(database) = std::env::var("COFFER_TEST_POSTGRES_URL") else {
        eprintln!("skipping: set COFFER_TEST_POSTGRES_URL (trust auth) to run the lease probe");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("leases.json");
    let (succeeded, report) = bench(
        Command::new(env!("CARGO_BIN_EXE_coffer-bench"))
            .args(["leases", "--leases", "2000", "--concurrency", "8", "--duration", "500ms"])
            .arg("--coffer")
            .arg(&coffer)
            .arg("--database")
            .arg(&database)
            .arg("--json")
            .arg(&json),
    );
    assert!(succeeded, "the lease probe failed against {}:\n{report}", coffer.display());
    let figures: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(figures["scale"]["leases_stored"], 2000, "{report}");
    assert_eq!(figures["scale"]["create_errors"], serde_json::json!({}), "{report}");
    let verified = &figures["scale"]["verified_after_restart"];
    assert_eq!(verified, &serde_json::json!([1000, 1000]), "{report}");
    let rows = figures["rows"].as_array().unwrap();
    let workloads: Vec<&str> = rows.iter().map(|r| r["workload"].as_str().unwrap()).collect();
    assert_eq!(workloads, ["lease-renew", "lease-revoke"], "{report}");
    for row in rows {
        assert!(row["requests"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(row["errors"], serde_json::json!({}), "{report}");
    }
    assert!(figures["servers"][0]["serving_ms"].as_f64().unwrap() > 0.0, "{report}");
    eprintln!("{report}");
}

/// The CRL probe (issue 4), small: 50 certificates issued and revoked, then CRL rebuilds
/// timed. Asserts that every revocation is listed, never how fast.
#[test]
fn crl_probe_runs_small_against_a_dev_coffer() {
    let Some(coffer) = coffer_binary() else { return };
    let (_server, addr) = dev_server(&coffer, "crl");
    let url = format!("http://{addr}");
    for _ in 0..300 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (succeeded, report) = bench(Command::new(env!("CARGO_BIN_EXE_coffer-bench")).args([
        "crl",
        "--addr",
        &url,
        "--token",
        "crl",
        "--revoked",
        "50",
        "--concurrency",
        "4",
    ]));
    assert!(succeeded, "the CRL probe failed:\n{report}");
    assert!(report.contains("| 50 | 50 |"), "revocations missing from the report:\n{report}");
}
