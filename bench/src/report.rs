//! Results as JSON and as a Markdown table.

use serde::Serialize;

use crate::load::Measured;

/// One workload on one server at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Server label (`coffer`, `openbao`).
    pub server: String,
    /// Workload name.
    pub workload: String,
    /// Concurrency (closed loop) or 0 for open loop.
    pub concurrency: usize,
    /// Whether the load ran with a policy-scoped token.
    pub scoped: bool,
    /// Successful requests.
    pub requests: u64,
    /// Failed requests by kind.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Successful requests per second.
    pub throughput: f64,
    /// Latency percentiles in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

impl Row {
    /// Summarises a measurement.
    pub fn new(
        server: &str,
        workload: &str,
        concurrency: usize,
        scoped: bool,
        m: &Measured,
    ) -> Row {
        let ms = |q: f64| m.latency.value_at_quantile(q) as f64 / 1000.0;
        Row {
            server: server.into(),
            workload: workload.into(),
            concurrency,
            scoped,
            requests: m.ok,
            errors: m.errors.clone(),
            throughput: m.ok as f64 / m.elapsed.as_secs_f64().max(1e-9),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: m.latency.max() as f64 / 1000.0,
        }
    }
}

/// A Markdown table of rows.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| server | workload | conc. | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | scoped |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let errors: u64 = r.errors.values().sum();
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |\n",
            r.server,
            r.workload,
            r.concurrency,
            r.throughput,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.max_ms,
            errors,
            r.scoped
        ));
    }
    out
}

/// Ratio rows Coffer/OpenBao for each (workload, concurrency) both measured.
pub fn ratios(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | conc. | Coffer req/s | OpenBao req/s | throughput ratio | p99 Coffer ms | p99 OpenBao ms |\n|---|---|---|---|---|---|---|\n",
    );
    for c in rows.iter().filter(|r| r.server == "coffer") {
        if let Some(o) = rows.iter().find(|o| {
            o.server == "openbao" && o.workload == c.workload && o.concurrency == c.concurrency
        }) {
            let ratio = if o.throughput > 0.0 {
                format!("{:.1}x", c.throughput / o.throughput)
            } else {
                "n/a".into()
            };
            out.push_str(&format!(
                "| {} | {} | {:.0} | {:.0} | {} | {:.2} | {:.2} |\n",
                c.workload, c.concurrency, c.throughput, o.throughput, ratio, c.p99_ms, o.p99_ms
            ));
        }
    }
    out
}
