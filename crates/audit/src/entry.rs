//! Audit entries in the shape of Vault's file audit log, built from plain structs the core fills.
//!
//! An [`AuditEntry`] holds the entry *before* hashing: secrets are still in clear. Each device
//! hashes its own copy with its own salt ([`AuditEntry::hashed`]), so an entry is never written
//! anywhere as it is, and its `Debug` shows no data.

use std::fmt;
use std::time::SystemTime;

use coffer_types::Map;
use serde_json::Value;

use crate::parts::{AuditAuth, AuditRequest, AuditResponse, Obj};

/// One audit record before hashing: the Vault-shaped JSON plus the mount's non-HMAC key lists.
#[derive(Clone)]
pub struct AuditEntry {
    pub(crate) value: Value,
    pub(crate) non_hmac_request_keys: Vec<String>,
    pub(crate) non_hmac_response_keys: Vec<String>,
}

/// `time` as Vault writes it: RFC 3339 in UTC with nanoseconds.
fn format_time(time: SystemTime) -> String {
    humantime::format_rfc3339_nanos(time).to_string()
}

impl AuditEntry {
    /// The entry written before the request is dispatched (`"type":"request"`).
    pub fn request(request: &AuditRequest) -> Self {
        let value = Obj::new()
            .str("time", &format_time(SystemTime::now()))
            .str("type", "request")
            .value(
                "auth",
                Some(request.auth.as_ref().map_or_else(empty_object, AuditAuth::to_value)),
            )
            .value("request", Some(request.to_value()))
            .build();
        AuditEntry {
            value,
            non_hmac_request_keys: request.non_hmac_request_keys.clone(),
            non_hmac_response_keys: Vec::new(),
        }
    }

    /// The entry written after the request was handled (`"type":"response"`): the request part
    /// again, plus `response`.
    pub fn response(request: &AuditRequest, response: &AuditResponse) -> Self {
        let value = Obj::new()
            .str("time", &format_time(SystemTime::now()))
            .str("type", "response")
            .value(
                "auth",
                Some(request.auth.as_ref().map_or_else(empty_object, AuditAuth::to_value)),
            )
            .value("request", Some(request.to_value()))
            .value("response", Some(response.to_value(request)))
            .build();
        AuditEntry {
            value,
            non_hmac_request_keys: request.non_hmac_request_keys.clone(),
            non_hmac_response_keys: response.non_hmac_response_keys.clone(),
        }
    }

    /// An entry from an already-built Vault-shaped value (other producers, tests). The key
    /// lists name top-level keys of `request.data` and `response.data` kept in clear.
    pub fn from_parts(
        value: Value,
        non_hmac_request_keys: Vec<String>,
        non_hmac_response_keys: Vec<String>,
    ) -> Self {
        AuditEntry { value, non_hmac_request_keys, non_hmac_response_keys }
    }

    /// Records the error the request failed with (`"error"`); an empty message is left out.
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        let error = error.into();
        if let (Value::Object(map), false) = (&mut self.value, error.is_empty()) {
            map.insert("error".into(), Value::String(error));
        }
        self
    }

    /// Replaces `time` (reproducible output in tests).
    pub fn with_time(mut self, time: SystemTime) -> Self {
        if let Value::Object(map) = &mut self.value {
            map.insert("time".into(), Value::String(format_time(time)));
        }
        self
    }

    /// `request` or `response`.
    pub fn entry_type(&self) -> &str {
        self.value.get("type").and_then(Value::as_str).unwrap_or_default()
    }

    /// `request.id`, shared by the request and response entries of one request.
    pub fn request_id(&self) -> &str {
        self.value.pointer("/request/id").and_then(Value::as_str).unwrap_or_default()
    }

    /// The entry *before hashing*, secrets in clear. Devices write [`AuditEntry::hashed`]
    /// instead; this is for devices configured with `log_raw` and for tests.
    pub fn unhashed_value(&self) -> &Value {
        &self.value
    }
}

impl fmt::Debug for AuditEntry {
    // The value holds secrets in clear: only the identifying fields are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditEntry")
            .field("type", &self.entry_type())
            .field("request_id", &self.request_id())
            .finish_non_exhaustive()
    }
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_types::{Operation, SecretString};
    use serde_json::json;

    fn sample_request() -> AuditRequest {
        let mut req = AuditRequest::new("req-1", Operation::Update, "secret/foo");
        req.mount_point = "secret/".into();
        req.mount_type = "kv".into();
        req.client_token = SecretString::new("s.token");
        req.remote_address = "127.0.0.1".into();
        req.remote_port = 51000;
        req.data = json!({ "password": "hunter2" }).as_object().cloned();
        req.auth = Some(AuditAuth {
            client_token: SecretString::new("s.token"),
            policies: vec!["root".into()],
            token_type: "service".into(),
            ..AuditAuth::default()
        });
        req
    }

    #[test]
    fn request_entry_has_vaults_shape() {
        let entry = AuditEntry::request(&sample_request());
        let v = entry.unhashed_value();
        assert_eq!(v["type"], "request");
        assert_eq!(v["request"]["id"], "req-1");
        assert_eq!(v["request"]["operation"], "update");
        assert_eq!(v["request"]["namespace"], json!({ "id": "root" }));
        assert_eq!(v["request"]["remote_port"], 51000);
        assert_eq!(v["auth"]["policies"], json!(["root"]));
        assert!(v.get("response").is_none());
        assert!(v.get("error").is_none());
        // RFC 3339 with nanoseconds, UTC.
        let time = v["time"].as_str().unwrap_or_default();
        assert!(time.ends_with('Z') && time.len() == "2026-11-28T16:43:47.823466989Z".len());
        assert_eq!(entry.request_id(), "req-1");
    }

    #[test]
    fn response_entry_copies_mount_and_records_error() {
        let resp = AuditResponse {
            data: json!({ "value": "x" }).as_object().cloned(),
            lease_id: "secret/foo/abc".into(),
            ..AuditResponse::default()
        };
        let entry = AuditEntry::response(&sample_request(), &resp).with_error("boom");
        let v = entry.unhashed_value();
        assert_eq!(v["type"], "response");
        assert_eq!(v["response"]["mount_point"], "secret/");
        assert_eq!(v["response"]["secret"]["lease_id"], "secret/foo/abc");
        assert_eq!(v["error"], "boom");
        assert_eq!(entry.entry_type(), "response");
    }

    #[test]
    fn debug_shows_no_secrets() {
        let entry = AuditEntry::request(&sample_request());
        let dbg = format!("{entry:?} {:?}", sample_request());
        assert!(!dbg.contains("hunter2") && !dbg.contains("s.token"));
    }
}
