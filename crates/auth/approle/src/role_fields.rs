//! One setting of a role at a time (`role/:name/policies`, `.../secret-id-ttl`,
//! `.../token-ttl`, `.../period`...): read, set and reset, as the reference serves them.

use std::sync::Arc;

use coffer_framework::{Path, Req, Router};
use coffer_types::{Error, Map, Response, Result};
use serde_json::Value;

use crate::role::{self, Role};
use crate::state::AppRoleState;

/// The sub-paths: name, the keys of the role read they show, whether they can be changed.
const FIELDS: &[(&str, &[&str], bool)] = &[
    ("policies", &["token_policies", "policies"], true),
    ("secret-id-ttl", &["secret_id_ttl"], true),
    ("secret-id-num-uses", &["secret_id_num_uses"], true),
    ("secret-id-bound-cidrs", &["secret_id_bound_cidrs"], true),
    ("token-bound-cidrs", &["token_bound_cidrs"], true),
    ("token-ttl", &["token_ttl"], true),
    ("token-max-ttl", &["token_max_ttl"], true),
    ("token-num-uses", &["token_num_uses"], true),
    ("period", &["token_period", "period"], true),
    ("local-secret-ids", &["local_secret_ids"], false),
];

pub(crate) fn routes(router: Router<AppRoleState>) -> Router<AppRoleState> {
    FIELDS.iter().fold(router, |router, (name, _, writable)| {
        let path =
            role::declare_fields(Path::new(&format!("role/{{role_name}}/{name}"))).read(read_field);
        let path = if *writable { path.write(write_field).delete(reset_field) } else { path };
        router.path(path)
    })
}

/// The sub-path a request names (the last segment of its path).
fn field_of(req: &Req) -> Result<&'static (&'static str, &'static [&'static str], bool)> {
    let name = req.inner.path.rsplit('/').next().unwrap_or_default();
    FIELDS.iter().find(|(n, _, _)| *n == name).ok_or(Error::UnsupportedPath)
}

async fn read_field(_s: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let (_, keys, _) = field_of(&req)?;
    let Some(role) = role::load(&req, req.capture("role_name")).await? else { return Ok(None) };
    let full = role.to_json();
    let mut out = Map::new();
    for key in *keys {
        if let Some(value) = full.get(*key) {
            // An empty CIDR list reads as null here, as the reference shows it.
            let empty_list = value.as_array().is_some_and(Vec::is_empty) && key.ends_with("cidrs");
            out.insert((*key).to_string(), if empty_list { Value::Null } else { value.clone() });
        }
    }
    Ok(Some(Response::data(out)))
}

async fn write_field(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    field_of(&req)?;
    if role::load(&req, req.capture("role_name")).await?.is_none() {
        return Err(Error::invalid(format!("role {} does not exist", req.capture("role_name"))));
    }
    role::write_role(state, req).await
}

async fn reset_field(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let (name, _, _) = field_of(&req)?;
    let _guard = state.roles.lock().await;
    let Some(mut role) = role::load(&req, req.capture("role_name")).await? else {
        return Ok(None);
    };
    reset(&mut role, name);
    role::save(&req, &role).await?;
    Ok(None)
}

/// Puts one setting back to its default.
fn reset(role: &mut Role, name: &str) {
    match name {
        "policies" => role.token.policies.clear(),
        "secret-id-ttl" => role.secret_id_ttl = 0,
        "secret-id-num-uses" => role.secret_id_num_uses = 0,
        "secret-id-bound-cidrs" => role.secret_id_bound_cidrs.clear(),
        "token-bound-cidrs" => role.token.bound_cidrs.clear(),
        "token-ttl" => role.token.ttl = 0,
        "token-max-ttl" => role.token.max_ttl = 0,
        "token-num-uses" => role.token.num_uses = 0,
        "period" => role.token.period = 0,
        _ => {}
    }
    let token = role.token.clone();
    role.legacy.retain_in_use(&token);
}
