//! The report: one JSON document, and the same as Markdown tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::{Measured, Mode};
use crate::workloads::Scope;

/// One workload on one server at one load level.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Server label (`coffer`, `openbao`, or `--label`).
    pub server: String,
    /// Storage class (`dev`, `durable`) or `-` for a single-server run.
    pub storage: String,
    /// Workload name.
    pub workload: String,
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Closed loop: workers. Open loop: 0.
    pub concurrency: usize,
    /// Open loop: target arrivals per second. Closed loop: 0.
    pub rate: u64,
    /// Whether the load ran without root's powers.
    pub scoped: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_note: Option<String>,
    /// Requests answered 2xx/3xx.
    pub requests: u64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// Seconds measured.
    pub seconds: f64,
    /// Successful requests per second.
    pub throughput: f64,
    /// Latency percentiles of successful requests, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

impl Row {
    /// Summarises one measurement.
    pub fn new(
        server: &str,
        storage: &str,
        workload: &str,
        mode: Mode,
        scope: &Scope,
        m: &Measured,
    ) -> Row {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let (mode, concurrency, rate) = match mode {
            Mode::Closed(c) => ("closed", c, 0),
            Mode::Open { rate, .. } => ("open", 0, rate),
        };
        let seconds = m.elapsed.as_secs_f64();
        Row {
            server: server.into(),
            storage: storage.into(),
            workload: workload.into(),
            mode,
            concurrency,
            rate,
            scoped: scope.scoped(),
            scope_note: scope.note(),
            requests: m.ok,
            errors: m.errors.clone(),
            seconds,
            throughput: m.ok as f64 / seconds.max(1e-9),
            p50_ms: ms(m.latency.value_at_quantile(0.50)),
            p90_ms: ms(m.latency.value_at_quantile(0.90)),
            p99_ms: ms(m.latency.value_at_quantile(0.99)),
            max_ms: ms(m.latency.max()),
        }
    }

    fn level(&self) -> String {
        if self.mode == "open" {
            format!("{}/s", self.rate)
        } else {
            format!("c{}", self.concurrency)
        }
    }

    fn error_summary(&self) -> String {
        if self.errors.is_empty() {
            return "0".into();
        }
        self.errors.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
    }
}

/// A workload a server could not set up.
#[derive(Debug, Clone, Serialize)]
pub struct Unsupported {
    /// Server label.
    pub server: String,
    /// Storage class.
    pub storage: String,
    /// Workload name.
    pub workload: String,
    /// `unsupported: <error>`.
    pub reason: String,
}

/// Process figures of one server in one storage class.
#[derive(Debug, Clone, Serialize)]
pub struct ServerStats {
    /// Server label.
    pub server: String,
    /// Storage class.
    pub storage: String,
    /// Version string from sys/health.
    pub version: String,
    /// Spawn to the first HTTP answer, milliseconds.
    pub listening_ms: f64,
    /// Durable: spawn to `sys/unseal` answering unsealed (after our `sys/init`), milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsealed_ms: Option<f64>,
    /// Spawn to the first 200 from sys/health, milliseconds (durable: including our
    /// init and unseal calls through the API, and the server becoming active).
    pub serving_ms: f64,
    /// VmRSS once serving and settled, KiB.
    pub idle_rss_kib: u64,
    /// VmHWM at the end of the runs, KiB.
    pub peak_rss_kib: u64,
    /// Size of the binary, bytes.
    pub binary_bytes: u64,
}

/// The lease scale probe's own figures (`coffer-bench leases`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scale {
    /// Leases stored when the server was restarted.
    pub leases_stored: u64,
    /// Whether the store came from an earlier run (`--dir`); creation figures are then of
    /// this run's additions only.
    pub reused_store: bool,
    /// Leases created by this run.
    pub created: u64,
    /// Seconds spent creating them.
    pub create_seconds: f64,
    /// Leases created per second.
    pub create_per_second: f64,
    /// Failed creations by kind.
    pub create_errors: BTreeMap<String, u64>,
    /// `(leases created so far, VmRSS KiB)` of the first server while creating.
    pub rss_while_creating_kib: Vec<(u64, u64)>,
    /// VmRSS of the first server after creating, KiB.
    pub first_rss_kib: u64,
    /// VmHWM of the first server, KiB.
    pub first_peak_rss_kib: u64,
    /// SIGTERM to exit of the first server, milliseconds.
    pub shutdown_ms: f64,
    /// Size of the store's directory after the shutdown, bytes.
    pub store_bytes: u64,
    /// VmRSS of the restarted server after the renew and revoke runs, KiB.
    pub end_rss_kib: u64,
    /// `(found, looked up)`: leases spread over all those created, looked up after the
    /// restart (before the renew and revoke runs).
    pub verified_after_restart: (u64, u64),
}

/// The targets for the probe: restart-to-serving and server memory.
const SERVING_TARGET_MS: f64 = 2000.0;
const RSS_TARGET_MIB: f64 = 200.0;

impl Scale {
    fn markdown(&self, restarted: Option<&ServerStats>, out: &mut String) {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let _ = writeln!(out, "\nLeases stored at the restart: **{}**", self.leases_stored);
        if self.created > 0 {
            let errors = if self.create_errors.is_empty() {
                "0".to_string()
            } else {
                format!("{:?}", self.create_errors)
            };
            let _ = writeln!(
                out,
                "\nCreated {} leases{} in {:.1} s: {:.0} leases/s, errors: {errors}",
                self.created,
                if self.reused_store { " (added to a stored run)" } else { "" },
                self.create_seconds,
                self.create_per_second,
            );
        } else if self.reused_store {
            out.push_str(
                "\nThe leases come from an earlier run (`--dir`): none were created now.\n",
            );
        }
        if !self.rss_while_creating_kib.is_empty() {
            out.push_str("\n| leases created | server RSS |\n|---:|---:|\n");
            for (n, kib) in &self.rss_while_creating_kib {
                let _ = writeln!(out, "| {n} | {:.1} MiB |", mib(*kib));
            }
        }
        let _ = writeln!(
            out,
            "\nAfter the restart, {} of {} leases looked up (spread over all created) were stored.",
            self.verified_after_restart.0, self.verified_after_restart.1
        );
        let _ = writeln!(
            out,
            "\nFirst server: RSS {:.1} MiB after creating, peak {:.1} MiB; SIGTERM to exit {:.0} ms; \
             store on disk {:.0} MiB. Restarted server: RSS {:.1} MiB after the runs.",
            mib(self.first_rss_kib),
            mib(self.first_peak_rss_kib),
            self.shutdown_ms,
            self.store_bytes as f64 / 1024.0 / 1024.0,
            mib(self.end_rss_kib)
        );
        if let Some(s) = restarted {
            let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
            let peak = mib(s.peak_rss_kib.max(s.idle_rss_kib));
            out.push_str("\n| target | measured | verdict |\n|---|---|---|\n");
            let _ = writeln!(
                out,
                "| restart-to-serving < 2 s | {:.0} ms | {} |",
                s.serving_ms,
                verdict(s.serving_ms < SERVING_TARGET_MS)
            );
            let _ = writeln!(
                out,
                "| server memory < 200 MiB | idle {:.1} MiB, peak {:.1} MiB | {} |",
                mib(s.idle_rss_kib),
                peak,
                verdict(peak < RSS_TARGET_MIB)
            );
        }
    }
}

/// Everything one invocation measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Facts about the run (command, date, pinning, durations).
    pub meta: BTreeMap<String, String>,
    /// Measurements.
    pub rows: Vec<Row>,
    /// Workloads skipped because setup failed.
    pub unsupported: Vec<Unsupported>,
    /// Server process figures (compare only).
    pub servers: Vec<ServerStats>,
    /// Raw EC P-256 keygen+sign per second on one thread of this machine (compare only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_ec_keygen_sign_per_second: Option<f64>,
    /// The lease scale probe's figures (`leases` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<Scale>,
}

impl Report {
    /// The whole report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.meta {
            let _ = writeln!(out, "- {k}: {v}");
        }
        if !self.meta.is_empty() {
            out.push('\n');
        }
        out.push_str("| server | storage | workload | load | req/s | p50 ms | p90 ms | p99 ms | max ms | ok | errors | scoped |\n");
        out.push_str("|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---|\n");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
                r.server,
                r.storage,
                r.workload,
                r.level(),
                r.throughput,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.max_ms,
                r.requests,
                r.error_summary(),
                r.scoped
            );
        }
        let notes: Vec<String> = self
            .rows
            .iter()
            .filter_map(|r| {
                r.scope_note.as_ref().map(|n| format!("{} / {}: {n}", r.server, r.workload))
            })
            .collect();
        if !notes.is_empty() {
            out.push_str("\nscoped: false means:\n");
            for n in dedup(notes) {
                let _ = writeln!(out, "- {n}");
            }
        }
        if !self.unsupported.is_empty() {
            out.push_str("\nSkipped:\n");
            for u in &self.unsupported {
                let _ =
                    writeln!(out, "- {} ({}) / {}: {}", u.server, u.storage, u.workload, u.reason);
            }
        }
        let ratios = self.ratios();
        if !ratios.is_empty() {
            out.push_str("\nCoffer / OpenBao:\n\n");
            out.push_str(&ratios);
        }
        if !self.servers.is_empty() {
            out.push_str("\n| server | storage | version | listening | unsealed | start-to-serving | idle RSS | peak RSS | binary |\n");
            out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
            for s in &self.servers {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.0} ms | {} | {:.0} ms | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
                    s.server,
                    s.storage,
                    s.version,
                    s.listening_ms,
                    s.unsealed_ms.map(|ms| format!("{ms:.0} ms")).unwrap_or_else(|| "-".into()),
                    s.serving_ms,
                    s.idle_rss_kib as f64 / 1024.0,
                    s.peak_rss_kib as f64 / 1024.0,
                    s.binary_bytes as f64 / 1024.0 / 1024.0
                );
            }
        }
        if let Some(scale) = &self.scale {
            scale.markdown(self.servers.first(), &mut out);
        }
        if let Some(raw) = self.raw_ec_keygen_sign_per_second {
            let _ = writeln!(
                out,
                "\nRaw EC P-256 keygen+sign, one thread of this machine (aws-lc-rs): {raw:.0}/s"
            );
        }
        out
    }

    /// Coffer/OpenBao rows for every (storage, workload, load) both measured.
    fn ratios(&self) -> String {
        let mut out = String::new();
        for c in self.rows.iter().filter(|r| r.server == "coffer") {
            let Some(o) = self.rows.iter().find(|o| {
                o.server == "openbao"
                    && o.storage == c.storage
                    && o.workload == c.workload
                    && o.level() == c.level()
            }) else {
                continue;
            };
            if out.is_empty() {
                out.push_str("| storage | workload | load | Coffer req/s | OpenBao req/s | req/s Coffer/OpenBao | Coffer p99 ms | OpenBao p99 ms | p99 OpenBao/Coffer |\n");
                out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
            }
            let ratio =
                |a: f64, b: f64| if b > 0.0 { format!("{:.1}", a / b) } else { "n/a".into() };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {} |",
                c.storage,
                c.workload,
                c.level(),
                c.throughput,
                o.throughput,
                ratio(c.throughput, o.throughput),
                c.p99_ms,
                o.p99_ms,
                ratio(o.p99_ms, c.p99_ms)
            );
        }
        out
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
