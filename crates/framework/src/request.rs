//! The request a backend sees, and the typed view a route handler gets.

use std::collections::HashMap;
use std::sync::Arc;

use coffer_storage::SharedStorage;
use coffer_types::{
    Error, Map, Operation, Result, coerce_bool, coerce_int, coerce_string, coerce_string_list,
    coerce_string_map, parse_duration,
};
use serde_json::Value;

use crate::{Field, FieldKind};

/// Who is calling, as far as an engine needs to know (never the raw token).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The token's accessor ("" for unauthenticated requests).
    pub accessor: String,
    /// The token's display name.
    pub display_name: String,
    /// The token's policies.
    pub policies: Vec<String>,
    /// The identity entity id, "" when none.
    pub entity_id: String,
    /// Whether the caller's policies grant `sudo` on the requested path (root always does).
    pub sudo: bool,
    /// An opaque per-token id (the token's salted hash), for per-token storage (cubbyhole).
    pub token_id: String,
}

/// A request routed to a backend: the path is relative to the mount.
#[derive(Clone)]
pub struct BackendRequest {
    /// The operation.
    pub operation: Operation,
    /// The path below the mount point.
    pub path: String,
    /// Body or query data.
    pub data: Map,
    /// The mount's storage view.
    pub storage: SharedStorage,
    /// The mount point with trailing `/`.
    pub mount_point: String,
    /// The request id.
    pub request_id: String,
    /// The caller.
    pub caller: Caller,
    /// The caller's own token: set only for the token store's routes, `None` for engines.
    pub client_token: Option<coffer_types::SecretString>,
    /// The peer's address, when known (CIDR bindings).
    pub remote_addr: Option<std::net::SocketAddr>,
    /// Whether the caller asked for the response to be wrapped.
    pub wrap_requested: bool,
    /// The TLS client certificate chain of the connection (DER, leaf first; unverified).
    pub peer_certificates: std::sync::Arc<Vec<Vec<u8>>>,
    /// The mount's default lease TTL in force, seconds (tuned, else the system's; 0 unknown).
    pub default_lease_ttl: i64,
    /// The mount's maximum lease TTL in force, seconds (tuned, else the system's; 0 unknown).
    pub max_lease_ttl: i64,
}

impl BackendRequest {
    /// A request with no data, no caller and no peer details (tests and internal calls);
    /// set the other fields with struct update syntax.
    pub fn new(operation: Operation, path: impl Into<String>, storage: SharedStorage) -> Self {
        BackendRequest {
            operation,
            path: path.into(),
            data: Map::new(),
            storage,
            mount_point: String::new(),
            request_id: coffer_types::request_id(),
            caller: Caller::default(),
            client_token: None,
            remote_addr: None,
            wrap_requested: false,
            peer_certificates: std::sync::Arc::new(Vec::new()),
            default_lease_ttl: 0,
            max_lease_ttl: 0,
        }
    }
}

/// What a route handler receives: the backend request plus the route's captures and typed
/// getters that apply the declared field types and defaults.
pub struct Req {
    /// The routed request.
    pub inner: BackendRequest,
    captures: HashMap<String, String>,
    fields: Arc<[Field]>,
}

impl Req {
    pub(crate) fn new(
        inner: BackendRequest,
        captures: HashMap<String, String>,
        fields: Arc<[Field]>,
    ) -> Self {
        Req { inner, captures, fields }
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.inner.operation
    }

    /// The mount's storage.
    pub fn storage(&self) -> &SharedStorage {
        &self.inner.storage
    }

    /// A capture of the route pattern (`{name}`), "" when absent.
    pub fn capture(&self, name: &str) -> &str {
        self.captures.get(name).map(String::as_str).unwrap_or("")
    }

    /// The raw request data.
    pub fn data(&self) -> &Map {
        &self.inner.data
    }

    /// Whether the caller sent `name`.
    pub fn has(&self, name: &str) -> bool {
        self.inner.data.contains_key(name)
    }

    /// The raw value of `name`, or the field default.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.inner.data.get(name).or_else(|| self.field(name).and_then(|f| f.default.as_ref()))
    }

    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// A string field ("" when absent without default).
    pub fn str(&self, name: &str) -> Result<String> {
        self.raw(name).map_or(Ok(String::new()), |v| coerce_string(name, v))
    }

    /// An integer field (0 when absent without default).
    pub fn int(&self, name: &str) -> Result<i64> {
        self.raw(name).map_or(Ok(0), |v| coerce_int(name, v))
    }

    /// A bool field (false when absent without default).
    pub fn bool(&self, name: &str) -> Result<bool> {
        self.raw(name).map_or(Ok(false), |v| coerce_bool(name, v))
    }

    /// A duration field in seconds (0 when absent without default).
    pub fn duration(&self, name: &str) -> Result<i64> {
        self.raw(name).map_or(Ok(0), |v| parse_duration(name, v))
    }

    /// A list field (empty when absent without default).
    pub fn list(&self, name: &str) -> Result<Vec<String>> {
        self.raw(name).map_or(Ok(Vec::new()), |v| coerce_string_list(name, v))
    }

    /// A map-of-strings field (empty when absent without default).
    pub fn map(&self, name: &str) -> Result<Map> {
        self.raw(name).map_or(Ok(Map::new()), |v| coerce_string_map(name, v))
    }

    /// Checks every declared field the caller sent against its type, so that a bad value is
    /// a 400 before the handler runs.
    pub(crate) fn validate(&self) -> Result<()> {
        for field in self.fields.iter() {
            let Some(value) = self.inner.data.get(field.name) else { continue };
            match field.kind {
                FieldKind::String => coerce_string(field.name, value).map(drop)?,
                FieldKind::Int => coerce_int(field.name, value).map(drop)?,
                FieldKind::Bool => coerce_bool(field.name, value).map(drop)?,
                FieldKind::Duration => parse_duration(field.name, value).map(drop)?,
                FieldKind::StringList => coerce_string_list(field.name, value).map(drop)?,
                FieldKind::StringMap => coerce_string_map(field.name, value).map(drop)?,
                FieldKind::Any => {}
            }
        }
        Ok(())
    }

    /// Names the caller sent that the route does not declare, sorted. The pattern's captures
    /// count as declared: Vault declares them as fields, and clients (hvac) repeat them in
    /// the body (`name` on `role/{name}`).
    pub(crate) fn unknown_fields(&self) -> Vec<String> {
        let mut unknown: Vec<String> = self
            .inner
            .data
            .keys()
            .filter(|k| self.field(k).is_none() && !self.captures.contains_key(*k))
            .cloned()
            .collect();
        unknown.sort();
        unknown
    }
}

/// Reads a JSON value stored at `key`, `None` when absent.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    storage: &SharedStorage,
    key: &str,
) -> Result<Option<T>> {
    match storage.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::internal(format!("corrupt entry at {key}: {e}"))),
    }
}
