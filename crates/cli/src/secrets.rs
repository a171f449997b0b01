//! `coffer secrets enable|disable|list|tune`, with the bodies Vault's CLI sends.

use anyhow::{Context, Result};
use coffer_client::Client;
use serde_json::{Map, Value, json};

use crate::UsageError;
use crate::args::{Global, Secrets};
use crate::output::{cell, emit, table_with};

fn mount_path(p: &str) -> String {
    p.trim().trim_matches('/').to_string()
}

/// A duration flag in Go form (`87600h` → `87600h0m0s`); `None` → `unset`.
fn duration(flag: Option<&str>, unset: &str) -> Result<String> {
    match flag {
        None => Ok(unset.to_string()),
        Some(f) => coffer_types::parse_duration_str(f)
            .map(coffer_types::format_go_duration)
            .ok_or_else(|| UsageError(format!("invalid duration {f:?}")).into()),
    }
}

fn version_options(version: Option<u32>) -> Value {
    version.map_or(Value::Null, |v| json!({ "version": v.to_string() }))
}

/// The `sys/mounts/<path>` body of `secrets enable`.
pub fn enable_body(
    engine_type: &str,
    description: Option<&str>,
    default_ttl: Option<&str>,
    max_ttl: Option<&str>,
    version: Option<u32>,
) -> Result<Value> {
    Ok(json!({
        "type": engine_type,
        "description": description.unwrap_or(""),
        "config": {
            "options": null,
            "default_lease_ttl": duration(default_ttl, "0s")?,
            "max_lease_ttl": duration(max_ttl, "0s")?,
            "force_no_cache": false,
        },
        "local": false,
        "seal_wrap": false,
        "external_entropy_access": false,
        "options": version_options(version),
    }))
}

/// The `sys/mounts/<path>/tune` body of `secrets tune`: `""` leaves a TTL unchanged.
pub fn tune_body(
    default_ttl: Option<&str>,
    max_ttl: Option<&str>,
    description: Option<&str>,
    version: Option<u32>,
) -> Result<Value> {
    let mut body = Map::new();
    body.insert("options".into(), version_options(version));
    body.insert("default_lease_ttl".into(), json!(duration(default_ttl, "")?));
    if let Some(d) = description {
        body.insert("description".into(), json!(d));
    }
    body.insert("max_lease_ttl".into(), json!(duration(max_ttl, "")?));
    body.insert("force_no_cache".into(), json!(false));
    Ok(Value::Object(body))
}

/// Runs a secrets subcommand.
pub async fn run(client: &Client, global: &Global, command: Secrets) -> Result<u8> {
    match command {
        Secrets::Enable {
            path,
            version,
            description,
            default_lease_ttl,
            max_lease_ttl,
            engine_type,
        } => {
            let body = enable_body(
                &engine_type,
                description.as_deref(),
                default_lease_ttl.as_deref(),
                max_lease_ttl.as_deref(),
                version,
            )?;
            let path = mount_path(path.as_deref().unwrap_or(&engine_type));
            client.post(&format!("sys/mounts/{path}"), &body).await.context("Error enabling")?;
            println!("Success! Enabled the {engine_type} secrets engine at: {path}/");
            Ok(0)
        }
        Secrets::Disable { path } => {
            let path = mount_path(&path);
            client
                .delete(&format!("sys/mounts/{path}"), &[])
                .await
                .with_context(|| format!("Error disabling secrets engine at {path}/"))?;
            println!("Success! Disabled the secrets engine (if it existed) at: {path}/");
            Ok(0)
        }
        Secrets::List { detailed } => {
            let secret =
                client.read("sys/mounts", &[]).await.context("Error listing secrets engines")?;
            let data = secret.and_then(|s| s.data).unwrap_or_default();
            Ok(emit(global, &data, &Value::Object(data.clone()), || list_table(&data, detailed)))
        }
        Secrets::Tune { default_lease_ttl, max_lease_ttl, description, version, path } => {
            let body = tune_body(
                default_lease_ttl.as_deref(),
                max_lease_ttl.as_deref(),
                description.as_deref(),
                version,
            )?;
            let path = mount_path(&path);
            client
                .post(&format!("sys/mounts/{path}/tune"), &body)
                .await
                .with_context(|| format!("Error tuning secrets engine {path}"))?;
            println!("Success! Tuned the secrets engine at: {path}/");
            Ok(0)
        }
    }
}

/// A string map the way Go prints one (`map[version:2]`), as Vault's table shows options.
fn go_map(value: &Value) -> String {
    let mut items: Vec<String> = value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}:{}", v.as_str().map_or(v.to_string(), String::from)))
                .collect()
        })
        .unwrap_or_default();
    items.sort();
    format!("map[{}]", items.join(" "))
}

/// The `secrets list` table: Vault's columns, `-detailed` adding TTLs, options and versions.
pub fn list_table(data: &Map<String, Value>, detailed: bool) -> String {
    let mut paths: Vec<&String> = data.keys().collect();
    paths.sort();
    let rows = paths
        .into_iter()
        .map(|p| {
            let e = &data[p];
            let get = |k: &str| cell(e.get(k).unwrap_or(&Value::Null));
            if !detailed {
                return vec![p.clone(), get("type"), get("accessor"), get("description")];
            }
            let ttl = |k: &str| {
                let kind = e.get("type").and_then(Value::as_str).unwrap_or("");
                match e.get("config").and_then(|c| c.get(k)).and_then(Value::as_i64) {
                    _ if kind == "system" || kind == "cubbyhole" => "n/a".to_string(),
                    Some(n) if n != 0 => n.to_string(),
                    _ => "system".to_string(),
                }
            };
            let flag = |k: &str| e.get(k).and_then(Value::as_bool).unwrap_or(false).to_string();
            let local = e.get("local").and_then(Value::as_bool).unwrap_or(false);
            let no_cache = e.get("config").and_then(|c| c.get("force_no_cache"));
            vec![
                p.clone(),
                get("type"),
                get("accessor"),
                ttl("default_lease_ttl"),
                ttl("max_lease_ttl"),
                no_cache.and_then(Value::as_bool).unwrap_or(false).to_string(),
                if local { "local" } else { "replicated" }.to_string(),
                flag("seal_wrap"),
                flag("external_entropy_access"),
                go_map(e.get("options").unwrap_or(&Value::Null)),
                get("description"),
                get("uuid"),
                get("plugin_version"),
                get("running_plugin_version"),
                get("running_sha256"),
                get("deprecation_status"),
            ]
        })
        .collect();
    let headers: &[&str] = if detailed {
        &[
            "Path",
            "Plugin",
            "Accessor",
            "Default TTL",
            "Max TTL",
            "Force No Cache",
            "Replication",
            "Seal Wrap",
            "External Entropy Access",
            "Options",
            "Description",
            "UUID",
            "Version",
            "Running Version",
            "Running SHA256",
            "Deprecation Status",
        ]
    } else {
        &["Path", "Type", "Accessor", "Description"]
    };
    table_with(headers, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_and_tune_send_what_vault_sends() {
        let body = enable_body("kv", None, None, None, Some(2)).ok();
        assert_eq!(
            body.map(|b| b.to_string()).as_deref(),
            Some(
                r#"{"type":"kv","description":"","config":{"options":null,"default_lease_ttl":"0s","max_lease_ttl":"0s","force_no_cache":false},"local":false,"seal_wrap":false,"external_entropy_access":false,"options":{"version":"2"}}"#
            )
        );
        let tune = tune_body(None, Some("87600h"), None, None).ok();
        assert_eq!(
            tune.map(|b| b.to_string()).as_deref(),
            Some(
                r#"{"options":null,"default_lease_ttl":"","max_lease_ttl":"87600h0m0s","force_no_cache":false}"#
            )
        );
        assert!(tune_body(Some("1w"), None, None, None).is_err());
    }

    #[test]
    fn detailed_lists_show_system_ttls_and_go_maps() {
        let data = json!({
            "secret/": {"type": "kv", "accessor": "kv_1", "description": "", "local": false,
                "config": {"default_lease_ttl": 0, "max_lease_ttl": 3600}, "options": {"version": "2"}},
            "sys/": {"type": "system", "accessor": "system_1", "config": {"default_lease_ttl": 0}}
        });
        let t = list_table(data.as_object().unwrap_or(&Map::new()), true);
        let secret_line = t.lines().find(|l| l.starts_with("secret/")).unwrap_or_default();
        let cells: Vec<&str> = secret_line.split_whitespace().collect();
        assert_eq!(&cells[..6], ["secret/", "kv", "kv_1", "system", "3600", "false"]);
        assert!(secret_line.contains("map[version:2]"), "{t}");
        assert!(t.lines().any(|l| l.starts_with("sys/") && l.contains("n/a")), "{t}");
    }
}
