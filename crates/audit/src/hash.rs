//! HMAC-SHA256 of audited secrets, keyed by a device's salt, and list elision.

use std::fmt;

use aws_lc_rs::hmac;
use serde_json::Value;

use crate::entry::AuditEntry;

/// The prefix of every hashed value, as in Vault's logs.
pub const HMAC_PREFIX: &str = "hmac-sha256:";

/// A device's salt, ready to key HMAC-SHA256. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct Salt {
    key: hmac::Key,
}

impl Salt {
    /// Keys HMAC-SHA256 with the salt bytes (32 random bytes per device, persisted by the core).
    pub fn new(salt: &[u8]) -> Self {
        Salt { key: hmac::Key::new(hmac::HMAC_SHA256, salt) }
    }

    /// `hmac-sha256:<hex>` of `value`.
    pub fn hash(&self, value: &str) -> String {
        let tag = hmac::sign(&self.key, value.as_bytes());
        format!("{HMAC_PREFIX}{}", hex::encode(tag.as_ref()))
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt([redacted])")
    }
}

/// `hmac-sha256:<hex>` of `value` keyed by `salt`: what `sys/audit-hash/<path>` returns and
/// what the log shows for a secret.
pub fn hash_string(salt: &[u8], value: &str) -> String {
    Salt::new(salt).hash(value)
}

/// How a device hashes an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashOptions {
    /// Hash token accessors too (Vault's `hmac_accessor`, default true).
    pub hmac_accessor: bool,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions { hmac_accessor: true }
    }
}

impl AuditEntry {
    /// A copy of the entry with its secrets replaced by `hmac-sha256:<hex>`:
    /// `auth.client_token`, `request.client_token`, `response.auth.client_token`,
    /// `response.wrap_info.token`, every string under `request.data` and `response.data`
    /// (recursively, except the mount's top-level non-HMAC keys), and, with `hmac_accessor`,
    /// `auth.accessor`, `request.client_token_accessor`, `response.auth.accessor`,
    /// `response.wrap_info.accessor` and `wrapped_accessor`. Numbers, bools and map keys are
    /// left as they are, as Vault does.
    pub fn hashed(&self, salt: &Salt, options: HashOptions) -> Value {
        let mut value = self.value.clone();
        let accessor = options.hmac_accessor;
        if let Some(auth) = value.get_mut("auth") {
            hash_auth(auth, salt, accessor);
        }
        if let Some(Value::Object(request)) = value.get_mut("request") {
            hash_field(request, "client_token", salt);
            if accessor {
                hash_field(request, "client_token_accessor", salt);
            }
            if let Some(data) = request.get_mut("data") {
                hash_data(data, salt, &self.non_hmac_request_keys);
            }
        }
        if let Some(Value::Object(response)) = value.get_mut("response") {
            if let Some(auth) = response.get_mut("auth") {
                hash_auth(auth, salt, accessor);
            }
            if let Some(data) = response.get_mut("data") {
                hash_data(data, salt, &self.non_hmac_response_keys);
            }
            if let Some(Value::Object(wrap)) = response.get_mut("wrap_info") {
                hash_field(wrap, "token", salt);
                if accessor {
                    hash_field(wrap, "accessor", salt);
                    hash_field(wrap, "wrapped_accessor", salt);
                }
            }
        }
        value
    }
}

fn hash_auth(auth: &mut Value, salt: &Salt, hmac_accessor: bool) {
    if let Value::Object(auth) = auth {
        hash_field(auth, "client_token", salt);
        if hmac_accessor {
            hash_field(auth, "accessor", salt);
        }
    }
}

/// Hashes one string field of an object when present and non-empty.
fn hash_field(object: &mut serde_json::Map<String, Value>, key: &str, salt: &Salt) {
    if let Some(Value::String(s)) = object.get_mut(key) {
        if !s.is_empty() {
            *s = salt.hash(s);
        }
    }
}

/// Hashes every string of a data object except the values of `clear_keys` (top level only).
fn hash_data(data: &mut Value, salt: &Salt, clear_keys: &[String]) {
    match data {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if !clear_keys.iter().any(|k| k == key) {
                    hash_value(value, salt);
                }
            }
        }
        other => hash_value(other, salt),
    }
}

/// Replaces every string leaf with its HMAC, keeping objects, arrays and other scalars.
pub(crate) fn hash_value(value: &mut Value, salt: &Salt) {
    match value {
        Value::String(s) => *s = salt.hash(s),
        Value::Array(items) => items.iter_mut().for_each(|v| hash_value(v, salt)),
        Value::Object(map) => map.values_mut().for_each(|v| hash_value(v, salt)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Vault's `elide_list_responses`: in the response entry of a list operation, `keys` (an
/// array) and `key_info` (an object) in `response.data` become their element counts.
pub(crate) fn elide_list_response(value: &mut Value) {
    let is_list = value.pointer("/request/operation").and_then(Value::as_str) == Some("list");
    if !is_list {
        return;
    }
    if let Some(Value::Object(data)) = value.pointer_mut("/response/data") {
        if let Some(keys) = data.get_mut("keys") {
            if let Value::Array(items) = keys {
                *keys = Value::from(items.len());
            }
        }
        if let Some(info) = data.get_mut("key_info") {
            if let Value::Object(items) = info {
                *info = Value::from(items.len());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc4231_test_case_2() {
        assert_eq!(
            hash_string(b"Jefe", "what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hash_value_keeps_structure() {
        let salt = Salt::new(b"k");
        let mut v = json!({ "a": ["x", 1, true, null, { "b": "y" }] });
        hash_value(&mut v, &salt);
        assert_eq!(v["a"][0], salt.hash("x"));
        assert_eq!(v["a"][1], 1);
        assert_eq!(v["a"][2], true);
        assert_eq!(v["a"][3], Value::Null);
        assert_eq!(v["a"][4]["b"], salt.hash("y"));
    }

    #[test]
    fn elision_only_for_lists() {
        let mut v = json!({ "request": { "operation": "list" },
            "response": { "data": { "keys": ["a", "b"], "key_info": { "a": {} }, "other": "x" } } });
        let mut read = v.clone();
        elide_list_response(&mut v);
        assert_eq!(v["response"]["data"]["keys"], 2);
        assert_eq!(v["response"]["data"]["key_info"], 1);
        assert_eq!(v["response"]["data"]["other"], "x");
        read["request"]["operation"] = json!("read");
        let before = read.clone();
        elide_list_response(&mut read);
        assert_eq!(read, before);
    }

    #[test]
    fn salt_debug_is_redacted() {
        assert_eq!(format!("{:?}", Salt::new(b"secret")), "Salt([redacted])");
    }
}
