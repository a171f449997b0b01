//! TLS certificate auth over a real TLS handshake: a `coffer server` started from a config
//! file with a TLS listener is initialised and unsealed over TLS, cert auth is enabled, and
//! clients log in with `curl --cert` and `bao login -method=cert`; a certificate from another
//! CA and a connection without any certificate are refused. The tokens renew only over a
//! connection presenting the login's certificate.
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

/// A `coffer server` with a TLS listener, initialised, unsealed, with cert auth enabled and
/// a role `web` (policy `web`, 1h TTL) trusting `ca`; certificates in `dir`: `web` and `web2`
/// (same CA and subject, different keys) and `intruder` (same subject, another CA).
struct TlsServer {
    _server: Running,
    dir: tempfile::TempDir,
    addr: String,
    server_cert: PathBuf,
    root: String,
}

impl TlsServer {
    fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let server_ext = "subjectAltName = IP:127.0.0.1,DNS:localhost\n";
        let server_cert = make_cert(d, "server", "/CN=localhost", None, server_ext);
        let ca_ext = "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign\nsubjectKeyIdentifier = hash\n";
        let client_ext = "basicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";
        let ca = make_cert(d, "ca", "/CN=Client CA", None, ca_ext);
        make_cert(d, "web", "/CN=web.client.test", Some("ca"), client_ext);
        make_cert(d, "web2", "/CN=web.client.test", Some("ca"), client_ext);
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
        let server = Running(
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
        let mut tls = TlsServer { _server: server, dir, addr, server_cert, root: String::new() };

        let init = json!({"secret_shares": 1, "secret_threshold": 1});
        let (status, init) = tls.call("PUT", "sys/init", None, Some(&init), None);
        assert_eq!(status, 200, "{init}");
        tls.root = init["root_token"].as_str().unwrap().to_string();
        let key = init["keys_base64"][0].clone();
        let (status, unsealed) =
            tls.call("PUT", "sys/unseal", None, Some(&json!({"key": key})), None);
        assert_eq!((status, &unsealed["sealed"]), (200, &json!(false)), "{unsealed}");
        let (status, body) = tls.root_call("POST", "sys/auth/cert", &json!({"type": "cert"}));
        assert_eq!(status, 204, "{body}");
        let role = json!({"certificate": std::fs::read_to_string(&ca).unwrap(),
            "token_policies": "web", "token_ttl": "1h"});
        let (status, body) = tls.root_call("POST", "auth/cert/certs/web", &role);
        assert_eq!(status, 204, "{body}");
        tls
    }

    /// One call with curl, presenting the client certificate `client` (a name in `dir`).
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        client: Option<&str>,
    ) -> (u16, Value) {
        let d = self.dir.path();
        let files = client.map(|c| (d.join(format!("{c}.pem")), d.join(format!("{c}.key"))));
        let client = files.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        curl(&self.addr, &self.server_cert, method, path, token, body, client)
    }

    fn root_call(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        self.call(method, path, Some(&self.root), Some(body), None)
    }

    /// A cert login to role `web`, presenting `client`.
    fn login(&self, client: Option<&str>) -> (u16, Value) {
        self.call("POST", "auth/cert/login", None, Some(&json!({"name": "web"})), client)
    }
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
