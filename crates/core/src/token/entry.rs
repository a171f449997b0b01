//! The stored form of a token and its `lookup` shape.

use std::time::{Duration, UNIX_EPOCH};

use coffer_types::{Auth, Map, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A stored token. The token itself is never stored: entries are keyed by its salted HMAC.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TokenEntry {
    /// The accessor: a second, non-secret handle to the token.
    pub accessor: String,
    /// Policies attached to the token, sorted.
    pub policies: Vec<String>,
    /// The path that created it (`auth/token/root`, `auth/token/create`...).
    pub path: String,
    /// Display name.
    pub display_name: String,
    /// Metadata.
    #[serde(default)]
    pub meta: Option<Map>,
    /// Unix seconds of creation.
    pub creation_time: i64,
    /// TTL given at creation, in seconds (0 = never expires).
    #[serde(default)]
    pub creation_ttl: i64,
    /// Unix seconds of expiry, 0 = never.
    #[serde(default)]
    pub expire_time: i64,
    /// Unix seconds of the last renewal, 0 = never renewed.
    #[serde(default)]
    pub last_renewal_time: i64,
    /// The TTL the last renewal granted, in seconds (0 = not renewed yet): a renewal without
    /// an increment grants it again, as the reference's token leases do.
    #[serde(default)]
    pub renewal_ttl: i64,
    /// Hard TTL cap in seconds (0 = none).
    #[serde(default)]
    pub explicit_max_ttl: i64,
    /// Periodic tokens renew to this TTL (0 = not periodic).
    #[serde(default)]
    pub period: i64,
    /// Uses left (0 = unlimited).
    #[serde(default)]
    pub num_uses: i64,
    /// The parent's HMAC, "" for orphans.
    #[serde(default)]
    pub parent: String,
    /// `service` or `batch`.
    pub token_type: String,
    /// Whether the token can be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// The identity entity, "" when none.
    #[serde(default)]
    pub entity_id: String,
    /// The token role it was created with, "" when none.
    #[serde(default)]
    pub role: String,
    /// The maximum TTL of the mount that issued it, in seconds (caps renewals).
    #[serde(default)]
    pub mount_max_ttl: i64,
    /// The accessor of the auth mount whose login created it ("" for the token store).
    #[serde(default)]
    pub mount_accessor: String,
    /// CIDR blocks the token may be used from (empty = anywhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_cidrs: Vec<String>,
    /// The login's internal data, handed back to its auth method on renewal; never shown.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub internal: Map,
}

fn rfc3339(unix: i64) -> String {
    humantime::format_rfc3339(UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64)).to_string()
}

impl TokenEntry {
    /// Whether this is a batch token (no accessor, never renewed, never revoked by hand).
    pub fn is_batch(&self) -> bool {
        self.token_type == "batch"
    }

    /// Whether the token holds the root policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Whether this is a response-wrapping token.
    pub fn is_wrapping(&self) -> bool {
        self.policies.len() == 1 && self.policies[0] == "response-wrapping"
    }

    /// Whether the token has no parent.
    pub fn is_orphan(&self) -> bool {
        self.parent.is_empty()
    }

    /// Seconds left, 0 when the token never expires.
    pub fn ttl_left(&self, now: i64) -> i64 {
        if self.expire_time == 0 { 0 } else { (self.expire_time - now).max(0) }
    }

    /// Whether the token has expired at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expire_time > 0 && now >= self.expire_time
    }

    /// The `lookup` shape of the contract; `id` is the token when the caller may see it.
    pub fn lookup_json(&self, id: &str, now: i64) -> Value {
        let expire_time =
            if self.expire_time == 0 { Value::Null } else { json!(rfc3339(self.expire_time)) };
        let mut out = json!({
            "accessor": self.accessor,
            "creation_time": self.creation_time,
            "creation_ttl": self.creation_ttl,
            "display_name": self.display_name,
            "entity_id": self.entity_id,
            "expire_time": expire_time,
            "explicit_max_ttl": self.explicit_max_ttl,
            "id": id,
            "issue_time": rfc3339(self.creation_time),
            "meta": self.meta,
            "num_uses": self.num_uses,
            "orphan": self.is_orphan(),
            "path": self.path,
            "policies": self.policies,
            "renewable": self.renewable,
            "ttl": self.ttl_left(now),
            "type": self.token_type,
        });
        if self.last_renewal_time > 0 {
            out["last_renewal"] = json!(rfc3339(self.last_renewal_time));
            out["last_renewal_time"] = json!(self.last_renewal_time);
        }
        if self.period > 0 {
            out["period"] = json!(self.period);
        }
        if !self.role.is_empty() {
            out["role"] = json!(self.role);
        }
        if !self.bound_cidrs.is_empty() {
            out["bound_cidrs"] = json!(self.bound_cidrs);
        }
        out
    }

    /// The `auth` block for this token (`token` is "" when the caller must not see it).
    pub fn auth(&self, token: &str, now: i64) -> Auth {
        Auth {
            client_token: SecretString::new(token),
            accessor: self.accessor.clone(),
            policies: self.policies.clone(),
            token_policies: self.policies.clone(),
            metadata: self.meta.clone().filter(|m| !m.is_empty()),
            lease_duration: self.ttl_left(now),
            renewable: self.renewable && !self.is_root_without_ttl(),
            entity_id: self.entity_id.clone(),
            token_type: self.token_type.clone(),
            orphan: self.is_orphan(),
            mfa_requirement: None,
            num_uses: self.num_uses,
            identity_policies: Vec::new(),
        }
    }

    fn is_root_without_ttl(&self) -> bool {
        self.is_root() && self.expire_time == 0
    }
}
