//! `sys/internal/ui/mounts/<path>`: the CLI's preflight before every KV command. Answers the
//! owning mount's entry to any token that may use something inside that mount.

use std::sync::Arc;

use coffer_framework::{Path, Req, Router};
use coffer_types::{Error, Response, Result};
use serde_json::{Value, json};

use super::SysState;

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    router
        .path(Path::new("internal/ui/mounts").read(list_visible))
        .path(Path::new("internal/ui/mounts/{path*}").read(read_mount))
}

fn preflight_denied(path: &str) -> Error {
    Error::Forbidden(format!(
        "preflight capability check returned 403, please ensure client's policies grant access to path \"{path}\""
    ))
}

async fn read_mount(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let core = state.core()?;
    let path = req.capture("path").to_string();
    let table = core.mount_table()?;
    let shown = format!("{}/", path.trim_end_matches('/'));
    let Some((mounted, _)) = table.resolve(&path) else {
        return Err(preflight_denied(&shown));
    };
    // Deny by default: the caller needs some capability on some path inside the mount.
    let acl = crate::acl::acl_for(
        &*core.active()?,
        &req.inner.caller.policies,
        &req.inner.caller.entity_id,
    )
    .await?;
    if req.inner.caller.policies.is_empty() || !acl.any_capability_under(&mounted.prefix) {
        return Err(preflight_denied(&shown));
    }
    let mut entry = mounted.entry.to_json();
    entry["path"] = json!(mounted.entry.path);
    Ok(Some(Response::json(entry)))
}

async fn list_visible(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let core = state.core()?;
    let table = core.mount_table()?;
    let acl = crate::acl::acl_for(
        &*core.active()?,
        &req.inner.caller.policies,
        &req.inner.caller.entity_id,
    )
    .await?;
    let has_token = !req.inner.caller.policies.is_empty();
    let mut secret = serde_json::Map::new();
    let mut auth = serde_json::Map::new();
    for m in table.iter() {
        let shown = if has_token && acl.any_capability_under(&m.prefix) {
            m.entry.to_json()
        } else if m.entry.config.listing_visibility == "unauth" {
            // Listed for anyone, but only what a login page needs (as the reference).
            let full = m.entry.to_json();
            json!({"description": full["description"], "options": full["options"], "type": full["type"]})
        } else {
            continue;
        };
        let target = if m.is_auth { &mut auth } else { &mut secret };
        target.insert(m.entry.path.clone(), shown);
    }
    Ok(Some(Response::json(json!({"secret": Value::Object(secret), "auth": Value::Object(auth)}))))
}
