//! `coffer-bench`: a load generator for Vault-API servers (Coffer, OpenBao, Vault), and a
//! side-by-side runner that reports Coffer/OpenBao ratios. Benchmarks are programs, never
//! timed tests.
#![forbid(unsafe_code)]

mod compare;
mod load;
mod raw;
mod report;
mod workloads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use coffer_client::{Client, ClientConfig};
use coffer_types::SecretString;

use report::Row;

#[derive(Parser)]
#[command(name = "coffer-bench", about = "Load generator for Vault-API servers")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs workloads against one server.
    Run {
        /// Server address.
        #[arg(long)]
        addr: String,
        /// Root token (used only for setup; the load runs with a scoped token).
        #[arg(long)]
        token: String,
        /// Workloads, comma separated (see `workloads::ALL`).
        #[arg(long, default_value = "kv2-read")]
        workload: String,
        /// Concurrency levels, comma separated (closed loop).
        #[arg(long, default_value = "32")]
        concurrency: String,
        /// Open loop at this many requests per second instead of a closed loop.
        #[arg(long)]
        rate: Option<u64>,
        /// Seconds per run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Write the rows as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// A quick check that every workload runs (about a second each); no speed assertions.
    Smoke {
        /// Server address.
        #[arg(long)]
        addr: String,
        /// Root token.
        #[arg(long)]
        token: String,
    },
    /// The machine's ceiling for issue: EC P-256 keygen+sign per second on one thread.
    Raw,
    /// Coffer and OpenBao side by side (both in dev mode, each pinned to CPU 0).
    Compare {
        /// The coffer binary (default: target/release/coffer).
        #[arg(long)]
        coffer: Option<PathBuf>,
        /// Workloads, comma separated.
        #[arg(
            long,
            default_value = "kv2-read,token-lookup-self,kv2-write,approle-login,pki-issue-ec,pki-issue-ec-no-store,pki-issue-rsa,mixed"
        )]
        workload: String,
        /// Concurrency levels.
        #[arg(long, default_value = "1,32")]
        concurrency: String,
        /// Seconds per run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Write the rows as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn root_client(addr: &str, token: &str) -> Result<Client> {
    Ok(Client::new(ClientConfig {
        address: addr.into(),
        token: Some(SecretString::new(token)),
        ..ClientConfig::default()
    })?)
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()
}

/// Runs `workloads` x `levels` against one server; unsupported workloads are reported, not fatal.
async fn run_all(
    server: &str,
    root: &Client,
    workloads: &[String],
    levels: &[usize],
    rate: Option<u64>,
    seconds: u64,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for workload in workloads {
        let prepared = match workloads::prepare(root, workload).await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                eprintln!("{server}: {workload}: unsupported: {e:#}");
                continue;
            }
        };
        for &c in levels {
            eprintln!("running {server} / {workload} / concurrency {c} for {seconds}s ...");
            let m = match rate {
                Some(r) => {
                    load::open(prepared.clone(), r, Duration::from_secs(seconds), 10_000).await
                }
                None => load::closed(prepared.clone(), c, Duration::from_secs(seconds)).await,
            };
            rows.push(Row::new(
                server,
                workload,
                if rate.is_some() { 0 } else { c },
                prepared.scoped,
                &m,
            ));
        }
    }
    rows
}

fn write_json(path: &Option<PathBuf>, rows: &[Row]) -> Result<()> {
    if let Some(p) = path {
        std::fs::write(p, serde_json::to_vec_pretty(rows)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

async fn main_async(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Run { addr, token, workload, concurrency, rate, seconds, json } => {
            let root = root_client(&addr, &token)?;
            let levels: Vec<usize> =
                list(&concurrency).iter().filter_map(|c| c.parse().ok()).collect();
            let rows = run_all("server", &root, &list(&workload), &levels, rate, seconds).await;
            println!("{}", report::markdown(&rows));
            write_json(&json, &rows)
        }
        Cmd::Raw => {
            let raw = raw::ec_p256_keygen_and_sign_per_second(Duration::from_secs(3));
            println!("Raw EC P-256 keygen+sign on one thread (aws-lc-rs): {raw:.0}/s");
            Ok(())
        }
        Cmd::Smoke { addr, token } => {
            let root = root_client(&addr, &token)?;
            let all: Vec<String> = workloads::ALL.iter().map(|s| s.to_string()).collect();
            let rows = run_all("server", &root, &all, &[4], None, 1).await;
            println!("{}", report::markdown(&rows));
            let broken: Vec<&Row> = rows.iter().filter(|r| r.requests == 0).collect();
            if !broken.is_empty() || rows.is_empty() {
                bail!(
                    "workloads with no successful request: {:?}",
                    broken.iter().map(|r| &r.workload).collect::<Vec<_>>()
                );
            }
            Ok(())
        }
        Cmd::Compare { coffer, workload, concurrency, seconds, json } => {
            let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let coffer = coffer.unwrap_or_else(|| workspace.join("target/release/coffer"));
            let bao = compare::find_bao(&workspace)?;
            compare::pin_self();
            let c = compare::start_coffer(&coffer).await?;
            let o = compare::start_openbao(&bao).await?;
            let (c_idle, _) = compare::memory_kib(&c);
            let (o_idle, _) = compare::memory_kib(&o);
            let levels: Vec<usize> =
                list(&concurrency).iter().filter_map(|c| c.parse().ok()).collect();
            let mut rows = Vec::new();
            for w in list(&workload) {
                rows.extend(
                    run_all("coffer", &c.root, std::slice::from_ref(&w), &levels, None, seconds)
                        .await,
                );
                rows.extend(
                    run_all("openbao", &o.root, std::slice::from_ref(&w), &levels, None, seconds)
                        .await,
                );
            }
            let (_, c_peak) = compare::memory_kib(&c);
            let (_, o_peak) = compare::memory_kib(&o);
            println!("{}", report::markdown(&rows));
            println!("{}", report::ratios(&rows));
            let size = |p: &std::path::Path| {
                std::fs::metadata(p).map(|m| m.len() / 1024 / 1024).unwrap_or(0)
            };
            println!(
                "| server | start-to-serving | idle RSS | peak RSS | binary |\n|---|---|---|---|---|"
            );
            println!(
                "| coffer | {:.0} ms | {} MiB | {} MiB | {} MiB |",
                c.start_to_serving.as_secs_f64() * 1000.0,
                c_idle / 1024,
                c_peak / 1024,
                size(&coffer)
            );
            println!(
                "| openbao | {:.0} ms | {} MiB | {} MiB | {} MiB |",
                o.start_to_serving.as_secs_f64() * 1000.0,
                o_idle / 1024,
                o_peak / 1024,
                size(&bao)
            );
            let raw = raw::ec_p256_keygen_and_sign_per_second(Duration::from_secs(3));
            println!("\nRaw EC P-256 keygen+sign on this core (aws-lc-rs, one thread): {raw:.0}/s");
            write_json(&json, &rows)
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::from(1);
            }
        };
    match runtime.block_on(main_async(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
