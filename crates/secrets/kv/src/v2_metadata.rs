//! KV v2 `config`, `metadata/`, `subkeys/`, and the answer for paths outside the versioned
//! API.

use std::sync::Arc;
use std::time::SystemTime;

use coffer_framework::{Field, Path, Req, Router};
use coffer_storage::WriteOp;
use coffer_types::{Error, Map, Response, Result, coerce_string_map, parse_duration};
use serde_json::{Value, json};

use crate::KvState;
use crate::merge::{merge_patch, subkeys};
use crate::model::{
    Config, KeyMetadata, metadata_key, put_metadata, read_config, read_metadata, read_version,
    timestamp, versions_prefix,
};

const INVALID_PATH: &str = "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.";

pub(crate) fn routes(router: Router<KvState>) -> Router<KvState> {
    let metadata_fields = |p: Path<KvState>| {
        p.field(Field::int("max_versions"))
            .field(Field::bool("cas_required"))
            .field(Field::duration("delete_version_after"))
            .field(Field::any("custom_metadata"))
    };
    router
        .path(
            Path::new("config")
                .field(Field::int("max_versions"))
                .field(Field::bool("cas_required"))
                .field(Field::duration("delete_version_after"))
                .read(read_config_route)
                .write(write_config)
                .existence(|_s: Arc<KvState>, _r: Req| async { Ok(true) }),
        )
        .path(
            metadata_fields(Path::new("metadata/{path*}"))
                .field(Field::any("after"))
                .field(Field::any("limit"))
                .list(list_metadata)
                .read(read_metadata_route)
                .write(write_metadata)
                .patch(write_metadata)
                .delete(delete_metadata)
                .existence(|_s: Arc<KvState>, req: Req| async move {
                    Ok(read_metadata(req.storage(), req.capture("path")).await?.is_some())
                }),
        )
        .path(Path::new("subkeys/{path*}").field(Field::int("version")).field(Field::int("depth")).read(read_subkeys))
        .path(
            Path::new("{path*}")
                .open_fields()
                .read(invalid_path)
                .write(invalid_path)
                .list(invalid_path)
                .delete(invalid_path)
                .patch(invalid_path),
        )
}

async fn invalid_path(_s: Arc<KvState>, _req: Req) -> Result<Option<Response>> {
    let mut r = Response::default().with_warning(INVALID_PATH);
    r.status = Some(404);
    Ok(Some(r))
}

async fn read_config_route(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(read_config(req.storage()).await?.to_json())))
}

fn non_negative(name: &str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::invalid(format!("{name} must not be negative")))
}

async fn write_config(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let mut config: Config = read_config(req.storage()).await?;
    if req.has("max_versions") {
        config.max_versions = non_negative("max_versions", req.int("max_versions")?)?;
    }
    if req.has("cas_required") {
        config.cas_required = req.bool("cas_required")?;
    }
    if req.has("delete_version_after") {
        config.delete_version_after = req.duration("delete_version_after")?;
    }
    let bytes = serde_json::to_vec(&config).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put("config", &bytes).await?;
    Ok(None)
}

async fn list_metadata(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let keys = req.storage().list(&metadata_key(req.capture("path"))).await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}

async fn read_metadata_route(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    Ok(read_metadata(req.storage(), req.capture("path")).await?.map(|m| Response::json(m.to_json())))
}

/// Writes (or, for PATCH, merge-patches) the metadata fields; never creates a version.
async fn write_metadata(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let path = req.capture("path").to_string();
    if path.is_empty() {
        return Err(Error::invalid("missing path"));
    }
    let _guard = state.lock(&path).await;
    let existing = read_metadata(req.storage(), &path).await?;
    let is_patch = req.operation() == coffer_types::Operation::Patch;
    if is_patch && existing.is_none() {
        return Err(Error::NotFound);
    }
    let now = timestamp(SystemTime::now());
    let mut meta = existing.unwrap_or_else(|| KeyMetadata { created_time: now.clone(), ..KeyMetadata::default() });
    if req.has("max_versions") {
        meta.max_versions = non_negative("max_versions", req.int("max_versions")?)?;
    }
    if req.has("cas_required") {
        meta.cas_required = req.bool("cas_required")?;
    }
    if let Some(v) = req.data().get("delete_version_after") {
        meta.delete_version_after = parse_duration("delete_version_after", v)?;
    }
    if let Some(v) = req.data().get("custom_metadata") {
        let incoming = if is_patch {
            let current = Value::Object(meta.custom_metadata.clone().unwrap_or_default());
            match merge_patch(current, v) {
                Value::Object(m) => m,
                _ => Map::new(),
            }
        } else {
            coerce_string_map("custom_metadata", v)?
        };
        meta.custom_metadata = (!incoming.is_empty()).then_some(incoming);
    }
    meta.current_metadata_version += 1;
    meta.updated_time = now;
    req.storage().batch(vec![put_metadata(&path, &meta)?]).await?;
    Ok(None)
}

async fn delete_metadata(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let path = req.capture("path").to_string();
    let _guard = state.lock(&path).await;
    req.storage().delete_prefix(&versions_prefix(&path)).await?;
    req.storage().batch(vec![WriteOp::Delete { key: metadata_key(&path) }]).await?;
    Ok(None)
}

async fn read_subkeys(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let path = req.capture("path");
    let Some(meta) = read_metadata(req.storage(), path).await? else { return Ok(None) };
    let version = match req.int("version")? {
        0 => meta.current_version,
        v => non_negative("version", v)?,
    };
    let Some(v) = meta.versions.get(&version) else { return Ok(None) };
    if !v.is_live(SystemTime::now()) {
        let mut r = Response::json(json!({ "subkeys": null, "metadata": meta.version_json(version) }));
        r.status = Some(404);
        return Ok(Some(r));
    }
    let depth = non_negative("depth", req.int("depth")?)?;
    let data = read_version(req.storage(), path, version).await?.unwrap_or_default();
    Ok(Some(Response::json(json!({ "subkeys": subkeys(&data, depth), "metadata": meta.version_json(version) }))))
}
