//! `coffer kv ...`: finds the mount and its KV version with the same preflight as Vault's CLI
//! (`sys/internal/ui/mounts/<path>`), then builds v1 or v2 paths.

use anyhow::{Result, bail};
use coffer_client::{Client, ClientError};
use serde_json::{Map, Value, json};

use crate::args::{Global, Kv, KvFlags, KvMetadata};
use crate::generic::{print_keys, print_secret, print_warnings, secret_json};
use crate::output::{cell, emit, map_table, table};
use crate::pairs::parse_pairs;

/// Where a KV path lives.
#[derive(Debug, PartialEq, Eq)]
pub struct KvPath {
    /// The mount with trailing `/` ("" when unknown, v1).
    pub mount: String,
    /// The path below the mount.
    pub rest: String,
    /// 1 or 2.
    pub version: u8,
}

impl KvPath {
    /// The API path for a v2 sub-API (`data`, `metadata`...), or the plain v1 path.
    pub fn api(&self, api: &str) -> String {
        if self.version == 2 {
            format!("{}{api}/{}", self.mount, self.rest)
        } else {
            format!("{}{}", self.mount, self.rest)
        }
    }
}

/// Runs the preflight and splits `path` into mount and rest.
pub async fn resolve(client: &Client, flags: &KvFlags, path: &str) -> Result<KvPath> {
    let full = match &flags.mount {
        Some(m) => format!("{}/{}", m.trim_matches('/'), path.trim_start_matches('/')),
        None => path.trim_start_matches('/').to_string(),
    };
    match client.read(&format!("sys/internal/ui/mounts/{full}"), &[]).await {
        Ok(Some(s)) => {
            let data = s.data.unwrap_or_default();
            let mount = data.get("path").and_then(Value::as_str).unwrap_or("").to_string();
            let version =
                match data.get("options").and_then(|o| o.get("version")).and_then(Value::as_str) {
                    Some("2") => 2,
                    _ => 1,
                };
            let rest = full.strip_prefix(&mount).unwrap_or(&full).to_string();
            Ok(KvPath { mount, rest, version })
        }
        Ok(None) | Err(ClientError::Api { status: 404, .. }) => {
            Ok(KvPath { mount: String::new(), rest: full, version: 1 })
        }
        Err(e) => Err(e.into()),
    }
}

fn versions(flags: &KvFlags) -> Result<Vec<String>> {
    let list: Vec<String> = flags
        .versions
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if list.is_empty() {
        bail!("No versions provided, use the \"-versions\" flag");
    }
    Ok(list)
}

/// Runs a kv subcommand.
pub async fn run(client: &Client, global: &Global, command: Kv) -> Result<u8> {
    match command {
        Kv::Put { flags, path, pairs } => put(client, global, &flags, &path, &pairs, false).await,
        Kv::Patch { flags, path, pairs } => put(client, global, &flags, &path, &pairs, true).await,
        Kv::Get { flags, path } => get(client, global, &flags, &path).await,
        Kv::List { flags, path } => {
            let p = resolve(client, &flags, &path).await?;
            match client.list(&p.api("metadata")).await? {
                Some(s) => print_keys(global, &s),
                None => {
                    eprintln!("No value found at {}", p.api("metadata"));
                    Ok(2)
                }
            }
        }
        Kv::Delete { flags, path } => {
            let p = resolve(client, &flags, &path).await?;
            if p.version == 2 && flags.versions.is_some() {
                client.write(&p.api("delete"), &json!({ "versions": versions(&flags)? })).await?;
            } else {
                client.delete(&p.api("data"), &[]).await?;
            }
            println!("Success! Data deleted (if it existed) at: {}", p.api("data"));
            Ok(0)
        }
        Kv::Undelete { flags, path } => versions_op(client, &flags, &path, "undelete").await,
        Kv::Destroy { flags, path } => versions_op(client, &flags, &path, "destroy").await,
        Kv::Metadata(m) => metadata(client, global, m).await,
    }
}

async fn versions_op(client: &Client, flags: &KvFlags, path: &str, op: &str) -> Result<u8> {
    let p = resolve(client, flags, path).await?;
    if p.version != 2 {
        bail!("{op} is only supported on KV version 2 mounts");
    }
    client.write(&p.api(op), &json!({ "versions": versions(flags)? })).await?;
    println!("Success! Data written to: {}", p.api(op));
    Ok(0)
}

async fn put(
    client: &Client,
    global: &Global,
    flags: &KvFlags,
    path: &str,
    pairs: &[String],
    patch: bool,
) -> Result<u8> {
    let data = parse_pairs(pairs)?;
    if data.is_empty() {
        bail!("Must supply data");
    }
    let p = resolve(client, flags, path).await?;
    let answer = if p.version == 2 {
        let mut options = Map::new();
        if let Some(cas) = flags.cas.filter(|c| *c >= 0) {
            options.insert("cas".into(), json!(cas));
        }
        let body = json!({ "data": data, "options": options });
        if patch {
            client.patch(&p.api("data"), &body).await?
        } else {
            client.write(&p.api("data"), &body).await?
        }
    } else if patch {
        bail!("patch is only supported on KV version 2 mounts");
    } else {
        client.write(&p.api("data"), &Value::Object(data)).await?
    };
    match answer {
        Some(s) => Ok(print_secret(global, &s)),
        None => {
            println!("Success! Data written to: {}", p.api("data"));
            Ok(0)
        }
    }
}

async fn get(client: &Client, global: &Global, flags: &KvFlags, path: &str) -> Result<u8> {
    let p = resolve(client, flags, path).await?;
    let version = flags.version.map(|v| v.to_string());
    let query: Vec<(&str, &str)> =
        version.as_deref().map(|v| vec![("version", v)]).unwrap_or_default();
    let Some(s) = client.read(&p.api("data"), &query).await? else {
        eprintln!("No value found at {}", p.api("data"));
        return Ok(2);
    };
    print_warnings(&s);
    if p.version == 1 {
        return Ok(print_secret(global, &s));
    }
    let outer = s.data.clone().unwrap_or_default();
    let data = outer.get("data").and_then(Value::as_object).cloned();
    let metadata = outer.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    if global.field.is_some() && data.is_none() {
        eprintln!("No value found at {}", p.api("data"));
        return Ok(2);
    }
    let source = data.clone().unwrap_or_default();
    Ok(emit(global, &source, &secret_json(&s), || {
        let mut out = format!("== Secret Path ==\n{}\n\n======= Metadata =======\n", p.api("data"));
        out.push_str(&map_table(&metadata));
        if let Some(d) = &data {
            out.push_str("\n====== Data ======\n");
            out.push_str(&map_table(d));
        }
        out
    }))
}

async fn metadata(client: &Client, global: &Global, command: KvMetadata) -> Result<u8> {
    match command {
        KvMetadata::Get { flags, path } => {
            let p = resolve(client, &flags, &path).await?;
            let Some(s) = client.read(&p.api("metadata"), &[]).await? else {
                eprintln!("No value found at {}", p.api("metadata"));
                return Ok(2);
            };
            let data = s.data.clone().unwrap_or_default();
            Ok(emit(global, &data, &secret_json(&s), || {
                let mut top = data.clone();
                let versions = top.remove("versions");
                let mut out = map_table(&top);
                if let Some(Value::Object(v)) = versions {
                    let mut numbers: Vec<_> = v.iter().collect();
                    numbers.sort_by_key(|(k, _)| k.parse::<u64>().unwrap_or(0));
                    for (n, meta) in numbers {
                        out.push_str(&format!("\n====== Version {n} ======\n"));
                        let rows: Vec<(String, String)> = meta
                            .as_object()
                            .map(|m| m.iter().map(|(k, v)| (k.clone(), cell(v))).collect())
                            .unwrap_or_default();
                        out.push_str(&table(&rows, ("Key", "Value")));
                    }
                }
                out
            }))
        }
        KvMetadata::Put {
            flags,
            max_versions,
            cas_required,
            delete_version_after,
            custom_metadata,
            path,
        } => {
            let p = resolve(client, &flags, &path).await?;
            let mut body = Map::new();
            if let Some(m) = max_versions {
                body.insert("max_versions".into(), json!(m));
            }
            if let Some(c) = cas_required {
                body.insert("cas_required".into(), json!(c));
            }
            if let Some(d) = delete_version_after {
                body.insert("delete_version_after".into(), json!(d));
            }
            if !custom_metadata.is_empty() {
                body.insert(
                    "custom_metadata".into(),
                    Value::Object(parse_pairs(&custom_metadata)?),
                );
            }
            client.write(&p.api("metadata"), &Value::Object(body)).await?;
            println!("Success! Data written to: {}", p.api("metadata"));
            Ok(0)
        }
        KvMetadata::Delete { flags, path } => {
            let p = resolve(client, &flags, &path).await?;
            client.delete(&p.api("metadata"), &[]).await?;
            println!("Success! Data deleted (if it existed) at: {}", p.api("metadata"));
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_paths_insert_the_sub_api() {
        let p = KvPath { mount: "secret/".into(), rest: "app/db".into(), version: 2 };
        assert_eq!(p.api("data"), "secret/data/app/db");
        assert_eq!(p.api("metadata"), "secret/metadata/app/db");
        let v1 = KvPath { mount: "kv/".into(), rest: "x".into(), version: 1 };
        assert_eq!(v1.api("data"), "kv/x");
    }
}
