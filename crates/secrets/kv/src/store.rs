//! The persisted model of KV v2 and where it lives in the mount's storage:
//!
//! - `config`: the mount-wide [`Config`];
//! - `metadata/<key>`: one [`KeyMetadata`] per user key, so that listing `metadata/` lists
//!   the user's keys and folders and nothing else;
//! - `versions/<sha256 of key>/<n>`: the data of version `n`, apart from the metadata so that
//!   reads of metadata never load secrets, and under a hash so that no user key shape can
//!   collide with it.
//!
//! Every change of a key is one storage batch: metadata and version data change together.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use coffer_framework::read_json;
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Map, Result, format_go_duration};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Versions kept per key when neither the mount nor the key sets `max_versions`.
pub(crate) const DEFAULT_MAX_VERSIONS: u64 = 10;

/// Storage key of the mount configuration.
const CONFIG_KEY: &str = "config";

/// The mount-wide settings (`config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Config {
    /// Versions kept per key (0 means [`DEFAULT_MAX_VERSIONS`]).
    pub max_versions: u64,
    /// Whether every data write must carry `options.cas`.
    pub cas_required: bool,
    /// Seconds after which a new version is deleted; 0 unset, negative disables it for every
    /// key (including keys that set their own).
    pub delete_version_after: i64,
    /// Whether every metadata write must carry `metadata_cas`.
    pub metadata_cas_required: bool,
}

impl Config {
    /// The `GET config` shape.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "cas_required": self.cas_required,
            "delete_version_after": format_go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "metadata_cas_required": self.metadata_cas_required,
        })
    }
}

/// The metadata of one version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct VersionMeta {
    /// RFC 3339 with nanoseconds, UTC.
    pub created_time: String,
    /// "" while live; otherwise when the version is (or will be) deleted.
    pub deletion_time: String,
    /// Whether the data was destroyed.
    pub destroyed: bool,
}

impl VersionMeta {
    /// Whether the version counts as deleted at `now`. A deletion time in the future (set by
    /// `delete_version_after`) keeps the version readable until then.
    pub(crate) fn is_deleted(&self, now: SystemTime) -> bool {
        if self.deletion_time.is_empty() {
            return false;
        }
        // An unparseable time can only come from a damaged entry: fail closed.
        humantime::parse_rfc3339(&self.deletion_time).map_or(true, |t| t <= now)
    }

    /// Whether the data of this version can be read at `now`.
    pub(crate) fn is_readable(&self, now: SystemTime) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }
}

/// The metadata of one key: its settings and the metadata of its versions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct KeyMetadata {
    /// When the key was created.
    pub created_time: String,
    /// When a version or the metadata last changed.
    pub updated_time: String,
    /// The latest version, 0 before the first write.
    pub current_version: u64,
    /// The oldest version kept; moves when `max_versions` prunes.
    pub oldest_version: u64,
    /// Per-key versions to keep (0: the mount's setting).
    pub max_versions: u64,
    /// Whether writes of this key must carry `options.cas`.
    pub cas_required: bool,
    /// Per-key deletion delay in seconds (0: the mount's setting).
    pub delete_version_after: i64,
    /// Free-form string map, `None` when empty.
    pub custom_metadata: Option<BTreeMap<String, String>>,
    /// Counts metadata writes (the value `metadata_cas` is compared with).
    pub current_metadata_version: u64,
    /// Whether metadata writes of this key must carry `metadata_cas`.
    pub metadata_cas_required: bool,
    /// The versions still kept, by number.
    pub versions: BTreeMap<u64, VersionMeta>,
}

impl KeyMetadata {
    /// The `GET metadata/<key>` shape.
    pub(crate) fn to_json(&self) -> Value {
        let versions: Map = self
            .versions
            .iter()
            .map(|(n, v)| {
                let shown = json!({
                    "created_time": v.created_time,
                    "deletion_time": v.deletion_time,
                    "destroyed": v.destroyed,
                });
                (n.to_string(), shown)
            })
            .collect();
        json!({
            "cas_required": self.cas_required,
            "created_time": self.created_time,
            "current_metadata_version": self.current_metadata_version,
            "current_version": self.current_version,
            "custom_metadata": self.custom_metadata,
            "delete_version_after": format_go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "metadata_cas_required": self.metadata_cas_required,
            "oldest_version": self.oldest_version,
            "updated_time": self.updated_time,
            "versions": versions,
        })
    }

    /// The metadata of `version` as data reads and writes show it.
    pub(crate) fn version_json(&self, version: u64) -> Value {
        let v = self.versions.get(&version).cloned().unwrap_or_default();
        json!({
            "created_time": v.created_time,
            "custom_metadata": self.custom_metadata,
            "deletion_time": v.deletion_time,
            "destroyed": v.destroyed,
            "version": version,
        })
    }

    /// Records a new version created at `now` and moves the window of kept versions.
    /// Returns the new version number and the versions that fell out of the window (their
    /// data must be deleted in the same batch).
    ///
    /// The window is the larger of the key's and the mount's `max_versions` (10 when both
    /// are 0), as OpenBao computes it; `oldest_version` becomes the first version kept once
    /// the window is full.
    pub(crate) fn add_version(&mut self, config: &Config, now: SystemTime) -> (u64, Vec<u64>) {
        let created = timestamp(now);
        let deletion_time = deletion_time(config, self.delete_version_after, now);
        self.current_version += 1;
        let version = self.current_version;
        self.versions.insert(
            version,
            VersionMeta { created_time: created.clone(), deletion_time, destroyed: false },
        );
        if self.created_time.is_empty() {
            self.created_time = created.clone();
        }
        self.updated_time = created;

        let max = match self.max_versions.max(config.max_versions) {
            0 => DEFAULT_MAX_VERSIONS,
            m => m,
        };
        let mut pruned = Vec::new();
        if version.saturating_sub(self.oldest_version) >= max {
            let last_dropped = version - max;
            pruned = self.versions.range(..=last_dropped).map(|(n, _)| *n).collect();
            for n in &pruned {
                self.versions.remove(n);
            }
            self.oldest_version = last_dropped + 1;
        }
        (version, pruned)
    }
}

/// RFC 3339 with nanoseconds in UTC (`2026-11-28T16:43:47.823466989Z`).
pub(crate) fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// The deletion time of a version created (or undeleted) at `from`: the smaller non-zero delay
/// of the mount and the key, "" when both are 0 or the mount disabled the feature.
pub(crate) fn deletion_time(config: &Config, key_delay: i64, from: SystemTime) -> String {
    if config.delete_version_after < 0 {
        return String::new();
    }
    let delay = match (config.delete_version_after, key_delay.max(0)) {
        (0, 0) => return String::new(),
        (0, d) | (d, 0) => d,
        (a, b) => a.min(b),
    };
    let secs = u64::try_from(delay).unwrap_or(0);
    from.checked_add(Duration::from_secs(secs)).map(timestamp).unwrap_or_default()
}

/// Storage key of a key's metadata.
pub(crate) fn metadata_key(key: &str) -> String {
    format!("metadata/{key}")
}

/// Storage key of the data of one version.
pub(crate) fn version_key(key: &str, version: u64) -> String {
    let hash = digest::digest(&digest::SHA256, key.as_bytes());
    format!("versions/{}/{version}", hex::encode(hash.as_ref()))
}

/// The mount configuration, defaults when never written.
pub(crate) async fn read_config(storage: &SharedStorage) -> Result<Config> {
    Ok(read_json(storage, CONFIG_KEY).await?.unwrap_or_default())
}

/// The write that stores the mount configuration.
pub(crate) fn put_config(config: &Config) -> Result<WriteOp> {
    put_json(CONFIG_KEY.to_string(), config)
}

/// A key's metadata, `None` when the key does not exist.
pub(crate) async fn read_metadata(
    storage: &SharedStorage,
    key: &str,
) -> Result<Option<KeyMetadata>> {
    read_json(storage, &metadata_key(key)).await
}

/// The write that stores a key's metadata.
pub(crate) fn put_metadata(key: &str, meta: &KeyMetadata) -> Result<WriteOp> {
    put_json(metadata_key(key), meta)
}

/// The data of a version the metadata says is readable; missing data is an internal error.
pub(crate) async fn read_version(storage: &SharedStorage, key: &str, version: u64) -> Result<Map> {
    read_json(storage, &version_key(key, version))
        .await?
        .ok_or_else(|| Error::internal("could not find version data"))
}

/// The write that stores the data of a version.
pub(crate) fn put_version(key: &str, version: u64, data: &Map) -> Result<WriteOp> {
    put_json(version_key(key, version), data)
}

fn put_json<T: Serialize>(key: String, value: &T) -> Result<WriteOp> {
    let value =
        serde_json::to_vec(value).map_err(|e| Error::internal(format!("encoding {key}: {e}")))?;
    Ok(WriteOp::Put { key, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_after_writes(key_max: u64, config_max: u64, writes: u64) -> (KeyMetadata, Vec<u64>) {
        let config = Config { max_versions: config_max, ..Config::default() };
        let mut meta = KeyMetadata { max_versions: key_max, ..KeyMetadata::default() };
        let mut all_pruned = Vec::new();
        for _ in 0..writes {
            all_pruned.extend(meta.add_version(&config, SystemTime::now()).1);
        }
        (meta, all_pruned)
    }

    #[test]
    fn window_follows_the_larger_max_versions() {
        let (meta, pruned) = meta_after_writes(2, 0, 2);
        assert_eq!((meta.oldest_version, meta.versions.len()), (1, 2));
        assert!(pruned.is_empty());
        let (meta, pruned) = meta_after_writes(2, 0, 4);
        assert_eq!(meta.oldest_version, 3);
        assert_eq!(meta.versions.keys().copied().collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(pruned, vec![1, 2]);
        let (meta, _) = meta_after_writes(1, 3, 6);
        assert_eq!(meta.versions.len(), 3);
        let (meta, _) = meta_after_writes(0, 0, 12);
        assert_eq!((meta.versions.len(), meta.oldest_version), (10, 3));
    }

    #[test]
    fn deletion_time_takes_the_smaller_delay_unless_disabled() {
        let now = SystemTime::UNIX_EPOCH;
        let config = |d| Config { delete_version_after: d, ..Config::default() };
        assert_eq!(deletion_time(&config(0), 0, now), "");
        assert_eq!(deletion_time(&config(7200), 3600, now), "1970-01-01T01:00:00.000000000Z");
        assert_eq!(deletion_time(&config(3600), 0, now), "1970-01-01T01:00:00.000000000Z");
        assert_eq!(deletion_time(&config(0), 60, now), "1970-01-01T00:01:00.000000000Z");
        assert_eq!(deletion_time(&config(-1), 60, now), "");
    }
}
