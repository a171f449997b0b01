//! KV v2 `delete/<key>`, `undelete/<key>` and `destroy/<key>`: soft-delete, restore and
//! permanently destroy listed versions. Unknown versions are skipped silently, as in Vault.

use std::sync::Arc;
use std::time::SystemTime;

use coffer_framework::{Field, Path, Req};
use coffer_storage::WriteOp;
use coffer_types::{Error, Response, Result};
use serde_json::Value;

use crate::store::{
    deletion_time, put_metadata, read_config, read_metadata, timestamp, version_key,
};
use crate::{KvState, write_key};

/// The `delete/<key>` route.
pub(crate) fn delete_path() -> Path<KvState> {
    versions_route("delete/{path*}", "Marks versions as deleted; undelete restores them.")
        .write(delete)
}

/// The `undelete/<key>` route.
pub(crate) fn undelete_path() -> Path<KvState> {
    versions_route("undelete/{path*}", "Restores soft-deleted versions.").write(undelete)
}

/// The `destroy/<key>` route.
pub(crate) fn destroy_path() -> Path<KvState> {
    versions_route("destroy/{path*}", "Permanently removes the data of versions.").write(destroy)
}

fn versions_route(pattern: &str, help: &'static str) -> Path<KvState> {
    Path::new(pattern)
        .field(
            Field::any("versions").describe("Version numbers: a list or a comma-separated string."),
        )
        .help(help)
}

/// Parses `versions`: a JSON array of ints or numeric strings, a comma-separated string, or
/// a single number. Non-positive numbers name no version and are kept only to be skipped.
fn parse_versions(value: Option<&Value>) -> Result<Vec<i64>> {
    let bad = |s: &str| {
        Error::invalid(format!(
            "error converting input for field \"versions\": cannot parse '{s}' as int"
        ))
    };
    let parse = |s: &str| s.trim().parse::<i64>().map_err(|_| bad(s));
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| bad(&n.to_string())),
        Value::String(s) => parse(s),
        other => Err(bad(&other.to_string())),
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => {
            s.split(',').filter(|p| !p.trim().is_empty()).map(parse).collect()
        }
        Some(Value::Array(items)) => items.iter().map(number).collect(),
        Some(other) => number(other).map(|n| vec![n]),
    }
}

/// The versions of a request; `missing` is the error when none is given (Vault spells it
/// differently for destroy).
fn versions_of(req: &Req, missing: &str) -> Result<Vec<u64>> {
    let versions = parse_versions(req.raw("versions"))?;
    if versions.is_empty() {
        return Err(Error::invalid(missing));
    }
    Ok(versions.into_iter().filter_map(|v| u64::try_from(v).ok()).collect())
}

async fn delete(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = write_key(&req)?;
    let versions = versions_of(&req, "No version number provided")?;
    let _guard = state.write_lock(&key).await?;
    let Some(mut meta) = read_metadata(req.storage(), &key).await? else { return Ok(None) };
    let now = SystemTime::now();
    let mut changed = false;
    for n in versions {
        let Some(v) = meta.versions.get_mut(&n) else { continue };
        if v.destroyed || v.is_deleted(now) {
            continue;
        }
        v.deletion_time = timestamp(now);
        changed = true;
    }
    if changed {
        req.storage().batch(vec![put_metadata(&key, &meta)?]).await?;
    }
    Ok(None)
}

/// Restores versions; with `delete_version_after` in force, the restored version gets a fresh
/// deletion time counted from now.
async fn undelete(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = write_key(&req)?;
    let versions = versions_of(&req, "No version number provided")?;
    let config = read_config(req.storage()).await?;
    let _guard = state.write_lock(&key).await?;
    let Some(mut meta) = read_metadata(req.storage(), &key).await? else { return Ok(None) };
    let restored_until = deletion_time(&config, meta.delete_version_after, SystemTime::now());
    let mut changed = false;
    for n in versions {
        let Some(v) = meta.versions.get_mut(&n) else { continue };
        if v.destroyed {
            continue;
        }
        v.deletion_time.clone_from(&restored_until);
        changed = true;
    }
    if changed {
        req.storage().batch(vec![put_metadata(&key, &meta)?]).await?;
    }
    Ok(None)
}

/// Marks versions destroyed and removes their data, in the same batch as the metadata.
async fn destroy(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = write_key(&req)?;
    let versions = versions_of(&req, "no version number provided")?;
    let _guard = state.write_lock(&key).await?;
    let Some(mut meta) = read_metadata(req.storage(), &key).await? else { return Ok(None) };
    let mut ops = Vec::new();
    for n in versions {
        let Some(v) = meta.versions.get_mut(&n) else { continue };
        if v.destroyed {
            continue;
        }
        v.destroyed = true;
        ops.push(WriteOp::Delete { key: version_key(&key, n) });
    }
    if !ops.is_empty() {
        ops.push(put_metadata(&key, &meta)?);
        req.storage().batch(ops).await?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_accept_ints_strings_and_comma_lists() {
        assert_eq!(parse_versions(Some(&json!([1, "2", " 3 "]))).ok(), Some(vec![1, 2, 3]));
        assert_eq!(parse_versions(Some(&json!("1, 2,,3"))).ok(), Some(vec![1, 2, 3]));
        assert_eq!(parse_versions(Some(&json!(4))).ok(), Some(vec![4]));
        assert_eq!(parse_versions(None).ok(), Some(vec![]));
        assert_eq!(parse_versions(Some(&json!([]))).ok(), Some(vec![]));
        let err = parse_versions(Some(&json!(["x"]))).err();
        assert_eq!(
            err,
            Some(Error::invalid(
                "error converting input for field \"versions\": cannot parse 'x' as int"
            ))
        );
        assert!(parse_versions(Some(&json!({"a": 1}))).is_err());
    }
}
