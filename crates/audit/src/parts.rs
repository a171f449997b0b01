//! The plain structs the core fills to describe a request and its response for the audit log,
//! and their rendering into Vault's JSON shape (empty fields left out, as Go's `omitempty`).

use std::fmt;

use coffer_types::{Auth, Map, Operation, Request, Response, SecretString};
use serde_json::Value;

/// A token as the audit log describes it: the caller's token (the entry's top-level `auth`) or
/// the token a login or token creation returned (`response.auth`).
#[derive(Clone, Debug, Default)]
pub struct AuditAuth {
    /// The token; HMAC'd in the log.
    pub client_token: SecretString,
    /// The token's accessor; HMAC'd unless the device sets `hmac_accessor=false`.
    pub accessor: String,
    /// The display name (`root`, `token`, `approle`, ...).
    pub display_name: String,
    /// All policies of the token.
    pub policies: Vec<String>,
    /// Policies attached to the token itself.
    pub token_policies: Vec<String>,
    /// Policies inherited from the identity entity.
    pub identity_policies: Vec<String>,
    /// The token's metadata.
    pub metadata: Option<Map>,
    /// The identity entity, empty when none.
    pub entity_id: String,
    /// Uses the token was created with, 0 for unlimited.
    pub num_uses: i64,
    /// Uses left, 0 for unlimited.
    pub remaining_uses: i64,
    /// The ACL decision for this request (top-level `auth` only).
    pub policy_results: Option<PolicyResults>,
    /// `service` or `batch` (`default` for unauthenticated requests, as Vault logs them).
    pub token_type: String,
    /// The token's TTL in seconds.
    pub token_ttl: i64,
    /// When the token was issued, RFC 3339.
    pub token_issue_time: String,
}

/// The ACL decision recorded in `auth.policy_results`.
#[derive(Clone, Debug, Default)]
pub struct PolicyResults {
    /// Whether the request was allowed.
    pub allowed: bool,
    /// The policies that granted it.
    pub granting_policies: Vec<PolicyInfo>,
}

/// One granting policy in `auth.policy_results.granting_policies`.
#[derive(Clone, Debug, Default)]
pub struct PolicyInfo {
    /// The policy name.
    pub name: String,
    /// The namespace id, `root` here.
    pub namespace_id: String,
    /// The policy type, `acl`.
    pub policy_type: String,
}

/// The request part of an entry (`request` in both request and response entries).
#[derive(Clone)]
pub struct AuditRequest {
    /// The request id, shared by the request and the response entry.
    pub id: String,
    /// The client id, when known.
    pub client_id: String,
    /// The logical operation.
    pub operation: Operation,
    /// The mount the path resolved to (`secret/`).
    pub mount_point: String,
    /// The mount's engine type (`kv`, `system`, `token`).
    pub mount_type: String,
    /// The mount's accessor (`kv_76bde5b6`).
    pub mount_accessor: String,
    /// The engine's running version, when reported.
    pub mount_running_version: String,
    /// `secret` or `auth`.
    pub mount_class: String,
    /// The caller's token; HMAC'd in the log.
    pub client_token: SecretString,
    /// The caller's token accessor; HMAC'd unless `hmac_accessor=false`.
    pub client_token_accessor: String,
    /// The path below `/v1/`.
    pub path: String,
    /// The request data; every string in it is HMAC'd except top-level `non_hmac_request_keys`.
    pub data: Option<Map>,
    /// Whether the request asked to override Sentinel policies.
    pub policy_override: bool,
    /// The peer's IP address.
    pub remote_address: String,
    /// The peer's port, 0 when unknown.
    pub remote_port: u16,
    /// The requested wrapping TTL in seconds, 0 for none.
    pub wrap_ttl: i64,
    /// The caller's token (the entry's top-level `auth`); `None` logs `{}`.
    pub auth: Option<AuditAuth>,
    /// The mount's `audit_non_hmac_request_keys`: top-level keys of `data` kept in clear.
    pub non_hmac_request_keys: Vec<String>,
}

/// The response part of a response entry. The mount fields are copied from the request.
#[derive(Clone, Default)]
pub struct AuditResponse {
    /// The token a login or token creation returned.
    pub auth: Option<AuditAuth>,
    /// The lease of a leased secret, logged as `secret.lease_id`; empty for none.
    pub lease_id: String,
    /// The response data; every string in it is HMAC'd except top-level
    /// `non_hmac_response_keys`.
    pub data: Option<Map>,
    /// A redirect, when the response is one.
    pub redirect: String,
    /// Warnings returned with the response.
    pub warnings: Vec<String>,
    /// The wrapping token, when the response was wrapped.
    pub wrap_info: Option<AuditWrapInfo>,
    /// The mount's `audit_non_hmac_response_keys`: top-level keys of `data` kept in clear.
    pub non_hmac_response_keys: Vec<String>,
}

/// `response.wrap_info` of a wrapped response.
#[derive(Clone, Debug, Default)]
pub struct AuditWrapInfo {
    /// The wrapping token; HMAC'd in the log.
    pub token: SecretString,
    /// The wrapping token's accessor; HMAC'd unless `hmac_accessor=false`.
    pub accessor: String,
    /// The wrapping TTL in seconds.
    pub ttl: i64,
    /// When the wrapping token was created, RFC 3339.
    pub creation_time: String,
    /// The path that produced the wrapped response.
    pub creation_path: String,
    /// The accessor of a wrapped token; HMAC'd unless `hmac_accessor=false`.
    pub wrapped_accessor: String,
}

/// A JSON object under construction that leaves out empty values, as Go's `omitempty` does.
pub(crate) struct Obj(Map);

impl Obj {
    pub(crate) fn new() -> Self {
        Obj(Map::new())
    }

    pub(crate) fn str(mut self, key: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.0.insert(key.into(), Value::String(value.into()));
        }
        self
    }

    pub(crate) fn list(mut self, key: &str, values: &[String]) -> Self {
        if !values.is_empty() {
            self.0.insert(key.into(), values.iter().cloned().map(Value::String).collect());
        }
        self
    }

    pub(crate) fn int(mut self, key: &str, value: i64) -> Self {
        if value != 0 {
            self.0.insert(key.into(), value.into());
        }
        self
    }

    pub(crate) fn flag(mut self, key: &str, value: bool) -> Self {
        if value {
            self.0.insert(key.into(), true.into());
        }
        self
    }

    pub(crate) fn map(mut self, key: &str, value: Option<&Map>) -> Self {
        if let Some(map) = value.filter(|m| !m.is_empty()) {
            self.0.insert(key.into(), Value::Object(map.clone()));
        }
        self
    }

    pub(crate) fn value(mut self, key: &str, value: Option<Value>) -> Self {
        if let Some(value) = value {
            self.0.insert(key.into(), value);
        }
        self
    }

    pub(crate) fn build(self) -> Value {
        Value::Object(self.0)
    }
}

impl AuditAuth {
    pub(crate) fn to_value(&self) -> Value {
        let policy_results = self.policy_results.as_ref().map(|r| {
            let granting: Vec<Value> = r
                .granting_policies
                .iter()
                .map(|p| {
                    Obj::new()
                        .str("name", &p.name)
                        .str("namespace_id", &p.namespace_id)
                        .value("type", Some(Value::String(p.policy_type.clone())))
                        .build()
                })
                .collect();
            let mut obj = Obj::new().value("allowed", Some(r.allowed.into()));
            if !granting.is_empty() {
                obj = obj.value("granting_policies", Some(Value::Array(granting)));
            }
            obj.build()
        });
        Obj::new()
            .str("client_token", self.client_token.expose())
            .str("accessor", &self.accessor)
            .str("display_name", &self.display_name)
            .list("policies", &self.policies)
            .list("token_policies", &self.token_policies)
            .list("identity_policies", &self.identity_policies)
            .map("metadata", self.metadata.as_ref())
            .str("entity_id", &self.entity_id)
            .int("num_uses", self.num_uses)
            .int("remaining_uses", self.remaining_uses)
            .value("policy_results", policy_results)
            .str("token_type", &self.token_type)
            .int("token_ttl", self.token_ttl)
            .str("token_issue_time", &self.token_issue_time)
            .build()
    }
}

impl From<&Auth> for AuditAuth {
    /// The `auth` block of a response (login, token creation) as the audit log records it.
    fn from(auth: &Auth) -> Self {
        AuditAuth {
            client_token: auth.client_token.clone(),
            accessor: auth.accessor.clone(),
            policies: auth.policies.clone(),
            token_policies: auth.token_policies.clone(),
            metadata: auth.metadata.clone(),
            entity_id: auth.entity_id.clone(),
            num_uses: auth.num_uses,
            token_type: auth.token_type.clone(),
            token_ttl: auth.lease_duration,
            ..AuditAuth::default()
        }
    }
}

impl AuditRequest {
    /// A request part with the given id, operation and path; every other field empty.
    pub fn new(id: impl Into<String>, operation: Operation, path: impl Into<String>) -> Self {
        AuditRequest {
            id: id.into(),
            client_id: String::new(),
            operation,
            mount_point: String::new(),
            mount_type: String::new(),
            mount_accessor: String::new(),
            mount_running_version: String::new(),
            mount_class: String::new(),
            client_token: SecretString::default(),
            client_token_accessor: String::new(),
            path: path.into(),
            data: None,
            policy_override: false,
            remote_address: String::new(),
            remote_port: 0,
            wrap_ttl: 0,
            auth: None,
            non_hmac_request_keys: Vec::new(),
        }
    }

    /// The fields a parsed request already knows: id, operation, path, data, token and peer.
    /// The core adds the mount, the accessor, the caller's `auth` and the non-HMAC keys.
    pub fn from_request(request: &Request) -> Self {
        let mut out =
            AuditRequest::new(request.id.clone(), request.operation, request.path.clone());
        out.data = Some(request.data.clone());
        if let Some(token) = &request.token {
            out.client_token = token.clone();
        }
        if let Some(addr) = request.remote_addr {
            out.remote_address = addr.ip().to_string();
            out.remote_port = addr.port();
        }
        out
    }

    pub(crate) fn to_value(&self) -> Value {
        Obj::new()
            .str("id", &self.id)
            .str("client_id", &self.client_id)
            .str("operation", self.operation.as_str())
            .str("mount_point", &self.mount_point)
            .str("mount_type", &self.mount_type)
            .str("mount_accessor", &self.mount_accessor)
            .str("mount_running_version", &self.mount_running_version)
            .str("mount_class", &self.mount_class)
            .str("client_token", self.client_token.expose())
            .str("client_token_accessor", &self.client_token_accessor)
            .value("namespace", Some(serde_json::json!({ "id": "root" })))
            .str("path", &self.path)
            .map("data", self.data.as_ref())
            .flag("policy_override", self.policy_override)
            .str("remote_address", &self.remote_address)
            .int("remote_port", i64::from(self.remote_port))
            .int("wrap_ttl", self.wrap_ttl)
            .build()
    }
}

impl fmt::Debug for AuditRequest {
    // Data and tokens stay out of debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditRequest")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuditResponse {
    /// The fields of a handler's response: data, auth, lease and warnings. The core adds the
    /// wrap info and the non-HMAC keys.
    pub fn from_response(response: &Response) -> Self {
        AuditResponse {
            auth: response.auth.as_ref().map(AuditAuth::from),
            lease_id: response.lease.as_ref().map(|l| l.lease_id.clone()).unwrap_or_default(),
            data: response.data.clone(),
            warnings: response.warnings.clone(),
            ..AuditResponse::default()
        }
    }

    pub(crate) fn to_value(&self, request: &AuditRequest) -> Value {
        let secret = (!self.lease_id.is_empty())
            .then(|| serde_json::json!({ "lease_id": self.lease_id.clone() }));
        let wrap_info = self.wrap_info.as_ref().map(|w| {
            Obj::new()
                .str("token", w.token.expose())
                .str("accessor", &w.accessor)
                .int("ttl", w.ttl)
                .str("creation_time", &w.creation_time)
                .str("creation_path", &w.creation_path)
                .str("wrapped_accessor", &w.wrapped_accessor)
                .build()
        });
        Obj::new()
            .str("mount_point", &request.mount_point)
            .str("mount_type", &request.mount_type)
            .str("mount_accessor", &request.mount_accessor)
            .str("mount_running_plugin_version", &request.mount_running_version)
            .str("mount_class", &request.mount_class)
            .value("auth", self.auth.as_ref().map(AuditAuth::to_value))
            .value("secret", secret)
            .map("data", self.data.as_ref())
            .str("redirect", &self.redirect)
            .list("warnings", &self.warnings)
            .value("wrap_info", wrap_info)
            .build()
    }
}

impl fmt::Debug for AuditResponse {
    // Data and tokens stay out of debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditResponse")
            .field("has_auth", &self.auth.is_some())
            .field("has_data", &self.data.is_some())
            .finish_non_exhaustive()
    }
}
