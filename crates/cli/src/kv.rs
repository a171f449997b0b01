//! `coffer kv ...`: the same preflight as Vault's CLI (`sys/internal/ui/mounts/<path>`, 404
//! meaning KV v1), then v1 paths or v2 `data/`, `metadata/`, `delete/`... paths.

use anyhow::{Context, Result, bail};
use coffer_client::{Client, ClientError, Secret};
use serde_json::{Map, Value, json};

use crate::UsageError;
use crate::args::{Global, Kv, KvMetadata, KvMount as MountFlag, KvVersions};
use crate::generic::{print_keys, print_warnings, secret_json};
use crate::kv_path::{KvMount, full_path, sanitize, versions};
use crate::output::{emit, header, map_header, map_table};
use crate::pairs::parse_pairs;

/// A resolved kv path: the full path and its mount.
struct Target {
    full: String,
    mount: KvMount,
}

impl Target {
    fn api(&self, api: &str) -> String {
        self.mount.api_path(&self.full, api)
    }

    fn require_v2(&self, what: &str) -> Result<()> {
        if self.mount.version != 2 {
            bail!("{what} not supported on KV Version 1");
        }
        Ok(())
    }
}

/// Runs the preflight: on the `-mount` when given, else on the full path.
async fn resolve(client: &Client, flag: &MountFlag, path: &str) -> Result<Target> {
    let full = full_path(flag.mount.as_deref(), path);
    let probe = flag.mount.as_deref().map(sanitize).unwrap_or_else(|| full.clone());
    let mount = match client.read(&format!("sys/internal/ui/mounts/{probe}"), &[]).await {
        Ok(Some(s)) => KvMount::from_preflight(&s.data.unwrap_or_default()),
        Ok(None) | Err(ClientError::Api { status: 404, .. }) => {
            KvMount { mount: String::new(), version: 1 }
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Target { full, mount })
}

fn need_versions(flag: &KvVersions, op: &str) -> Result<Vec<String>> {
    versions(flag.versions.as_deref()).ok_or_else(|| {
        UsageError(format!(
            "No versions provided, use the \"-versions\" flag to specify the version to {op}."
        ))
        .into()
    })
}

/// Runs a kv subcommand.
pub async fn run(client: &Client, global: &Global, command: Kv) -> Result<u8> {
    match command {
        Kv::Put { mount, cas, path, pairs } => {
            put(client, global, &mount, cas, &path, &pairs, false).await
        }
        Kv::Patch { mount, cas, path, pairs } => {
            put(client, global, &mount, cas, &path, &pairs, true).await
        }
        Kv::Get { mount, version, path } => get(client, global, &mount, version, &path).await,
        Kv::List { mount, path } => {
            let t = resolve(client, &mount, &path).await?;
            let list_path = t.api("metadata");
            let secret = client
                .list(&list_path)
                .await
                .with_context(|| format!("Error listing {list_path}"))?;
            match secret.filter(|s| s.data.is_some()) {
                Some(s) => print_keys(global, &s, &list_path),
                None => {
                    eprintln!("No value found at {list_path}");
                    Ok(2)
                }
            }
        }
        Kv::Delete { mount, versions: flag, path } => {
            let t = resolve(client, &mount, &path).await?;
            let data_path = t.api("data");
            let listed = versions(flag.versions.as_deref());
            let result = match listed {
                Some(v) if t.mount.version == 2 => {
                    client.write(&t.api("delete"), &json!({ "versions": v })).await
                }
                _ => client.delete(&data_path, &[]).await,
            };
            result.with_context(|| format!("Error deleting {data_path}"))?;
            println!("Success! Data deleted (if it existed) at: {data_path}");
            Ok(0)
        }
        Kv::Undelete { mount, versions, path } => {
            versions_op(client, &mount, &versions, &path, "undelete").await
        }
        Kv::Destroy { mount, versions, path } => {
            versions_op(client, &mount, &versions, &path, "destroy").await
        }
        Kv::Metadata(m) => metadata(client, global, m).await,
    }
}

async fn versions_op(
    client: &Client,
    mount: &MountFlag,
    flag: &KvVersions,
    path: &str,
    op: &str,
) -> Result<u8> {
    let list = need_versions(flag, op)?;
    let t = resolve(client, mount, path).await?;
    let mut name = op.to_string();
    name[..1].make_ascii_uppercase();
    t.require_v2(&name)?;
    let api_path = t.api(op);
    client
        .write(&api_path, &json!({ "versions": list }))
        .await
        .with_context(|| format!("Error writing data to {api_path}"))?;
    println!("Success! Data written to: {api_path}");
    Ok(0)
}

async fn put(
    client: &Client,
    global: &Global,
    mount: &MountFlag,
    cas: i64,
    path: &str,
    pairs: &[String],
    patch: bool,
) -> Result<u8> {
    let data = parse_pairs(pairs)?;
    if data.is_empty() {
        return Err(UsageError("Must supply data".into()).into());
    }
    let t = resolve(client, mount, path).await?;
    let data_path = t.api("data");
    let context = || format!("Error writing data to {data_path}");
    let answer = if t.mount.version == 2 {
        let mut options = Map::new();
        if cas >= 0 {
            options.insert("cas".into(), json!(cas));
        }
        let body = json!({ "data": data, "options": options });
        if patch {
            client.patch(&data_path, &body).await.with_context(context)?
        } else {
            client.write(&data_path, &body).await.with_context(context)?
        }
    } else if patch {
        bail!("K/V engine mount must be version 2 for patch support");
    } else {
        client.write(&data_path, &Value::Object(data)).await.with_context(context)?
    };
    let Some(s) = answer.filter(|s| s.data.is_some()) else {
        println!("Success! Data written to: {data_path}");
        return Ok(0);
    };
    print_warnings(&s);
    let metadata = s.data.clone().unwrap_or_default();
    Ok(emit(global, &metadata, &secret_json(&s), || {
        format!(
            "{}{}\n{}",
            path_header("Secret Path", &data_path),
            map_header("Metadata", &metadata),
            map_table(&metadata)
        )
    }))
}

/// `= Secret Path =` and the path, as Vault prints them above kv tables.
fn path_header(title: &str, path: &str) -> String {
    format!("{}\n{path}\n\n", header(title, path.len()))
}

async fn get(
    client: &Client,
    global: &Global,
    mount: &MountFlag,
    version: Option<u64>,
    path: &str,
) -> Result<u8> {
    let t = resolve(client, mount, path).await?;
    let data_path = t.api("data");
    let version = version.map(|v| v.to_string());
    let query: Vec<(&str, &str)> = version.iter().map(|v| ("version", v.as_str())).collect();
    let secret = client
        .read(&data_path, &query)
        .await
        .with_context(|| format!("Error reading {data_path}"))?;
    let Some(s) = secret else {
        eprintln!("No value found at {data_path}");
        return Ok(2);
    };
    print_warnings(&s);
    if t.mount.version == 1 {
        // Vault's `kv get` on v1 shows only the data, under a `== Data ==` header.
        let data = s.data.clone().unwrap_or_default();
        return Ok(emit(global, &data, &secret_json(&s), || {
            format!("{}\n{}", map_header("Data", &data), map_table(&data))
        }));
    }
    Ok(print_v2(global, &s, &data_path))
}

/// Prints a KV v2 read: `-field` from the secret's data, JSON envelope, or the metadata and
/// data tables.
fn print_v2(global: &Global, s: &Secret, data_path: &str) -> u8 {
    let outer = s.data.clone().unwrap_or_default();
    let data = outer.get("data").and_then(Value::as_object).cloned();
    let metadata = outer.get("metadata").and_then(Value::as_object).cloned();
    if global.field.is_some() && data.is_none() {
        eprintln!("No data found at {data_path}");
        return 2;
    }
    emit(global, &data.clone().unwrap_or_default(), &secret_json(s), || {
        let mut out = path_header("Secret Path", data_path);
        if let Some(m) = &metadata {
            out.push_str(&format!("{}\n{}\n", map_header("Metadata", m), map_table(m)));
        }
        if let Some(d) = &data {
            out.push_str(&format!("{}\n{}", map_header("Data", d), map_table(d)));
        }
        out
    })
}

async fn metadata(client: &Client, global: &Global, command: KvMetadata) -> Result<u8> {
    match command {
        KvMetadata::Get { mount, path } => {
            let t = resolve(client, &mount, &path).await?;
            t.require_v2("Metadata")?;
            let meta_path = t.api("metadata");
            let secret = client
                .read(&meta_path, &[])
                .await
                .with_context(|| format!("Error reading {meta_path}"))?;
            let Some(s) = secret else {
                eprintln!("No value found at {meta_path}");
                return Ok(2);
            };
            let data = s.data.clone().unwrap_or_default();
            Ok(emit(global, &data, &secret_json(&s), || metadata_tables(&meta_path, &data)))
        }
        KvMetadata::Put {
            mount,
            max_versions,
            cas_required,
            delete_version_after,
            custom_metadata,
            path,
        } => {
            let mut body = Map::new();
            if let Some(m) = max_versions {
                body.insert("max_versions".into(), json!(m));
            }
            if let Some(c) = cas_required {
                body.insert("cas_required".into(), json!(c));
            }
            if let Some(d) = delete_version_after {
                body.insert("delete_version_after".into(), json!(go_duration(&d)?));
            }
            if !custom_metadata.is_empty() {
                body.insert(
                    "custom_metadata".into(),
                    Value::Object(parse_pairs(&custom_metadata)?),
                );
            }
            let t = resolve(client, &mount, &path).await?;
            t.require_v2("Metadata")?;
            let meta_path = t.api("metadata");
            client
                .write(&meta_path, &Value::Object(body))
                .await
                .with_context(|| format!("Error writing data to {meta_path}"))?;
            println!("Success! Data written to: {meta_path}");
            Ok(0)
        }
        KvMetadata::Delete { mount, path } => {
            let t = resolve(client, &mount, &path).await?;
            t.require_v2("Metadata")?;
            let meta_path = t.api("metadata");
            client
                .delete(&meta_path, &[])
                .await
                .with_context(|| format!("Error deleting {meta_path}"))?;
            println!("Success! Data deleted (if it existed) at: {meta_path}");
            Ok(0)
        }
    }
}

/// `== Metadata Path ==`, the key's metadata, then one table per version (in number order).
pub fn metadata_tables(meta_path: &str, data: &Map<String, Value>) -> String {
    let mut top = data.clone();
    let versions = top.remove("versions");
    let mut out = path_header("Metadata Path", meta_path);
    out.push_str(&format!("{}\n{}", map_header("Metadata", &top), map_table(&top)));
    if let Some(Value::Object(v)) = versions {
        let mut numbered: Vec<(u64, &Map<String, Value>)> =
            v.iter().filter_map(|(k, m)| Some((k.parse().ok()?, m.as_object()?))).collect();
        numbered.sort_by_key(|(n, _)| *n);
        for (n, meta) in numbered {
            let title = format!("Version {n}");
            out.push_str(&format!("\n{}\n{}", map_header(&title, meta), map_table(meta)));
        }
    }
    out
}

/// A duration flag as Vault's CLI sends it (`90` → `1m30s`).
fn go_duration(flag: &str) -> Result<String> {
    coffer_types::parse_duration_str(flag)
        .map(coffer_types::format_go_duration)
        .ok_or_else(|| UsageError(format!("invalid duration {flag:?}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_prints_like_vault() {
        let data = json!({"current_version": 2, "custom_metadata": null,
            "versions": {"10": {"created_time": "t10", "deletion_time": "", "destroyed": false},
                         "2": {"created_time": "t2", "deletion_time": "", "destroyed": true}}});
        let out = metadata_tables("secret/metadata/foo", data.as_object().unwrap_or(&Map::new()));
        let expected_start = "== Metadata Path ==\nsecret/metadata/foo\n\n";
        assert!(out.starts_with(expected_start), "{out}");
        let v2 = out.find("====== Version 2 ======").unwrap_or(usize::MAX);
        assert!(out.contains("===== Version 10 =====\n"), "{out}");
        let v10 = out.find(" Version 10 ").unwrap_or(0);
        assert!(v2 < v10, "versions in number order:\n{out}");
    }

    #[test]
    fn duration_flags_are_sent_in_go_form() {
        assert_eq!(go_duration("90").ok().as_deref(), Some("1m30s"));
        assert_eq!(go_duration("1h").ok().as_deref(), Some("1h0m0s"));
        assert!(go_duration("1w").is_err());
    }
}
