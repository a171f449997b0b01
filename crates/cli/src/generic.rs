//! `read`, `write`, `list`, `delete`, `patch`, and printing a response envelope the way
//! Vault's CLI does (`OutputSecret`).

use anyhow::{Context, Result};
use coffer_client::{Client, Secret};
use serde_json::{Map, Value, json};

use crate::UsageError;
use crate::args::Global;
use crate::output::{cell, emit, human_duration, json as pretty, keys_list, table};
use crate::pairs::parse_pairs;

/// The envelope as `-format=json` prints it (Go's `api.Secret`: `auth` and `wrap_info` only
/// when present).
pub fn secret_json(s: &Secret) -> Value {
    let mut out = json!({
        "request_id": s.request_id,
        "lease_id": s.lease_id,
        "lease_duration": s.lease_duration,
        "renewable": s.renewable,
        "data": s.data,
        "warnings": s.warnings,
    });
    if let Some(map) = out.as_object_mut() {
        if let Some(auth) = &s.auth {
            map.insert("auth".into(), auth.clone());
        }
        if let Some(wrap) = &s.wrap_info {
            map.insert("wrap_info".into(), wrap.clone());
        }
    }
    out
}

/// The rows of an `auth` block (`token`, `token_accessor`, ... as Vault names them).
pub fn auth_rows(auth: &Value) -> Vec<(String, Value)> {
    let get = |k: &str| auth.get(k).cloned().unwrap_or(Value::Null);
    let duration = match auth.get("lease_duration").and_then(Value::as_i64).unwrap_or(0) {
        0 => "∞".to_string(),
        secs => human_duration(secs),
    };
    let token_policies = get("token_policies");
    let identity = auth.get("identity_policies").cloned().unwrap_or_else(|| json!([]));
    let mut rows = vec![
        ("token".into(), get("client_token")),
        ("token_accessor".into(), get("accessor")),
        ("token_duration".into(), Value::String(duration)),
        ("token_renewable".into(), get("renewable")),
        ("token_policies".into(), Value::String(token_policies.to_string())),
        ("identity_policies".into(), Value::String(identity.to_string())),
        ("policies".into(), Value::String(get("policies").to_string())),
    ];
    if let Some(meta) = auth.get("metadata").and_then(Value::as_object) {
        let mut keys: Vec<_> = meta.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        rows.extend(keys.into_iter().map(|(k, v)| (format!("token_meta_{k}"), v.clone())));
    }
    rows
}

/// Every printable field of a secret, in Vault's table order: lease, auth, wrap info, data.
pub fn secret_rows(s: &Secret) -> Vec<(String, Value)> {
    let mut rows: Vec<(String, Value)> = Vec::new();
    if s.lease_duration > 0 {
        if s.lease_id.is_empty() {
            rows.push(("refresh_interval".into(), json!(human_duration(s.lease_duration))));
        } else {
            rows.push(("lease_id".into(), json!(s.lease_id)));
            rows.push(("lease_duration".into(), json!(human_duration(s.lease_duration))));
            rows.push(("lease_renewable".into(), json!(s.renewable)));
        }
    }
    if let Some(auth) = s.auth.as_ref().filter(|a| a.get("client_token").is_some()) {
        rows.extend(auth_rows(auth));
    }
    if let Some(wrap) = &s.wrap_info {
        for (label, key) in [
            ("wrapping_token:", "token"),
            ("wrapping_accessor:", "accessor"),
            ("wrapping_token_ttl:", "ttl"),
            ("wrapping_token_creation_time:", "creation_time"),
            ("wrapping_token_creation_path:", "creation_path"),
            ("wrapped_accessor:", "wrapped_accessor"),
        ] {
            if let Some(v) = wrap.get(key).filter(|v| !v.is_null() && *v != "") {
                rows.push((label.into(), v.clone()));
            }
        }
    }
    let mut data: Vec<_> = s.data.iter().flatten().collect();
    data.sort_by(|a, b| a.0.cmp(b.0));
    rows.extend(data.into_iter().map(|(k, v)| (k.clone(), v.clone())));
    rows
}

/// The fields `-field` can pick: the data first, then the table's rows (`token`...), then
/// the raw `auth` keys (`client_token`, `accessor`: a Coffer extension the README uses).
fn secret_fields(s: &Secret) -> Map<String, Value> {
    let mut out: Map<String, Value> =
        s.auth.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
    out.extend(secret_rows(s));
    for (k, v) in s.data.iter().flatten() {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Prints a secret: warnings to stderr, then one field, the JSON envelope, or the table.
pub fn print_secret(global: &Global, s: &Secret) -> u8 {
    print_warnings(s);
    emit(global, &secret_fields(s), &secret_json(s), || {
        let rows: Vec<(String, String)> =
            secret_rows(s).into_iter().map(|(k, v)| (k, cell(&v))).collect();
        if rows.is_empty() { String::new() } else { table(&rows) }
    })
}

/// Prints warnings returned by the server to stderr.
pub fn print_warnings(s: &Secret) {
    if let Some(warnings) = s.warnings.as_ref().filter(|w| !w.is_empty()) {
        eprintln!("WARNING! The following warnings were returned from the server:\n");
        for w in warnings {
            eprintln!("{}\n", crate::output::wrap(&format!("* {w}"), 76, "  "));
        }
    }
}

/// Prints a write's answer: the secret when there is one, else the success line (tables only).
pub fn print_written(global: &Global, answer: Option<Secret>, success: &str) -> u8 {
    match answer {
        Some(s) if s.data.is_some() || s.auth.is_some() || s.wrap_info.is_some() => {
            print_secret(global, &s)
        }
        other => {
            if let Some(s) = other {
                print_warnings(&s);
            }
            if global.format == "table" {
                println!("{success}");
            }
            0
        }
    }
}

/// `coffer read PATH`.
pub async fn read(client: &Client, global: &Global, path: &str) -> Result<u8> {
    let secret = client.read(path, &[]).await.with_context(|| format!("Error reading {path}"))?;
    match secret {
        Some(s) => Ok(print_secret(global, &s)),
        None => {
            eprintln!("No value found at {path}");
            Ok(2)
        }
    }
}

/// `coffer write PATH DATA...`: PUT; `-f` with no data sends `null`.
pub async fn write(
    client: &Client,
    global: &Global,
    path: &str,
    pairs: &[String],
    force: bool,
) -> Result<u8> {
    let data = parse_pairs(pairs)?;
    if data.is_empty() && !force {
        return Err(UsageError("Must supply data or use -force".into()).into());
    }
    let body = if data.is_empty() { Value::Null } else { Value::Object(data) };
    let answer =
        client.write(path, &body).await.with_context(|| format!("Error writing data to {path}"))?;
    Ok(print_written(global, answer, &format!("Success! Data written to: {path}")))
}

/// `coffer patch PATH DATA...`: PATCH with a JSON merge patch.
pub async fn patch(client: &Client, global: &Global, path: &str, pairs: &[String]) -> Result<u8> {
    let data = parse_pairs(pairs)?;
    if data.is_empty() {
        return Err(UsageError("Must supply data".into()).into());
    }
    let answer = client
        .patch(path, &Value::Object(data))
        .await
        .with_context(|| format!("Error writing data to {path}"))?;
    Ok(print_written(global, answer, &format!("Success! Data written to: {path}")))
}

/// `coffer list PATH`.
pub async fn list(client: &Client, global: &Global, path: &str) -> Result<u8> {
    let secret = client.list(path).await.with_context(|| format!("Error listing {path}"))?;
    let Some(s) = secret.filter(|s| s.data.is_some()) else {
        eprintln!("No value found at {path}");
        return Ok(2);
    };
    print_keys(global, &s, path)
}

/// Prints the `keys` of a list answer (`-format=json`: the bare array, like Vault).
pub fn print_keys(global: &Global, s: &Secret, path: &str) -> Result<u8> {
    print_warnings(s);
    let Some(keys) = s.data.as_ref().and_then(|d| d.get("keys")).and_then(Value::as_array) else {
        eprintln!("No entries found at {path}");
        return Ok(2);
    };
    if global.format == "json" {
        println!("{}", pretty(&Value::Array(keys.clone())));
    } else {
        print!("{}", keys_list(keys));
    }
    Ok(0)
}

/// `coffer delete PATH [k=v...]`: the data goes in the query string.
pub async fn delete(client: &Client, global: &Global, path: &str, pairs: &[String]) -> Result<u8> {
    let data = parse_pairs(pairs)?;
    let values: Vec<(String, String)> = data
        .iter()
        .flat_map(|(k, v)| match v {
            Value::Array(items) => items.iter().map(|i| (k.clone(), cell(i))).collect(),
            other => vec![(k.clone(), cell(other))],
        })
        .collect();
    let query: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let answer =
        client.delete(path, &query).await.with_context(|| format!("Error deleting {path}"))?;
    Ok(print_written(global, answer, &format!("Success! Data deleted (if it existed) at: {path}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_v1_reads_show_a_refresh_interval_then_sorted_data() {
        let s = Secret {
            lease_duration: 2_764_800,
            data: Some(json!({"y": "2", "x": 1}).as_object().cloned().unwrap_or_default()),
            ..Secret::default()
        };
        let rows: Vec<(String, String)> =
            secret_rows(&s).into_iter().map(|(k, v)| (k, cell(&v))).collect();
        assert_eq!(
            rows,
            [
                ("refresh_interval".to_string(), "768h".to_string()),
                ("x".into(), "1".into()),
                ("y".into(), "2".into())
            ]
        );
    }

    #[test]
    fn auth_blocks_print_token_rows() {
        let s = Secret {
            auth: Some(json!({"client_token": "s.t", "accessor": "a", "lease_duration": 0,
                "renewable": false, "token_policies": ["root"], "policies": ["root"],
                "metadata": {"role": "web"}})),
            ..Secret::default()
        };
        let fields = secret_fields(&s);
        assert_eq!(fields.get("token"), Some(&json!("s.t")));
        assert_eq!(fields.get("token_duration"), Some(&json!("∞")));
        assert_eq!(fields.get("token_policies"), Some(&json!(r#"["root"]"#)));
        assert_eq!(fields.get("token_meta_role"), Some(&json!("web")));
        assert_eq!(fields.get("client_token"), Some(&json!("s.t")), "the raw auth keys too");
    }

    #[test]
    fn json_output_omits_absent_auth_and_wrap_info() {
        let v = secret_json(&Secret::default());
        assert_eq!(
            v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()),
            Some(
                ["request_id", "lease_id", "lease_duration", "renewable", "data", "warnings"]
                    .map(String::from)
                    .to_vec()
            )
        );
    }
}
