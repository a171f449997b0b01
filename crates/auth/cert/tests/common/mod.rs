//! Test support: certificates made with the `openssl` CLI in a temp dir, and a dev core with
//! the cert method at `auth/cert/` whose requests carry a chosen client chain.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Error, Operation, Request, Response};
use serde_json::{Value, json};

/// A certificate made for a test: its files and DER form.
#[derive(Clone)]
pub struct Cert {
    pub pem_path: PathBuf,
    pub key_path: PathBuf,
    pub pem: String,
    pub der: Vec<u8>,
}

impl Cert {
    /// The subject key identifier as Vault prints it (`de:8e:..`).
    pub fn subject_key_id(&self) -> String {
        let out = openssl(&[
            "x509",
            "-noout",
            "-ext",
            "subjectKeyIdentifier",
            "-in",
            self.pem_path.to_str().unwrap(),
        ]);
        out.lines().nth(1).unwrap().trim().to_lowercase()
    }
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().expect("the openssl CLI is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A directory of test certificates.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Pki {
    pub fn new() -> Pki {
        Pki { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn load(&self, name: &str) -> Cert {
        let pem_path = self.dir.path().join(format!("{name}.pem"));
        let der_path = self.file(&format!("{name}.der"));
        openssl(&["x509", "-in", pem_path.to_str().unwrap(), "-outform", "DER", "-out", &der_path]);
        Cert {
            pem: std::fs::read_to_string(&pem_path).unwrap(),
            der: std::fs::read(&der_path).unwrap(),
            key_path: self.dir.path().join(format!("{name}.key")),
            pem_path,
        }
    }

    /// A self-signed root CA.
    pub fn root(&self, name: &str, cn: &str) -> Cert {
        let ext = self.file(&format!("{name}.cnf"));
        std::fs::write(
            &ext,
            "[req]\ndistinguished_name = dn\n[dn]\n[v3]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
        )
        .unwrap();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
            "-config",
            &ext,
            "-extensions",
            "v3",
            "-keyout",
            &self.file(&format!("{name}.key")),
            "-out",
            &self.file(&format!("{name}.pem")),
        ]);
        self.load(name)
    }

    /// A certificate for `subject` (`/CN=x/OU=y`) issued by `issuer` with the extension
    /// lines `ext` (OpenSSL's `-extfile` syntax) and the hex `serial`.
    pub fn issue(&self, issuer: &Cert, name: &str, subject: &str, ext: &str, serial: &str) -> Cert {
        let csr = self.file(&format!("{name}.csr"));
        let extfile = self.file(&format!("{name}.ext"));
        std::fs::write(&extfile, ext).unwrap();
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &self.file(&format!("{name}.key")),
            "-out",
            &csr,
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            issuer.pem_path.to_str().unwrap(),
            "-CAkey",
            issuer.key_path.to_str().unwrap(),
            "-set_serial",
            serial,
            "-days",
            "1",
            "-extfile",
            &extfile,
            "-out",
            &self.file(&format!("{name}.pem")),
        ]);
        self.load(name)
    }

    /// An intermediate CA under `issuer`.
    pub fn intermediate(&self, issuer: &Cert, name: &str, cn: &str) -> Cert {
        let ext = "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";
        self.issue(issuer, name, &format!("/CN={cn}"), ext, "0x1001")
    }

    /// A client certificate (client-auth EKU, key ids, `extra` extension lines).
    pub fn client(&self, issuer: &Cert, name: &str, subject: &str, extra: &str) -> Cert {
        let ext = format!(
            "basicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n{extra}"
        );
        self.issue(issuer, name, subject, &ext, SERIAL_HEX)
    }
}

/// The serial of client certificates, and the same number in decimal.
pub const SERIAL_HEX: &str = "0x3554A42CA141BD1C3A623D4A4EE3BB5364FA21DF";
pub const SERIAL_DECIMAL: &str = "304464075052004062559036819199734928519840014815";

/// A dev core (root token `root`) with the cert method at `auth/cert/`.
pub async fn core() -> Arc<Core> {
    let registry = Registry::new().auth("cert", coffer_cert_auth::factory);
    let core = Core::new(Arc::new(MemoryStorage::new()), registry, CoreConfig::new("inmem"));
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("cert/", "cert", "", "auth_"), true).await.unwrap();
    core
}

/// One request with `token` (if any) and JSON `data`.
pub async fn call(
    core: &Core,
    token: Option<&str>,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response, Error> {
    let mut req = Request::new(op, path).with_data(data.as_object().cloned().unwrap_or_default());
    if let Some(t) = token {
        req = req.with_token(t);
    }
    core.handle(req).await
}

/// A root write that must succeed.
pub async fn write(core: &Core, path: &str, data: Value) -> Response {
    call(core, Some("root"), Operation::Update, path, data)
        .await
        .unwrap_or_else(|e| panic!("write {path}: {e}"))
}

/// A root read's `data`.
pub async fn read(core: &Core, path: &str) -> Result<Value, Error> {
    let response = call(core, Some("root"), Operation::Read, path, json!({})).await?;
    Ok(Value::Object(response.data.unwrap_or_default()))
}

/// A login presenting `chain` (leaf first), against role `name` when given.
pub async fn login(core: &Core, name: Option<&str>, chain: &[&Cert]) -> Result<Response, Error> {
    let data = match name {
        Some(n) => json!({ "name": n }),
        None => json!({}),
    };
    let mut req = Request::new(Operation::Update, "auth/cert/login")
        .with_data(data.as_object().cloned().unwrap());
    req.peer_certificates = Arc::new(chain.iter().map(|c| c.der.clone()).collect());
    core.handle(req).await
}

/// The status and message of a refused login.
pub async fn refused(core: &Core, name: Option<&str>, chain: &[&Cert]) -> (u16, String) {
    match login(core, name, chain).await {
        Ok(r) => panic!("login unexpectedly succeeded: {:?}", r.auth.map(|a| a.policies)),
        Err(e) => (e.status(), e.to_string()),
    }
}
