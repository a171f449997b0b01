//! `cubbyhole/`: private storage for each token, gone when the token goes.

use std::sync::{Arc, Weak};

use coffer_framework::{Backend, Path, Req, Router};
use coffer_types::{Error, Map, Response, Result};
use serde_json::json;

use crate::Core;
use crate::wrapping::cubbyhole;

/// State behind the cubbyhole routes.
pub(crate) struct CubbyholeState {
    core: Weak<Core>,
}

/// Builds the cubbyhole backend.
pub(crate) fn backend(core: Weak<Core>) -> Arc<dyn Backend> {
    Arc::new(
        Router::new(Arc::new(CubbyholeState { core })).path(
            Path::new("{path*}").open_fields().read(read).write(write).delete(delete).list(list),
        ),
    )
}

fn store(state: &CubbyholeState, req: &Req) -> Result<coffer_storage::SharedStorage> {
    let core = state.core.upgrade().ok_or_else(|| Error::internal("core is shutting down"))?;
    let id = &req.inner.caller.token_id;
    if id.is_empty() {
        return Err(Error::PermissionDenied);
    }
    Ok(cubbyhole(core.barrier.clone(), id))
}

fn key(req: &Req) -> String {
    format!("data/{}", req.capture("path"))
}

async fn read(s: Arc<CubbyholeState>, req: Req) -> Result<Option<Response>> {
    Ok(coffer_framework::read_json::<Map>(&store(&s, &req)?, &key(&req)).await?.map(Response::data))
}

async fn write(s: Arc<CubbyholeState>, req: Req) -> Result<Option<Response>> {
    if req.capture("path").is_empty() || req.capture("path").ends_with('/') {
        return Err(Error::invalid("missing or invalid key name"));
    }
    if req.data().is_empty() {
        return Err(Error::invalid("missing data fields"));
    }
    let bytes = serde_json::to_vec(req.data()).map_err(|e| Error::internal(e.to_string()))?;
    store(&s, &req)?.put(&key(&req), &bytes).await?;
    Ok(None)
}

async fn delete(s: Arc<CubbyholeState>, req: Req) -> Result<Option<Response>> {
    store(&s, &req)?.delete(&key(&req)).await?;
    Ok(None)
}

async fn list(s: Arc<CubbyholeState>, req: Req) -> Result<Option<Response>> {
    let keys = store(&s, &req)?.list(&key(&req)).await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}
