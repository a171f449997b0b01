//! The mount table: which engine serves which path prefix. Compiled once into an immutable
//! [`MountTable`] and swapped whole when a mount changes; resolution is a longest-prefix match.

use std::sync::Arc;

use coffer_framework::{Backend, SpecialPaths};
use coffer_storage::SharedStorage;
use coffer_types::Map;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// System-wide lease TTL defaults (768h), used when a mount sets none.
pub const SYSTEM_DEFAULT_TTL: i64 = 768 * 3600;
/// System-wide maximum lease TTL (768h).
pub const SYSTEM_MAX_TTL: i64 = 768 * 3600;

/// The tunable configuration of a mount. TTLs of 0 inherit the system values.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MountConfig {
    /// Default lease TTL in seconds (0 = system default).
    #[serde(default)]
    pub default_lease_ttl: i64,
    /// Maximum lease TTL in seconds (0 = system max).
    #[serde(default)]
    pub max_lease_ttl: i64,
    /// Kept for compatibility; Coffer never caches per mount differently.
    #[serde(default)]
    pub force_no_cache: bool,
    /// `unauth`, `hidden` or "".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub listing_visibility: String,
    /// Request keys the audit log keeps in clear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_non_hmac_request_keys: Vec<String>,
    /// Response keys the audit log keeps in clear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_non_hmac_response_keys: Vec<String>,
    /// Request headers passed to the engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passthrough_request_headers: Vec<String>,
    /// Response headers the engine may set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_response_headers: Vec<String>,
    /// Token type for auth mounts (`default-service`...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_type: String,
}

impl MountConfig {
    /// The default TTL in force (system default when unset).
    pub fn effective_default_ttl(&self) -> i64 {
        if self.default_lease_ttl > 0 { self.default_lease_ttl } else { SYSTEM_DEFAULT_TTL }
    }

    /// The maximum TTL in force (system max when unset).
    pub fn effective_max_ttl(&self) -> i64 {
        if self.max_lease_ttl > 0 { self.max_lease_ttl } else { SYSTEM_MAX_TTL }
    }
}

/// One persisted mount: a secrets engine or an auth method.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountEntry {
    /// The path with trailing `/` (`secret/`; auth mounts are stored without `auth/`).
    pub path: String,
    /// The engine type (`kv`, `pki`, `system`, `token`).
    #[serde(rename = "type")]
    pub engine_type: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// `<type>_<8 hex>`.
    pub accessor: String,
    /// UUID, also the storage prefix of the mount.
    pub uuid: String,
    /// Tunables.
    #[serde(default)]
    pub config: MountConfig,
    /// Engine options (`{"version":"2"}`).
    #[serde(default)]
    pub options: Option<Map>,
    /// Not replicated (kept for compatibility).
    #[serde(default)]
    pub local: bool,
    /// Kept for compatibility.
    #[serde(default)]
    pub seal_wrap: bool,
    /// Kept for compatibility.
    #[serde(default)]
    pub external_entropy_access: bool,
    /// The routing prefixes the mount had before it was moved (`sys/remount`): its older
    /// leases carry them in their ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_prefixes: Vec<String>,
}

impl MountEntry {
    /// Every lease-id prefix this mount's leases can have: its current routing prefix
    /// (`prefix`) and those it had before moves.
    pub fn lease_prefixes(&self, prefix: &str) -> Vec<String> {
        let mut all = vec![prefix.to_string()];
        for previous in &self.previous_prefixes {
            if !all.contains(previous) {
                all.push(previous.clone());
            }
        }
        all
    }
}

impl MountEntry {
    /// A new entry with fresh accessor and uuid.
    pub fn new(path: &str, engine_type: &str, description: &str, accessor_prefix: &str) -> Self {
        MountEntry {
            path: path.to_string(),
            engine_type: engine_type.to_string(),
            description: description.to_string(),
            accessor: format!("{accessor_prefix}{engine_type}_{}", &coffer_types::new_uuid()[..8]),
            uuid: coffer_types::new_uuid(),
            config: MountConfig::default(),
            options: None,
            local: false,
            seal_wrap: false,
            external_entropy_access: false,
            previous_prefixes: Vec::new(),
        }
    }

    /// Whether this is one of the built-in mounts that cannot be disabled or tuned away.
    pub fn is_builtin(&self) -> bool {
        matches!(self.engine_type.as_str(), "system" | "token" | "identity" | "cubbyhole")
    }

    /// The JSON shape of `sys/mounts` and `sys/auth` entries (raw TTLs, 0 = inherit).
    pub fn to_json(&self) -> Value {
        let mut config = json!({
            "default_lease_ttl": self.config.default_lease_ttl,
            "max_lease_ttl": self.config.max_lease_ttl,
            "force_no_cache": self.config.force_no_cache,
        });
        if let Some(obj) = config.as_object_mut() {
            let extra = serde_json::to_value(&self.config).unwrap_or(Value::Null);
            for key in [
                "listing_visibility",
                "audit_non_hmac_request_keys",
                "audit_non_hmac_response_keys",
                "passthrough_request_headers",
                "allowed_response_headers",
                "token_type",
            ] {
                if let Some(v) = extra.get(key) {
                    obj.insert(key.to_string(), v.clone());
                }
            }
        }
        let mut entry = json!({
            "accessor": self.accessor,
            "config": config,
            "description": self.description,
            "external_entropy_access": self.external_entropy_access,
            "local": self.local,
            "options": self.options,
            "plugin_version": "",
            "running_plugin_version": format!("v{}+builtin.coffer", coffer_types::VERSION),
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.engine_type,
            "uuid": self.uuid,
        });
        if !self.is_builtin() {
            entry["deprecation_status"] = json!("supported");
        }
        entry
    }
}

/// A mount with its running backend.
#[derive(Clone)]
pub struct Mounted {
    /// The persisted entry.
    pub entry: MountEntry,
    /// The full routing prefix (`secret/`, `auth/approle/`).
    pub prefix: String,
    /// Whether this is an auth mount.
    pub is_auth: bool,
    /// The engine.
    pub backend: Arc<dyn Backend>,
    /// The mount's storage view.
    pub storage: SharedStorage,
    /// The engine's special paths, read once at mount time.
    pub special: SpecialPaths,
}

/// The immutable routing table; replaced whole on every change.
#[derive(Clone, Default)]
pub struct MountTable {
    /// Mounts sorted by prefix length, longest first.
    mounts: Vec<Arc<Mounted>>,
}

impl MountTable {
    /// A table of `mounts`.
    pub fn new(mut mounts: Vec<Arc<Mounted>>) -> Self {
        mounts.sort_by(|a, b| b.prefix.len().cmp(&a.prefix.len()).then(a.prefix.cmp(&b.prefix)));
        MountTable { mounts }
    }

    /// The mount serving `path` and the path relative to it (longest prefix wins). A path equal
    /// to a mount without its trailing slash (`secret`) resolves to that mount with "".
    pub fn resolve<'a>(&'a self, path: &'a str) -> Option<(&'a Arc<Mounted>, &'a str)> {
        self.mounts.iter().find_map(|m| {
            if let Some(rest) = path.strip_prefix(m.prefix.as_str()) {
                Some((m, rest))
            } else if m.prefix.strip_suffix('/') == Some(path) {
                Some((m, ""))
            } else {
                None
            }
        })
    }

    /// Every mount.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Mounted>> {
        self.mounts.iter()
    }

    /// The mount whose prefix is exactly `prefix`.
    pub fn get(&self, prefix: &str) -> Option<&Arc<Mounted>> {
        self.mounts.iter().find(|m| m.prefix == prefix)
    }

    /// A copy with `mounted` added.
    pub fn with(&self, mounted: Arc<Mounted>) -> Self {
        let mut mounts = self.mounts.clone();
        mounts.push(mounted);
        MountTable::new(mounts)
    }

    /// A copy without the mount at `prefix`.
    pub fn without(&self, prefix: &str) -> Self {
        MountTable::new(self.mounts.iter().filter(|m| m.prefix != prefix).cloned().collect())
    }

    /// The persisted entries of the secrets mounts (`auth == false`) or auth mounts.
    pub fn entries(&self, auth: bool) -> Vec<MountEntry> {
        let mut entries: Vec<MountEntry> =
            self.mounts.iter().filter(|m| m.is_auth == auth).map(|m| m.entry.clone()).collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries
    }
}

/// Normalises a user-given mount path: no leading slash, exactly one trailing slash.
pub fn normalize_mount_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    format!("{trimmed}/")
}
