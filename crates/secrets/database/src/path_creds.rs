//! Dynamic credentials (`creds/:name`): a user created from the role's statements and handed
//! out under a lease, which the core renews (`VALID UNTIL` moves) and revokes (the user's
//! sessions end and the user is dropped) through this module.

use std::sync::Arc;

use coffer_framework::{Path, Req, SecretRequest};
use coffer_types::{Error, Map, Response, Result, SecretLease, SecretString, unix_now};
use serde_json::{Value, json};

use crate::DbState;
use crate::password;
use crate::pool::{Conn, DbError, describe};
use crate::statements::{format_expiration, queries, quote_ident};
use crate::store::{self, Role};
use crate::username::{self, Inputs};

/// Lease terms the engine assumes when a role leaves them to the mount: the system default
/// and maximum (768h). `VALID UNTIL` is a safety net behind the lease, so erring long is safe.
const SYSTEM_TTL: i64 = 768 * 3600;

/// Renews by moving the user's expiry.
const DEFAULT_RENEW: &str = r#"ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';"#;

/// The `creds/:name` route.
pub(crate) fn path() -> Path<DbState> {
    Path::new("creds/{name}").help("Creates a database user for a role, under a lease.").read(read)
}

async fn read(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let storage = req.storage();
    let role = store::load_role(storage, &name)
        .await?
        .ok_or_else(|| Error::invalid(format!("unknown role: {name}")))?;
    let config = store::require_config(storage, &role.db_name).await?;
    if !config.allows(&name) {
        return Err(Error::invalid(format!("{name:?} is not an allowed role")));
    }
    let inputs = Inputs { display_name: &req.inner.caller.display_name, role_name: &name };
    let username = username::render(&config.username_template, &inputs)?;
    let password = password::generate();
    let in_sql =
        if config.scram() { password::scram_verifier(&password) } else { password.clone() };
    let ttl = effective(role.default_ttl).min(effective(role.max_ttl));
    let expiration = format_expiration(unix_now() + ttl);
    let vars = [
        ("name", username.as_str()),
        ("username", username.as_str()),
        ("password", in_sql.expose()),
        ("expiration", expiration.as_str()),
    ];
    let pool = state.pools.get(&role.db_name, &config)?;
    let mut conn = pool.get().await?;
    let secrets = [&password, &in_sql];
    if let Err(e) = conn.run_in_tx(&queries(&role.creation_statements, &vars), &secrets).await {
        if !role.rollback_statements.is_empty() {
            let rollback = queries(&role.rollback_statements, &vars);
            if let Err(r) = conn.run_in_tx(&rollback, &secrets).await {
                tracing::warn!(role = %name, error = %r, "rollback statements failed");
            }
        }
        return Err(e.into());
    }
    let mut internal = Map::new();
    internal.insert("username".into(), json!(username));
    internal.insert("role".into(), json!(name));
    internal.insert("db_name".into(), json!(role.db_name));
    internal.insert("revocation_statements".into(), json!(role.revocation_statements));
    let mut response =
        Response::json(json!({ "username": username, "password": password.expose() }));
    response.secret = Some(SecretLease {
        ttl: role.default_ttl,
        max_ttl: role.max_ttl,
        renewable: true,
        internal,
    });
    Ok(Some(response))
}

/// A TTL, with 0 standing for the system's.
fn effective(ttl: i64) -> i64 {
    if ttl > 0 { ttl } else { SYSTEM_TTL }
}

fn internal_str<'a>(req: &'a SecretRequest, key: &str) -> &'a str {
    req.internal.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Extends the user's `VALID UNTIL` to match the renewed lease.
pub(crate) async fn renew(state: Arc<DbState>, req: SecretRequest) -> Result<SecretLease> {
    let (username, role_name) = (internal_str(&req, "username"), internal_str(&req, "role"));
    let role = store::load_role(&req.storage, role_name)
        .await?
        .ok_or_else(|| Error::invalid(format!("could not find role with name: {role_name}")))?;
    let config = store::require_config(&req.storage, &role.db_name).await?;
    let now = unix_now();
    let wanted = if req.increment > 0 { req.increment } else { effective(role.default_ttl) };
    let end = (now + wanted).min(req.issue_time + effective(role.max_ttl));
    let expiration = format_expiration(end);
    let statements = if role.renew_statements.is_empty() {
        vec![DEFAULT_RENEW.to_string()]
    } else {
        role.renew_statements.clone()
    };
    let vars = [("name", username), ("username", username), ("expiration", expiration.as_str())];
    let pool = state.pools.get(&role.db_name, &config)?;
    pool.get().await?.run_in_tx(&queries(&statements, &vars), &[]).await?;
    Ok(SecretLease {
        ttl: role.default_ttl,
        max_ttl: role.max_ttl,
        renewable: true,
        internal: Map::new(),
    })
}

/// Drops the user: ends its sessions, then runs the role's revocation statements or the
/// default ones. Idempotent: a user that is already gone is not an error.
pub(crate) async fn revoke(state: Arc<DbState>, req: SecretRequest) -> Result<()> {
    let username = internal_str(&req, "username");
    if username.is_empty() {
        return Err(Error::internal("lease has no username to revoke"));
    }
    let role: Option<Role> = store::load_role(&req.storage, internal_str(&req, "role")).await?;
    let (db_name, statements) = match role {
        Some(role) => (role.db_name, role.revocation_statements),
        None => {
            let stored = req.internal.get("revocation_statements");
            let statements: Vec<String> =
                stored.cloned().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
            (internal_str(&req, "db_name").to_string(), statements)
        }
    };
    let config = store::require_config(&req.storage, &db_name).await?;
    let pool = state.pools.get(&db_name, &config)?;
    let mut conn = pool.get().await?;
    drop_user(&mut conn, username, &statements).await?;
    Ok(())
}

/// Ends `username`'s sessions and drops it (see [`revoke`]).
pub(crate) async fn drop_user(
    conn: &mut Conn,
    username: &str,
    statements: &[String],
) -> Result<(), DbError> {
    let none: [&SecretString; 0] = [];
    let found = conn
        .query_opt("SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1", &[&username])
        .await
        .map_err(|e| conn.error(&e, &none))?;
    let oid: Option<u32> = found.map(|row| row.get(0));
    let ident = quote_ident(username);
    if oid.is_some() {
        // No new sessions from here on, then end the open ones.
        conn.batch_execute(&format!("ALTER ROLE {ident} NOLOGIN"))
            .await
            .map_err(|e| conn.error(&e, &none))?;
        terminate(conn, oid).await?;
    }
    if !statements.is_empty() {
        let vars = [("name", username), ("username", username)];
        conn.run_in_tx(&queries(statements, &vars), &none).await?;
    } else if oid.is_some() {
        default_revocation(conn, username).await?;
    }
    // A session that raced the NOLOGIN is ended too (its role may be gone by now: match by oid).
    terminate(conn, oid).await
}

async fn terminate(conn: &mut Conn, oid: Option<u32>) -> Result<(), DbError> {
    let Some(oid) = oid else { return Ok(()) };
    let none: [&SecretString; 0] = [];
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
         WHERE usesysid = $1 AND pid <> pg_backend_pid()",
        &[&oid],
    )
    .await
    .map_err(|e| conn.error(&e, &none))?;
    Ok(())
}

/// Drops what the user owns and its privileges, then the user, in one transaction. Objects
/// are reassigned and dropped when the connection's user may (a superuser or a member of
/// the role); otherwise the privileges are revoked one schema at a time, as Vault does.
async fn default_revocation(conn: &mut Conn, username: &str) -> Result<(), DbError> {
    // These statements carry no secret, and the server does not echo the connection's.
    let q = |e: tokio_postgres::Error| DbError::Query(describe(&e, &[]));
    let ident = quote_ident(username);
    let tx = conn.transaction().await.map_err(q)?;
    let owned = format!(
        "SAVEPOINT coffer_owned; REASSIGN OWNED BY {ident} TO CURRENT_USER; DROP OWNED BY {ident}"
    );
    if tx.batch_execute(&owned).await.is_err() {
        tx.batch_execute("ROLLBACK TO SAVEPOINT coffer_owned").await.map_err(q)?;
        let rows = tx
            .query(
                "SELECT DISTINCT table_schema FROM information_schema.role_column_grants \
                 WHERE grantee = $1 UNION SELECT DISTINCT table_schema FROM \
                 information_schema.role_table_grants WHERE grantee = $1",
                &[&username],
            )
            .await
            .map_err(q)?;
        let mut revokes = Vec::new();
        for row in rows {
            let schema = quote_ident(row.get::<_, &str>(0));
            revokes.push(format!(
                "REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA {schema} FROM {ident}"
            ));
            revokes.push(format!("REVOKE USAGE ON SCHEMA {schema} FROM {ident}"));
        }
        revokes.push(format!("REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM {ident}"));
        revokes
            .push(format!("REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM {ident}"));
        revokes.push(format!("REVOKE USAGE ON SCHEMA public FROM {ident}"));
        let db: String = tx.query_one("SELECT current_database()", &[]).await.map_err(q)?.get(0);
        revokes.push(format!("REVOKE CONNECT ON DATABASE {} FROM {ident}", quote_ident(&db)));
        for revoke in revokes {
            tx.batch_execute(&revoke).await.map_err(q)?;
        }
    }
    tx.batch_execute(&format!("DROP ROLE IF EXISTS {ident}")).await.map_err(q)?;
    tx.commit().await.map_err(q)
}
