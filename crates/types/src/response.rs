//! The logical response and the pieces of Vault's envelope.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Map, SecretString};

/// How the server renders a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseShape {
    /// The standard envelope (`request_id`, `lease_id`, ..., `data`, `auth`).
    #[default]
    Envelope,
    /// The envelope with the keys of `data` also at the top level (old sys routes).
    Injected,
    /// `data` alone as the body, no envelope (`sys/init`, `sys/health`, ...).
    Bare,
}

/// A non-JSON body with its own content type (PKI certificates, CRLs).
#[derive(Debug, Clone)]
pub struct RawBody {
    /// The `Content-Type` header.
    pub content_type: String,
    /// The bytes of the body.
    pub body: Vec<u8>,
}

/// Lease fields of the envelope, for leased secrets.
#[derive(Debug, Clone, Default)]
pub struct LeaseInfo {
    /// The lease id, empty when the secret is not leased (KV v1 refresh hint).
    pub lease_id: String,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// Seconds until expiry.
    pub lease_duration: i64,
}

/// The `auth` block of a login or token creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Auth {
    /// The new token. Serialized only into the response sent to its owner.
    #[serde(serialize_with = "expose_secret", deserialize_with = "secret_from_string")]
    pub client_token: SecretString,
    /// The token's accessor.
    pub accessor: String,
    /// All policies, sorted.
    pub policies: Vec<String>,
    /// Policies attached to the token itself.
    pub token_policies: Vec<String>,
    /// Metadata (null when empty).
    pub metadata: Option<Map>,
    /// TTL in seconds.
    pub lease_duration: i64,
    /// Whether the token can be renewed.
    pub renewable: bool,
    /// The identity entity, "" when none.
    pub entity_id: String,
    /// `service` or `batch`.
    pub token_type: String,
    /// Whether the token has no parent.
    pub orphan: bool,
    /// Always null: MFA is not supported.
    pub mfa_requirement: Option<Value>,
    /// Uses left, 0 for unlimited.
    pub num_uses: i64,
    /// Policies the token's identity (its entity and the entity's groups) adds; omitted when
    /// none, as the reference does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_policies: Vec<String>,
}

fn secret_from_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::new)
}

/// The `wrap_info` of a wrapped response: the single-use token that unwraps it.
#[derive(Debug, Clone, Serialize)]
pub struct WrapInfo {
    /// The wrapping token.
    #[serde(serialize_with = "expose_secret")]
    pub token: SecretString,
    /// Its accessor.
    pub accessor: String,
    /// Seconds it lives.
    pub ttl: i64,
    /// RFC 3339 creation time.
    pub creation_time: String,
    /// The path whose response it wraps.
    pub creation_path: String,
    /// The accessor of a wrapped token, when the response carried one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub wrapped_accessor: String,
}

fn expose_secret<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// A successful login, as an auth method reports it. The core turns it into a token (an
/// orphan carrying these settings) and renders the `auth` block.
#[derive(Debug, Clone, Default)]
pub struct Login {
    /// Policies for the token (`default` is added unless `no_default_policy`).
    pub policies: Vec<String>,
    /// Token metadata (shown in `auth.metadata` and lookups).
    pub metadata: Map,
    /// The method's part of the token's display name (the user, `<namespace>-<account>`,
    /// "" for AppRole); the core puts the mount path before it, as Vault does
    /// (`userpass-alice`, `ci-jwt-bob`, `approle`).
    pub display_name: String,
    /// TTL in seconds (0 = the mount's default).
    pub ttl: i64,
    /// Maximum TTL in seconds (0 = the mount's maximum).
    pub max_ttl: i64,
    /// Period in seconds (0 = not periodic).
    pub period: i64,
    /// Hard cap in seconds (0 = none).
    pub explicit_max_ttl: i64,
    /// Uses of the token (0 = unlimited).
    pub num_uses: i64,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
    /// CIDRs the token may be used from (empty = anywhere).
    pub bound_cidrs: Vec<String>,
    /// The token type the role asks for (`service`, `batch`, `default`/"" for the mount's).
    pub token_type: String,
    /// The identity alias of the caller (name and metadata), when the method has one.
    pub alias_name: String,
    /// Alias metadata.
    pub alias_metadata: Map,
    /// Data the method needs again when the token is renewed (the role's name, the login's
    /// client certificate): stored with the token, handed back to the method on renewal,
    /// never shown to clients.
    pub internal: Map,
}

/// A dynamic secret an engine hands out: the core registers a lease for it, renews it through
/// the engine and revokes it (on request, with its token, or at expiry).
#[derive(Debug, Clone, Default)]
pub struct SecretLease {
    /// Seconds until expiry (0 = the mount's default TTL).
    pub ttl: i64,
    /// Cap on the lease's total life in seconds (0 = the mount's maximum).
    pub max_ttl: i64,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// What the engine needs to renew or revoke it (never shown to clients).
    pub internal: Map,
}

/// What a handler returns; the server turns it into the envelope or a raw body.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The `data` object, `None` for `null`.
    pub data: Option<Map>,
    /// Warnings; a response with warnings is never a 204.
    pub warnings: Vec<String>,
    /// The `auth` block.
    pub auth: Option<Auth>,
    /// Lease fields.
    pub lease: Option<LeaseInfo>,
    /// A raw body replaces the envelope.
    pub raw: Option<RawBody>,
    /// An explicit status (KV v2 answers 404 with a body for deleted versions; tidy 202).
    pub status: Option<u16>,
    /// How to render it.
    pub shape: ResponseShape,
    /// A login for the core to turn into a token (auth methods only).
    pub login: Option<Login>,
    /// A dynamic secret for the core to put under a lease.
    pub secret: Option<SecretLease>,
    /// Set on wrapped responses: everything else is in the wrapping token's cubbyhole.
    pub wrap_info: Option<WrapInfo>,
}

impl Response {
    /// A response carrying `data`.
    pub fn data(data: Map) -> Self {
        Response { data: Some(data), ..Default::default() }
    }

    /// A response carrying `data` built from a JSON value; non-objects give `data: null`.
    pub fn json(value: Value) -> Self {
        match value {
            Value::Object(map) => Response::data(map),
            _ => Response::default(),
        }
    }

    /// The answer to a tidy started in the background: 202 with the reference's warning
    /// (word for word, as clients and tests of the reference expect it).
    pub fn tidy_started() -> Self {
        Response { status: Some(202), ..Response::default() }.with_warning(
            "Tidy operation successfully started. Any information from the operation will be printed to OpenBao's server logs.",
        )
    }

    /// Adds a warning (builder style).
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// Sets the rendering shape (builder style).
    pub fn with_shape(mut self, shape: ResponseShape) -> Self {
        self.shape = shape;
        self
    }

    /// A response with only warnings (a write that would be a 204 otherwise).
    pub fn warnings_only(warnings: Vec<String>) -> Self {
        Response { warnings, ..Default::default() }
    }

    /// Whether this response renders as an empty 204.
    pub fn is_empty(&self) -> bool {
        self.data.is_none()
            && self.warnings.is_empty()
            && self.auth.is_none()
            && self.lease.is_none()
            && self.raw.is_none()
            && self.status.is_none()
            && self.login.is_none()
            && self.secret.is_none()
            && self.wrap_info.is_none()
    }
}
