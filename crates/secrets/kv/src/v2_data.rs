//! KV v2 `data/`, `delete/`, `undelete/` and `destroy/`: versioned reads and writes with
//! check-and-set, merge-patch, soft delete and destruction.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use coffer_framework::{Field, Path, Req, Router};
use coffer_storage::WriteOp;
use coffer_types::{Error, Map, Response, Result, coerce_int};
use serde_json::{Value, json};

use crate::KvState;
use crate::merge::merge_patch;
use crate::model::{
    DEFAULT_MAX_VERSIONS, KeyMetadata, VersionMeta, parse_versions, put_metadata, read_config,
    read_metadata, read_version, timestamp, version_key,
};

pub(crate) fn routes(router: Router<KvState>) -> Router<KvState> {
    let exists = |_s: Arc<KvState>, req: Req| async move {
        Ok(read_metadata(req.storage(), req.capture("path")).await?.is_some())
    };
    router
        .path(
            Path::new("data/{path*}")
                .field(Field::any("data"))
                .field(Field::any("options"))
                .field(Field::int("version"))
                .read(read_data)
                .write(write_data)
                .patch(patch_data)
                .delete(delete_latest)
                .existence(exists),
        )
        .path(Path::new("delete/{path*}").field(Field::any("versions")).write(delete_versions))
        .path(Path::new("undelete/{path*}").field(Field::any("versions")).write(undelete_versions))
        .path(Path::new("destroy/{path*}").field(Field::any("versions")).write(destroy_versions))
}

fn require_path(req: &Req) -> Result<String> {
    match req.capture("path") {
        "" => Err(Error::invalid("missing path")),
        p => Ok(p.to_string()),
    }
}

/// The 404 with a body that deleted and destroyed versions answer.
fn deleted_response(meta: &KeyMetadata, version: u64) -> Response {
    let mut r = Response::json(json!({ "data": null, "metadata": meta.version_json(version) }));
    r.status = Some(404);
    r
}

async fn read_data(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let path = require_path(&req)?;
    let Some(meta) = read_metadata(req.storage(), &path).await? else { return Ok(None) };
    let version = match req.int("version")? {
        0 => meta.current_version,
        v => u64::try_from(v).map_err(|_| Error::invalid("invalid version"))?,
    };
    let Some(v) = meta.versions.get(&version) else { return Ok(None) };
    if !v.is_live(SystemTime::now()) {
        return Ok(Some(deleted_response(&meta, version)));
    }
    let data = read_version(req.storage(), &path, version).await?.unwrap_or_default();
    Ok(Some(Response::json(json!({ "data": data, "metadata": meta.version_json(version) }))))
}

/// `options.cas` of a write, if given.
fn cas_of(req: &Req) -> Result<Option<u64>> {
    let Some(Value::Object(options)) = req.raw("options") else { return Ok(None) };
    match options.get("cas") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = coerce_int("cas", v)?;
            u64::try_from(n).map(Some).map_err(|_| Error::invalid("cas must not be negative"))
        }
    }
}

fn data_of(req: &Req) -> Result<Map> {
    match req.raw("data") {
        Some(Value::Object(map)) => Ok(map.clone()),
        None | Some(Value::Null) => Err(Error::invalid("no data provided")),
        Some(_) => Err(Error::invalid("data must be a JSON object")),
    }
}

/// Appends a version with `data` to the key at `path`, applying check-and-set, pruning and
/// delete_version_after, in one atomic batch. The caller holds the key's lock.
async fn append_version(req: &Req, path: &str, meta: Option<KeyMetadata>, data: &Map) -> Result<Response> {
    let storage = req.storage();
    let config = read_config(storage).await?;
    let now = SystemTime::now();
    let mut meta = meta.unwrap_or_else(|| KeyMetadata {
        created_time: timestamp(now),
        ..KeyMetadata::default()
    });
    match cas_of(req)? {
        Some(cas) if cas != meta.current_version => {
            return Err(Error::invalid("check-and-set parameter did not match the current version"));
        }
        None if config.cas_required || meta.cas_required => {
            return Err(Error::invalid("check-and-set parameter required for this call"));
        }
        _ => {}
    }
    let version = meta.current_version + 1;
    let delete_after = if meta.delete_version_after != 0 { meta.delete_version_after } else { config.delete_version_after };
    let deletion_time = if delete_after > 0 {
        timestamp(now + Duration::from_secs(delete_after as u64))
    } else {
        String::new()
    };
    meta.versions.insert(version, VersionMeta { created_time: timestamp(now), deletion_time, destroyed: false });
    meta.current_version = version;
    meta.updated_time = timestamp(now);
    let max = match (meta.max_versions, config.max_versions) {
        (0, 0) => DEFAULT_MAX_VERSIONS,
        (0, m) | (m, _) => m,
    };
    let value = serde_json::to_vec(data).map_err(|e| Error::internal(e.to_string()))?;
    let mut ops = vec![WriteOp::Put { key: version_key(path, version), value }];
    while meta.versions.len() as u64 > max {
        let Some((&oldest, _)) = meta.versions.iter().next() else { break };
        meta.versions.remove(&oldest);
        ops.push(WriteOp::Delete { key: version_key(path, oldest) });
    }
    if let Some((&oldest, _)) = meta.versions.iter().next() {
        if oldest > 1 {
            meta.oldest_version = oldest;
        }
    }
    ops.push(put_metadata(path, &meta)?);
    storage.batch(ops).await?;
    Ok(Response::json(meta.version_json(version)))
}

async fn write_data(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let path = require_path(&req)?;
    let data = data_of(&req)?;
    let _guard = state.lock(&path).await;
    let meta = read_metadata(req.storage(), &path).await?;
    append_version(&req, &path, meta, &data).await.map(Some)
}

async fn patch_data(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let path = require_path(&req)?;
    let patch = data_of(&req)?;
    let _guard = state.lock(&path).await;
    let Some(meta) = read_metadata(req.storage(), &path).await? else { return Err(Error::NotFound) };
    let current = meta.current_version;
    match meta.versions.get(&current) {
        None => return Err(Error::NotFound),
        Some(v) if !v.is_live(SystemTime::now()) => return Ok(Some(deleted_response(&meta, current))),
        Some(_) => {}
    }
    let existing = read_version(req.storage(), &path, current).await?.unwrap_or_default();
    let merged = match merge_patch(Value::Object(existing), &Value::Object(patch)) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    append_version(&req, &path, Some(meta), &merged).await.map(Some)
}

/// Applies `change` to the listed versions of a key (or the latest for `data/` DELETE).
async fn change_versions(
    state: &KvState,
    req: &Req,
    versions: Option<Vec<u64>>,
    change: impl Fn(&mut VersionMeta, &mut Vec<WriteOp>, &str, u64),
) -> Result<Option<Response>> {
    let path = require_path(req)?;
    let _guard = state.lock(&path).await;
    let Some(mut meta) = read_metadata(req.storage(), &path).await? else { return Ok(None) };
    let versions = versions.unwrap_or_else(|| vec![meta.current_version]);
    let mut ops = Vec::new();
    for n in versions {
        if let Some(v) = meta.versions.get_mut(&n) {
            change(v, &mut ops, &path, n);
        }
    }
    meta.updated_time = timestamp(SystemTime::now());
    ops.push(put_metadata(&path, &meta)?);
    req.storage().batch(ops).await?;
    Ok(None)
}

fn soft_delete(v: &mut VersionMeta, _ops: &mut Vec<WriteOp>, _path: &str, _n: u64) {
    if !v.destroyed && !v.is_deleted(SystemTime::now()) {
        v.deletion_time = timestamp(SystemTime::now());
    }
}

async fn delete_latest(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    change_versions(&state, &req, None, soft_delete).await
}

async fn delete_versions(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let versions = parse_versions(req.raw("versions"))?;
    change_versions(&state, &req, Some(versions), soft_delete).await
}

async fn undelete_versions(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let versions = parse_versions(req.raw("versions"))?;
    change_versions(&state, &req, Some(versions), |v, _, _, _| {
        if !v.destroyed {
            v.deletion_time.clear();
        }
    })
    .await
}

async fn destroy_versions(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let versions = parse_versions(req.raw("versions"))?;
    change_versions(&state, &req, Some(versions), |v, ops, path, n| {
        v.destroyed = true;
        ops.push(WriteOp::Delete { key: version_key(path, n) });
    })
    .await
}
