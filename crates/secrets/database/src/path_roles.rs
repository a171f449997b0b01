//! Dynamic roles: `roles/:name` (create-aware write, read, delete) and LIST `roles/`.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Response, Result};
use serde_json::json;

use crate::DbState;
use crate::statements;
use crate::store::{self, Role};

/// The statement lists of a role: (parameter, what it is for).
const STATEMENT_FIELDS: [(&str, &str); 4] = [
    ("creation_statements", "Statements that create the user."),
    ("revocation_statements", "Statements that drop the user."),
    ("rollback_statements", "Statements run when creation fails."),
    ("renew_statements", "Statements that extend the user's life."),
];

/// Adds the role routes.
pub(crate) fn routes(router: Router<DbState>) -> Router<DbState> {
    let mut role = Path::new("roles/{name}")
        .field(Field::string("db_name").describe("The connection to use."))
        .field(Field::duration("default_ttl").describe("Lease TTL; 0 for the mount's default."))
        .field(Field::duration("max_ttl").describe("Lease maximum; 0 for the mount's maximum."))
        .field(Field::string("credential_type").describe("Only password."))
        .field(Field::any("credential_config").describe("Stored and echoed."));
    for (name, description) in STATEMENT_FIELDS {
        role = role.field(Field::any(name).describe(description));
    }
    let role = role
        .help("Manages the roles that create database users on demand.")
        .read(read)
        .write(write)
        .delete(delete)
        .existence(|_s: Arc<DbState>, req: Req| async move {
            Ok(store::load_role(req.storage(), req.capture("name")).await?.is_some())
        });
    router.path(Path::new("roles/").list(list)).path(role)
}

async fn list(_s: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": store::list(req.storage(), "role/").await? }))))
}

async fn read(_s: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let Some(role) = store::load_role(req.storage(), &store::name(&req)?).await? else {
        return Ok(None);
    };
    let mut out = json!({
        "creation_statements": role.creation_statements,
        "credential_type": role.credential_type,
        "db_name": role.db_name,
        "default_ttl": role.default_ttl,
        "max_ttl": role.max_ttl,
        "renew_statements": role.renew_statements,
        "revocation_statements": role.revocation_statements,
        "rollback_statements": role.rollback_statements,
    });
    if !role.credential_config.is_empty() {
        out["credential_config"] = json!(role.credential_config);
    }
    Ok(Some(Response::json(out)))
}

async fn write(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let _guard = state.writes.lock().await;
    let existing = store::load_role(req.storage(), &name).await?;
    if existing.is_none() && store::load_static(req.storage(), &name).await?.is_some() {
        return Err(Error::invalid("Role and Static Role names must be unique"));
    }
    let creating = existing.is_none();
    let mut role =
        existing.unwrap_or_else(|| Role { credential_type: "password".into(), ..Role::default() });
    if req.has("db_name") {
        role.db_name = req.str("db_name")?;
    }
    if role.db_name.is_empty() {
        return Err(Error::invalid("empty database name attribute"));
    }
    for (field, _) in STATEMENT_FIELDS {
        if !req.has(field) {
            continue;
        }
        let parsed = statements::parse(field, req.raw(field).unwrap_or(&serde_json::Value::Null))?;
        let target = match field {
            "creation_statements" => &mut role.creation_statements,
            "revocation_statements" => &mut role.revocation_statements,
            "rollback_statements" => &mut role.rollback_statements,
            _ => &mut role.renew_statements,
        };
        *target = parsed;
    }
    if role.creation_statements.is_empty() {
        return Err(Error::invalid("empty creation statements"));
    }
    if req.has("default_ttl") || creating {
        role.default_ttl = non_negative("default_ttl", req.duration("default_ttl")?)?;
    }
    if req.has("max_ttl") || creating {
        role.max_ttl = non_negative("max_ttl", req.duration("max_ttl")?)?;
    }
    if role.max_ttl > 0 && role.default_ttl > role.max_ttl {
        return Err(Error::invalid("ttl cannot be greater than max_ttl"));
    }
    if req.has("credential_type") {
        role.credential_type = credential_type(&req.str("credential_type")?)?;
    }
    if req.has("credential_config") {
        role.credential_config = match req.raw("credential_config") {
            Some(serde_json::Value::Object(map)) => map.clone(),
            Some(serde_json::Value::Null) | None => serde_json::Map::new(),
            Some(_) => return Err(Error::invalid("credential_config must be an object")),
        };
    }
    store::save(req.storage(), &store::role_key(&name), &role).await?;
    Ok(None)
}

async fn delete(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let _guard = state.writes.lock().await;
    req.storage().delete(&store::role_key(&name)).await?;
    Ok(None)
}

/// A TTL that must not be negative.
pub(crate) fn non_negative(field: &str, value: i64) -> Result<i64> {
    if value < 0 {
        return Err(Error::invalid(format!("{field} cannot be negative")));
    }
    Ok(value)
}

/// The credential type: only `password` is supported.
pub(crate) fn credential_type(value: &str) -> Result<String> {
    match value.trim() {
        "" | "password" => Ok("password".into()),
        other => Err(Error::invalid(format!(
            "unsupported credential_type {other:?}: only \"password\" is supported"
        ))),
    }
}
