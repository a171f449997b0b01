//! KV v2 `data/<key>`: read a version, write a new one (with check-and-set), merge-patch the
//! latest one, and soft-delete the latest one.

use std::sync::Arc;
use std::time::SystemTime;

use coffer_framework::{Field, Path, Req};
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Map, Response, Result, coerce_int};
use serde_json::{Value, json};

use crate::merge::merge_objects;
use crate::store::{
    Config, KeyMetadata, put_metadata, put_version, read_config, read_metadata, read_version,
    timestamp, version_key,
};
use crate::{KvState, write_key};

/// The `data/<key>` route.
pub(crate) fn path() -> Path<KvState> {
    Path::new("data/{path*}")
        .field(Field::any("data").describe("The secret: a JSON object."))
        .field(Field::any("options").describe("Write options; `cas` is the check-and-set version."))
        .field(Field::int("version").describe("The version to read; the latest when 0 or absent."))
        .help("Write, patch, read and soft-delete versions of a secret.")
        .read(read)
        .write(write)
        .patch(patch)
        .delete(delete_latest)
        .existence(exists)
}

/// A key exists once it has metadata (a version or a metadata write).
pub(crate) async fn exists(_state: Arc<KvState>, req: Req) -> Result<bool> {
    Ok(read_metadata(req.storage(), req.capture("path")).await?.is_some())
}

/// A positive version number from a request parameter; 0 and negatives mean "the latest".
pub(crate) fn requested_version(value: i64) -> Option<u64> {
    u64::try_from(value).ok().filter(|v| *v > 0)
}

/// A 404 that still carries a body (deleted or destroyed versions): Vault's clients read the
/// metadata out of it.
pub(crate) fn not_found_with(data: Value) -> Response {
    let mut response = Response::json(data);
    response.status = Some(404);
    response
}

async fn read(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = req.capture("path");
    let _guard = state.read_lock(key).await?;
    let Some(meta) = read_metadata(req.storage(), key).await? else { return Err(Error::NotFound) };
    let version = requested_version(req.int("version")?).unwrap_or(meta.current_version);
    let Some(version_meta) = meta.versions.get(&version) else { return Err(Error::NotFound) };
    if !version_meta.is_readable(SystemTime::now()) {
        let body = json!({ "data": null, "metadata": meta.version_json(version) });
        return Ok(Some(not_found_with(body)));
    }
    let data = read_version(req.storage(), key, version).await?;
    Ok(Some(Response::json(json!({ "data": data, "metadata": meta.version_json(version) }))))
}

/// The `data` parameter of a write or patch: a JSON object.
fn data_param(req: &Req) -> Result<Map> {
    match req.raw("data") {
        Some(Value::Object(map)) => Ok(map.clone()),
        None | Some(Value::Null) => Err(Error::invalid("no data provided")),
        Some(_) => Err(Error::invalid("error converting input for field \"data\": expected a map")),
    }
}

/// Checks `options.cas` against the key's current version, and that it is given when the
/// mount or the key requires it.
fn check_cas(req: &Req, config: &Config, meta: &KeyMetadata) -> Result<()> {
    let cas = match req.raw("options") {
        None | Some(Value::Null) => None,
        Some(Value::Object(options)) => options.get("cas"),
        Some(_) => {
            return Err(Error::invalid(
                "error converting input for field \"options\": expected a map",
            ));
        }
    };
    match cas {
        Some(value) => {
            let cas = coerce_int("cas", value)
                .map_err(|_| Error::invalid("error parsing check-and-set parameter"))?;
            if u64::try_from(cas).ok() != Some(meta.current_version) {
                return Err(Error::invalid(
                    "check-and-set parameter did not match the current version",
                ));
            }
            Ok(())
        }
        None if config.cas_required || meta.cas_required => {
            Err(Error::invalid("check-and-set parameter required for this call"))
        }
        None => Ok(()),
    }
}

/// Stores `data` as the next version of `key`, pruning versions beyond `max_versions`, in one
/// batch. The caller holds the key's write lock and has checked CAS.
async fn append_version(
    storage: &SharedStorage,
    key: &str,
    mut meta: KeyMetadata,
    config: &Config,
    data: &Map,
) -> Result<Response> {
    let (version, pruned) = meta.add_version(config, SystemTime::now());
    let mut ops = vec![put_version(key, version, data)?];
    ops.extend(pruned.into_iter().map(|n| WriteOp::Delete { key: version_key(key, n) }));
    ops.push(put_metadata(key, &meta)?);
    storage.batch(ops).await?;
    Ok(Response::json(meta.version_json(version)))
}

async fn write(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = write_key(&req)?;
    let data = data_param(&req)?;
    let config = read_config(req.storage()).await?;
    let _guard = state.write_lock(&key).await?;
    let meta = read_metadata(req.storage(), &key).await?.unwrap_or_default();
    check_cas(&req, &config, &meta)?;
    append_version(req.storage(), &key, meta, &config, &data).await.map(Some)
}

/// RFC 7396 merge-patch of `data` into the latest version, stored as a new version.
async fn patch(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = write_key(&req)?;
    let patch = data_param(&req)?;
    let _guard = state.write_lock(&key).await?;
    let Some(meta) = read_metadata(req.storage(), &key).await? else { return Err(Error::NotFound) };
    let config = read_config(req.storage()).await?;
    check_cas(&req, &config, &meta)?;
    let current = meta.current_version;
    let Some(latest) = meta.versions.get(&current) else { return Err(Error::NotFound) };
    if !latest.is_readable(SystemTime::now()) {
        // Unlike a read, the 404 of a patch carries the version metadata itself as `data`.
        return Ok(Some(not_found_with(meta.version_json(current))));
    }
    let existing = read_version(req.storage(), &key, current).await?;
    let merged = merge_objects(existing, &patch);
    append_version(req.storage(), &key, meta, &config, &merged).await.map(Some)
}

/// Soft-deletes the latest version (a no-op when it is already deleted or destroyed).
async fn delete_latest(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = req.capture("path");
    let _guard = state.write_lock(key).await?;
    let Some(mut meta) = read_metadata(req.storage(), key).await? else { return Ok(None) };
    let now = SystemTime::now();
    let current = meta.current_version;
    let Some(latest) = meta.versions.get_mut(&current) else { return Ok(None) };
    if latest.destroyed || latest.is_deleted(now) {
        return Ok(None);
    }
    latest.deletion_time = timestamp(now);
    req.storage().batch(vec![put_metadata(key, &meta)?]).await?;
    Ok(None)
}
