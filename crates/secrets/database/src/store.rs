//! The persisted model of the engine: connections (`config/<name>`), dynamic roles
//! (`role/<name>`) and static roles (`static-role/<name>`), with the storage helpers.

use coffer_framework::{Req, glob, read_json};
use coffer_storage::SharedStorage;
use coffer_types::{Error, Map, Result, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The only plugin this engine speaks.
pub(crate) const PLUGIN_NAME: &str = "postgresql-database-plugin";

/// Connections used by a role are kept open at most this many at a time by default.
pub(crate) const DEFAULT_MAX_OPEN: i64 = 4;

/// A connection to a database (`config/:name`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct DbConfig {
    /// Always [`PLUGIN_NAME`].
    pub plugin_name: String,
    /// Echoed back, not used.
    pub plugin_version: String,
    /// A URL or key/value DSN; `{{username}}` and `{{password}}` are filled in at connect time.
    pub connection_url: String,
    /// The root user.
    pub username: String,
    /// The root password: never returned, logged or put in an error.
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub password: SecretString,
    /// Roles allowed to use this connection (`*` and globs allowed); empty allows none.
    pub allowed_roles: Vec<String>,
    /// Whether writes connect to check the settings.
    pub verify_connection: bool,
    /// Pool size.
    pub max_open_connections: i64,
    /// Idle connections kept (0 = as many as open).
    pub max_idle_connections: i64,
    /// Seconds a connection is reused (0 = forever).
    pub max_connection_lifetime: i64,
    /// `password` or `scram-sha-256` (hash passwords before they go into SQL).
    pub password_authentication: String,
    /// The template of dynamic usernames ("" = the default).
    pub username_template: String,
    /// A named password policy (stored and echoed; the default generator is used).
    pub password_policy: String,
    /// Statements that change the root password.
    pub root_rotation_statements: Vec<String>,
    /// Stored for compatibility.
    pub disable_escaping: bool,
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            plugin_name: String::new(),
            plugin_version: String::new(),
            connection_url: String::new(),
            username: String::new(),
            password: SecretString::default(),
            allowed_roles: Vec::new(),
            verify_connection: true,
            max_open_connections: DEFAULT_MAX_OPEN,
            max_idle_connections: 0,
            max_connection_lifetime: 0,
            password_authentication: "password".into(),
            username_template: String::new(),
            password_policy: String::new(),
            root_rotation_statements: Vec::new(),
            disable_escaping: false,
        }
    }
}

impl DbConfig {
    /// Whether SQL gets a SCRAM verifier instead of the plaintext password.
    pub(crate) fn scram(&self) -> bool {
        self.password_authentication == "scram-sha-256"
    }

    /// Whether `role` may use this connection: listed, matched by a `*` glob, or `*`.
    pub(crate) fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|pattern| glob::matches(pattern, role))
    }
}

/// A dynamic role (`roles/:name`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Role {
    /// The connection it uses.
    pub db_name: String,
    /// Run in one transaction to create a user.
    pub creation_statements: Vec<String>,
    /// Run to drop a user (default: end its sessions, drop what it owns, drop it).
    pub revocation_statements: Vec<String>,
    /// Run when creation fails.
    pub rollback_statements: Vec<String>,
    /// Run to extend a user's life (default: `ALTER ROLE ... VALID UNTIL`).
    pub renew_statements: Vec<String>,
    /// Lease TTL in seconds (0 = the mount's default).
    pub default_ttl: i64,
    /// Lease maximum in seconds (0 = the mount's maximum).
    pub max_ttl: i64,
    /// Always `password`.
    pub credential_type: String,
    /// Stored and echoed.
    pub credential_config: Map,
}

/// A static role (`static-roles/:name`): an existing user whose password the engine rotates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct StaticRole {
    /// The connection it uses.
    pub db_name: String,
    /// The database user.
    pub username: String,
    /// Seconds between rotations.
    pub rotation_period: i64,
    /// Statements that set the password (default: `ALTER ROLE ... WITH PASSWORD`).
    pub rotation_statements: Vec<String>,
    /// Always `password`.
    pub credential_type: String,
    /// The current password.
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub password: SecretString,
    /// Unix time of the last rotation, in nanoseconds.
    pub last_rotation_nanos: i64,
}

impl StaticRole {
    /// Unix seconds of the next rotation.
    pub(crate) fn next_rotation(&self) -> i64 {
        self.last_rotation_nanos / 1_000_000_000 + self.rotation_period
    }
}

fn expose<S: Serializer>(secret: &SecretString, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::new)
}

/// Storage key of a connection.
pub(crate) fn config_key(name: &str) -> String {
    format!("config/{name}")
}

/// Storage key of a dynamic role.
pub(crate) fn role_key(name: &str) -> String {
    format!("role/{name}")
}

/// Storage key of a static role.
pub(crate) fn static_key(name: &str) -> String {
    format!("static-role/{name}")
}

/// Loads a connection.
pub(crate) async fn load_config(storage: &SharedStorage, name: &str) -> Result<Option<DbConfig>> {
    read_json(storage, &config_key(name)).await
}

/// Loads a connection that must exist.
pub(crate) async fn require_config(storage: &SharedStorage, name: &str) -> Result<DbConfig> {
    load_config(storage, name)
        .await?
        .ok_or_else(|| Error::invalid(format!("unknown database connection: {name}")))
}

/// Loads a dynamic role.
pub(crate) async fn load_role(storage: &SharedStorage, name: &str) -> Result<Option<Role>> {
    read_json(storage, &role_key(name)).await
}

/// Loads a static role.
pub(crate) async fn load_static(storage: &SharedStorage, name: &str) -> Result<Option<StaticRole>> {
    read_json(storage, &static_key(name)).await
}

/// Stores `value` as JSON at `key`.
pub(crate) async fn save<T: Serialize>(
    storage: &SharedStorage,
    key: &str,
    value: &T,
) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::internal(e.to_string()))?;
    storage.put(key, &bytes).await?;
    Ok(())
}

/// The `name` capture of a route, which must be a plain name.
pub(crate) fn name(req: &Req) -> Result<String> {
    let name = req.capture("name");
    if name.is_empty() || name.contains("..") {
        return Err(Error::invalid("missing or invalid name"));
    }
    Ok(name.to_string())
}

/// Keys under `prefix` (a LIST).
pub(crate) async fn list(storage: &SharedStorage, prefix: &str) -> Result<Vec<String>> {
    Ok(storage.list(prefix).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_roles_default_to_none() {
        let config = DbConfig::default();
        assert!(!config.allows("ro"));
        let config = DbConfig { allowed_roles: vec!["ro".into()], ..DbConfig::default() };
        assert!(config.allows("ro") && !config.allows("rw"));
    }

    #[test]
    fn passwords_round_trip_through_storage_but_not_debug() {
        let config = DbConfig { password: SecretString::new("hunter2"), ..DbConfig::default() };
        assert!(!format!("{config:?}").contains("hunter2"));
        let bytes = serde_json::to_vec(&config).unwrap_or_default();
        let back: DbConfig = serde_json::from_slice(&bytes).unwrap_or_default();
        assert!(back.password.ct_eq("hunter2"));
    }
}
