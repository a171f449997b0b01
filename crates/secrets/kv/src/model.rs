//! The persisted model of KV v2: mount configuration, per-key metadata with its versions, and
//! version data stored apart (under a hash of the key) so that listing `metadata/` lists keys.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lc_rs::digest;
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Map, Result, format_go_duration};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Versions kept when neither the mount nor the key says otherwise.
pub const DEFAULT_MAX_VERSIONS: u64 = 10;

/// The mount-wide configuration (`config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Config {
    /// Versions kept per key (0 = 10).
    pub max_versions: u64,
    /// Whether every write must carry `cas`.
    pub cas_required: bool,
    /// Seconds after which a new version is deleted (0 = never).
    pub delete_version_after: i64,
}

impl Config {
    /// The `config` read shape.
    pub fn to_json(&self) -> Value {
        json!({
            "cas_required": self.cas_required,
            "delete_version_after": format_go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
        })
    }
}

/// The metadata of one version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VersionMeta {
    /// RFC 3339 with nanoseconds.
    pub created_time: String,
    /// "" when live; the (possibly future) deletion time otherwise.
    pub deletion_time: String,
    /// Whether the data was destroyed.
    pub destroyed: bool,
}

impl VersionMeta {
    /// Whether the version is deleted at `now` (a future deletion time is still live).
    pub fn is_deleted(&self, now: SystemTime) -> bool {
        if self.deletion_time.is_empty() {
            return false;
        }
        humantime::parse_rfc3339(&self.deletion_time).map(|t| t <= now).unwrap_or(true)
    }

    /// Whether the data can be read at `now`.
    pub fn is_live(&self, now: SystemTime) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }
}

/// The metadata of one key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyMetadata {
    /// Creation of the key.
    pub created_time: String,
    /// Last change.
    pub updated_time: String,
    /// Latest version (0 = none yet).
    pub current_version: u64,
    /// Oldest version still kept after pruning (0 until something was pruned).
    pub oldest_version: u64,
    /// Per-key max versions (0 = mount setting).
    pub max_versions: u64,
    /// Per-key check-and-set requirement.
    pub cas_required: bool,
    /// Per-key deletion delay in seconds (0 = mount setting).
    pub delete_version_after: i64,
    /// Free-form string map.
    pub custom_metadata: Option<Map>,
    /// Incremented by metadata writes.
    pub current_metadata_version: u64,
    /// Versions by number.
    pub versions: BTreeMap<u64, VersionMeta>,
}

impl KeyMetadata {
    /// The metadata read shape.
    pub fn to_json(&self) -> Value {
        let versions: Map =
            self.versions.iter().map(|(n, v)| (n.to_string(), json!(v))).collect();
        json!({
            "cas_required": self.cas_required,
            "created_time": self.created_time,
            "current_metadata_version": self.current_metadata_version,
            "current_version": self.current_version,
            "custom_metadata": self.custom_metadata,
            "delete_version_after": format_go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "metadata_cas_required": false,
            "oldest_version": self.oldest_version,
            "updated_time": self.updated_time,
            "versions": versions,
        })
    }

    /// The metadata of one version as data reads and writes show it.
    pub fn version_json(&self, version: u64) -> Value {
        let v = self.versions.get(&version).cloned().unwrap_or_default();
        json!({
            "created_time": v.created_time,
            "custom_metadata": self.custom_metadata,
            "deletion_time": v.deletion_time,
            "destroyed": v.destroyed,
            "version": version,
        })
    }
}

/// RFC 3339 with nanoseconds, UTC.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Storage key of a key's metadata.
pub fn metadata_key(path: &str) -> String {
    format!("metadata/{path}")
}

/// Storage prefix of a key's version data.
pub fn versions_prefix(path: &str) -> String {
    let hash = digest::digest(&digest::SHA256, path.as_bytes());
    format!("versions/{}/", hex::encode(hash.as_ref()))
}

/// Storage key of one version's data.
pub fn version_key(path: &str, version: u64) -> String {
    format!("{}{version}", versions_prefix(path))
}

/// Reads the mount configuration (defaults when never written).
pub async fn read_config(storage: &SharedStorage) -> Result<Config> {
    Ok(coffer_framework::read_json(storage, "config").await?.unwrap_or_default())
}

/// Reads a key's metadata.
pub async fn read_metadata(storage: &SharedStorage, path: &str) -> Result<Option<KeyMetadata>> {
    coffer_framework::read_json(storage, &metadata_key(path)).await
}

/// Reads one version's data.
pub async fn read_version(storage: &SharedStorage, path: &str, version: u64) -> Result<Option<Map>> {
    coffer_framework::read_json(storage, &version_key(path, version)).await
}

/// The write that stores `meta`.
pub fn put_metadata(path: &str, meta: &KeyMetadata) -> Result<WriteOp> {
    let value = serde_json::to_vec(meta).map_err(|e| Error::internal(e.to_string()))?;
    Ok(WriteOp::Put { key: metadata_key(path), value })
}

/// Parses the `versions` parameter: ints or numeric strings, as a list or comma string.
pub fn parse_versions(value: Option<&Value>) -> Result<Vec<u64>> {
    let missing = || Error::invalid("no version number provided");
    let value = value.ok_or_else(missing)?;
    let items = coffer_types::coerce_string_list("versions", value)?;
    if items.is_empty() {
        return Err(missing());
    }
    items
        .iter()
        .map(|s| s.parse::<u64>().map_err(|_| Error::invalid(format!("invalid version number {s:?}"))))
        .collect()
}
