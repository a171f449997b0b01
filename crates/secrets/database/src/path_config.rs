//! Connections: `config/:name` (create-aware write, read, delete), LIST `config/`,
//! `reset/:name` (drop the pool) and `rotate-root/:name` (a new root password, stored and
//! never shown).

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Response, Result, SecretString};
use serde_json::json;

use crate::DbState;
use crate::password;
use crate::pool::{self, DbError};
use crate::statements::{self, queries};
use crate::store::{self, DbConfig, PLUGIN_NAME};
use crate::username;

/// Changes the root password.
const DEFAULT_ROOT_ROTATION: &str = r#"ALTER ROLE "{{username}}" WITH PASSWORD '{{password}}'"#;

const LITERAL_PASSWORD_WARNING: &str = "Password found in connection_url, use a templated url to \
     enable root rotation and prevent read access to password information.";

/// Adds the connection routes.
pub(crate) fn routes(router: Router<DbState>) -> Router<DbState> {
    let config = Path::new("config/{name}")
        .field(Field::string("plugin_name").describe("Must be postgresql-database-plugin."))
        .field(Field::string("plugin_version").describe("Echoed back."))
        .field(
            Field::string("connection_url").describe("URL or DSN with {{username}}/{{password}}."),
        )
        .field(Field::string("username").describe("The root user."))
        .field(Field::string("password").describe("The root password (never returned)."))
        .field(
            Field::list("allowed_roles").describe("Roles that may use this connection; * for any."),
        )
        .field(Field::bool("verify_connection").default(true).describe("Connect when writing."))
        .field(Field::int("max_open_connections").describe("Pool size (default 4)."))
        .field(Field::int("max_idle_connections").describe("Idle connections kept."))
        .field(
            Field::duration("max_connection_lifetime").describe("How long a connection is reused."),
        )
        .field(Field::string("password_authentication").describe("password or scram-sha-256."))
        .field(Field::string("username_template").describe("Template of dynamic usernames."))
        .field(Field::string("password_policy").describe("Stored; the default generator is used."))
        .field(
            Field::any("root_rotation_statements")
                .describe("Statements that set the root password."),
        )
        .field(Field::bool("disable_escaping").describe("Stored for compatibility."))
        .help("Configures a connection to a PostgreSQL database.")
        .read(read)
        .write(write)
        .delete(delete)
        .existence(|_s: Arc<DbState>, req: Req| async move {
            Ok(store::load_config(req.storage(), req.capture("name")).await?.is_some())
        });
    router
        .path(Path::new("config/").list(list))
        .path(config)
        .path(Path::new("reset/{name}").help("Closes the connection's pool.").write(reset))
        .path(Path::new("rotate-root/{name}").help("Rotates the root password.").write(rotate_root))
}

async fn list(_s: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": store::list(req.storage(), "config/").await? }))))
}

async fn read(_s: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let Some(config) = store::load_config(req.storage(), &store::name(&req)?).await? else {
        return Ok(None);
    };
    let mut details = json!({
        "connection_url": pool::redact_url(&config.connection_url),
        "username": config.username,
    });
    if config.password_authentication != "password" {
        details["password_authentication"] = json!(config.password_authentication);
    }
    if !config.username_template.is_empty() {
        details["username_template"] = json!(config.username_template);
    }
    Ok(Some(Response::json(json!({
        "allowed_roles": config.allowed_roles,
        "connection_details": details,
        "password_policy": config.password_policy,
        "plugin_name": config.plugin_name,
        "plugin_version": config.plugin_version,
        "root_credentials_rotate_statements": config.root_rotation_statements,
    }))))
}

async fn write(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let _guard = state.writes.lock().await;
    let existing = store::load_config(req.storage(), &name).await?;
    let creating = existing.is_none();
    let mut config = existing.unwrap_or_default();
    if req.has("plugin_name") || creating {
        let plugin = req.str("plugin_name")?;
        if plugin.is_empty() {
            return Err(Error::invalid("empty plugin name"));
        }
        if plugin != PLUGIN_NAME {
            return Err(Error::invalid(format!(
                "unsupported plugin_name {plugin:?}: only {PLUGIN_NAME} is available"
            )));
        }
        config.plugin_name = plugin;
    }
    apply(&mut config, &req)?;
    if config.connection_url.trim().is_empty() {
        return Err(Error::invalid("connection_url cannot be empty"));
    }
    pool::client_config(&config).map_err(Error::from)?;
    let mut warnings = Vec::new();
    if pool::has_literal_password(&config) {
        warnings.push(LITERAL_PASSWORD_WARNING.to_string());
    }
    if !config.password_policy.is_empty() {
        warnings.push(format!(
            "password policy {:?} is stored but not applied: passwords use the default policy",
            config.password_policy
        ));
    }
    if config.verify_connection {
        pool::verify(&config).await.map_err(|e| {
            Error::invalid(format!(
                "error creating database object: error verifying connection: {e}"
            ))
        })?;
    }
    store::save(req.storage(), &store::config_key(&name), &config).await?;
    state.pools.forget(&name);
    Ok((!warnings.is_empty()).then(|| Response::warnings_only(warnings)))
}

/// Applies the fields the request carries.
fn apply(config: &mut DbConfig, req: &Req) -> Result<()> {
    for (field, target) in [
        ("plugin_version", &mut config.plugin_version),
        ("connection_url", &mut config.connection_url),
        ("username", &mut config.username),
        ("username_template", &mut config.username_template),
        ("password_policy", &mut config.password_policy),
    ] {
        if req.has(field) {
            *target = req.str(field)?;
        }
    }
    if req.has("password") {
        config.password = SecretString::new(req.str("password")?);
    }
    if req.has("allowed_roles") {
        config.allowed_roles = req.list("allowed_roles")?;
    }
    // Not stored as given: each write verifies unless told otherwise.
    config.verify_connection = req.bool("verify_connection")?;
    for (field, target) in [
        ("max_open_connections", &mut config.max_open_connections),
        ("max_idle_connections", &mut config.max_idle_connections),
    ] {
        if req.has(field) {
            let n = req.int(field)?;
            if n < 0 {
                return Err(Error::invalid(format!("{field} cannot be negative")));
            }
            *target = n;
        }
    }
    if config.max_open_connections == 0 {
        config.max_open_connections = store::DEFAULT_MAX_OPEN;
    }
    if req.has("max_connection_lifetime") {
        config.max_connection_lifetime = req.duration("max_connection_lifetime")?.max(0);
    }
    if req.has("password_authentication") {
        let auth = req.str("password_authentication")?;
        let auth = if auth.is_empty() { "password".to_string() } else { auth };
        if auth != "password" && auth != "scram-sha-256" {
            return Err(Error::invalid(
                "'password_authentication' must be one of \"password\" or \"scram-sha-256\"",
            ));
        }
        config.password_authentication = auth;
    }
    if req.has("root_rotation_statements") {
        let raw = req.raw("root_rotation_statements").cloned().unwrap_or_default();
        config.root_rotation_statements = statements::parse("root_rotation_statements", &raw)?;
    }
    if req.has("disable_escaping") {
        config.disable_escaping = req.bool("disable_escaping")?;
    }
    username::validate(&config.username_template)
}

async fn delete(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let _guard = state.writes.lock().await;
    req.storage().delete(&store::config_key(&name)).await?;
    state.pools.forget(&name);
    Ok(None)
}

async fn reset(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    store::require_config(req.storage(), &name).await?;
    state.pools.forget(&name);
    Ok(None)
}

/// Sets a new root password in the database and stores it. The `ALTER ROLE` runs in a
/// transaction that commits only after the new password is stored, so a failure on either
/// side leaves the old password working.
async fn rotate_root(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let _guard = state.writes.lock().await;
    let old = store::require_config(req.storage(), &name).await?;
    if old.username.is_empty() {
        return Err(Error::invalid(
            "unable to rotate root credentials: no username in configuration",
        ));
    }
    if pool::has_literal_password(&old) {
        return Err(Error::invalid(
            "unable to rotate root credentials: connection_url holds a literal password; \
             use the {{password}} template",
        ));
    }
    let new_password = password::generate();
    let in_sql =
        if old.scram() { password::scram_verifier(&new_password) } else { new_password.clone() };
    let statements = if old.root_rotation_statements.is_empty() {
        vec![DEFAULT_ROOT_ROTATION.to_string()]
    } else {
        old.root_rotation_statements.clone()
    };
    let vars = [
        ("username", old.username.as_str()),
        ("name", old.username.as_str()),
        ("password", in_sql.expose()),
    ];
    let pool = state.pools.get(&name, &old)?;
    let mut conn = pool.get().await?;
    let fail = |e: tokio_postgres::Error| {
        Error::from(DbError::Query(pool::describe(&e, &[&old.password, &new_password, &in_sql])))
    };
    let tx = conn.transaction().await.map_err(fail)?;
    for query in queries(&statements, &vars) {
        tx.batch_execute(&query).await.map_err(fail)?;
    }
    let new = DbConfig { password: new_password.clone(), ..old.clone() };
    store::save(req.storage(), &store::config_key(&name), &new).await?;
    if let Err(e) = tx.commit().await {
        // The database kept the old password: put it back in storage.
        store::save(req.storage(), &store::config_key(&name), &old).await?;
        return Err(fail(e));
    }
    drop(conn);
    state.pools.forget(&name);
    Ok(None)
}
