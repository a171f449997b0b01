//! `sys/plugins/catalog[/:type/:name]` and `sys/version-history`: what this build carries.
//! Every engine is built in (`bao plugin list`, `bao version-history`); registering external
//! plugins is refused.

use std::sync::Arc;

use coffer_framework::{Path, Req, Router};
use coffer_types::{Response, Result, VERSION};
use serde_json::{Value, json};

use super::SysState;

/// The database plugins the database engine speaks.
const DATABASE_PLUGINS: &[&str] = &["postgresql-database-plugin"];

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    router
        .path(Path::new("plugins/catalog").read(catalog))
        .path(Path::new("plugins/catalog/{type}/{name}").read(plugin))
        .path(Path::new("version-history/").list(version_history))
        .path(Path::new("version-history").list(version_history).read(version_history))
}

/// The version every built-in plugin reports (as mounts show it).
fn builtin_version() -> String {
    format!("v{VERSION}+builtin.coffer")
}

/// (type, names) of every built-in plugin.
fn plugins(state: &SysState) -> Result<Vec<(&'static str, Vec<String>)>> {
    let core = state.core()?;
    let registry = core.registry();
    Ok(vec![
        ("auth", registry.auth_types()),
        ("database", DATABASE_PLUGINS.iter().map(|s| s.to_string()).collect()),
        ("secret", registry.secrets_types()),
    ])
}

async fn catalog(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    let mut data = serde_json::Map::new();
    let mut detailed = Vec::new();
    for (kind, names) in plugins(&state)? {
        for name in &names {
            detailed.push(json!({
                "builtin": true,
                "deprecation_status": "supported",
                "name": name,
                "type": kind,
                "version": builtin_version(),
            }));
        }
        data.insert(kind.to_string(), json!(names));
    }
    data.insert("detailed".into(), Value::Array(detailed));
    Ok(Some(Response::data(data)))
}

async fn plugin(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let (kind, name) = (req.capture("type"), req.capture("name"));
    let known =
        plugins(&state)?.into_iter().any(|(k, names)| k == kind && names.iter().any(|n| n == name));
    Ok(known.then(|| {
        Response::json(json!({
            "args": null,
            "builtin": true,
            "command": "",
            "declarative": false,
            "deprecation_status": "supported",
            "name": name,
            "oci": false,
            "sha256": "",
            "version": builtin_version(),
        }))
    }))
}

async fn version_history(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    let core = state.core()?;
    let installed = humantime::format_rfc3339_seconds(core.started_at()).to_string();
    Ok(Some(Response::json(json!({
        "keys": [VERSION],
        "key_info": {VERSION: {
            "commit_date": crate::seal::BUILD_DATE,
            "previous_version": null,
            "timestamp_installed": installed,
        }},
    }))))
}
