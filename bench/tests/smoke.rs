//! CI smoke: every workload runs against a dev Coffer for about a second. It asserts that
//! requests succeed, never how fast they are.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn every_workload_runs_against_coffer() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let coffer = ["target/debug/coffer", "target/release/coffer"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.exists());
    let Some(coffer) = coffer else {
        eprintln!("skipping: build the coffer binary first (cargo build)");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(&coffer)
        .args([
            "server",
            "--dev",
            "--dev-listen-address",
            &addr,
            "--dev-root-token-id",
            "smoke-root",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_coffer-bench"))
        .args(["smoke", "--addr", &format!("http://{addr}"), "--token", "smoke-root"])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "smoke failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
