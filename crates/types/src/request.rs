//! The logical request every layer below the HTTP shell sees.

use std::net::SocketAddr;

use crate::{Map, SecretString};

/// A logical operation, mapped from the HTTP method by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// GET.
    Read,
    /// LIST, or GET with `?list=true`.
    List,
    /// POST/PUT on an item that does not exist yet (decided by the existence check).
    Create,
    /// POST/PUT.
    Update,
    /// PATCH with a JSON merge-patch body.
    Patch,
    /// DELETE.
    Delete,
}

impl Operation {
    /// The name Vault uses in audit logs and capabilities.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::List => "list",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
        }
    }
}

/// A request after HTTP parsing: an operation on a path (without `/v1/`), its data, and the
/// caller's token.
#[derive(Debug, Clone)]
pub struct Request {
    /// Random id echoed as `request_id`.
    pub id: String,
    /// What to do.
    pub operation: Operation,
    /// The path below `/v1/`, with a trailing `/` for list operations.
    pub path: String,
    /// The body (writes) or query parameters (reads, lists, deletes).
    pub data: Map,
    /// The caller's token from `X-Vault-Token` or `Authorization: Bearer`.
    pub token: Option<SecretString>,
    /// The peer's address, when known.
    pub remote_addr: Option<SocketAddr>,
    /// `X-Vault-Wrap-TTL`: wrap the response in a single-use token living this many seconds.
    pub wrap_ttl: Option<i64>,
    /// The TLS client certificate chain the peer presented (DER, leaf first; empty if none).
    /// The listener requests one on every handshake without verifying it: auth methods do.
    pub peer_certificates: std::sync::Arc<Vec<Vec<u8>>>,
}

impl Request {
    /// A request with a fresh id, no data and no token.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Request {
            id: crate::request_id(),
            operation,
            path: path.into(),
            data: Map::new(),
            token: None,
            remote_addr: None,
            wrap_ttl: None,
            peer_certificates: std::sync::Arc::new(Vec::new()),
        }
    }

    /// Sets the data (builder style).
    pub fn with_data(mut self, data: Map) -> Self {
        self.data = data;
        self
    }

    /// Sets the token (builder style).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(SecretString::new(token.into()));
        self
    }
}
