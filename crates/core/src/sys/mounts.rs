//! `sys/mounts` and `sys/auth`: list, enable, read, disable and tune mounts.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{
    Error, Map, Response, ResponseShape, Result, coerce_bool, coerce_string, coerce_string_list,
    parse_duration,
};
use serde_json::{Value, json};

use super::SysState;
use crate::mount_ops::normalize_options;
use crate::mounts::{MountConfig, MountEntry, normalize_mount_path};

fn mount_fields<S: Send + Sync + 'static>(path: Path<S>) -> Path<S> {
    path.field(Field::string("type"))
        .field(Field::string("description"))
        .field(Field::any("config"))
        .field(Field::any("options"))
        .field(Field::bool("local"))
        .field(Field::bool("seal_wrap"))
        .field(Field::bool("external_entropy_access"))
        .field(Field::string("plugin_name"))
        .field(Field::string("plugin_version"))
}

fn tune_fields<S: Send + Sync + 'static>(path: Path<S>) -> Path<S> {
    path.field(Field::any("default_lease_ttl"))
        .field(Field::any("max_lease_ttl"))
        .field(Field::string("description"))
        .field(Field::any("options"))
        .field(Field::bool("force_no_cache"))
        .field(Field::string("listing_visibility"))
        .field(Field::list("audit_non_hmac_request_keys"))
        .field(Field::list("audit_non_hmac_response_keys"))
        .field(Field::list("passthrough_request_headers"))
        .field(Field::list("allowed_response_headers"))
        .field(Field::string("token_type"))
        .field(Field::string("plugin_version"))
}

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    router
        .path(Path::new("mounts").read(list_secrets))
        .path(tune_fields(Path::new("mounts/{path*}/tune")).read(read_tune).write(write_tune))
        .path(
            mount_fields(Path::new("mounts/{path*}"))
                .read(read_secret)
                .write(enable_secret)
                .delete(disable_secret),
        )
        .path(Path::new("auth").read(list_auth))
        .path(
            tune_fields(Path::new("auth/{path*}/tune")).read(read_auth_tune).write(write_auth_tune),
        )
        .path(
            mount_fields(Path::new("auth/{path*}"))
                .read(read_auth)
                .write(enable_auth)
                .delete(disable_auth),
        )
}

fn injected(data: Value) -> Option<Response> {
    Some(Response::json(data).with_shape(ResponseShape::Injected))
}

fn list(state: &SysState, auth: bool) -> Result<Option<Response>> {
    let table = state.core()?.mount_table()?;
    let map: Map = table.entries(auth).into_iter().map(|e| (e.path.clone(), e.to_json())).collect();
    Ok(injected(Value::Object(map)))
}

async fn list_secrets(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    list(&state, false)
}

async fn list_auth(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    list(&state, true)
}

/// The routing prefix for `path` under `sys/mounts` (which also reaches `auth/...`) or `sys/auth`.
fn prefix(path: &str, auth: bool) -> String {
    let path = normalize_mount_path(path);
    if auth { format!("auth/{path}") } else { path }
}

fn read_entry(state: &SysState, prefix: &str) -> Result<Option<Response>> {
    let table = state.core()?.mount_table()?;
    let mounted = table
        .get(prefix)
        .ok_or_else(|| Error::invalid(format!("No secret engine mount at {prefix}")))?;
    Ok(injected(mounted.entry.to_json()))
}

async fn read_secret(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    read_entry(&state, &prefix(req.capture("path"), false))
}

async fn read_auth(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    read_entry(&state, &prefix(req.capture("path"), true))
}

/// Reads the `config` map of an enable request into a mount config.
fn parse_config(config: &Map) -> Result<MountConfig> {
    let mut out = MountConfig::default();
    apply_tune(&mut out, config)?;
    Ok(out)
}

/// Applies tunables from `data` (empty strings leave values unchanged).
fn apply_tune(config: &mut MountConfig, data: &Map) -> Result<()> {
    let ttl = |name: &str| -> Result<Option<i64>> {
        match data.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(v) => parse_duration(name, v).map(Some),
        }
    };
    if let Some(v) = ttl("default_lease_ttl")? {
        config.default_lease_ttl = v;
    }
    if let Some(v) = ttl("max_lease_ttl")? {
        config.max_lease_ttl = v;
    }
    if config.max_lease_ttl > 0 && config.default_lease_ttl > config.max_lease_ttl {
        return Err(Error::invalid("default lease TTL cannot be greater than maximum lease TTL"));
    }
    if let Some(v) = data.get("force_no_cache") {
        config.force_no_cache = coerce_bool("force_no_cache", v)?;
    }
    if let Some(v) = data.get("listing_visibility") {
        let v = coerce_string("listing_visibility", v)?;
        if !matches!(v.as_str(), "" | "unauth" | "hidden") {
            return Err(Error::invalid(format!("invalid listing_visibility {v}")));
        }
        config.listing_visibility = v;
    }
    let lists: [(&str, &mut Vec<String>); 4] = [
        ("audit_non_hmac_request_keys", &mut config.audit_non_hmac_request_keys),
        ("audit_non_hmac_response_keys", &mut config.audit_non_hmac_response_keys),
        ("passthrough_request_headers", &mut config.passthrough_request_headers),
        ("allowed_response_headers", &mut config.allowed_response_headers),
    ];
    for (name, target) in lists {
        if let Some(v) = data.get(name) {
            *target = coerce_string_list(name, v)?;
        }
    }
    if let Some(v) = data.get("token_type") {
        let v = coerce_string("token_type", v)?;
        if !matches!(v.as_str(), "" | "default-service" | "default-batch" | "service" | "batch") {
            return Err(Error::invalid(format!("invalid token_type {v:?}")));
        }
        config.token_type = v;
    }
    Ok(())
}

fn object(req: &Req, name: &str) -> Result<Option<Map>> {
    match req.raw(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(_) => Err(Error::invalid(format!(
            "error converting input for field \"{name}\": expected a map"
        ))),
    }
}

async fn enable(state: &SysState, req: &Req, auth: bool) -> Result<Option<Response>> {
    let path = normalize_mount_path(req.capture("path"));
    if path == "/" {
        return Err(Error::invalid("a mount path is required"));
    }
    let engine_type = req.str("type")?;
    if engine_type.is_empty() {
        return Err(Error::invalid("backend type must be specified as a string"));
    }
    let accessor_prefix = if auth { "auth_" } else { "" };
    let mut entry = MountEntry::new(&path, &engine_type, &req.str("description")?, accessor_prefix);
    entry.config = parse_config(&object(req, "config")?.unwrap_or_default())?;
    entry.options = normalize_options(object(req, "options")?).filter(|o| !o.is_empty());
    entry.local = req.bool("local")?;
    entry.seal_wrap = req.bool("seal_wrap")?;
    entry.external_entropy_access = req.bool("external_entropy_access")?;
    state.core()?.enable_mount(entry, auth).await?;
    Ok(None)
}

async fn enable_secret(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    enable(&state, &req, false).await
}

async fn enable_auth(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    enable(&state, &req, true).await
}

async fn disable_secret(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    state.core()?.disable_mount(&prefix(req.capture("path"), false)).await?;
    Ok(None)
}

async fn disable_auth(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    state.core()?.disable_mount(&prefix(req.capture("path"), true)).await?;
    Ok(None)
}

fn tune_json(entry: &MountEntry) -> Value {
    let mut out = json!({
        "default_lease_ttl": entry.config.effective_default_ttl(),
        "max_lease_ttl": entry.config.effective_max_ttl(),
        "description": entry.description,
        "force_no_cache": entry.config.force_no_cache,
    });
    if let Some(options) = &entry.options {
        out["options"] = Value::Object(options.clone());
    }
    let c = &entry.config;
    if !c.listing_visibility.is_empty() {
        out["listing_visibility"] = json!(c.listing_visibility);
    }
    for (k, v) in [
        ("audit_non_hmac_request_keys", &c.audit_non_hmac_request_keys),
        ("audit_non_hmac_response_keys", &c.audit_non_hmac_response_keys),
        ("passthrough_request_headers", &c.passthrough_request_headers),
        ("allowed_response_headers", &c.allowed_response_headers),
    ] {
        if !v.is_empty() {
            out[k] = json!(v);
        }
    }
    if entry.engine_type == "token" || !c.token_type.is_empty() {
        let token_type = if c.token_type.is_empty() { "default-service" } else { &c.token_type };
        out["token_type"] = json!(token_type);
    }
    out
}

fn read_tune_of(state: &SysState, prefix: &str) -> Result<Option<Response>> {
    let table = state.core()?.mount_table()?;
    let mounted = table
        .get(prefix)
        .ok_or_else(|| Error::invalid(format!("cannot fetch sysview for path {prefix:?}")))?;
    // The reference repeats the tune fields at the top level, as it does mount entries.
    Ok(injected(tune_json(&mounted.entry)))
}

async fn read_tune(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    read_tune_of(&state, &prefix(req.capture("path"), false))
}

async fn read_auth_tune(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    read_tune_of(&state, &prefix(req.capture("path"), true))
}

async fn write_tune_of(state: &SysState, req: &Req, prefix: &str) -> Result<Option<Response>> {
    let data = req.data().clone();
    let description = match data.get("description") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let options = normalize_options(object(req, "options")?);
    let mut upgraded = false;
    state
        .core()?
        .update_mount(prefix, |entry| {
            apply_tune(&mut entry.config, &data)?;
            if let Some(d) = description {
                entry.description = d;
            }
            if let Some(new) = options.filter(|o| !o.is_empty()) {
                let old_version = entry.options.as_ref().and_then(|o| o.get("version")).cloned();
                let new_version = new.get("version").cloned();
                if entry.engine_type == "kv" && new_version.is_some() && new_version != old_version
                {
                    // v1 → v2 upgrades in place (the new engine moves the data as it starts);
                    // there is no way back, as in the reference.
                    if kv_version(old_version.as_ref()) == 2 {
                        return Err(Error::invalid("cannot downgrade mount from version 2"));
                    }
                    upgraded = kv_version(new_version.as_ref()) == 2;
                }
                let mut merged = entry.options.clone().unwrap_or_default();
                merged.extend(new);
                entry.options = Some(merged);
            }
            Ok(())
        })
        .await?;
    if upgraded {
        return Ok(Some(Response::default().with_warning(
            "Upgrading mount from version 1 to version 2. This mount will be unavailable for a brief period and will resume service shortly.",
        )));
    }
    Ok(None)
}

/// The KV version an `options.version` value names (1 when absent or unknown).
fn kv_version(value: Option<&Value>) -> u8 {
    match value {
        Some(Value::String(s)) if s == "2" => 2,
        Some(Value::Number(n)) if n.as_u64() == Some(2) => 2,
        _ => 1,
    }
}

async fn write_tune(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    write_tune_of(&state, &req, &prefix(req.capture("path"), false)).await
}

async fn write_auth_tune(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    write_tune_of(&state, &req, &prefix(req.capture("path"), true)).await
}
