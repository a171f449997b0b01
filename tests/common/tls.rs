//! A `coffer server` process with a TLS listener that requests client certificates, and
//! the certificates and HTTPS calls its tests need (made with the `openssl` and `curl` CLIs).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::free_port;

/// Kills the server when the test ends, however it ends.
pub struct Running(Child);

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
pub fn make_cert(
    dir: &Path,
    name: &str,
    subject: &str,
    issuer: Option<&str>,
    ext: &str,
) -> PathBuf {
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
pub fn curl(
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

/// A `coffer server` with a TLS listener, initialised, unsealed, with cert auth enabled and
/// a role `web` (policy `web`, 1h TTL) trusting `ca`; certificates in `dir`: `web` and `web2`
/// (same CA and subject, different keys) and `intruder` (same subject, another CA).
pub struct TlsServer {
    _server: Running,
    /// The certificates and keys (`<name>.pem`, `<name>.key`).
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The server's self-signed certificate: the CA clients must trust.
    pub server_cert: PathBuf,
    /// The root token.
    pub root: String,
}

impl TlsServer {
    /// Starts, initialises and unseals the server and sets up cert auth.
    pub fn start() -> TlsServer {
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
    pub fn call(
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

    /// A call with the root token and no client certificate.
    pub fn root_call(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        self.call(method, path, Some(&self.root), Some(body), None)
    }

    /// A cert login to role `web`, presenting `client`.
    pub fn login(&self, client: Option<&str>) -> (u16, Value) {
        self.call("POST", "auth/cert/login", None, Some(&json!({"name": "web"})), client)
    }
}
