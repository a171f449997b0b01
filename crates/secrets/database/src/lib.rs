//! The database secrets engine for PostgreSQL (Vault's `database` engine with the
//! `postgresql-database-plugin`).
//!
//! Routes, one file per path group:
//!
//! - `config/:name`, LIST `config/`, `reset/:name`, `rotate-root/:name` (`path_config`): the
//!   connections. `connection_url` may use `{{username}}` and `{{password}}`, which are filled
//!   in through the driver's API; the root password is never returned, logged or put in an
//!   error message. `allowed_roles` defaults to none.
//! - `roles/:name`, LIST `roles/` (`path_roles`): dynamic roles and their statements.
//! - `creds/:name` (`path_creds`): a new database user under a lease. The core renews the
//!   lease through this engine (`VALID UNTIL` follows it) and revokes it (the user's sessions
//!   are ended, then the user is dropped; revoking twice is harmless).
//! - `static-roles/:name`, LIST `static-roles/`, `static-creds/:name`, `rotate-role/:name`
//!   (`path_static`): existing users whose passwords the engine rotates, on demand and every
//!   `rotation_period` from a background task.
//!
//! Each connection has one small pool (`pool`), filled lazily and rebuilt when its settings
//! change. Connections are made without TLS: use `sslmode=disable` (or `prefer`) over a
//! trusted network or a local socket; the tree keeps aws-lc-rs as its only crypto provider.
//! Usernames come from Vault's username templates (`username`), passwords from Vault's default
//! policy (`password`), hashed into a SCRAM verifier before they reach SQL when the connection
//! sets `password_authentication = "scram-sha-256"`.
#![forbid(unsafe_code)]

mod password;
mod path_config;
mod path_creds;
mod path_roles;
mod path_static;
mod pool;
mod statements;
mod store;
mod username;

use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, Router};
use coffer_types::Result;
use tokio::sync::Mutex;

/// Per-mount state: the pools, and the locks that serialise changes.
pub(crate) struct DbState {
    /// One pool per connection.
    pools: pool::Pools,
    /// Serialises read-modify-write of connections and roles (held across storage awaits,
    /// hence a tokio lock).
    writes: Mutex<()>,
    /// Serialises static password rotations, so two never race on one user.
    rotations: Mutex<()>,
}

/// Builds the database engine for a mount.
pub fn factory(config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let state = Arc::new(DbState {
        pools: pool::Pools::default(),
        writes: Mutex::new(()),
        rotations: Mutex::new(()),
    });
    path_static::spawn_rotation(Arc::downgrade(&state), config.storage.clone());
    let router = Router::new(state);
    let router = path_config::routes(router);
    let router = path_roles::routes(router);
    let router = path_static::routes(router);
    Ok(Arc::new(router.path(path_creds::path()).secret(path_creds::renew, path_creds::revoke)))
}
