//! The command line, declared once: help comes from these doc comments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for Vault-API servers (Coffer, OpenBao, Vault), and a side-by-side runner.
///
/// Every workload is set up through the API with the root token, then driven with a token
/// scoped by a policy to exactly what the workload needs (never root). Benchmarks are
/// programs: nothing here asserts a speed.
#[derive(Debug, Parser)]
#[command(name = "coffer-bench", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs workloads against one server.
    Run(RunArgs),
    /// Runs every workload for about a second; fails unless each supported one succeeds.
    Smoke(SmokeArgs),
    /// Starts Coffer and OpenBao, runs each workload on each alternately, prints ratios.
    Compare(CompareArgs),
    /// Scale probe: stores many leases in a durable Coffer, restarts it, measures
    /// restart-to-serving and memory, then renew and revoke throughput.
    Leases(LeasesArgs),
    /// The machine's issue ceiling: EC P-256 keygen+sign per second on one thread.
    Raw,
    /// Times a full CRL rebuild with many revoked, unexpired certificates.
    Crl(CrlArgs),
    /// Lists the workloads.
    Workloads,
}

/// The server under load.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Server address (plain HTTP), e.g. http://127.0.0.1:8200.
    #[arg(long, env = "VAULT_ADDR")]
    pub addr: String,
    /// Root token: used for setup only; the load runs with a scoped token.
    #[arg(long, env = "VAULT_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// How much load, and for how long.
#[derive(Debug, Clone, Args)]
pub struct Load {
    /// Workloads, comma separated (`coffer-bench workloads` lists them).
    #[arg(long, value_delimiter = ',')]
    pub workload: Vec<String>,
    /// Closed loop: concurrency levels, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Open loop instead: arrival rates in requests per second, comma separated. Latency is
    /// measured from each request's scheduled send time (no coordinated omission).
    #[arg(long, value_delimiter = ',', conflicts_with = "concurrency")]
    pub rate: Vec<u64>,
    /// Length of each measured run, e.g. `3s`, `500ms`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Length of each run in whole seconds (older spelling of --duration).
    #[arg(long, hide = true, conflicts_with = "duration")]
    pub seconds: Option<u64>,
    /// Unmeasured load before each run, e.g. `1s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub warmup: Option<Duration>,
    /// Stop a run after this many requests even if time remains.
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// Open loop: requests allowed in flight at once; beyond that a request is counted as an
    /// `overload` error rather than queued.
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: usize,
    /// A database for database-creds and the lease workloads, as a URL:
    /// `redis://user:password@127.0.0.1:6379` or `postgres://user:password@127.0.0.1:5432/db`.
    #[arg(long, env = "COFFER_BENCH_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the report as Markdown here (it is printed on stdout too).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// `coffer-bench run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// The load (defaults: kv2-read, concurrency 32, 10s, no warm-up).
    #[command(flatten)]
    pub load: Load,
    /// Label for the server in the report.
    #[arg(long, default_value = "server")]
    pub label: String,
}

/// `coffer-bench crl`.
#[derive(Debug, Clone, Args)]
pub struct CrlArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// How many certificates to issue and revoke first.
    #[arg(long, default_value_t = 100_000)]
    pub revoked: usize,
    /// Requests in flight while issuing and revoking.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// How many rebuilds to time.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
}

/// `coffer-bench smoke`.
#[derive(Debug, Clone, Args)]
pub struct SmokeArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// Length of each workload's run.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// How long to wait for the server to answer sys/health with 200.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub wait: Duration,
    /// A database URL, as for `run` (without one, the database workloads are skipped).
    #[arg(long, env = "COFFER_BENCH_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
}

/// Storage classes the comparison runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Storage {
    /// Both in dev mode, in memory.
    Dev,
    /// OpenBao on raft, Coffer on its embedded store, both in a temporary directory.
    Durable,
}

/// A database `compare` can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Database {
    /// A PostgreSQL cluster from `initdb` in a temporary directory, run as user `postgres`
    /// (Coffer's database engine speaks PostgreSQL).
    Postgres,
    /// A redis-server (OpenBao's redis-database-plugin; not in Coffer).
    Redis,
}

/// `coffer-bench compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The coffer binary (default: target/release/coffer in this workspace).
    #[arg(long)]
    pub coffer: Option<PathBuf>,
    /// The bao binary (default: what ../shared/tools/get-openbao prints).
    #[arg(long, env = "BAO")]
    pub bao: Option<PathBuf>,
    /// Storage classes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "dev,durable")]
    pub storage: Vec<Storage>,
    /// Do not pin the servers to CPU 0 and the load generator to CPU 1.
    #[arg(long)]
    pub no_pin: bool,
    /// Start a throwaway database for the database workloads (pinned beside the load
    /// generator, deleted at the end), unless --database is given.
    #[arg(long, value_enum)]
    pub start_database: Option<Database>,
    /// The load (defaults: every workload, concurrency 1,32, 5s, 1s warm-up).
    #[command(flatten)]
    pub load: Load,
}

/// `coffer-bench leases`.
///
/// Starts Coffer on its embedded store in a temporary directory (init and unseal through the
/// API), creates leases through the real API with the database engine (against PostgreSQL,
/// with statements that are cheap no-ops: the leases are real, the users they would create are
/// not), stops the server with SIGTERM, starts it again, and measures spawn to serving (unsealed
/// and answering an authenticated lease lookup), idle and peak RSS, then renew and revoke
/// throughput. Nothing is asserted about speed.
#[derive(Debug, Clone, Args)]
pub struct LeasesArgs {
    /// The coffer binary (default: target/release/coffer in this workspace).
    #[arg(long)]
    pub coffer: Option<PathBuf>,
    /// Leases stored before the restart.
    #[arg(long, default_value_t = 1_000_000)]
    pub leases: u64,
    /// Requests in flight while creating leases, and in the renew and revoke runs.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Length of the renew run and of the revoke run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// PostgreSQL for the database engine: `postgres://user:password@127.0.0.1:5432/db`.
    #[arg(long, env = "COFFER_BENCH_DATABASE", hide_env_values = true)]
    pub database: String,
    /// Keep the store in this directory (created if needed). When it already holds a store
    /// made by an earlier run, the leases are not created again: the run starts at the restart.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the report as Markdown here (it is printed on stdout too).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}
