//! The server process: TLS listener, config errors, graceful shutdown, slow clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, bao, free_port};

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn tls_listener_serves_the_real_cli() {
    let Some(bao) = bao() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let addr = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("c.hcl");
    write(
        &config,
        &format!(
            "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n address = \"{addr}\"\n tls_cert_file = \"{}\"\n tls_key_file = \"{}\"\n}}\n",
            cert.display(),
            key.display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["server", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&addr).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new(&bao)
        .args(["status", "-format=json"])
        .env("VAULT_ADDR", format!("https://{addr}"))
        .env("VAULT_CACERT", &cert)
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // Uninitialised: status exits 2 but answers over TLS.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("\"initialized\": false"), "{stdout}");
}

#[test]
fn bad_configs_fail_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "storage \"embedded\" {\n path = \"/tmp/x\"\n}\nlistener \"tcp\" {\n address = \"127.0.0.1:0\"\n}\n",
            "tls_cert_file",
        ),
        (
            "storage \"raft\" {\n path = \"/tmp/x\"\n retry_join {\n leader_api_addr = \"http://10.0.0.2:8200\"\n }\n}\nlistener \"tcp\" {\n tls_disable = true\n}\n",
            "PostgreSQL",
        ),
        (
            "storage \"consul\" {}\nlistener \"tcp\" {\n tls_disable = true\n}\n",
            "unknown storage type",
        ),
        ("storage \"embedded\" {", "HCL"),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("{i}.hcl"));
        write(&path, text);
        let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["server", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {i}: {stderr}");
        assert!(stderr.contains(expected), "case {i}: expected {expected:?} in {stderr}");
    }
}

#[test]
fn sigterm_finishes_in_flight_requests() {
    let mut server = Server::dev();
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = br#"{"data":{"k":"in-flight"}}"#;
    let head = format!(
        "PUT /v1/secret/data/inflight HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let waiter = {
        let pid = server.pid();
        std::thread::spawn(move || Command::new("kill").args(["-TERM", &pid.to_string()]).status())
    };
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body[5..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    waiter.join().unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let status = server.terminate().unwrap();
    assert!(status.success(), "graceful exit, got {status}");
    // New connections are refused once it stopped.
    assert!(TcpStream::connect(&server.addr).is_err());
}

#[test]
fn a_slow_client_cannot_hold_a_connection_forever() {
    let server = Server::dev();
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n").unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(25),
        "the server kept the half-sent request open for {waited:?}"
    );
    assert!(waited >= Duration::from_secs(5), "closed too early: {waited:?}");
}
