//! The database secrets engine and the lease API: `database-creds` (dynamic credentials, a
//! lease each), `lease-renew` (leases renewed in turn) and `lease-revoke` (leases
//! made during setup, revoked one per request). They need a database: `--database URL`.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use http::Method;
use serde_json::{Value, json};

use super::{Env, Prepared, mount, scoped};
use crate::client::{Api, Call};

/// Leases made for `lease-revoke` when `--max-requests` does not say fewer.
const REVOKE_POOL: u64 = 6000;

/// The engine's connection config and role for a database URL.
pub(crate) fn plugin_config(url: &str) -> Result<(Value, Value)> {
    let (scheme, rest) = url.split_once("://").context("--database: expected scheme://...")?;
    let (userinfo, hostpart) =
        rest.rsplit_once('@').context("--database: expected user:password@host")?;
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (hostport, db) = hostpart.split_once('/').unwrap_or((hostpart, ""));
    let (host, port) = hostport.rsplit_once(':').context("--database: expected host:port")?;
    let port: u16 = port.parse().context("--database: bad port")?;
    match scheme {
        "redis" => Ok((
            json!({
                "plugin_name": "redis-database-plugin", "host": host, "port": port,
                "username": user, "password": password, "allowed_roles": ["bench"],
            }),
            json!({ "db_name": "bench", "creation_statements": r#"["~bench:*", "+@read"]"# }),
        )),
        "postgres" | "postgresql" => Ok((
            json!({
                "plugin_name": "postgresql-database-plugin",
                // Without a password (trust authentication) the URL names none: servers refuse
                // a {{password}} placeholder with nothing to put in it.
                "connection_url": if password.is_empty() {
                    format!("postgresql://{{{{username}}}}@{host}:{port}/{db}?sslmode=disable")
                } else {
                    format!("postgresql://{{{{username}}}}:{{{{password}}}}@{host}:{port}/{db}?sslmode=disable")
                },
                "username": user, "password": password, "allowed_roles": ["bench"],
            }),
            json!({
                "db_name": "bench",
                "creation_statements": [r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"#],
            }),
        )),
        other => bail!("--database: unknown scheme {other:?} (redis, postgres)"),
    }
}

/// Mounts `bench-db`, connects it to the database and writes role `bench`.
async fn setup(env: &Env<'_>) -> Result<()> {
    let url =
        env.database.context("no database given (--database redis://... or postgres://...)")?;
    let (config, mut role) = plugin_config(url)?;
    let root = env.root;
    mount(root, "bench-db", json!({ "type": "database" })).await?;
    root.put("bench-db/config/bench", &config).await?.ok("configuring the database connection")?;
    role["default_ttl"] = json!("1h");
    role["max_ttl"] = json!("24h");
    root.put("bench-db/roles/bench", &role).await?.ok("writing the database role")?;
    Ok(())
}

async fn lease(api: &Api) -> Result<String> {
    let creds = api.get("bench-db/creds/bench").await?.ok("reading credentials")?;
    creds
        .get("lease_id")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .context("the credentials came without a lease")
}

/// `database-creds`.
pub async fn creds(env: &Env<'_>) -> Result<Prepared> {
    setup(env).await?;
    let policy = r#"path "bench-db/creds/bench" { capabilities = ["read"] }"#;
    let (api, scope) = scoped(env.root, "bench-db-creds", policy).await?;
    lease(&api).await?;
    let call = Call::new(Method::GET, "bench-db/creds/bench");
    Ok(Prepared::new(api, scope, move |_| call.clone()))
}

/// Leases renewed in turn by `lease-renew`: many services, each renewing its own lease.
const RENEW_POOL: u64 = 64;

/// `lease-renew`: a pool of leases made now, renewed in turn (one renewal per request).
pub async fn renew(env: &Env<'_>) -> Result<Prepared> {
    setup(env).await?;
    let policy = r#"
path "bench-db/creds/bench" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
"#;
    let (api, scope) = scoped(env.root, "bench-lease-renew", policy).await?;
    let pool = lease_pool(&api, RENEW_POOL).await?;
    let renewal = move |i: u64| {
        let lease_id = &pool[i as usize % pool.len()];
        Call::json(
            Method::PUT,
            "sys/leases/renew",
            &json!({ "lease_id": lease_id, "increment": 3600 }),
        )
    };
    api.call(&renewal(0)).await?.ok("renewing a lease")?;
    Ok(Prepared::new(api, scope, renewal))
}

/// `lease-revoke`: a pool of leases made now, one revoked per request; the runs share it.
pub async fn revoke(env: &Env<'_>) -> Result<Prepared> {
    setup(env).await?;
    let policy = r#"
path "bench-db/creds/bench" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
"#;
    let (api, scope) = scoped(env.root, "bench-lease-revoke", policy).await?;
    let size = env.max_requests.unwrap_or(REVOKE_POOL).min(REVOKE_POOL);
    let pool = lease_pool(&api, size).await?;
    let limit = pool.len() as u64;
    let mut prepared = Prepared::new(api, scope, move |i| {
        let lease_id = pool.get(i as usize).cloned().unwrap_or_default();
        Call::json(Method::PUT, "sys/leases/revoke", &json!({ "lease_id": lease_id }))
    });
    prepared.limit = Some(limit);
    Ok(prepared)
}

/// `size` leases, made 8 at a time.
async fn lease_pool(api: &Api, size: u64) -> Result<Arc<Vec<String>>> {
    let mut pool = Vec::with_capacity(size as usize);
    let mut batch = tokio::task::JoinSet::new();
    for _ in 0..size {
        if batch.len() >= 8
            && let Some(done) = batch.join_next().await
        {
            pool.push(done??);
        }
        let api = api.clone();
        batch.spawn(async move { lease(&api).await });
    }
    while let Some(done) = batch.join_next().await {
        pool.push(done??);
    }
    Ok(Arc::new(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_become_plugin_configs() {
        let (config, _) = plugin_config("redis://default:pw@127.0.0.1:6379").unwrap_or_default();
        assert_eq!(config["plugin_name"], "redis-database-plugin");
        assert_eq!(config["port"], 6379);
        assert_eq!(config["password"], "pw");
        let (config, role) =
            plugin_config("postgres://bench:pw@127.0.0.1:5432/app").unwrap_or_default();
        assert_eq!(
            config["connection_url"],
            "postgresql://{{username}}:{{password}}@127.0.0.1:5432/app?sslmode=disable"
        );
        assert!(role["creation_statements"][0].as_str().is_some_and(|s| s.contains("{{name}}")));
        let (config, _) =
            plugin_config("postgres://postgres@127.0.0.1:5432/test").unwrap_or_default();
        assert_eq!(
            config["connection_url"],
            "postgresql://{{username}}@127.0.0.1:5432/test?sslmode=disable"
        );
        assert!(plugin_config("mysql://a:b@h:1").is_err());
    }
}
