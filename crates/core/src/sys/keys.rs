//! `sys/seal`, `sys/rotate` and `sys/key-status`.

use std::sync::Arc;

use coffer_framework::{Path, Req, Router};
use coffer_types::{Response, ResponseShape, Result};
use serde_json::json;

use super::SysState;

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    router
        .path(Path::new("seal").write(seal))
        .path(Path::new("rotate").write(rotate))
        .path(Path::new("rotate/keyring").write(rotate))
        .path(Path::new("key-status").read(key_status))
}

async fn seal(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    state.core()?.seal().await?;
    Ok(None)
}

async fn rotate(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    let status = state.core()?.barrier.rotate().await?;
    tracing::info!(term = status.term, "barrier: rotated the encryption key");
    Ok(None)
}

async fn key_status(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    let status = state.core()?.barrier.key_status()?;
    let data = json!({
        "term": status.term,
        "install_time": humantime::format_rfc3339_nanos(status.install_time).to_string(),
        "encryptions": status.encryptions,
    });
    Ok(Some(Response::json(data).with_shape(ResponseShape::Injected)))
}
