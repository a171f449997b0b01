//! `coffer-bench crl`: how long a full CRL rebuild takes with many revoked, unexpired
//! certificates. It mounts a fresh PKI engine, issues and revokes `--revoked` certificates
//! through the API (with `auto_rebuild` on, so the revocations themselves do not rebuild), then
//! times `crl/rotate` (GET, a full rebuild and signature) and a fetch of the CRL it produced.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::args::CrlArgs;
use crate::client::{Api, Call};

const MOUNT: &str = "bench-crl";

/// Runs the probe and prints its figures.
pub async fn run(args: CrlArgs) -> Result<()> {
    let root = Api::new(&args.target.addr, Some(&args.target.token))?;
    setup(&root).await?;
    let serials = issue_all(&root, args.revoked, args.concurrency.max(1)).await?;
    revoke_all(&root, serials, args.concurrency.max(1)).await?;

    let mut rebuilds = Vec::new();
    for _ in 0..args.repeat.max(1) {
        let start = Instant::now();
        root.call(&Call::new(Method::GET, format!("{MOUNT}/crl/rotate")))
            .await?
            .ok("rotating the CRL")?;
        rebuilds.push(start.elapsed());
    }
    let start = Instant::now();
    let crl = root.call(&Call::new(Method::GET, format!("{MOUNT}/crl/pem"))).await?;
    let fetch = start.elapsed();
    if !crl.status.is_success() {
        bail!("fetching the CRL answered {}", crl.status);
    }
    let listed =
        root.call(&Call::new(Method::GET, format!("{MOUNT}/certs/revoked?list=true"))).await?;
    let revoked_listed =
        listed.body.pointer("/data/keys").and_then(Value::as_array).map_or(0, Vec::len);
    rebuilds.sort();
    let median = rebuilds[rebuilds.len() / 2];
    println!();
    println!(
        "| revoked, unexpired | listed by certs/revoked | CRL rebuild (crl/rotate) median | min | max | CRL fetch |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {} | {} | {} |",
        args.revoked,
        revoked_listed,
        ms(median),
        ms(rebuilds[0]),
        ms(rebuilds[rebuilds.len() - 1]),
        ms(fetch),
    );
    let _ = root.call(&Call::new(Method::DELETE, format!("sys/mounts/{MOUNT}"))).await;
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// A fresh mount with an EC root, a role for month-long certificates, and auto-rebuild on.
async fn setup(root: &Api) -> Result<()> {
    let _ = root.call(&Call::new(Method::DELETE, format!("sys/mounts/{MOUNT}"))).await;
    root.put(&format!("sys/mounts/{MOUNT}"), &json!({ "type": "pki" })).await?.ok("mounting")?;
    root.put(&format!("sys/mounts/{MOUNT}/tune"), &json!({ "max_lease_ttl": "87600h" }))
        .await?
        .ok("tuning")?;
    let body = json!({ "common_name": "CRL Bench Root", "key_type": "ec", "ttl": "8760h" });
    root.put(&format!("{MOUNT}/root/generate/internal"), &body).await?.ok("making the root")?;
    let role = json!({
        "allowed_domains": "bench.internal", "allow_subdomains": true, "key_type": "ec",
        "ttl": "720h", "max_ttl": "720h",
    });
    root.put(&format!("{MOUNT}/roles/leaf"), &role).await?.ok("writing the role")?;
    root.put(&format!("{MOUNT}/config/crl"), &json!({ "auto_rebuild": true }))
        .await?
        .ok("enabling auto_rebuild")?;
    Ok(())
}

fn bar(label: &str, total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_string());
    bar
}

/// Runs `make(i)` for `i` in `0..total`, `concurrency` at a time, collecting the answers.
async fn fan_out(
    root: &Api,
    label: &'static str,
    total: usize,
    concurrency: usize,
    make: impl Fn(usize) -> Call + Send + Sync + 'static,
) -> Result<Vec<Value>> {
    let progress = bar(label, total);
    let make = std::sync::Arc::new(make);
    let mut tasks = JoinSet::new();
    for worker in 0..concurrency {
        let (api, make, progress) = (root.clone(), make.clone(), progress.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            let mut i = worker;
            while i < total {
                let reply = api.call(&make(i)).await?.ok(label)?;
                out.push(reply);
                progress.inc(1);
                i += concurrency;
            }
            anyhow::Ok(out)
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(done) = tasks.join_next().await {
        all.extend(done.context("a worker panicked")??);
    }
    progress.finish_and_clear();
    Ok(all)
}

async fn issue_all(root: &Api, total: usize, concurrency: usize) -> Result<Vec<String>> {
    let replies = fan_out(root, "issue", total, concurrency, |i| {
        let body = json!({ "common_name": format!("svc-{i}.bench.internal") });
        Call::json(Method::PUT, format!("{MOUNT}/issue/leaf"), &body)
    })
    .await?;
    replies
        .iter()
        .map(|r| {
            r.pointer("/data/serial_number")
                .and_then(Value::as_str)
                .map(str::to_string)
                .context("an issue answer without serial_number")
        })
        .collect()
}

async fn revoke_all(root: &Api, serials: Vec<String>, concurrency: usize) -> Result<()> {
    let total = serials.len();
    let serials = std::sync::Arc::new(serials);
    fan_out(root, "revoke", total, concurrency, move |i| {
        let body = json!({ "serial_number": serials[i] });
        Call::json(Method::PUT, format!("{MOUNT}/revoke"), &body)
    })
    .await
    .map(drop)
}
