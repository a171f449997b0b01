//! The Vault response envelope and raw answers.

use bytes::Bytes;
use coffer_types::Map;
use http::HeaderMap;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::ClientError;

/// The Vault response envelope, read leniently: missing or `null` fields take their default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Secret {
    /// Request id.
    #[serde(deserialize_with = "null_default")]
    pub request_id: String,
    /// Lease id (`""` when not leased).
    #[serde(deserialize_with = "null_default")]
    pub lease_id: String,
    /// Whether the lease renews.
    #[serde(deserialize_with = "null_default")]
    pub renewable: bool,
    /// Lease length in seconds (for KV v1 a refresh hint).
    #[serde(deserialize_with = "null_default")]
    pub lease_duration: i64,
    /// The data.
    pub data: Option<Map>,
    /// Warnings.
    pub warnings: Option<Vec<String>>,
    /// The `auth` block of logins and token creation.
    pub auth: Option<Value>,
    /// Wrapping information when the response was wrapped.
    pub wrap_info: Option<Value>,
}

fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl Secret {
    /// Parses an envelope; an empty body (204) is `None`.
    pub fn from_body(body: &[u8]) -> Result<Option<Secret>, ClientError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(body).map(Some).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Whether the server returned warnings.
    pub fn has_warnings(&self) -> bool {
        self.warnings.as_ref().is_some_and(|w| !w.is_empty())
    }
}

/// A raw answer: status, headers and body.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl ApiResponse {
    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Result<Value, ClientError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// The `errors` list of an error body (empty when absent or not JSON).
    pub fn errors(&self) -> Vec<String> {
        self.json()
            .ok()
            .and_then(|v| v.get("errors").cloned())
            .and_then(|e| serde_json::from_value::<Vec<String>>(e).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_parse_leniently() {
        let s = Secret::from_body(br#"{"lease_id":null,"data":{"a":1},"renewable":null}"#);
        let s = s.ok().flatten().unwrap_or_default();
        assert_eq!(s.lease_id, "");
        assert!(!s.renewable);
        assert_eq!(s.data.and_then(|d| d.get("a").cloned()), Some(serde_json::json!(1)));
        assert!(matches!(Secret::from_body(b""), Ok(None)));
        assert!(matches!(Secret::from_body(b"[1]"), Err(ClientError::Decode(_))));
    }

    #[test]
    fn error_lists_are_read_from_bodies() {
        let r = ApiResponse {
            status: 400,
            headers: HeaderMap::new(),
            body: Bytes::from_static(br#"{"errors":["bad"]}"#),
        };
        assert_eq!(r.errors(), vec!["bad".to_string()]);
        let r = ApiResponse { body: Bytes::from_static(b"<html>"), ..r };
        assert!(r.errors().is_empty());
    }
}
