//! Shared helpers of the PostgreSQL tests: the server under test (from
//! `COFFER_TEST_POSTGRES_URL`; tests skip without it), a core with the engine mounted at
//! `database/`, real client logins, and a guard that drops every role and schema a test made.
//!
//! Every role and schema a test creates starts with `cdbt<pid>x<random>`: the guard drops the
//! test's own on drop (even when the test fails), and each test first sweeps the ones left by
//! test processes that are no longer running.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::{Arc, Mutex};

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_storage::MemoryStorage;
use coffer_types::{Operation, Request, Response, Result};
use serde_json::Value;
use tokio_postgres::{Client, NoTls};

/// Marks every object the tests create.
pub const MARK: &str = "cdbt";

/// The server to test against, or `None` (with a message) to skip.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("COFFER_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipping {test}: set COFFER_TEST_POSTGRES_URL (trust auth) to run it");
            None
        }
    }
}

/// A core over memory storage with the database engine at `database/`, root token `root`.
pub async fn core() -> Arc<Core> {
    let core = Core::new(
        Arc::new(MemoryStorage::new()),
        Registry::new().secrets("database", coffer_database::factory),
        CoreConfig::new("inmem"),
    );
    core.init_dev(Some("root"), &[]).await.unwrap();
    core.enable_mount(MountEntry::new("database/", "database", "", ""), false).await.unwrap();
    core
}

/// One request through the core.
pub async fn call(
    core: &Core,
    token: &str,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response> {
    let data = data.as_object().cloned().unwrap_or_default();
    core.handle(Request::new(op, path).with_token(token).with_data(data)).await
}

/// The same as `call` with the root token.
pub async fn root(core: &Core, op: Operation, path: &str, data: Value) -> Result<Response> {
    call(core, "root", op, path, data).await
}

/// Everything a response shows a client, as text (to look for leaked secrets).
pub fn shown(r: &Response) -> String {
    format!("{} {:?}", serde_json::to_string(&r.data).unwrap(), r.warnings)
}

/// Connects with the driver settings of `url`.
pub async fn connect(
    config: &tokio_postgres::Config,
) -> std::result::Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The admin connection of the server under test.
pub async fn admin(url: &str) -> Client {
    connect(&url.parse().unwrap()).await.unwrap()
}

/// Logs in to `url`'s database as `user`/`password`.
pub async fn login(
    url: &str,
    user: &str,
    password: &str,
) -> std::result::Result<Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.user(user).password(password);
    connect(&config).await
}

/// A templated connection URL to the same server and database as `url`.
pub fn templated(url: &str) -> String {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("postgres");
    format!("postgresql://{{{{username}}}}:{{{{password}}}}@{host}:{port}/{db}?sslmode=disable")
}

/// The admin user of `url`.
pub fn admin_user(url: &str) -> String {
    let config: tokio_postgres::Config = url.parse().unwrap();
    config.get_user().unwrap_or("postgres").to_string()
}

/// Whether a role exists.
pub async fn role_exists(admin: &Client, name: &str) -> bool {
    admin.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name]).await.unwrap().is_some()
}

/// A role's `VALID UNTIL` in unix seconds.
pub async fn valid_until(admin: &Client, name: &str) -> Option<i64> {
    let row = admin
        .query_one(
            "SELECT extract(epoch FROM rolvaliduntil)::bigint FROM pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await
        .unwrap();
    row.get(0)
}

/// A role's stored password hash.
pub async fn password_hash(admin: &Client, name: &str) -> Option<String> {
    let row = admin
        .query_one("SELECT rolpassword FROM pg_authid WHERE rolname = $1", &[&name])
        .await
        .unwrap();
    row.get(0)
}

/// Drops the test's roles and schemas when it ends, however it ends.
pub struct Cleanup {
    /// The server.
    pub url: String,
    /// The prefix of everything this test creates.
    pub prefix: String,
    /// Other roles to drop (named by the default template).
    extra: Mutex<Vec<String>>,
}

impl Cleanup {
    /// A fresh prefix for one test; sweeps what dead test processes left behind.
    pub async fn new(url: &str) -> Cleanup {
        let prefix = format!(
            "{MARK}{}x{}",
            std::process::id(),
            coffer_types::random_base62(6).to_lowercase()
        );
        let admin = admin(url).await;
        sweep(&admin, None).await;
        Cleanup { url: url.to_string(), prefix, extra: Mutex::new(Vec::new()) }
    }

    /// Also drop `role` at the end.
    pub fn track(&self, role: &str) {
        self.extra.lock().unwrap().push(role.to_string());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        let extra = std::mem::take(&mut *self.extra.lock().unwrap_or_else(|p| p.into_inner()));
        // The test's runtime may be shutting down: clean up on a runtime of our own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let admin = admin(&url).await;
                for role in extra {
                    drop_role(&admin, &role).await;
                }
                sweep(&admin, Some(&prefix)).await;
            });
        })
        .join();
        if done.is_err() {
            eprintln!("cleanup of {} failed", self.prefix);
        }
    }
}

/// Drops schemas and roles named `prefix%`, or (without a prefix) those of dead processes.
async fn sweep(admin: &Client, prefix: Option<&str>) {
    let pattern = format!("{}%", prefix.unwrap_or(MARK));
    let stale = |name: &str| match prefix {
        Some(_) => true,
        None => {
            let pid = name.trim_start_matches(MARK).split('x').next().unwrap_or("");
            pid.parse::<u32>()
                .is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        }
    };
    let schemas = admin
        .query("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", &[&pattern])
        .await
        .unwrap();
    for row in schemas {
        let name: String = row.get(0);
        if stale(&name) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await;
        }
    }
    let roles = admin
        .query("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", &[&pattern])
        .await
        .unwrap();
    for row in roles {
        let name: String = row.get(0);
        if stale(&name) {
            drop_role(admin, &name).await;
        }
    }
}

/// Ends a role's sessions and drops it with what it owns.
pub async fn drop_role(admin: &Client, name: &str) {
    let _ = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            &[&name],
        )
        .await;
    let quoted = name.replace('"', "\"\"");
    let _ = admin.batch_execute(&format!("DROP OWNED BY \"{quoted}\"")).await;
    let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{quoted}\"")).await;
}
