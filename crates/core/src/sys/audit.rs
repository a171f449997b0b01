//! `sys/audit` (list, enable, disable; sudo) and `sys/audit-hash/<path>`.

use std::sync::Arc;

use coffer_audit::{DeviceInfo, normalize_path};
use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Map, Response, ResponseShape, Result, coerce_string};
use serde_json::{Value, json};

use super::SysState;

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    router
        .path(Path::new("audit").read(list))
        .path(
            Path::new("audit/{path*}")
                .field(Field::string("type"))
                .field(Field::string("description"))
                .field(Field::any("options"))
                .field(Field::bool("local"))
                .write(enable)
                .delete(disable),
        )
        .path(Path::new("audit-hash/{path*}").field(Field::string("input")).write(hash))
}

async fn list(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    let active = state.core()?.active()?;
    let map: Map = active
        .audit
        .list()
        .into_iter()
        .map(|d| (d.path.clone(), serde_json::to_value(&d).unwrap_or(Value::Null)))
        .collect();
    Ok(Some(Response::json(Value::Object(map)).with_shape(ResponseShape::Injected)))
}

async fn enable(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let device_type = req.str("type")?;
    if device_type.is_empty() {
        return Err(Error::invalid("audit device type is required"));
    }
    let options: Map = match req.raw("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), Value::String(coerce_string(k, v)?))))
            .collect::<Result<Map>>()?,
        Some(_) => return Err(Error::invalid("options must be a map")),
    };
    let info = DeviceInfo {
        device_type,
        description: req.str("description")?,
        options,
        path: normalize_path(req.capture("path")),
        local: req.bool("local")?,
    };
    state.core()?.enable_audit(info).await?;
    Ok(None)
}

async fn disable(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    state.core()?.disable_audit(&normalize_path(req.capture("path"))).await?;
    Ok(None)
}

async fn hash(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let active = state.core()?.active()?;
    let path = normalize_path(req.capture("path"));
    let hash =
        active.audit.hash(&path, &req.str("input")?).map_err(|e| Error::invalid(e.to_string()))?;
    Ok(Some(Response::json(json!({ "hash": hash })).with_shape(ResponseShape::Injected)))
}
