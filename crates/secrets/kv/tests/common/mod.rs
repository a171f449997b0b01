//! A KV engine over `MemoryStorage`, driven through `Backend::handle` as the core drives it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, BackendRequest};
use coffer_storage::{MemoryStorage, SharedStorage};
use coffer_types::{Map, Operation, Response, Result};
use serde_json::{Value, json};

/// One mounted engine and its storage.
pub struct Kv {
    pub backend: Arc<dyn Backend>,
    pub storage: SharedStorage,
}

impl Kv {
    /// A mount with the given `options`.
    pub fn with_options(options: Value) -> Result<Kv> {
        let storage: SharedStorage = Arc::new(MemoryStorage::new());
        let options = match options {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let config = BackendConfig {
            mount_path: "secret/".into(),
            engine_type: "kv".into(),
            options,
            storage: storage.clone(),
        };
        Ok(Kv { backend: coffer_kv::factory(config)?, storage })
    }

    /// A KV v1 mount (no options).
    pub fn v1() -> Kv {
        Kv::with_options(json!({})).unwrap()
    }

    /// A KV v2 mount (`options.version = "2"`).
    pub fn v2() -> Kv {
        Kv::with_options(json!({"version": "2"})).unwrap()
    }

    fn request(&self, operation: Operation, path: &str, data: Value) -> BackendRequest {
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        BackendRequest {
            data,
            mount_point: "secret/".into(),
            ..BackendRequest::new(operation, path, self.storage.clone())
        }
    }

    /// Runs one request.
    pub async fn call(
        &self,
        operation: Operation,
        path: &str,
        data: Value,
    ) -> Result<Option<Response>> {
        self.backend.handle(self.request(operation, path, data)).await
    }

    /// The existence check the core runs before a write.
    pub async fn exists(&self, path: &str) -> Option<bool> {
        self.backend.exists(&self.request(Operation::Update, path, json!({}))).await.unwrap()
    }

    pub async fn read(&self, path: &str) -> Result<Option<Response>> {
        self.call(Operation::Read, path, json!({})).await
    }

    pub async fn read_with(&self, path: &str, query: Value) -> Result<Option<Response>> {
        self.call(Operation::Read, path, query).await
    }

    pub async fn write(&self, path: &str, body: Value) -> Result<Option<Response>> {
        self.call(Operation::Update, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Option<Response>> {
        self.call(Operation::Patch, path, body).await
    }

    pub async fn delete(&self, path: &str) -> Result<Option<Response>> {
        self.call(Operation::Delete, path, json!({})).await
    }

    pub async fn list(&self, path: &str) -> Result<Option<Response>> {
        self.call(Operation::List, path, json!({})).await
    }

    /// Writes `data` to `data/<key>` and returns the new version number.
    pub async fn put(&self, key: &str, data: Value) -> u64 {
        let response =
            self.write(&format!("data/{key}"), json!({ "data": data })).await.unwrap().unwrap();
        body(&response)["version"].as_u64().unwrap()
    }

    /// The `data` of a successful read (panics on errors and on a 404 with a body).
    pub async fn get(&self, path: &str) -> Value {
        let response = self.read(path).await.unwrap().unwrap();
        assert_eq!(response.status, None, "{path} answered {:?}", response.status);
        body(&response)
    }

    /// The metadata of a key (`GET metadata/<key>`).
    pub async fn metadata(&self, key: &str) -> Value {
        self.get(&format!("metadata/{key}")).await
    }
}

/// The `data` of a response as a JSON value (`null` when absent).
pub fn body(response: &Response) -> Value {
    response.data.clone().map(Value::Object).unwrap_or(Value::Null)
}

/// Whether `s` is a timestamp as Vault prints them: RFC 3339, nanoseconds, UTC.
pub fn is_timestamp(s: &str) -> bool {
    s.len() == 30
        && s.ends_with('Z')
        && s.as_bytes().get(19) == Some(&b'.')
        && humantime::parse_rfc3339(s).is_ok()
}

/// `value` with every timestamp replaced by `"<time>"`, to compare shapes exactly.
pub fn redact(value: Value) -> Value {
    match value {
        Value::String(s) if is_timestamp(&s) => json!("<time>"),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, redact(v))).collect()),
        other => other,
    }
}

/// The error message of a failed request.
pub fn error_of(result: Result<Option<Response>>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(r) => panic!("expected an error, got {r:?}"),
    }
}
