//! `coffer secrets enable|disable|list|tune`.

use anyhow::Result;
use coffer_client::Client;
use serde_json::{Map, Value, json};

use crate::args::{Global, Secrets};
use crate::output::{cell, emit};

fn mount_path(p: &str) -> String {
    p.trim_matches('/').to_string()
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
            let path = mount_path(path.as_deref().unwrap_or(&engine_type));
            let options = version.map(|v| json!({ "version": v })).unwrap_or(Value::Null);
            let body = json!({
                "type": engine_type,
                "description": description.unwrap_or_default(),
                "config": {
                    "default_lease_ttl": default_lease_ttl.unwrap_or_else(|| "0s".into()),
                    "max_lease_ttl": max_lease_ttl.unwrap_or_else(|| "0s".into()),
                    "force_no_cache": false,
                },
                "local": false,
                "seal_wrap": false,
                "external_entropy_access": false,
                "options": options,
            });
            client.write(&format!("sys/mounts/{path}"), &body).await?;
            println!("Success! Enabled the {engine_type} secrets engine at: {path}/");
            Ok(0)
        }
        Secrets::Disable { path } => {
            let path = mount_path(&path);
            client.delete(&format!("sys/mounts/{path}"), &[]).await?;
            println!("Success! Disabled the secrets engine (if it existed) at: {path}/");
            Ok(0)
        }
        Secrets::List { detailed } => {
            let s = client.read("sys/mounts", &[]).await?.unwrap_or_default();
            let data = s.data.clone().unwrap_or_default();
            Ok(emit(global, &data, &Value::Object(data.clone()), || list_table(&data, detailed)))
        }
        Secrets::Tune { default_lease_ttl, max_lease_ttl, description, path } => {
            let path = mount_path(&path);
            let mut body = Map::new();
            body.insert("default_lease_ttl".into(), json!(default_lease_ttl.unwrap_or_default()));
            body.insert("max_lease_ttl".into(), json!(max_lease_ttl.unwrap_or_default()));
            if let Some(d) = description {
                body.insert("description".into(), json!(d));
            }
            client.write(&format!("sys/mounts/{path}/tune"), &Value::Object(body)).await?;
            println!("Success! Tuned the secrets engine at: {path}/");
            Ok(0)
        }
    }
}

fn list_table(data: &Map<String, Value>, detailed: bool) -> String {
    let mut paths: Vec<&String> = data.keys().collect();
    paths.sort();
    let mut out = String::new();
    let rows: Vec<Vec<String>> = paths
        .iter()
        .map(|p| {
            let e = &data[*p];
            let mut row =
                vec![(*p).clone(), cell(&e["type"]), cell(&e["accessor"]), cell(&e["description"])];
            if detailed {
                row.push(cell(&e["config"]["default_lease_ttl"]));
                row.push(cell(&e["config"]["max_lease_ttl"]));
                row.push(cell(&e["options"]));
            }
            row
        })
        .collect();
    let mut headers = vec!["Path", "Type", "Accessor", "Description"];
    if detailed {
        headers.extend(["Default TTL", "Max TTL", "Options"]);
    }
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| rows.iter().map(|r| r[i].len()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("    ")
            .trim_end()
            .to_string()
    };
    out.push_str(&line(headers.iter().map(|h| h.to_string()).collect()));
    out.push('\n');
    out.push_str(&line(headers.iter().map(|h| "-".repeat(h.len())).collect()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}
