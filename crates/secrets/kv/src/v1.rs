//! KV v1: one unversioned JSON object per key, stored as written and read back verbatim.
//!
//! A read carries a refresh hint in `lease_duration` (with an empty `lease_id`): the stored
//! `ttl` key (or, failing that, `lease`) parsed as a duration, else the mount's default lease
//! TTL (tuned, else the system's).
//! Consumers such as consul-template re-read the secret when that hint runs out.

use std::sync::Arc;

use coffer_framework::{Path, Req, read_json};
use coffer_types::{Error, LeaseInfo, Map, Response, Result, parse_duration};
use serde_json::json;

use crate::{KvState, write_key};

/// The hint of a read whose object has no usable `ttl`, when the mount's default lease TTL
/// is unknown (internal calls): the system default (768h). Served requests use the mount's.
const DEFAULT_TTL: i64 = 768 * 3600;

/// The single route of a v1 mount: every path is a key.
pub(crate) fn path() -> Path<KvState> {
    Path::new("{path*}")
        .open_fields()
        .help("Pass-through secret storage: read, write, delete and list arbitrary JSON objects.")
        .read(read)
        .write(write)
        .delete(delete)
        .list(list)
        .existence(exists)
}

/// Storage key of a v1 key (also of a folder of keys, given with its trailing `/`).
pub(crate) fn storage_key(path: &str) -> String {
    format!("data/{path}")
}

async fn exists(_state: Arc<KvState>, req: Req) -> Result<bool> {
    Ok(req.storage().get(&storage_key(req.capture("path"))).await?.is_some())
}

async fn read(_state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let Some(data) = read_json::<Map>(req.storage(), &storage_key(req.capture("path"))).await?
    else {
        return Err(Error::NotFound);
    };
    let lease_duration = data
        .get("ttl")
        .or_else(|| data.get("lease"))
        .and_then(|v| parse_duration("ttl", v).ok())
        .unwrap_or(if req.inner.default_lease_ttl > 0 {
            req.inner.default_lease_ttl
        } else {
            DEFAULT_TTL
        });
    let mut response = Response::data(data);
    response.lease = Some(LeaseInfo { lease_id: String::new(), renewable: false, lease_duration });
    Ok(Some(response))
}

async fn write(_state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let key = write_key(&req)?;
    if req.data().is_empty() {
        return Err(Error::invalid("missing data fields"));
    }
    let bytes = serde_json::to_vec(req.data())
        .map_err(|e| Error::internal(format!("encoding {key}: {e}")))?;
    req.storage().put(&storage_key(&key), &bytes).await?;
    Ok(None)
}

async fn delete(_state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    req.storage().delete(&storage_key(req.capture("path"))).await?;
    Ok(None)
}

async fn list(_state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let path = req.capture("path");
    let prefix = match path {
        "" => String::new(),
        p if p.ends_with('/') => p.to_string(),
        p => format!("{p}/"),
    };
    let keys = req.storage().list(&storage_key(&prefix)).await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}
