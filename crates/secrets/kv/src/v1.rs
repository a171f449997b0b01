//! KV v1: one unversioned JSON object per key, stored as written.

use std::sync::Arc;

use coffer_framework::{Path, Req, Router};
use coffer_types::{Error, LeaseInfo, Map, Response, Result, parse_duration};
use serde_json::json;

use crate::KvState;

/// The refresh hint of a v1 read without a `ttl` key: the system default lease TTL.
const DEFAULT_TTL: i64 = 768 * 3600;

pub(crate) fn routes(router: Router<KvState>) -> Router<KvState> {
    router.path(
        Path::new("{path*}")
            .open_fields()
            .read(read)
            .write(write)
            .delete(delete)
            .list(list)
            .existence(|_s: Arc<KvState>, req: Req| async move {
                Ok(req.storage().get(&key(req.capture("path"))).await?.is_some())
            }),
    )
}

fn key(path: &str) -> String {
    format!("data/{path}")
}

async fn read(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let Some(data) = coffer_framework::read_json::<Map>(req.storage(), &key(req.capture("path"))).await? else {
        return Ok(None);
    };
    let ttl = match data.get("ttl") {
        Some(v) => parse_duration("ttl", v).unwrap_or(DEFAULT_TTL),
        None => DEFAULT_TTL,
    };
    let mut response = Response::data(data);
    response.lease = Some(LeaseInfo { lease_id: String::new(), renewable: false, lease_duration: ttl });
    Ok(Some(response))
}

async fn write(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let path = req.capture("path");
    if path.is_empty() || path.ends_with('/') {
        return Err(Error::invalid("missing or invalid key name"));
    }
    if let Some(v) = req.data().get("ttl") {
        parse_duration("ttl", v)?;
    }
    let bytes = serde_json::to_vec(req.data()).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(&key(path), &bytes).await?;
    Ok(None)
}

async fn delete(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    req.storage().delete(&key(req.capture("path"))).await?;
    Ok(None)
}

async fn list(_s: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let keys = req.storage().list(&key(req.capture("path"))).await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}
