//! A PKI engine over memory storage, driven through `Backend::handle`, and `openssl` helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, BackendRequest, Caller};
use coffer_storage::{MemoryStorage, SharedStorage};
use coffer_types::{Error, Map, Operation, Response};
use serde_json::{Value, json};

/// One mounted engine.
pub struct Engine {
    pub backend: Arc<dyn Backend>,
    pub storage: SharedStorage,
}

impl Engine {
    pub fn new() -> Self {
        let storage: SharedStorage = Arc::new(MemoryStorage::new());
        let config = BackendConfig {
            mount_path: "pki/".into(),
            engine_type: "pki".into(),
            options: Map::new(),
            storage: storage.clone(),
        };
        Engine { backend: coffer_pki::factory(config).unwrap(), storage }
    }

    pub async fn call(
        &self,
        operation: Operation,
        path: &str,
        data: Value,
    ) -> Result<Option<Response>, Error> {
        let mut req = BackendRequest::new(operation, path, self.storage.clone());
        req.mount_point = "pki/".into();
        req.caller = Caller { display_name: "token".into(), ..Default::default() };
        if let Value::Object(map) = data {
            req.data = map;
        }
        self.backend.handle(req).await
    }

    /// A write that must succeed; returns `data`.
    pub async fn write(&self, path: &str, data: Value) -> Value {
        let response = self
            .call(Operation::Update, path, data)
            .await
            .unwrap_or_else(|e| panic!("write {path}: {e}"));
        data_of(response)
    }

    /// A write that must fail; returns the error.
    pub async fn write_err(&self, path: &str, data: Value) -> Error {
        match self.call(Operation::Update, path, data).await {
            Err(e) => e,
            Ok(r) => panic!("write {path} succeeded: {r:?}"),
        }
    }

    pub async fn read(&self, path: &str) -> Option<Response> {
        self.call(Operation::Read, path, json!({}))
            .await
            .unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    pub async fn read_data(&self, path: &str) -> Value {
        data_of(self.read(path).await)
    }

    /// A raw body read: content type and bytes.
    pub async fn read_raw(&self, path: &str) -> (String, Vec<u8>) {
        let raw = self
            .read(path)
            .await
            .and_then(|r| r.raw)
            .unwrap_or_else(|| panic!("{path} has no raw body"));
        (raw.content_type, raw.body)
    }

    pub async fn list(&self, path: &str) -> Vec<String> {
        let data = data_of(self.call(Operation::List, path, json!({})).await.unwrap());
        data["keys"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    /// A list that may be empty (the core would answer 404).
    pub async fn list_maybe(&self, path: &str) -> Vec<String> {
        let data = data_of(self.call(Operation::List, path, json!({})).await.unwrap());
        data["keys"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    /// An EC P-256 root CA, as the guide's step 2 makes it.
    pub async fn ec_root(&self, cn: &str) -> Value {
        self.write(
            "root/generate/internal",
            json!({"common_name": cn, "key_type": "ec", "key_bits": "256", "ttl": "87600h"}),
        )
        .await
    }
}

pub fn data_of(response: Option<Response>) -> Value {
    response.and_then(|r| r.data).map(Value::Object).unwrap_or(Value::Null)
}

/// A scratch directory for openssl files.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch { dir: tempfile::tempdir().unwrap() }
    }

    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().expect("the openssl CLI is installed")
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `openssl verify -x509_strict` of a leaf against a root (and untrusted intermediates).
pub fn verify(
    scratch: &Scratch,
    leaf: &str,
    root: &str,
    intermediates: &[&str],
    purpose: Option<&str>,
) -> Output {
    let root = scratch.file("root.pem", format!("{root}\n"));
    let leaf = scratch.file("leaf.pem", format!("{leaf}\n"));
    let mut args: Vec<String> =
        vec!["verify".into(), "-x509_strict".into(), "-CAfile".into(), root.display().to_string()];
    if !intermediates.is_empty() {
        let chain = scratch.file("chain.pem", intermediates.join("\n") + "\n");
        args.extend(["-untrusted".into(), chain.display().to_string()]);
    }
    if let Some(purpose) = purpose {
        args.extend(["-purpose".into(), purpose.into()]);
    }
    args.push(leaf.display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(&refs)
}

/// The text dump of a PEM certificate.
pub fn cert_text(scratch: &Scratch, pem: &str) -> String {
    let path = scratch.file("dump.pem", format!("{pem}\n"));
    text(&openssl(&["x509", "-noout", "-text", "-in", path.to_str().unwrap()]))
}
