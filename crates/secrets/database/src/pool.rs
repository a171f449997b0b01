//! Connections to PostgreSQL: the client configuration built from a stored connection (with
//! `{{username}}`/`{{password}}` filled in through the driver's API, never by pasting the
//! password into a string), one small lazily-filled pool per connection, and errors scrubbed
//! of every secret they could echo.
//!
//! TLS: connections are made without TLS (`sslmode=disable`, or `prefer`, which then stays in
//! plaintext); `sslmode=require` fails at connect time. Use a local socket or a trusted network.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use coffer_types::{Error, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls};

use crate::store::{DEFAULT_MAX_OPEN, DbConfig};

/// Stand-ins parsed in place of the templates; replaced through the driver's API afterwards.
const USER_MARK: &str = "coffer-template-username";
const PASS_MARK: &str = "coffer-template-password";
/// Connect timeout when the URL sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What goes wrong talking to the database. Messages are scrubbed of secrets.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    /// The connection settings do not parse or are incomplete.
    #[error("invalid connection_url: {0}")]
    Settings(String),
    /// The database could not be reached or refused the login.
    #[error("{0}")]
    Connect(String),
    /// A statement failed.
    #[error("{0}")]
    Query(String),
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Settings(_) => Error::invalid(e.to_string()),
            DbError::Connect(_) | DbError::Query(_) => Error::internal(e.to_string()),
        }
    }
}

/// Replaces every secret in `message` (and any SCRAM verifier) by `[redacted]`. The server
/// may echo a fragment of a statement (`syntax error at or near "xY3-abc"`), so any word of
/// the message that shares a run of [`FRAGMENT`] characters with a secret goes too.
pub(crate) fn scrub(message: &str, secrets: &[&SecretString]) -> String {
    let mut out = message.to_string();
    for secret in secrets {
        if secret.expose().len() >= 4 {
            out = out.replace(secret.expose(), "[redacted]");
        }
    }
    while let Some(at) = out.find("SCRAM-SHA-256$") {
        let end =
            out[at..].find(|c: char| c.is_whitespace() || c == '\'').map_or(out.len(), |e| at + e);
        out.replace_range(at..end, "[redacted]");
    }
    let word_char =
        |c: char| !(c.is_whitespace() || matches!(c, '"' | '\'' | '(' | ')' | ',' | ';'));
    let mut scrubbed = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while !rest.is_empty() {
        let end = rest.find(|c: char| !word_char(c)).unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        if leaks(word, secrets) {
            scrubbed.push_str("[redacted]");
        } else {
            scrubbed.push_str(word);
        }
        let mut chars = after.chars();
        scrubbed.extend(chars.next());
        rest = chars.as_str();
    }
    scrubbed
}

/// The shortest shared run of characters that counts as a leak.
const FRAGMENT: usize = 4;

/// Whether `word` and a secret share a run of at least [`FRAGMENT`] characters.
fn leaks(word: &str, secrets: &[&SecretString]) -> bool {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < FRAGMENT || word == "[redacted]" {
        return false;
    }
    chars.windows(FRAGMENT).any(|window| {
        let window: String = window.iter().collect();
        secrets.iter().any(|s| s.expose().contains(&window))
    })
}

/// The text of a driver error: the server's message and detail, or the error chain.
pub(crate) fn describe(e: &tokio_postgres::Error, secrets: &[&SecretString]) -> String {
    let text = match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    };
    scrub(&text, secrets)
}

/// Whether the URL carries a password of its own (not the `{{password}}` template).
pub(crate) fn has_literal_password(config: &DbConfig) -> bool {
    let masked = mask_templates(&config.connection_url);
    masked
        .parse::<tokio_postgres::Config>()
        .is_ok_and(|c| c.get_password().is_some_and(|p| p != PASS_MARK.as_bytes()))
}

fn mask_templates(url: &str) -> String {
    url.replace("{{username}}", USER_MARK)
        .replace("{{name}}", USER_MARK)
        .replace("{{password}}", PASS_MARK)
}

/// The connection URL with any literal password replaced by `*****`, for reads.
pub(crate) fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let body_start = scheme_end + 3;
        let authority_end =
            url[body_start..].find(['/', '?']).map_or(url.len(), |e| body_start + e);
        let authority = &url[body_start..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                if &userinfo[colon + 1..] != "{{password}}" {
                    let start = body_start + colon + 1;
                    return format!("{}*****{}", &url[..start], &url[body_start + at..]);
                }
            }
        }
        return url.to_string();
    }
    // Key/value form: `password=secret` or `password='se cret'`.
    let Some(at) = url.find("password") else { return url.to_string() };
    let after = url[at + "password".len()..].trim_start();
    let Some(value) = after.strip_prefix('=') else { return url.to_string() };
    let value = value.trim_start();
    let value_start = url.len() - value.len();
    let value_len = if let Some(quoted) = value.strip_prefix('\'') {
        quoted.find('\'').map_or(value.len(), |e| e + 2)
    } else {
        value.find(char::is_whitespace).unwrap_or(value.len())
    };
    if &value[..value_len] == "{{password}}" {
        return url.to_string();
    }
    format!("{}*****{}", &url[..value_start], &url[value_start + value_len..])
}

/// The driver's configuration for a stored connection.
pub(crate) fn client_config(config: &DbConfig) -> Result<tokio_postgres::Config, DbError> {
    let secrets = [&config.password];
    let mut pg: tokio_postgres::Config = mask_templates(&config.connection_url)
        .parse()
        .map_err(|e: tokio_postgres::Error| DbError::Settings(describe(&e, &secrets)))?;
    match pg.get_user() {
        Some(USER_MARK) | None if !config.username.is_empty() => {
            pg.user(&config.username);
        }
        Some(USER_MARK) => {
            return Err(DbError::Settings("{{username}} is used but no username is set".into()));
        }
        _ => {}
    }
    match pg.get_password() {
        Some(p) if p == PASS_MARK.as_bytes() => {
            if config.password.is_empty() {
                return Err(DbError::Settings(
                    "{{password}} is used but no password is set".into(),
                ));
            }
            pg.password(config.password.expose());
        }
        None if !config.password.is_empty() => {
            pg.password(config.password.expose());
        }
        _ => {}
    }
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(CONNECT_TIMEOUT);
    }
    if pg.get_application_name().is_none() {
        pg.application_name("coffer");
    }
    Ok(pg)
}

/// Opens one connection; its I/O runs on a task of its own until the client is dropped.
async fn connect(
    pg: &tokio_postgres::Config,
    secrets: &[&SecretString],
) -> Result<Client, DbError> {
    let (client, connection) =
        pg.connect(NoTls).await.map_err(|e| DbError::Connect(describe(&e, secrets)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %describe(&e, &[]), "database connection closed");
        }
    });
    Ok(client)
}

/// Connects once and runs `SELECT 1` (config writes with `verify_connection`).
pub(crate) async fn verify(config: &DbConfig) -> Result<(), DbError> {
    let pg = client_config(config)?;
    let secrets = [&config.password];
    let client = connect(&pg, &secrets).await?;
    client.simple_query("SELECT 1").await.map_err(|e| DbError::Connect(describe(&e, &secrets)))?;
    Ok(())
}

/// A small pool for one stored connection: at most `max_open` clients at a time, idle ones
/// kept for reuse. Built from one version of the settings; a change builds a new pool.
pub(crate) struct Pool {
    pg: tokio_postgres::Config,
    password: SecretString,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<(Client, Instant)>>,
    max_idle: usize,
    lifetime: Option<Duration>,
}

impl Pool {
    fn new(config: &DbConfig) -> Result<Self, DbError> {
        let max_open = if config.max_open_connections > 0 {
            config.max_open_connections
        } else {
            DEFAULT_MAX_OPEN
        };
        let max_open = usize::try_from(max_open).unwrap_or(1);
        let max_idle = usize::try_from(config.max_idle_connections)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(max_open);
        Ok(Pool {
            pg: client_config(config)?,
            password: config.password.clone(),
            permits: Arc::new(Semaphore::new(max_open)),
            idle: Mutex::new(Vec::new()),
            max_idle,
            lifetime: u64::try_from(config.max_connection_lifetime)
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
        })
    }

    /// A client for exclusive use until the returned guard drops.
    pub(crate) async fn get(self: &Arc<Self>) -> Result<Conn, DbError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbError::Connect("connection pool closed".into()))?;
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let mut found = None;
            while let Some((client, born)) = idle.pop() {
                if !client.is_closed() && self.lifetime.is_none_or(|l| born.elapsed() < l) {
                    found = Some((client, born));
                    break;
                }
            }
            found
        };
        let (client, born) = match reused {
            Some(found) => found,
            None => (connect(&self.pg, &[&self.password]).await?, Instant::now()),
        };
        Ok(Conn { client: Some(client), born, pool: self.clone(), _permit: permit })
    }

    /// The root password, to scrub from error messages.
    pub(crate) fn password(&self) -> &SecretString {
        &self.password
    }
}

/// A pooled client; goes back to its pool when dropped (unless the connection broke).
pub(crate) struct Conn {
    client: Option<Client>,
    born: Instant,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    /// Scrubs a driver error of the root password and of `extra` secrets.
    pub(crate) fn error(&self, e: &tokio_postgres::Error, extra: &[&SecretString]) -> DbError {
        let mut secrets = vec![self.pool.password()];
        secrets.extend_from_slice(extra);
        DbError::Query(describe(e, &secrets))
    }
}

impl Conn {
    /// Runs `queries` in one transaction (simple-query protocol, so `DO` blocks work).
    pub(crate) async fn run_in_tx(
        &mut self,
        queries: &[String],
        secrets: &[&SecretString],
    ) -> Result<(), DbError> {
        let pool = self.pool.clone();
        let fail = |e: tokio_postgres::Error| {
            let mut all = vec![pool.password()];
            all.extend_from_slice(secrets);
            DbError::Query(describe(&e, &all))
        };
        let tx = self.transaction().await.map_err(fail)?;
        for query in queries {
            tx.batch_execute(query).await.map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }
}

impl Deref for Conn {
    type Target = Client;

    fn deref(&self) -> &Client {
        // The client is only taken out in `drop`.
        #[allow(clippy::expect_used)]
        self.client.as_ref().expect("pooled client present until drop")
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        #[allow(clippy::expect_used)]
        self.client.as_mut().expect("pooled client present until drop")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        if client.is_closed() {
            return;
        }
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.pool.max_idle {
            idle.push((client, self.born));
        }
    }
}

/// The pools of a mount, one per stored connection, keyed by name and rebuilt whenever the
/// stored settings change (compared by a digest of their serialized form).
#[derive(Default)]
pub(crate) struct Pools {
    pools: Mutex<HashMap<String, Versioned>>,
}

/// A pool and the digest of the settings it was built from.
struct Versioned {
    fingerprint: Vec<u8>,
    pool: Arc<Pool>,
}

impl Pools {
    /// The pool for `name` with the current `config`.
    pub(crate) fn get(&self, name: &str, config: &DbConfig) -> Result<Arc<Pool>, Error> {
        // The serialized settings hold the root password: wiped once hashed.
        let bytes = serde_json::to_vec(config).map_err(|e| Error::internal(e.to_string()))?;
        let bytes = zeroize::Zeroizing::new(bytes);
        let fingerprint = digest::digest(&digest::SHA256, &bytes).as_ref().to_vec();
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = pools.get(name).filter(|v| v.fingerprint == fingerprint) {
            return Ok(known.pool.clone());
        }
        let pool = Arc::new(Pool::new(config)?);
        pools.insert(name.to_string(), Versioned { fingerprint, pool: pool.clone() });
        Ok(pool)
    }

    /// Drops the pool of `name` (config deleted or reset); clients in use finish first.
    pub(crate) fn forget(&self, name: &str) {
        self.pools.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> DbConfig {
        DbConfig {
            connection_url: url.into(),
            username: "admin".into(),
            password: SecretString::new("p@ss word/'x"),
            ..DbConfig::default()
        }
    }

    #[test]
    fn templates_go_through_the_driver_api() {
        let pg = client_config(&config(
            "postgresql://{{username}}:{{password}}@db:5432/app?sslmode=disable",
        ))
        .ok();
        let pg = pg.as_ref();
        assert_eq!(pg.and_then(|c| c.get_user()), Some("admin"));
        assert_eq!(pg.and_then(|c| c.get_password()), Some("p@ss word/'x".as_bytes()));
        assert_eq!(pg.and_then(|c| c.get_dbname()), Some("app"));
        let kv =
            client_config(&config("host=db user={{username}} password={{password}} dbname=app"))
                .ok();
        assert_eq!(kv.as_ref().and_then(|c| c.get_password()), Some("p@ss word/'x".as_bytes()));
        let none = DbConfig { username: String::new(), ..config("postgres://{{username}}@db/app") };
        assert!(matches!(client_config(&none), Err(DbError::Settings(_))));
    }

    #[test]
    fn literal_passwords_are_detected_and_redacted() {
        assert!(!has_literal_password(&config("postgres://{{username}}:{{password}}@db/app")));
        assert!(has_literal_password(&config("postgres://u:hunter2@db/app")));
        assert!(has_literal_password(&config("host=db user=u password=hunter2")));
        assert_eq!(
            redact_url("postgres://u:hunter2@db:5432/app"),
            "postgres://u:*****@db:5432/app"
        );
        assert_eq!(
            redact_url("postgres://{{username}}:{{password}}@db/app"),
            "postgres://{{username}}:{{password}}@db/app"
        );
        assert_eq!(redact_url("postgres://u@db/app"), "postgres://u@db/app");
        assert_eq!(redact_url("host=db password='a b' user=u"), "host=db password=***** user=u");
        assert_eq!(redact_url("host=db password=hunter2 user=u"), "host=db password=***** user=u");
        assert_eq!(redact_url("host=db password={{password}}"), "host=db password={{password}}");
    }

    #[test]
    fn scrubs_secrets_and_verifiers() {
        let s = SecretString::new("A1a-secret");
        let msg = scrub(
            "syntax error at or near \"A1a-secret\" and 'SCRAM-SHA-256$4096:abc$def:ghi'",
            &[&s],
        );
        assert_eq!(msg, "syntax error at or near \"[redacted]\" and '[redacted]'");
        let partial = scrub("syntax error at or near \"secret\" in role v-a", &[&s]);
        assert_eq!(partial, "syntax error at or near \"[redacted]\" in role v-a");
    }
}
