//! KV v2 `metadata/<key>`: read, write and merge-patch a key's settings and custom metadata
//! (never creating a version), delete a key with all its versions, and list keys.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use coffer_framework::{Field, Path, Req};
use coffer_storage::WriteOp;
use coffer_types::{Error, Map, Response, Result};
use serde_json::{Value, json};

use crate::merge::merge_patch;
use crate::path_config::non_negative;
use crate::store::{
    Config, KeyMetadata, metadata_key, put_metadata, read_config, read_metadata, timestamp,
    version_key,
};
use crate::{KvState, write_key};

/// The settings a metadata write or patch changes; a request with none of them is a no-op.
const SETTINGS: [&str; 5] = [
    "max_versions",
    "cas_required",
    "delete_version_after",
    "custom_metadata",
    "metadata_cas_required",
];

/// Limits on `custom_metadata`, as Vault enforces them.
const MAX_CUSTOM_KEYS: usize = 64;
const MAX_CUSTOM_KEY_LEN: usize = 128;
const MAX_CUSTOM_VALUE_LEN: usize = 512;
const CUSTOM_ERROR_PREFIX: &str = "custom_metadata validation failed";

/// The `metadata/<key>` route (LIST on `metadata/[prefix/]`).
pub(crate) fn path() -> Path<KvState> {
    Path::new("metadata/{path*}")
        .field(
            Field::int("max_versions").describe("Versions kept for this key; 0 uses the mount's."),
        )
        .field(
            Field::bool("cas_required")
                .describe("Whether writes of this key must carry options.cas."),
        )
        .field(
            Field::duration("delete_version_after")
                .describe("Delay before a new version is deleted."),
        )
        .field(Field::any("custom_metadata").describe("A map of strings describing the secret."))
        .field(
            Field::bool("metadata_cas_required")
                .describe("Whether metadata writes must carry metadata_cas."),
        )
        .field(Field::int("metadata_cas").describe("Check-and-set on current_metadata_version."))
        .field(Field::string("after").describe("List entries after this one."))
        .field(Field::int("limit").describe("List at most this many entries."))
        .help("Reads and writes key settings, deletes keys with all versions, lists keys.")
        .list(list)
        .read(read)
        .write(write)
        .patch(patch)
        .delete(delete)
        .existence(crate::path_data::exists)
}

async fn list(_state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let path = req.capture("path");
    let prefix = match path {
        "" => metadata_key(""),
        p if p.ends_with('/') => metadata_key(p),
        p => metadata_key(&format!("{p}/")),
    };
    let after = req.str("after")?;
    let after = (!after.is_empty()).then_some(after.as_str());
    let limit = usize::try_from(req.int("limit")?).ok().filter(|l| *l > 0);
    let keys = req.storage().list_page(&prefix, after, limit).await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}

async fn read(_state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let meta = read_metadata(req.storage(), req.capture("path")).await?.ok_or(Error::NotFound)?;
    Ok(Some(Response::json(meta.to_json())))
}

/// Converts one `custom_metadata` value the way Vault's weak decoding does (bools become
/// `"1"`/`"0"`); `None` for a `null`, which a patch uses to remove the entry.
fn custom_value(key: &str, value: &Value) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(if *b { "1" } else { "0" }.to_string())),
        _ => Err(Error::invalid(format!(
            "{CUSTOM_ERROR_PREFIX}: value for key {key:?} must be a string"
        ))),
    }
}

/// The `custom_metadata` object of a request (a JSON-encoded object string is accepted too).
fn custom_object(value: &Value) -> Result<Map> {
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map.clone()),
        Value::String(s) => match serde_json::from_str(s) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Error::invalid(
                "error converting input for field \"custom_metadata\": expected a map",
            )),
        },
        _ => Err(Error::invalid(
            "error converting input for field \"custom_metadata\": expected a map",
        )),
    }
}

/// Checks the entries Vault limits: key count, key and value lengths, printable text.
fn validate_custom(entries: &BTreeMap<String, String>) -> Result<()> {
    if entries.len() > MAX_CUSTOM_KEYS {
        return Err(Error::invalid(format!(
            "{CUSTOM_ERROR_PREFIX}: payload must contain at most {MAX_CUSTOM_KEYS} keys, provided {}",
            entries.len()
        )));
    }
    let mut errors = Vec::new();
    for (key, value) in entries {
        if key.is_empty() || key.len() > MAX_CUSTOM_KEY_LEN {
            errors.push(format!(
                "{CUSTOM_ERROR_PREFIX}: length of key {key:?} is {} but must be 0 < len(key) <= {MAX_CUSTOM_KEY_LEN}",
                key.len()
            ));
        }
        if value.is_empty() || value.len() > MAX_CUSTOM_VALUE_LEN {
            errors.push(format!(
                "{CUSTOM_ERROR_PREFIX}: length of value for key {key:?} is {} but must be 0 < len(value) <= {MAX_CUSTOM_VALUE_LEN}",
                value.len()
            ));
        }
        if key.chars().any(char::is_control) {
            errors.push(format!(
                "{CUSTOM_ERROR_PREFIX}: key {key:?} contains unprintable characters"
            ));
        }
        if value.chars().any(char::is_control) {
            errors.push(format!(
                "{CUSTOM_ERROR_PREFIX}: value for key {key:?} contains unprintable characters"
            ));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::invalid(errors.join("; "))) }
}

/// The entries a request sets (nulls dropped), validated.
fn custom_entries(value: &Value) -> Result<BTreeMap<String, String>> {
    let mut entries = BTreeMap::new();
    for (key, value) in custom_object(value)? {
        if let Some(s) = custom_value(&key, &value)? {
            entries.insert(key, s);
        }
    }
    validate_custom(&entries)?;
    Ok(entries)
}

/// Checks `metadata_cas` against `current_metadata_version`, and that it is given when the
/// mount or the key requires it.
fn check_metadata_cas(req: &Req, config: &Config, meta: &KeyMetadata) -> Result<()> {
    if req.has("metadata_cas") {
        if u64::try_from(req.int("metadata_cas")?).ok() != Some(meta.current_metadata_version) {
            return Err(Error::invalid(
                "metadata check-and-set parameter does not match the current version",
            ));
        }
    } else if config.metadata_cas_required || meta.metadata_cas_required {
        return Err(Error::invalid("metadata check-and-set parameter required for this call"));
    }
    Ok(())
}

/// The settings a request gives (`None`: not given), parsed before any lock is taken. A `null`
/// in a patch coerces to 0 or false, which resets the setting to its default.
struct Settings {
    max_versions: Option<u64>,
    cas_required: Option<bool>,
    delete_version_after: Option<i64>,
    metadata_cas_required: Option<bool>,
}

impl Settings {
    fn parse(req: &Req) -> Result<Self> {
        let given = |name: &str| req.has(name);
        let count = |name: &str| req.int(name).and_then(|v| non_negative(name, v));
        let delay = |name: &str| {
            let secs = req.duration(name)?;
            non_negative(name, secs).map(|_| secs)
        };
        Ok(Settings {
            max_versions: given("max_versions").then(|| count("max_versions")).transpose()?,
            cas_required: given("cas_required").then(|| req.bool("cas_required")).transpose()?,
            delete_version_after: given("delete_version_after")
                .then(|| delay("delete_version_after"))
                .transpose()?,
            metadata_cas_required: given("metadata_cas_required")
                .then(|| req.bool("metadata_cas_required"))
                .transpose()?,
        })
    }

    /// Applies the given settings (a `null` in a patch coerces to 0/false: the default).
    fn apply(self, meta: &mut KeyMetadata) {
        if let Some(v) = self.max_versions {
            meta.max_versions = v;
        }
        if let Some(v) = self.cas_required {
            meta.cas_required = v;
        }
        if let Some(v) = self.delete_version_after {
            meta.delete_version_after = v;
        }
        if let Some(v) = self.metadata_cas_required {
            meta.metadata_cas_required = v;
        }
    }
}

/// The warning Vault gives when a key asks for less than the mount mandates.
fn cas_warning(req: &Req, config: &Config) -> Result<Option<String>> {
    let turned_off = req.has("cas_required") && !req.bool("cas_required")?;
    Ok((turned_off && config.cas_required).then(|| {
        "\"cas_required\" set to false, but is mandated by backend config. This value will be ignored.".to_string()
    }))
}

/// POST: sets the given settings (creating the key without versions when it is new).
async fn write(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = write_key(&req)?;
    if !SETTINGS.iter().any(|f| req.has(f)) {
        return Ok(None);
    }
    let settings = Settings::parse(&req)?;
    let custom = req.data().get("custom_metadata").map(custom_entries).transpose()?;
    let config = read_config(req.storage()).await?;
    let warning = cas_warning(&req, &config)?;

    let _guard = state.write_lock(&key).await?;
    let now = timestamp(SystemTime::now());
    let mut meta = read_metadata(req.storage(), &key)
        .await?
        .unwrap_or_else(|| KeyMetadata { created_time: now.clone(), ..KeyMetadata::default() });
    check_metadata_cas(&req, &config, &meta)?;
    settings.apply(&mut meta);
    if let Some(entries) = custom {
        meta.custom_metadata = (!entries.is_empty()).then_some(entries);
    }
    save(&req, &key, meta, now).await?;
    Ok(warning.map(|w| Response::warnings_only(vec![w])))
}

/// PATCH: merge-patches the settings of an existing key; `custom_metadata` merges entry by
/// entry (a `null` entry removes it, a `null` map clears it).
async fn patch(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = write_key(&req)?;
    let settings = Settings::parse(&req)?;
    // The patch of the map, as an object (or null, which clears the map).
    let custom_patch = match req.data().get("custom_metadata") {
        None => None,
        Some(Value::Null) => Some(Value::Null),
        Some(value) => Some(Value::Object(custom_object(value)?)),
    };
    let config = read_config(req.storage()).await?;
    let warning = cas_warning(&req, &config)?;

    let _guard = state.write_lock(&key).await?;
    let Some(mut meta) = read_metadata(req.storage(), &key).await? else {
        return Err(Error::NotFound);
    };
    check_metadata_cas(&req, &config, &meta)?;
    settings.apply(&mut meta);
    if let Some(patch) = custom_patch {
        let current: Map = meta
            .custom_metadata
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let entries = custom_entries(&merge_patch(Value::Object(current), &patch))?;
        meta.custom_metadata = (!entries.is_empty()).then_some(entries);
    }
    save(&req, &key, meta, timestamp(SystemTime::now())).await?;
    Ok(warning.map(|w| Response::warnings_only(vec![w])))
}

/// Stores metadata changed by a metadata write: bumps `current_metadata_version`.
async fn save(req: &Req, key: &str, mut meta: KeyMetadata, now: String) -> Result<()> {
    meta.current_metadata_version += 1;
    meta.updated_time = now;
    req.storage().batch(vec![put_metadata(key, &meta)?]).await?;
    Ok(())
}

/// DELETE: removes the key and the data of every version, in one batch.
async fn delete(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = req.capture("path").to_string();
    let _guard = state.write_lock(&key).await?;
    let Some(meta) = read_metadata(req.storage(), &key).await? else { return Ok(None) };
    let mut ops: Vec<WriteOp> =
        meta.versions.keys().map(|n| WriteOp::Delete { key: version_key(&key, *n) }).collect();
    ops.push(WriteOp::Delete { key: metadata_key(&key) });
    req.storage().batch(ops).await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_metadata_is_weakly_typed_and_limited() {
        let entries = custom_entries(&json!({"a": true, "b": 2, "c": "x", "d": null})).ok();
        let expected: BTreeMap<String, String> = [("a", "1"), ("b", "2"), ("c", "x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(entries, Some(expected));
        assert!(custom_entries(&json!({"a": ""})).is_err());
        assert!(custom_entries(&json!({"a": {"b": 1}})).is_err());
        assert!(custom_entries(&json!("x")).is_err());
        assert!(custom_entries(&json!({"a": "x".repeat(513)})).is_err());
        assert!(custom_entries(&json!({"a\u{7}": "x"})).is_err());
        let many: Map = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(custom_entries(&Value::Object(many)).is_err());
    }
}
