//! Side by side: starts Coffer and OpenBao in the same storage class (both in memory, then
//! both durable), each pinned to CPU 0 with `taskset` while the load generator runs on CPU 1,
//! runs every workload on each server in turn, and reports ratios, start-to-serving times,
//! RSS (idle and peak) and binary sizes. Every process started here listens on 127.0.0.1
//! only and is killed when its handle drops (at the end, on error, and on Ctrl-C).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::args::{CompareArgs, Storage};
use crate::client::Api;
use crate::report::{Report, ServerStats};
use crate::workloads::ALL;
use crate::{Progress, Settings, measure, prepare, throwaway, workspace};

/// How long a server may take to serve.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Coffer,
    OpenBao,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Coffer => "coffer",
            Kind::OpenBao => "openbao",
        }
    }
}

/// A running server; the process is killed when this drops.
struct Server {
    kind: Kind,
    child: Child,
    pid: u32,
    root: Api,
    listening: Duration,
    unsealed: Option<Duration>,
    serving: Duration,
    version: String,
    dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// `(VmRSS, VmHWM)` of process `pid` in KiB (zeros once it is gone).
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

impl Server {
    /// `(VmRSS, VmHWM)` in KiB.
    fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `program args`, under `taskset -c <cpu>` when pinning; output to `log`.
pub fn spawn(program: &Path, args: &[String], cpu: Option<u32>, log: &Path) -> Result<Child> {
    let mut command = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    };
    let out = std::fs::File::create(log)?;
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))
}

/// Starts one server and waits until it serves (durable: after init and unseal through the API).
async fn start(kind: Kind, storage: Storage, binary: &Path, pin: bool) -> Result<Server> {
    let dir = tempfile::Builder::new().prefix("coffer-bench-").tempdir()?;
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let config = dir.path().join("server.hcl");
    let listener = format!(
        "listener \"tcp\" {{\n  address = \"{addr}\"\n  tls_disable = true\n}}\napi_addr = \"http://{addr}\"\n"
    );
    let args: Vec<String> = match (kind, storage) {
        (Kind::Coffer, Storage::Dev) => {
            ["server", "--dev", "--dev-listen-address", &addr, "--dev-root-token-id", "bench-root"]
                .map(String::from)
                .to_vec()
        }
        (Kind::OpenBao, Storage::Dev) => vec![
            "server".into(),
            "-dev".into(),
            "-dev-root-token-id=bench-root".into(),
            format!("-dev-listen-address={addr}"),
        ],
        (Kind::Coffer, Storage::Durable) => {
            let hcl =
                format!("storage \"embedded\" {{\n  path = \"{}\"\n}}\n{listener}", data.display());
            std::fs::write(&config, hcl)?;
            vec!["server".into(), "--config".into(), config.display().to_string()]
        }
        (Kind::OpenBao, Storage::Durable) => {
            let cluster = free_port()?;
            let hcl = format!(
                "storage \"raft\" {{\n  path = \"{}\"\n  node_id = \"n1\"\n}}\n{listener}cluster_addr = \"http://127.0.0.1:{cluster}\"\ndisable_mlock = true\nui = false\n",
                data.display()
            );
            std::fs::write(&config, hcl)?;
            vec!["server".into(), format!("-config={}", config.display())]
        }
    };
    let started = Instant::now();
    let child = spawn(binary, &args, pin.then_some(0), &dir.path().join("server.log"))?;
    let pid = child.id().context("the server exited at once")?;
    let root = Api::new(&format!("http://{addr}"), Some("bench-root"))?;
    let mut server = Server {
        kind,
        child,
        pid,
        root,
        listening: Duration::ZERO,
        unsealed: None,
        serving: Duration::ZERO,
        version: String::new(),
        dir,
    };
    match wait_serving(&mut server, storage, started).await {
        Ok(()) => Ok(server),
        Err(e) => Err(e.context(format!(
            "{} ({storage:?}) did not start; its log ends:\n{}",
            kind.label(),
            server.log_tail()
        ))),
    }
}

async fn wait_serving(server: &mut Server, storage: Storage, started: Instant) -> Result<()> {
    let deadline = started + START_TIMEOUT;
    let mut initialised = storage == Storage::Dev;
    loop {
        if Instant::now() > deadline {
            bail!("not serving after {START_TIMEOUT:?}");
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            bail!("exited with {status}");
        }
        let Ok(health) = server.root.get("sys/health").await else {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        };
        if server.listening.is_zero() {
            server.listening = started.elapsed();
        }
        if health.status.as_u16() == 200 {
            server.serving = started.elapsed();
            server.version =
                health.body.get("version").and_then(Value::as_str).unwrap_or("?").to_string();
            return Ok(());
        }
        if !initialised {
            let token = init_and_unseal(&server.root).await?;
            server.root = server.root.with_token(Some(&token))?;
            server.unsealed = Some(started.elapsed());
            initialised = true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `sys/init` with one key share, then `sys/unseal`; returns the root token.
async fn init_and_unseal(api: &Api) -> Result<String> {
    let (key, token) = init(api).await?;
    unseal(api, &key).await?;
    Ok(token)
}

/// `sys/init` with one key share; returns the unseal key and the root token.
pub async fn init(api: &Api) -> Result<(String, String)> {
    let init = api
        .put("sys/init", &json!({ "secret_shares": 1, "secret_threshold": 1 }))
        .await?
        .ok("sys/init")?;
    let key = ["keys_base64", "keys"]
        .iter()
        .find_map(|k| init.get(k).and_then(|v| v.get(0)).and_then(Value::as_str))
        .context("sys/init returned no key")?
        .to_string();
    let token = init
        .get("root_token")
        .and_then(Value::as_str)
        .context("sys/init returned no root token")?
        .to_string();
    Ok((key, token))
}

/// `sys/unseal` with the one key share; fails unless the answer says unsealed.
pub async fn unseal(api: &Api, key: &str) -> Result<()> {
    let unsealed = api.put("sys/unseal", &json!({ "key": key })).await?.ok("sys/unseal")?;
    if unsealed.get("sealed").and_then(Value::as_bool) != Some(false) {
        bail!("still sealed after sys/unseal: {unsealed}");
    }
    Ok(())
}

/// The `bao` binary: what `../shared/tools/get-openbao` prints.
fn find_bao() -> Result<PathBuf> {
    let tool = workspace().join("../shared/tools/get-openbao");
    let out = std::process::Command::new("bash")
        .arg(&tool)
        .arg(workspace().join(".openbao"))
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", tool.display()))?;
    if !out.status.success() {
        bail!("{} failed", tool.display());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn storage_label(s: Storage) -> &'static str {
    match s {
        Storage::Dev => "dev",
        Storage::Durable => "durable",
    }
}

/// `coffer-bench compare`.
pub async fn run(args: CompareArgs, pinned: bool) -> Result<()> {
    let all: Vec<&str> = ALL.iter().map(|(n, _)| *n).collect();
    let mut settings =
        Settings::new(&args.load, &all, &[1, 32], Duration::from_secs(5), Duration::from_secs(1));
    let coffer = args.coffer.clone().unwrap_or_else(|| workspace().join("target/release/coffer"));
    if !coffer.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p coffer) or pass --coffer",
            coffer.display()
        );
    }
    let bao = match &args.bao {
        Some(b) => b.clone(),
        None => find_bao()?,
    };
    let pin = !args.no_pin;
    let database = match (&settings.database, args.start_database) {
        (None, Some(kind)) => {
            let db = throwaway::start(kind, pin.then_some(1)).await?;
            settings.database = Some(db.url.clone());
            Some(db)
        }
        _ => None,
    };
    let mut report = Report::default();
    report.meta.insert(
        "pinning".into(),
        match (pin, pinned) {
            (true, true) => {
                "each server on CPU 0 (taskset -c 0), the load generator on CPU 1 (taskset -c 1)"
                    .into()
            }
            (true, false) => {
                "each server on CPU 0; the load generator NOT pinned (one CPU, or no taskset)"
                    .into()
            }
            (false, _) => "none (--no-pin)".into(),
        },
    );
    report.meta.insert("order".into(), "per workload and load level, the two servers alternately (which one goes first alternates too)".into());
    if let Some(db) = &database {
        report.meta.insert("database".into(), db.describe());
    }
    settings.describe(&mut report);
    let runs = settings.workloads.len() * settings.modes.len() * 2 * args.storage.len();
    let progress = Progress::new(runs as u64);
    for &storage in &args.storage {
        let label = storage_label(storage);
        progress.say(&format!("starting coffer and openbao ({label})"));
        let servers = [
            start(Kind::Coffer, storage, &coffer, pin).await?,
            start(Kind::OpenBao, storage, &bao, pin).await?,
        ];
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle: Vec<u64> = servers.iter().map(|s| s.memory_kib().0).collect();
        let mut turn = 0usize;
        for workload in &settings.workloads {
            let mut prepared = Vec::new();
            for s in &servers {
                prepared.push(
                    prepare(
                        &s.root,
                        s.kind.label(),
                        label,
                        workload,
                        &settings,
                        &mut report,
                        &progress,
                    )
                    .await,
                );
            }
            for &mode in &settings.modes {
                let order = if turn % 2 == 0 { [0, 1] } else { [1, 0] };
                turn += 1;
                for i in order {
                    let Some(p) = prepared[i].clone() else {
                        progress.overall.inc(1);
                        continue;
                    };
                    let row = measure(
                        p,
                        (servers[i].kind.label(), label, workload),
                        mode,
                        &settings,
                        &progress,
                    )
                    .await;
                    report.rows.push(row);
                }
            }
        }
        for (s, idle) in servers.iter().zip(idle) {
            let binary = if s.kind == Kind::Coffer { &coffer } else { &bao };
            report.servers.push(ServerStats {
                server: s.kind.label().into(),
                storage: label.into(),
                version: s.version.clone(),
                listening_ms: s.listening.as_secs_f64() * 1000.0,
                unsealed_ms: s.unsealed.map(|d| d.as_secs_f64() * 1000.0),
                serving_ms: s.serving.as_secs_f64() * 1000.0,
                idle_rss_kib: idle,
                peak_rss_kib: s.memory_kib().1,
                binary_bytes: std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0),
            });
        }
        for mut s in servers {
            // Kill and reap before the temporary directory goes.
            let _ = s.child.kill().await;
        }
    }
    drop(database);
    progress.overall.finish_and_clear();
    progress.say("measuring the raw EC P-256 keygen+sign rate (3 s)");
    report.raw_ec_keygen_sign_per_second = Some(
        tokio::task::spawn_blocking(|| {
            crate::raw::ec_p256_keygen_and_sign_per_second(Duration::from_secs(3))
        })
        .await?,
    );
    crate::emit(&report, Some(&args.load))
}
