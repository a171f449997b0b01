//! Static roles: an existing database user whose password the engine owns and rotates.
//! `static-roles/:name` (write rotates at once on create), LIST `static-roles/`,
//! `static-creds/:name` (the current password, no lease), `rotate-role/:name`, and the
//! background task that rotates every role when its `rotation_period` has passed.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use coffer_framework::{Field, Path, Req, Router};
use coffer_storage::SharedStorage;
use coffer_types::{Error, Response, Result, unix_now};
use serde_json::json;

use crate::DbState;
use crate::password;
use crate::pool::{self, DbError};
use crate::statements::{self, queries};
use crate::store::{self, StaticRole};

/// Sets the user's password.
const DEFAULT_ROTATION: &str = r#"ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}'"#;
/// Shortest rotation period, seconds.
const MIN_PERIOD: i64 = 5;
/// How often the background task looks for roles due.
const TICK: Duration = Duration::from_secs(1);
/// Longest wait between tries of a failing background rotation, seconds.
const MAX_BACKOFF: i64 = 300;

/// Adds the static role routes.
pub(crate) fn routes(router: Router<DbState>) -> Router<DbState> {
    let role = Path::new("static-roles/{name}")
        .field(Field::string("db_name").describe("The connection to use."))
        .field(Field::string("username").describe("The existing database user."))
        .field(Field::duration("rotation_period").describe("Seconds between rotations (>= 5)."))
        .field(Field::any("rotation_statements").describe("Statements that set the password."))
        .field(Field::string("credential_type").describe("Only password."))
        .help("Manages existing database users whose passwords are rotated.")
        .read(read)
        .write(write)
        .delete(delete)
        .existence(|_s: Arc<DbState>, req: Req| async move {
            Ok(store::load_static(req.storage(), req.capture("name")).await?.is_some())
        });
    router
        .path(Path::new("static-roles/").list(list))
        .path(role)
        .path(Path::new("static-creds/{name}").help("Reads a static role's password.").read(creds))
        .path(Path::new("rotate-role/{name}").help("Rotates a static role now.").write(rotate_now))
}

async fn list(_s: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": store::list(req.storage(), "static-role/").await? }))))
}

/// RFC 3339 in UTC with Go's trimmed fractional seconds (`2026-11-28T16:43:17.55Z`).
fn rfc3339(nanos: i64) -> String {
    let (secs, frac) = (nanos.div_euclid(1_000_000_000), nanos.rem_euclid(1_000_000_000));
    let (days, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = statements::civil_from_days(days);
    let mut out =
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60);
    if frac > 0 {
        out.push_str(format!(".{frac:09}").trim_end_matches('0'));
    }
    out.push('Z');
    out
}

async fn read(_s: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let Some(role) = store::load_static(req.storage(), &store::name(&req)?).await? else {
        return Ok(None);
    };
    Ok(Some(Response::json(json!({
        "credential_type": role.credential_type,
        "db_name": role.db_name,
        "last_vault_rotation": rfc3339(role.last_rotation_nanos),
        "rotation_period": role.rotation_period,
        "rotation_statements": role.rotation_statements,
        "username": role.username,
    }))))
}

async fn write(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let storage = req.storage().clone();
    let _guard = state.writes.lock().await;
    let existing = store::load_static(&storage, &name).await?;
    if existing.is_none() && store::load_role(&storage, &name).await?.is_some() {
        return Err(Error::invalid("Role and Static Role names must be unique"));
    }
    let creating = existing.is_none();
    let mut role = existing.unwrap_or_else(|| StaticRole {
        credential_type: "password".into(),
        ..StaticRole::default()
    });
    if req.has("db_name") {
        role.db_name = req.str("db_name")?;
    }
    if role.db_name.is_empty() {
        return Err(Error::invalid("empty database name attribute"));
    }
    if req.has("username") {
        let username = req.str("username")?;
        if !creating && username != role.username {
            return Err(Error::invalid("cannot update static account username"));
        }
        role.username = username;
    }
    if role.username.is_empty() {
        return Err(Error::invalid("username is a required field to create a static account"));
    }
    if req.has("rotation_period") || creating {
        let period = req.duration("rotation_period")?;
        if period < MIN_PERIOD {
            return Err(Error::invalid(format!(
                "rotation_period must be {MIN_PERIOD} seconds or more"
            )));
        }
        role.rotation_period = period;
    }
    if req.has("rotation_statements") {
        let raw = req.raw("rotation_statements").cloned().unwrap_or_default();
        role.rotation_statements = statements::parse("rotation_statements", &raw)?;
    }
    if req.has("credential_type") {
        role.credential_type = crate::path_roles::credential_type(&req.str("credential_type")?)?;
    }
    let config = store::require_config(&storage, &role.db_name).await?;
    if !config.allows(&name) {
        return Err(Error::invalid(format!("{name:?} is not an allowed role")));
    }
    if creating {
        let _rotating = state.rotations.lock().await;
        // The password is the engine's from the start: a role whose first rotation fails
        // is not stored.
        rotate(&state, &storage, &name, role).await?;
    } else {
        store::save(&storage, &store::static_key(&name), &role).await?;
    }
    Ok(None)
}

async fn delete(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let _guard = state.writes.lock().await;
    let _rotating = state.rotations.lock().await;
    req.storage().delete(&store::static_key(&name)).await?;
    Ok(None)
}

async fn creds(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let storage = req.storage();
    let unknown = || Error::invalid(format!("unknown role: {name}"));
    let mut role = store::load_static(storage, &name).await?.ok_or_else(unknown)?;
    if role.next_rotation() <= unix_now() {
        // An overdue rotation that fails leaves the current password valid: hand that out.
        match rotate_due(&state, storage, &name).await {
            Ok(()) => role = store::load_static(storage, &name).await?.ok_or_else(unknown)?,
            Err(e) => tracing::warn!(role = %name, error = %e, "overdue static rotation failed"),
        }
    }
    Ok(Some(Response::json(json!({
        "last_vault_rotation": rfc3339(role.last_rotation_nanos),
        "password": role.password.expose(),
        "rotation_period": role.rotation_period,
        "ttl": (role.next_rotation() - unix_now()).max(0),
        "username": role.username,
    }))))
}

async fn rotate_now(state: Arc<DbState>, req: Req) -> Result<Option<Response>> {
    let name = store::name(&req)?;
    let storage = req.storage();
    let role = store::load_static(storage, &name)
        .await?
        .ok_or_else(|| Error::invalid(format!("unknown role: {name}")))?;
    let _rotating = state.rotations.lock().await;
    rotate(&state, storage, &name, role).await?;
    Ok(None)
}

/// Rotates `name` if it is (still) due, under the rotation lock.
async fn rotate_due(state: &DbState, storage: &SharedStorage, name: &str) -> Result<()> {
    let _rotating = state.rotations.lock().await;
    match store::load_static(storage, name).await? {
        Some(role) if role.next_rotation() <= unix_now() => {
            rotate(state, storage, name, role).await
        }
        _ => Ok(()),
    }
}

/// Sets a new password for `role`: the statements run in a transaction that commits only
/// after the new password is stored, so storage and database never disagree for long.
async fn rotate(
    state: &DbState,
    storage: &SharedStorage,
    name: &str,
    role: StaticRole,
) -> Result<()> {
    let config = store::require_config(storage, &role.db_name).await?;
    let new_password = password::generate();
    let in_sql =
        if config.scram() { password::scram_verifier(&new_password) } else { new_password.clone() };
    let statements = if role.rotation_statements.is_empty() {
        vec![DEFAULT_ROTATION.to_string()]
    } else {
        role.rotation_statements.clone()
    };
    let vars = [
        ("name", role.username.as_str()),
        ("username", role.username.as_str()),
        ("password", in_sql.expose()),
    ];
    let pool = state.pools.get(&role.db_name, &config)?;
    let mut conn = pool.get().await?;
    let fail = |e: tokio_postgres::Error| {
        Error::from(DbError::Query(pool::describe(&e, &[&config.password, &new_password, &in_sql])))
    };
    let tx = conn.transaction().await.map_err(fail)?;
    for query in queries(&statements, &vars) {
        tx.batch_execute(&query).await.map_err(|e| {
            let message = fail(e);
            Error::invalid(format!("error setting credentials for static role {name:?}: {message}"))
        })?;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let previous = role.clone();
    let new = StaticRole { password: new_password.clone(), last_rotation_nanos: nanos, ..role };
    store::save(storage, &store::static_key(name), &new).await?;
    if let Err(e) = tx.commit().await {
        // The database kept the old password: put it back in storage, unless the role is new.
        if previous.last_rotation_nanos > 0 {
            store::save(storage, &store::static_key(name), &previous).await?;
        } else {
            storage.delete(&store::static_key(name)).await?;
        }
        return Err(fail(e));
    }
    tracing::debug!(role = %name, "static role password rotated");
    Ok(())
}

/// Starts the task that rotates static roles when due; it ends with the mount's state.
pub(crate) fn spawn_rotation(state: Weak<DbState>, storage: SharedStorage) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
    handle.spawn(async move {
        // Roles whose rotation failed wait before the next try: (failures, next try).
        let mut backoff: HashMap<String, (u32, i64)> = HashMap::new();
        loop {
            tokio::time::sleep(TICK).await;
            let Some(state) = state.upgrade() else { return };
            // Storage is unreadable while sealed; try again on the next tick.
            let Ok(names) = storage.list("static-role/").await else { continue };
            for name in names {
                let due = match store::load_static(&storage, &name).await {
                    Ok(Some(role)) => role.next_rotation() <= unix_now(),
                    _ => false,
                };
                let waiting = backoff.get(&name).is_some_and(|(_, next)| *next > unix_now());
                if !due || waiting {
                    continue;
                }
                match rotate_due(&state, &storage, &name).await {
                    Ok(()) => {
                        backoff.remove(&name);
                    }
                    Err(e) => {
                        let failures = backoff.get(&name).map_or(1, |(n, _)| n + 1);
                        let wait = (1i64 << failures.min(10)).min(MAX_BACKOFF);
                        backoff.insert(name.clone(), (failures, unix_now() + wait));
                        tracing::warn!(role = %name, error = %e, "static role rotation failed; retrying");
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_times_print_like_go() {
        assert_eq!(rfc3339(1_795_884_197_550_000_000), "2026-11-28T16:43:17.55Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
