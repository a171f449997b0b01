//! `coffer status` and the seal-status table it shares with `operator unseal`.

use anyhow::{Context, Result};
use coffer_client::Client;
use serde_json::{Map, Value};

use crate::args::Global;
use crate::output::{cell, emit, table};

/// The seal status merged with `sys/leader` (as Vault's CLI prints it in JSON).
pub async fn seal_and_leader(client: &Client, seal: Value) -> Map<String, Value> {
    let mut map = seal.as_object().cloned().unwrap_or_default();
    // Like Vault's CLI: a sealed HA server refuses `sys/leader` ("Vault is sealed") and is
    // shown as HA; any other failure as not HA, not as an error.
    let leader = match client.json("GET", "sys/leader", None).await {
        Ok(v) => v.as_object().cloned().unwrap_or_default(),
        Err(e) if e.errors().iter().any(|m| m.contains("is sealed")) => {
            Map::from_iter([("ha_enabled".to_string(), Value::Bool(true))])
        }
        Err(_) => Map::new(),
    };
    let ha = leader.get("ha_enabled").and_then(Value::as_bool).unwrap_or(false);
    map.insert("ha_enabled".into(), Value::Bool(ha));
    if ha {
        for key in [
            "is_self",
            "active_time",
            "leader_address",
            "leader_cluster_address",
            "raft_committed_index",
            "raft_applied_index",
        ] {
            if let Some(v) = leader.get(key) {
                map.insert(key.into(), v.clone());
            }
        }
    }
    map
}

/// The rows Vault's CLI prints for a seal status (with its `sys/leader` fields merged in).
pub fn seal_rows(s: &Map<String, Value>) -> Vec<(String, String)> {
    let get = |k: &str| s.get(k).map(cell).unwrap_or_else(|| "n/a".into());
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    let sealed = flag("sealed");
    let mut rows = vec![
        ("Seal Type".to_string(), get("type")),
        ("Initialized".into(), get("initialized")),
        ("Sealed".into(), get("sealed")),
        ("Total Shares".into(), get("n")),
        ("Threshold".into(), get("t")),
    ];
    if sealed {
        rows.push(("Unseal Progress".into(), format!("{}/{}", get("progress"), get("t"))));
        rows.push(("Unseal Nonce".into(), get("nonce")));
    }
    if flag("migration") {
        rows.push(("Seal Migration in Progress".into(), "true".into()));
    }
    rows.push(("Version".into(), get("version")));
    // OpenBao reports a commit date, Vault a build date: show the first one present.
    let present = |k: &str| s.get(k).and_then(Value::as_str).is_some_and(|v| !v.is_empty());
    if let Some((label, key)) = [("Commit Date", "commit_date"), ("Build Date", "build_date")]
        .into_iter()
        .find(|(_, k)| present(k))
    {
        rows.push((label.into(), get(key)));
    }
    rows.push(("Storage Type".into(), get("storage_type")));
    if s.get("cluster_name").and_then(Value::as_str).is_some_and(|v| !v.is_empty()) {
        rows.push(("Cluster Name".into(), get("cluster_name")));
        rows.push(("Cluster ID".into(), get("cluster_id")));
    }
    rows.push(("HA Enabled".into(), flag("ha_enabled").to_string()));
    if flag("ha_enabled") {
        if !sealed {
            rows.push(("HA Cluster".into(), get("leader_cluster_address")));
            if flag("is_self") {
                rows.push(("HA Mode".into(), "active".into()));
                if let Some(t) = s.get("active_time").and_then(Value::as_str) {
                    if !t.starts_with("0001-") {
                        rows.push(("Active Since".into(), t.to_string()));
                    }
                }
            } else {
                rows.push(("HA Mode".into(), "standby".into()));
                let leader = s.get("leader_address").and_then(Value::as_str).unwrap_or("");
                if !leader.is_empty() {
                    rows.push(("Active Node Address".into(), leader.into()));
                }
            }
        }
        for (label, key) in [
            ("Raft Committed Index", "raft_committed_index"),
            ("Raft Applied Index", "raft_applied_index"),
        ] {
            if s.get(key).and_then(Value::as_u64).is_some_and(|n| n > 0) {
                rows.push((label.into(), get(key)));
            }
        }
    }
    rows
}

/// `coffer status`: exit 0 unsealed, 2 sealed, 1 on error.
pub async fn status(client: &Client, global: &Global) -> Result<u8> {
    let seal =
        client.json("GET", "sys/seal-status", None).await.context("Error checking seal status")?;
    let map = seal_and_leader(client, seal).await;
    let sealed = map.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    let code = emit(global, &map, &Value::Object(map.clone()), || table(&seal_rows(&map)));
    Ok(if code != 0 {
        code
    } else if sealed {
        2
    } else {
        0
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(v: Value) -> Vec<String> {
        seal_rows(v.as_object().unwrap_or(&Map::new())).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn sealed_servers_show_progress_and_unsealed_ones_the_cluster() {
        let sealed = json!({"type": "shamir", "initialized": true, "sealed": true, "t": 2, "n": 3,
            "progress": 1, "nonce": "abc", "version": "2.7.2", "storage_type": "raft", "ha_enabled": false});
        let rows = seal_rows(sealed.as_object().unwrap_or(&Map::new()));
        assert!(rows.contains(&("Unseal Progress".into(), "1/2".into())));
        assert!(!keys(sealed).contains(&"Cluster Name".to_string()));

        let active = json!({"type": "shamir", "initialized": true, "sealed": false, "t": 1, "n": 1,
            "version": "2.7.2", "commit_date": "2026-10-26T20:32:27Z", "storage_type": "raft",
            "cluster_name": "c", "cluster_id": "i", "ha_enabled": true, "is_self": true,
            "leader_cluster_address": "https://127.0.0.1:8201", "active_time": "2026-11-28T23:32:45Z",
            "raft_committed_index": 29, "raft_applied_index": 29});
        assert_eq!(
            keys(active),
            [
                "Seal Type",
                "Initialized",
                "Sealed",
                "Total Shares",
                "Threshold",
                "Version",
                "Commit Date",
                "Storage Type",
                "Cluster Name",
                "Cluster ID",
                "HA Enabled",
                "HA Cluster",
                "HA Mode",
                "Active Since",
                "Raft Committed Index",
                "Raft Applied Index"
            ]
        );
    }
}
