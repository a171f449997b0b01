//! `sys/metrics`: the server's gauges under the reference's names, as the JSON dump
//! (default) or the Prometheus text format (`?format=prometheus`, always enabled here).

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, RawBody, Response, Result};
use serde_json::{Map, Value, json};

use super::SysState;

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    router.path(Path::new("metrics").field(Field::string("format")).read(metrics))
}

/// One gauge: name, labels, value.
struct Gauge {
    name: &'static str,
    labels: Vec<(&'static str, String)>,
    value: f64,
}

fn gauges(state: &SysState) -> Result<Vec<Gauge>> {
    let core = state.core()?;
    let active = core.active()?;
    let cluster = vec![("cluster", active.cluster_name.clone())];
    let mut out = vec![
        Gauge { name: "vault.core.active", labels: cluster.clone(), value: 1.0 },
        Gauge { name: "vault.core.unsealed", labels: cluster.clone(), value: 1.0 },
    ];
    let table = active.mounts.load();
    for (kind, auth) in [("auth", true), ("logical", false)] {
        for local in [false, true] {
            let count =
                table.iter().filter(|m| m.is_auth == auth && m.entry.local == local).count();
            let mut labels = cluster.clone();
            labels.push(("local", local.to_string()));
            labels.push(("type", kind.to_string()));
            out.push(Gauge {
                name: "vault.core.mount_table.num_entries",
                labels,
                value: count as f64,
            });
        }
    }
    Ok(out)
}

async fn metrics(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let gauges = gauges(&state)?;
    match req.str("format")?.as_str() {
        "" | "json" => Ok(Some(
            Response::json(json_dump(&gauges)).with_shape(coffer_types::ResponseShape::Bare),
        )),
        "prometheus" => Ok(Some(Response {
            raw: Some(RawBody {
                content_type: "text/plain; version=0.0.4; charset=utf-8".into(),
                body: prometheus_text(&gauges).into_bytes(),
            }),
            ..Response::default()
        })),
        other => Err(Error::invalid(format!("metric format {other:?} not supported"))),
    }
}

fn json_dump(gauges: &[Gauge]) -> Value {
    let gauges: Vec<Value> = gauges
        .iter()
        .map(|g| {
            let labels: Map<String, Value> =
                g.labels.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect();
            json!({"Name": g.name, "Value": g.value, "Labels": labels})
        })
        .collect();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    json!({"Timestamp": now, "Gauges": gauges, "Counters": [], "Samples": [], "Points": []})
}

fn prometheus_text(gauges: &[Gauge]) -> String {
    let mut text = String::new();
    let mut typed: Vec<&str> = Vec::new();
    for g in gauges {
        let name = g.name.replace('.', "_");
        if !typed.contains(&g.name) {
            typed.push(g.name);
            text.push_str(&format!("# HELP {name} {name}\n# TYPE {name} gauge\n"));
        }
        let labels: Vec<String> =
            g.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", label_value(v))).collect();
        text.push_str(&format!("{name}{{{}}} {}\n", labels.join(","), g.value));
    }
    text
}

/// A label value escaped as the Prometheus text format requires (`\\`, `\"`, `\n`).
fn label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
