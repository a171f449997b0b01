//! `coffer-bench leases`: the lease scale probe (issue 6).
//!
//! 1. Starts Coffer on its embedded store (a temporary directory, or `--dir`), initialises and
//!    unseals it through the API, mounts the database engine against PostgreSQL with a role
//!    whose statements are cheap no-ops (`SELECT 1`): every lease is a real lease of a real
//!    engine, persisted before its response leaves, but no PostgreSQL user is created.
//! 2. Creates `--leases` leases through `GET <mount>/creds/<role>` at `--concurrency`, sampling
//!    the server's RSS as they accumulate.
//! 3. Stops the server with SIGTERM and starts it again: restart-to-serving is spawn to unsealed
//!    (our `sys/unseal`) and answering an authenticated `sys/leases/lookup` of a stored lease.
//! 4. Idle RSS after restart, then renew and revoke throughput (distinct leases, closed loop at
//!    `--concurrency`), then peak RSS (VmHWM of the restarted process).
//!
//! Every process listens on 127.0.0.1 only and is killed if its handle drops early; the
//! temporary directory goes at the end. Nothing here asserts a speed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::process::Child;

use crate::args::LeasesArgs;
use crate::client::{Api, Call, Reply};
use crate::compare::{free_port, init, memory_kib, spawn, unseal};
use crate::report::{Report, Scale, ServerStats};
use crate::runner::Mode;
use crate::workloads::database::plugin_config;
use crate::workloads::{Prepared, Scope, mount};
use crate::{Progress, Settings, measure, workspace};

/// Where the probe mounts the database engine.
const MOUNT: &str = "bench-leases";
/// The probe's state in a `--dir` (unseal key, tokens), to start again from a stored run.
const STATE: &str = "bench-state.json";
/// The lease ids of a `--dir`, one per line.
const IDS: &str = "lease-ids.txt";
/// Lease terms: nothing expires during a run, nor between runs reusing a `--dir` within two
/// days (expiries would turn the restart into a revocation storm and measure that instead).
const TTL: &str = "720h";
const MAX_TTL: &str = "768h";
const RENEW_INCREMENT: &str = "720h";
/// How long a server may take to answer, and to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Creation stops when this many requests failed.
const MAX_CREATE_ERRORS: u64 = 1000;
/// RSS samples taken while creating.
const RSS_SAMPLES: u64 = 10;
/// Leases looked up after the restart to check they are all still stored.
const VERIFY_SAMPLE: usize = 1000;

/// What a `--dir` remembers between runs. The directory is the benchmark's own; the unseal
/// key and tokens kept here open nothing else.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    unseal_key: String,
    root_token: String,
    /// The token the leases belong to (policy-scoped, long-lived).
    token: String,
}

/// A running Coffer; killed if dropped before [`Coffer::stop`].
struct Coffer {
    child: Child,
    pid: u32,
    started: Instant,
    api: Api,
    log: PathBuf,
}

impl Drop for Coffer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Coffer {
    /// Spawns the server on `dir`'s store with a fresh port; returns once it is spawned.
    fn spawn(binary: &Path, dir: &Path, log_name: &str) -> Result<Coffer> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let config = dir.join("server.hcl");
        let hcl = format!(
            "storage \"embedded\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address = \"{addr}\"\n  tls_disable = true\n}}\napi_addr = \"http://{addr}\"\n",
            dir.join("data").display()
        );
        std::fs::write(&config, hcl)?;
        let log = dir.join(log_name);
        let args = vec!["server".to_string(), "--config".into(), config.display().to_string()];
        let started = Instant::now();
        let child = spawn(binary, &args, None, &log)?;
        let pid = child.id().context("the server exited at once")?;
        let api = Api::new(&format!("http://{addr}"), None)?;
        Ok(Coffer { child, pid, started, api, log })
    }

    /// Waits for the first HTTP answer; returns the time since spawn.
    async fn listening(&mut self) -> Result<Duration> {
        loop {
            if self.started.elapsed() > START_TIMEOUT {
                bail!("not answering after {START_TIMEOUT:?}{}", self.log_tail());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("the server exited with {status}{}", self.log_tail());
            }
            if self.api.get("sys/seal-status").await.is_ok() {
                return Ok(self.started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// SIGTERM, then waits for the exit (killed after [`STOP_TIMEOUT`]); returns how long it took.
    async fn stop(mut self) -> Result<Duration> {
        let asked = Instant::now();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        if !sent.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(asked.elapsed())
            }
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM (killed)")
            }
        }
    }

    fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!("; the log ends:\n{}", lines[lines.len().saturating_sub(15)..].join("\n"))
    }
}

/// Mounts the engine, its connection and role, and a token scoped to the probe's requests.
async fn set_up(root: &Api, database: &str) -> Result<String> {
    let (mut config, _) = plugin_config(database)?;
    if !database.starts_with("postgres") {
        bail!("the lease probe needs PostgreSQL (--database postgres://...)");
    }
    config["max_open_connections"] = json!(32);
    mount(root, MOUNT, json!({ "type": "database" })).await?;
    root.put(&format!("{MOUNT}/config/bench"), &config)
        .await?
        .ok("configuring the database connection")?;
    let noop = json!(["SELECT 1"]);
    let role = json!({
        "db_name": "bench",
        "creation_statements": noop,
        "revocation_statements": noop,
        "renew_statements": noop,
        "default_ttl": TTL,
        "max_ttl": MAX_TTL,
    });
    root.put(&format!("{MOUNT}/roles/bench"), &role).await?.ok("writing the database role")?;
    let policy = format!(
        r#"
path "{MOUNT}/creds/bench" {{ capabilities = ["read"] }}
path "sys/leases/lookup" {{ capabilities = ["update"] }}
path "sys/leases/renew" {{ capabilities = ["update"] }}
path "sys/leases/revoke" {{ capabilities = ["update"] }}
"#
    );
    root.put("sys/policies/acl/bench-leases", &json!({ "policy": policy }))
        .await?
        .ok("writing the policy")?;
    let created = root
        .put(
            "auth/token/create",
            &json!({ "policies": ["bench-leases"], "no_default_policy": true, "ttl": MAX_TTL }),
        )
        .await?
        .ok("creating the probe's token")?;
    Reply::field(&created, "auth", "client_token")
}

/// What creating the leases measured.
struct Created {
    ids: Vec<String>,
    elapsed: Duration,
    errors: std::collections::BTreeMap<String, u64>,
    rss: Vec<(u64, u64)>,
}

/// Creates `n` leases at `concurrency`, sampling the server's RSS every tenth of the way.
async fn create(api: &Api, n: u64, concurrency: usize, pid: u32, progress: &Progress) -> Created {
    let bar = progress.multi.add(ProgressBar::new(n));
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>8} [{bar:30}] {pos}/{len} leases, {per_sec}, eta {eta} {wide_msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix("create");
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let call = Call::new(Method::GET, format!("{MOUNT}/creds/bench"));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (api, next, failed, bar, call) =
            (api.clone(), next.clone(), failed.clone(), bar.clone(), call.clone());
        workers.spawn(async move {
            let mut ids = Vec::new();
            let mut errors = std::collections::BTreeMap::<String, u64>::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                if failed.load(Ordering::Relaxed) >= MAX_CREATE_ERRORS {
                    break;
                }
                let lease = match api.call(&call).await {
                    Ok(reply) if reply.status.is_success() => reply
                        .body
                        .get("lease_id")
                        .and_then(Value::as_str)
                        .filter(|id| !id.is_empty())
                        .map(String::from)
                        .ok_or_else(|| "no lease_id".to_string()),
                    Ok(reply) => Err(format!("status {}", reply.status.as_u16())),
                    Err(_) => Err("transport".to_string()),
                };
                match lease {
                    Ok(id) => {
                        ids.push(id);
                        bar.inc(1);
                    }
                    Err(kind) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        *errors.entry(kind).or_default() += 1;
                    }
                }
            }
            (ids, errors)
        });
    }
    // Sample the server's RSS as leases accumulate.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (bar, done) = (bar.clone(), done.clone());
        tokio::spawn(async move {
            let step = (n / RSS_SAMPLES).max(1);
            let mut rss = vec![(0, memory_kib(pid).0)];
            let mut mark = step;
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if bar.position() >= mark {
                    rss.push((bar.position(), memory_kib(pid).0));
                    mark += step;
                }
            }
            rss
        })
    };
    let mut ids = Vec::with_capacity(n as usize);
    let mut errors = std::collections::BTreeMap::new();
    while let Some(done) = workers.join_next().await {
        if let Ok((part, errs)) = done {
            ids.extend(part);
            for (kind, count) in errs {
                *errors.entry(kind).or_default() += count;
            }
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let mut rss = sampler.await.unwrap_or_default();
    if rss.last().is_none_or(|(at, _)| *at < ids.len() as u64) {
        rss.push((ids.len() as u64, memory_kib(pid).0));
    }
    bar.finish_and_clear();
    Created { ids, elapsed, errors, rss }
}

/// Unseals a restarted server and waits until the token reads a stored lease; returns the
/// times since spawn: (unsealed, serving).
async fn serve(
    server: &Coffer,
    key: &str,
    token: &Api,
    lease: &str,
) -> Result<(Duration, Duration)> {
    unseal(&server.api, key).await?;
    let unsealed = server.started.elapsed();
    let lookup = Call::json(Method::PUT, "sys/leases/lookup", &json!({ "lease_id": lease }));
    loop {
        let reply = token.call(&lookup).await?;
        if reply.status.is_success() {
            return Ok((unsealed, server.started.elapsed()));
        }
        if server.started.elapsed() > START_TIMEOUT {
            reply.ok("sys/leases/lookup after the restart")?;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Looks up `sample` leases spread evenly over `ids` after the restart; returns how many
/// the server still holds. Every lease was acknowledged, so all of them must be there.
async fn verify(token: &Api, ids: &[String], sample: usize, concurrency: usize) -> u64 {
    let step = (ids.len() / sample.max(1)).max(1);
    let picked: Vec<String> = ids.iter().step_by(step).take(sample).cloned().collect();
    let picked = Arc::new(picked);
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (token, picked, next) = (token.clone(), picked.clone(), next.clone());
        workers.spawn(async move {
            let mut found = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(id) = picked.get(i) else { return found };
                let call = Call::json(Method::PUT, "sys/leases/lookup", &json!({ "lease_id": id }));
                if token.send(&call).await.is_ok_and(|s| s.is_success()) {
                    found += 1;
                }
            }
        });
    }
    let mut found = 0;
    while let Some(done) = workers.join_next().await {
        found += done.unwrap_or(0);
    }
    found
}

/// Bytes under `path`, recursively.
fn disk_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn read_ids(dir: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(IDS)).unwrap_or_default();
    Ok(text.lines().filter(|l| !l.is_empty()).map(String::from).collect())
}

fn write_ids(dir: &Path, ids: &[String]) -> Result<()> {
    let mut text = String::with_capacity(ids.len() * 48);
    for id in ids {
        text.push_str(id);
        text.push('\n');
    }
    std::fs::write(dir.join(IDS), text).context("writing the lease ids")
}

fn write_state(dir: &Path, state: &State) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(dir.join(STATE))?;
    file.write_all(&serde_json::to_vec_pretty(state)?)?;
    Ok(())
}

/// `coffer-bench leases`.
pub async fn run(args: LeasesArgs) -> Result<()> {
    let binary = args.coffer.clone().unwrap_or_else(|| workspace().join("target/release/coffer"));
    if !binary.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p coffer) or pass --coffer",
            binary.display()
        );
    }
    // Declared before the servers, so it is deleted after they are gone.
    let temp = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            None
        }
        None => Some(tempfile::Builder::new().prefix("coffer-bench-leases-").tempdir()?),
    };
    let dir: PathBuf = match (&temp, &args.dir) {
        (Some(t), _) => t.path().to_path_buf(),
        (None, Some(d)) => d.clone(),
        (None, None) => bail!("no directory for the store"),
    };
    let concurrency = args.concurrency.max(1);
    let progress = Progress::new(2);
    let mut report = Report::default();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    report.meta.insert("date".into(), now.to_string());
    report.meta.insert(
        "storage".into(),
        "embedded (SQLite, WAL, synchronous=FULL), one server process, not pinned".into(),
    );
    report.meta.insert(
        "leases".into(),
        format!(
            "database engine on PostgreSQL, statements `SELECT 1` (real leases, no PostgreSQL users); ttl {TTL}, max {MAX_TTL}"
        ),
    );

    // 1. First server: set up (or reopen a stored run), then create the leases.
    let reused = dir.join(STATE).exists();
    let mut first = Coffer::spawn(&binary, &dir, "server-1.log")?;
    first.listening().await?;
    let state = if reused {
        let state: State = serde_json::from_slice(&std::fs::read(dir.join(STATE))?)
            .context("reading the state of the earlier run")?;
        unseal(&first.api, &state.unseal_key).await?;
        state
    } else {
        let (unseal_key, root_token) = init(&first.api).await?;
        unseal(&first.api, &unseal_key).await?;
        let root = first.api.with_token(Some(&root_token))?;
        let token = set_up(&root, &args.database).await?;
        let state = State { unseal_key, root_token, token };
        if args.dir.is_some() {
            write_state(&dir, &state)?;
        }
        state
    };
    let token = first.api.with_token(Some(&state.token))?;
    let mut ids = if reused { read_ids(&dir)? } else { Vec::new() };
    let wanted = args.leases.saturating_sub(ids.len() as u64);
    let mut scale = Scale { reused_store: reused, ..Scale::default() };
    if wanted > 0 {
        progress.say(&format!(
            "creating {wanted} leases at concurrency {concurrency} (store in {})",
            dir.display()
        ));
        let created = create(&token, wanted, concurrency, first.pid, &progress).await;
        progress.say(&format!(
            "created {} leases in {:.1} s, errors {:?}",
            created.ids.len(),
            created.elapsed.as_secs_f64(),
            created.errors
        ));
        scale.created = created.ids.len() as u64;
        scale.create_seconds = created.elapsed.as_secs_f64();
        scale.create_per_second = created.ids.len() as f64 / scale.create_seconds.max(1e-9);
        scale.create_errors = created.errors;
        scale.rss_while_creating_kib = created.rss;
        ids.extend(created.ids);
        if args.dir.is_some() {
            write_ids(&dir, &ids)?;
        }
    }
    if ids.is_empty() {
        bail!("no lease was created");
    }
    scale.leases_stored = ids.len() as u64;
    let (rss, hwm) = first.memory_kib();
    scale.first_rss_kib = rss;
    scale.first_peak_rss_kib = hwm;

    // 2. Stop, look at the store, start again.
    scale.shutdown_ms = first.stop().await?.as_secs_f64() * 1000.0;
    scale.store_bytes = disk_bytes(&dir.join("data"));
    progress.say(&format!(
        "stopped after {:.0} ms; the store holds {:.0} MiB; restarting",
        scale.shutdown_ms,
        scale.store_bytes as f64 / 1024.0 / 1024.0
    ));
    let mut second = Coffer::spawn(&binary, &dir, "server-2.log")?;
    let listening = second.listening().await?;
    let token = second.api.with_token(Some(&state.token))?;
    let (unsealed, serving) = serve(&second, &state.unseal_key, &token, &ids[0]).await?;
    progress.say(&format!(
        "restart: listening {:.0} ms, unsealed {:.0} ms, serving {:.0} ms",
        listening.as_secs_f64() * 1000.0,
        unsealed.as_secs_f64() * 1000.0,
        serving.as_secs_f64() * 1000.0
    ));
    // The expiry task's first ticks run in here.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = second.memory_kib().0;
    let sample = ids.len().min(VERIFY_SAMPLE);
    scale.verified_after_restart = (verify(&token, &ids, sample, concurrency).await, sample as u64);
    progress.say(&format!(
        "after the restart {} of {} sampled leases are stored",
        scale.verified_after_restart.0, scale.verified_after_restart.1
    ));

    // 3. Renew the first half (distinct leases), revoke from the end.
    let half = ids.len().div_ceil(2);
    let settings = Settings {
        workloads: vec!["lease-renew".into(), "lease-revoke".into()],
        modes: vec![Mode::Closed(concurrency)],
        duration: args.duration,
        warmup: Duration::ZERO,
        max_requests: None,
        database: None,
    };
    settings.describe(&mut report);
    let renew_ids: Arc<Vec<String>> = Arc::new(ids[..half].to_vec());
    let renew = Prepared::new(token.clone(), Scope::Policy, move |i| {
        let id = renew_ids.get(i as usize % renew_ids.len().max(1)).cloned().unwrap_or_default();
        Call::json(
            Method::PUT,
            "sys/leases/renew",
            &json!({ "lease_id": id, "increment": RENEW_INCREMENT }),
        )
    });
    let mode = Mode::Closed(concurrency);
    let labels = ("coffer", "durable", "lease-renew");
    report.rows.push(measure(Arc::new(renew), labels, mode, &settings, &progress).await);
    let revoke_ids: Arc<Vec<String>> = Arc::new(ids[half..].iter().rev().cloned().collect());
    let revocable = revoke_ids.len() as u64;
    let mut revoke = Prepared::new(token.clone(), Scope::Policy, move |i| {
        let id = revoke_ids.get(i as usize).cloned().unwrap_or_default();
        Call::json(Method::PUT, "sys/leases/revoke", &json!({ "lease_id": id }))
    });
    revoke.limit = Some(revocable);
    let revoke = Arc::new(revoke);
    let labels = ("coffer", "durable", "lease-revoke");
    report.rows.push(measure(revoke.clone(), labels, mode, &settings, &progress).await);
    let sent = revoke.cursor.load(Ordering::Relaxed).min(revocable) as usize;
    ids.truncate(ids.len() - sent);
    let version = match second.api.get("sys/health").await {
        Ok(health) => health.body.get("version").and_then(Value::as_str).unwrap_or("?").into(),
        Err(_) => "?".to_string(),
    };
    let (end_rss, peak) = second.memory_kib();
    scale.end_rss_kib = end_rss;
    report.servers.push(ServerStats {
        server: "coffer".into(),
        storage: format!("durable, {} leases", scale.leases_stored),
        version,
        listening_ms: listening.as_secs_f64() * 1000.0,
        unsealed_ms: Some(unsealed.as_secs_f64() * 1000.0),
        serving_ms: serving.as_secs_f64() * 1000.0,
        idle_rss_kib: idle,
        peak_rss_kib: peak,
        binary_bytes: std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0),
    });
    second.stop().await?;
    if args.dir.is_some() {
        write_ids(&dir, &ids)?;
    }
    progress.overall.finish_and_clear();
    let (found, sampled) = scale.verified_after_restart;
    report.scale = Some(scale);
    crate::emit_to(&report, args.json.as_deref(), args.markdown.as_deref())?;
    if found < sampled {
        bail!("only {found} of {sampled} acknowledged leases were found after the restart");
    }
    Ok(())
}
