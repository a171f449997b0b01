//! TLS certificate auth over a real TLS handshake: a `coffer server` started from a config
//! file with a TLS listener is initialised and unsealed over TLS, cert auth is enabled, and
//! clients log in with `curl --cert` and `bao login -method=cert`; a certificate from another
//! CA and a connection without any certificate are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bao, free_port};
use serde_json::{Value, json};

/// Kills the server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().expect("the openssl CLI is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Writes `<name>.pem` and `<name>.key` in `dir`: self-signed when `issuer` is `None`.
fn make_cert(dir: &Path, name: &str, subject: &str, issuer: Option<&str>, ext: &str) -> PathBuf {
    let file = |suffix: &str| dir.join(format!("{name}.{suffix}")).to_str().unwrap().to_string();
    std::fs::write(file("ext"), format!("[v3]\n{ext}")).unwrap();
    let key_args =
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &file("key")];
    match issuer {
        None => {
            let mut args = vec!["req", "-x509", "-days", "1", "-subj", subject];
            args.extend(key_args);
            let (config, out) = (file("ext"), file("pem"));
            args.extend(["-config", &config, "-extensions", "v3", "-out", &out]);
            // `req` wants a distinguished_name section even when -subj gives the subject.
            let text = std::fs::read_to_string(&config).unwrap();
            std::fs::write(&config, format!("[req]\ndistinguished_name = dn\n[dn]\n{text}"))
                .unwrap();
            openssl(&args);
        }
        Some(ca) => {
            let mut args = vec!["req", "-new", "-subj", subject, "-out"];
            let csr = file("csr");
            args.push(&csr);
            args.extend(key_args);
            openssl(&args);
            let (ca_pem, ca_key) = (dir.join(format!("{ca}.pem")), dir.join(format!("{ca}.key")));
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                ca_pem.to_str().unwrap(),
                "-CAkey",
                ca_key.to_str().unwrap(),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &file("ext"),
                "-extensions",
                "v3",
                "-out",
                &file("pem"),
            ]);
        }
    }
    dir.join(format!("{name}.pem"))
}

/// One HTTPS call with curl: `client` is the (cert, key) to present, if any.
fn curl(
    addr: &str,
    ca: &Path,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    client: Option<(&Path, &Path)>,
) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}", "--cacert"]).arg(ca);
    if let Some(token) = token {
        cmd.args(["-H", &format!("X-Vault-Token: {token}")]);
    }
    if let Some(body) = body {
        cmd.args(["-d", &body.to_string()]);
    }
    if let Some((cert, key)) = client {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let out = cmd.arg(format!("https://{addr}/v1/{path}")).output().expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = status.trim().parse().unwrap_or_else(|_| panic!("curl {path}: {text} {out:?}"));
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

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
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server_ext = "subjectAltName = IP:127.0.0.1,DNS:localhost\n";
    let server_cert = make_cert(d, "server", "/CN=localhost", None, server_ext);
    let ca_ext = "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign\nsubjectKeyIdentifier = hash\n";
    let client_ext = "basicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";
    let ca = make_cert(d, "ca", "/CN=Client CA", None, ca_ext);
    make_cert(d, "web", "/CN=web.client.test", Some("ca"), client_ext);
    make_cert(d, "other-ca", "/CN=Other CA", None, ca_ext);
    make_cert(d, "intruder", "/CN=web.client.test", Some("other-ca"), client_ext);

    let addr = format!("127.0.0.1:{}", free_port());
    let config = d.join("server.hcl");
    let listener = format!(
        "listener \"tcp\" {{\n address = \"{addr}\"\n tls_cert_file = \"{}\"\n tls_key_file = \"{}\"\n}}\n",
        server_cert.display(),
        d.join("server.key").display()
    );
    std::fs::write(&config, format!("storage \"inmem\" {{}}\n{listener}")).unwrap();
    let _server = Running(
        Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["server", "--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&addr).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }

    let call = |method: &str, path: &str, token: Option<&str>, body: Option<&Value>| {
        curl(&addr, &server_cert, method, path, token, body, None)
    };
    let init = json!({"secret_shares": 1, "secret_threshold": 1});
    let (status, init) = call("PUT", "sys/init", None, Some(&init));
    assert_eq!(status, 200, "{init}");
    let root = init["root_token"].as_str().unwrap().to_string();
    let key = init["keys_base64"][0].clone();
    let (status, unsealed) = call("PUT", "sys/unseal", None, Some(&json!({"key": key})));
    assert_eq!((status, &unsealed["sealed"]), (200, &json!(false)), "{unsealed}");
    let (status, body) = call("POST", "sys/auth/cert", Some(&root), Some(&json!({"type": "cert"})));
    assert_eq!(status, 204, "{body}");
    let role =
        json!({"certificate": std::fs::read_to_string(&ca).unwrap(), "token_policies": "web"});
    let (status, body) = call("POST", "auth/cert/certs/web", Some(&root), Some(&role));
    assert_eq!(status, 204, "{body}");

    // curl presents the client certificate in the handshake.
    let login = |client: Option<&str>| {
        let files = client.map(|c| (d.join(format!("{c}.pem")), d.join(format!("{c}.key"))));
        let client = files.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        let body = json!({"name": "web"});
        curl(&addr, &server_cert, "POST", "auth/cert/login", None, Some(&body), client)
    };
    let (status, body) = login(Some("web"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["policies"], json!(["default", "web"]));
    assert_eq!(body["auth"]["metadata"]["common_name"], "web.client.test");
    assert_eq!(body["auth"]["metadata"]["cert_name"], "web");
    let (status, body) = login(Some("intruder"));
    let untrusted = json!({"errors": ["invalid certificate or no client certificate supplied"]});
    assert_eq!((status, body), (400, untrusted));
    let (status, body) = login(None);
    assert_eq!((status, body), (400, json!({"errors": ["no client certificate found"]})));

    // The real CLI, as the docs tell users to log in.
    let Some(bao) = bao() else { return };
    let out = bao_login(&bao, &addr, d, &server_cert, "web");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let auth: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(auth["auth"]["token_policies"], json!(["default", "web"]));
    assert!(auth["auth"]["client_token"].as_str().unwrap().starts_with("s."));
    let out = bao_login(&bao, &addr, d, &server_cert, "intruder");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("invalid certificate or no client certificate supplied"), "{stderr}");
}
