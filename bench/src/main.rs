//! `coffer-bench`: a load generator for Vault-API servers (Coffer, OpenBao, Vault), and a
//! side-by-side runner that starts Coffer and OpenBao and reports Coffer/OpenBao ratios.
//! Benchmarks are programs, never timed tests.
#![forbid(unsafe_code)]

mod args;
mod client;
mod compare;
mod crl;
mod raw;
mod report;
mod runner;
mod scale;
mod throwaway;
mod workloads;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use args::{Cli, Command, Load, SmokeArgs};
use client::Api;
use report::{Report, Row, Unsupported};
use runner::{Mode, Plan};
use workloads::{Env, Prepared};

/// What `run` and `compare` resolved from `Load` and their own defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Workload names.
    pub workloads: Vec<String>,
    /// Load levels.
    pub modes: Vec<Mode>,
    /// Measured length of each run.
    pub duration: Duration,
    /// Unmeasured load before each run.
    pub warmup: Duration,
    /// Request bound per run.
    pub max_requests: Option<u64>,
    /// `--database`.
    pub database: Option<String>,
}

impl Settings {
    fn new(
        load: &Load,
        workloads: &[&str],
        concurrency: &[usize],
        duration: Duration,
        warmup: Duration,
    ) -> Self {
        let max_in_flight = load.max_in_flight.clamp(1, 1_000_000);
        let modes = if !load.rate.is_empty() {
            load.rate.iter().map(|&rate| Mode::Open { rate: rate.max(1), max_in_flight }).collect()
        } else if !load.concurrency.is_empty() {
            load.concurrency.iter().map(|&c| Mode::Closed(c.max(1))).collect()
        } else {
            concurrency.iter().map(|&c| Mode::Closed(c)).collect()
        };
        Settings {
            workloads: if load.workload.is_empty() {
                workloads.iter().map(|w| w.to_string()).collect()
            } else {
                load.workload.clone()
            },
            modes,
            duration: load.duration.or(load.seconds.map(Duration::from_secs)).unwrap_or(duration),
            warmup: load.warmup.unwrap_or(warmup),
            max_requests: load.max_requests,
            database: load.database.clone(),
        }
    }

    fn describe(&self, report: &mut Report) {
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        report.meta.insert("date".into(), now.to_string());
        let mode = match self.modes.first() {
            Some(Mode::Open { max_in_flight, .. }) => {
                format!(
                    "open loop (latency from the scheduled send time, at most {max_in_flight} in flight)"
                )
            }
            _ => "closed loop".into(),
        };
        report.meta.insert("load".into(), mode);
        report.meta.insert(
            "each run".into(),
            format!(
                "{} measured after {} warm-up{}",
                humantime::format_duration(self.duration),
                humantime::format_duration(self.warmup),
                self.max_requests.map(|n| format!(", at most {n} requests")).unwrap_or_default()
            ),
        );
    }
}

/// The progress display: one line for the whole invocation, one for the current run.
pub struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
}

impl Progress {
    fn new(total_runs: u64) -> Progress {
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(total_runs));
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} runs, {elapsed}")
        {
            overall.set_style(style.progress_chars("=> "));
        }
        overall.set_prefix("total");
        Progress { multi, overall }
    }

    /// Prints a line above the bars (or plainly when stderr is not a terminal).
    pub fn say(&self, line: &str) {
        self.multi.suspend(|| eprintln!("{line}"));
    }

    fn run_bar(&self, label: &str, length: Duration) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(length.as_millis() as u64));
        if let Ok(style) = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {msg} {wide_msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix("run");
        bar.set_message(label.to_string());
        bar
    }
}

/// Sets `workload` up on `root`'s server, or records it as unsupported there.
pub async fn prepare(
    root: &Api,
    server: &str,
    storage: &str,
    workload: &str,
    settings: &Settings,
    report: &mut Report,
    progress: &Progress,
) -> Option<Arc<Prepared>> {
    let env =
        Env { root, database: settings.database.as_deref(), max_requests: settings.max_requests };
    match workloads::prepare(workload, &env).await {
        Ok(p) => {
            if let Some(note) = p.scope.note() {
                progress.say(&format!("{server}: {workload}: scoped: false: {note}"));
            }
            Some(Arc::new(p))
        }
        Err(e) => {
            let reason = format!("unsupported: {e:#}");
            progress.say(&format!("{server} ({storage}): {workload}: {reason} (skipped)"));
            report.unsupported.push(Unsupported {
                server: server.into(),
                storage: storage.into(),
                workload: workload.into(),
                reason,
            });
            None
        }
    }
}

/// How long a run with background load waits, after stopping it, for its requests in flight.
const BACKGROUND_SETTLE: Duration = Duration::from_secs(1);

/// Warms up, then measures one run and returns its row.
pub async fn measure(
    prepared: Arc<Prepared>,
    (server, storage, workload): (&str, &str, &str),
    mode: Mode,
    settings: &Settings,
    progress: &Progress,
) -> Row {
    let level = match mode {
        Mode::Closed(c) => format!("concurrency {c}"),
        Mode::Open { rate, .. } => format!("{rate} req/s"),
    };
    let label = format!("{server} {storage} {workload} {level}");
    let beside = prepared.background.as_ref().map(|start| start());
    // A pool made during setup (lease-revoke) is not spent on warming up.
    if !settings.warmup.is_zero() && prepared.limit.is_none() {
        let bar = progress.run_bar(&format!("{label} (warm-up)"), settings.warmup);
        let plan = Plan { mode, duration: settings.warmup, max_requests: settings.max_requests };
        runner::run(prepared.clone(), plan, &bar).await;
        bar.finish_and_clear();
    }
    let bar = progress.run_bar(&label, settings.duration);
    let plan = Plan {
        mode,
        duration: settings.duration,
        max_requests: pool_share(&prepared, mode, settings),
    };
    let measured = runner::run(prepared.clone(), plan, &bar).await;
    bar.finish_and_clear();
    if let Some(beside) = beside {
        drop(beside);
        // Requests the background load already sent finish before the next run starts.
        tokio::time::sleep(BACKGROUND_SETTLE).await;
    }
    progress.overall.inc(1);
    let row = Row::new(server, storage, workload, mode, &prepared.scope, &measured);
    progress.say(&format!(
        "{label}: {:.0} req/s, p99 {:.2} ms, {} ok, errors {:?}",
        row.throughput, row.p99_ms, row.requests, row.errors
    ));
    row
}

/// A run's request bound: for a pool made during setup (lease-revoke), an equal share of
/// what is left for this run and the load levels after it, so the first level cannot use
/// up the pool of the others.
fn pool_share(prepared: &Prepared, mode: Mode, settings: &Settings) -> Option<u64> {
    let Some(limit) = prepared.limit else { return settings.max_requests };
    let used = prepared.cursor.load(std::sync::atomic::Ordering::Relaxed).min(limit);
    let position = settings.modes.iter().position(|m| *m == mode).unwrap_or(0);
    let runs_left = (settings.modes.len() - position).max(1) as u64;
    let share = (limit - used) / runs_left;
    Some(settings.max_requests.map_or(share, |max| max.min(share)))
}

/// Writes the report where asked and prints the Markdown.
fn emit(report: &Report, load: Option<&Load>) -> Result<()> {
    emit_to(report, load.and_then(|l| l.json.as_deref()), load.and_then(|l| l.markdown.as_deref()))
}

/// Prints the Markdown, and writes JSON and Markdown to the paths given.
fn emit_to(report: &Report, json: Option<&Path>, markdown_path: Option<&Path>) -> Result<()> {
    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_vec_pretty(report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = markdown_path {
        std::fs::write(path, &markdown).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

async fn run(args: args::RunArgs) -> Result<()> {
    let settings =
        Settings::new(&args.load, &["kv2-read"], &[32], Duration::from_secs(10), Duration::ZERO);
    let root = Api::new(&args.target.addr, Some(&args.target.token))?;
    let mut report = Report::default();
    report.meta.insert("server".into(), format!("{} ({})", args.label, args.target.addr));
    settings.describe(&mut report);
    let progress = Progress::new((settings.workloads.len() * settings.modes.len()) as u64);
    for workload in &settings.workloads {
        let Some(p) =
            prepare(&root, &args.label, "-", workload, &settings, &mut report, &progress).await
        else {
            progress.overall.inc(settings.modes.len() as u64);
            continue;
        };
        for &mode in &settings.modes {
            report.rows.push(
                measure(p.clone(), (&args.label, "-", workload), mode, &settings, &progress).await,
            );
        }
    }
    progress.overall.finish_and_clear();
    emit(&report, Some(&args.load))
}

/// Waits until the server answers sys/health with 200.
async fn wait_healthy(root: &Api, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        match root.get("sys/health").await {
            Ok(reply) if reply.status.as_u16() == 200 => return Ok(()),
            _ if Instant::now() > deadline => {
                bail!("the server did not answer sys/health with 200 within {within:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn smoke(args: SmokeArgs) -> Result<()> {
    let root = Api::new(&args.target.addr, Some(&args.target.token))?;
    wait_healthy(&root, args.wait).await?;
    let settings = Settings {
        workloads: workloads::ALL.iter().map(|(n, _)| n.to_string()).collect(),
        modes: vec![Mode::Closed(4)],
        duration: args.duration,
        warmup: Duration::ZERO,
        max_requests: None,
        database: args.database,
    };
    let mut report = Report::default();
    report.meta.insert("smoke".into(), "every workload for a moment; no speed is asserted".into());
    let progress = Progress::new(settings.workloads.len() as u64);
    for workload in &settings.workloads {
        let Some(p) =
            prepare(&root, "server", "-", workload, &settings, &mut report, &progress).await
        else {
            progress.overall.inc(1);
            continue;
        };
        report.rows.push(
            measure(p, ("server", "-", workload), Mode::Closed(4), &settings, &progress).await,
        );
    }
    progress.overall.finish_and_clear();
    emit(&report, None)?;
    let failed: Vec<String> = report
        .rows
        .iter()
        .filter(|r| r.requests == 0 || !r.errors.is_empty())
        .map(|r| format!("{} ({} ok, errors {:?})", r.workload, r.requests, r.errors))
        .collect();
    if report.rows.is_empty() {
        bail!("no workload could be set up");
    }
    if !failed.is_empty() {
        bail!("workloads with failed requests: {}", failed.join("; "));
    }
    Ok(())
}

/// Re-runs this process under `taskset -c 1` so every thread of the load generator stays off
/// the servers' CPU. Returns only if that is not possible (one CPU, no taskset, or done).
fn pin_load_generator() -> bool {
    if std::env::var_os("COFFER_BENCH_PINNED").is_some() {
        return true;
    }
    if std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) < 2 {
        return false;
    }
    let Ok(me) = std::env::current_exe() else { return false };
    use std::os::unix::process::CommandExt as _;
    let error = std::process::Command::new("taskset")
        .arg("-c")
        .arg("1")
        .arg(&me)
        .args(std::env::args_os().skip(1))
        .env("COFFER_BENCH_PINNED", "1")
        .exec();
    eprintln!("warning: could not pin the load generator with taskset ({error}); running unpinned");
    false
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let pinned = match &cli.command {
        Command::Compare(c) if !c.no_pin => pin_load_generator(),
        _ => false,
    };
    // One worker per CPU this process may use: under `taskset -c 1` that is a single thread.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let work = async move {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Smoke(args) => smoke(args).await,
            Command::Compare(args) => compare::run(args, pinned).await,
            Command::Crl(args) => crl::run(args).await,
            Command::Leases(args) => scale::run(args).await,
            Command::Raw => {
                let raw = raw::ec_p256_keygen_and_sign_per_second(Duration::from_secs(3));
                println!("Raw EC P-256 keygen+sign on one thread (aws-lc-rs): {raw:.0}/s");
                Ok(())
            }
            Command::Workloads => {
                for (name, what) in workloads::ALL {
                    println!("{name:<24} {what}");
                }
                Ok(())
            }
        }
    };
    // Ctrl-C drops `work`, and with it every server process it started (killed on drop).
    let result = runtime.block_on(async {
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    drop(runtime);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, for default binary locations.
pub fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}
