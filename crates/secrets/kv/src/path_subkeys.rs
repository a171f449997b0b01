//! KV v2 `subkeys/<key>`: the key structure of a version with every value replaced by `null`,
//! so that a caller can see what a secret contains without reading it.

use std::sync::Arc;
use std::time::SystemTime;

use coffer_framework::{Field, Path, Req};
use coffer_types::{Error, Response, Result};
use serde_json::{Map, Value, json};

use crate::KvState;
use crate::path_data::{not_found_with, requested_version};
use crate::store::{read_metadata, read_version};

/// The `subkeys/<key>` route.
pub(crate) fn path() -> Path<KvState> {
    Path::new("subkeys/{path*}")
        .field(Field::int("version").describe("The version; the latest when 0 or absent."))
        .field(Field::int("depth").describe("Deepest level shown; 0 for no limit."))
        .help("Reads the structure of a secret with its values removed.")
        .read(read)
}

/// The keys of `data` with leaves replaced by `null`. A leaf is anything but a non-empty
/// object (arrays included). `max_depth` 0 means no limit; otherwise objects at that level
/// are shown as leaves (a negative depth shows only the first level, as Vault does).
pub(crate) fn subkeys(data: &Map<String, Value>, max_depth: i64) -> Map<String, Value> {
    fn walk(map: &Map<String, Value>, depth: i64, max_depth: i64) -> Map<String, Value> {
        map.iter()
            .map(|(key, value)| {
                let child = match value {
                    Value::Object(inner)
                        if !inner.is_empty() && (max_depth == 0 || depth < max_depth) =>
                    {
                        Value::Object(walk(inner, depth + 1, max_depth))
                    }
                    _ => Value::Null,
                };
                (key.clone(), child)
            })
            .collect()
    }
    walk(data, 1, max_depth)
}

async fn read(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = req.capture("path");
    let depth = req.int("depth")?;
    let _guard = state.read_lock(key).await?;
    let Some(meta) = read_metadata(req.storage(), key).await? else { return Err(Error::NotFound) };
    let version = requested_version(req.int("version")?).unwrap_or(meta.current_version);
    let Some(version_meta) = meta.versions.get(&version) else { return Err(Error::NotFound) };
    if !version_meta.is_readable(SystemTime::now()) {
        let body = json!({ "metadata": meta.version_json(version), "subkeys": null });
        return Ok(Some(not_found_with(body)));
    }
    let data = read_version(req.storage(), key, version).await?;
    let body = json!({ "metadata": meta.version_json(version), "subkeys": subkeys(&data, depth) });
    Ok(Some(Response::json(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn leaves_become_null_at_any_depth() {
        let data = object(json!({
            "pw": {"n2": {"a": 1}, "nested": [1, {"x": 2}], "empty": {}},
            "user": "x",
            "n": null
        }));
        let all = json!({"pw": {"n2": {"a": null}, "nested": null, "empty": null}, "user": null, "n": null});
        assert_eq!(Value::Object(subkeys(&data, 0)), all);
        assert_eq!(Value::Object(subkeys(&data, 1)), json!({"pw": null, "user": null, "n": null}));
        assert_eq!(
            Value::Object(subkeys(&data, 2)),
            json!({"pw": {"n2": null, "nested": null, "empty": null}, "user": null, "n": null})
        );
        assert_eq!(Value::Object(subkeys(&data, 3)), all);
        assert_eq!(Value::Object(subkeys(&data, -1)), json!({"pw": null, "user": null, "n": null}));
        assert!(subkeys(&Map::new(), 0).is_empty());
    }
}
