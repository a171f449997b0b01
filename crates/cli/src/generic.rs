//! `status`, `login`, `read`, `write`, `list`, `delete`, `patch`.

use anyhow::{Result, bail};
use coffer_client::{Client, Secret};
use serde_json::{Map, Value, json};

use crate::args::Global;
use crate::output::{cell, emit, keys_list, table};
use crate::pairs::parse_pairs;

/// The envelope as JSON (what `-format=json` prints).
pub fn secret_json(s: &Secret) -> Value {
    json!({
        "request_id": s.request_id,
        "lease_id": s.lease_id,
        "lease_duration": s.lease_duration,
        "renewable": s.renewable,
        "data": s.data,
        "warnings": s.warnings,
        "auth": s.auth,
    })
}

/// Prints a secret: warnings, then its data (or auth) table.
pub fn print_secret(global: &Global, s: &Secret) -> u8 {
    print_warnings(s);
    let data = s.data.clone().unwrap_or_default();
    let auth: Map<String, Value> =
        s.auth.as_ref().and_then(|a| a.as_object().cloned()).unwrap_or_default();
    let source = if data.is_empty() && !auth.is_empty() { &auth } else { &data };
    emit(global, source, &secret_json(s), || {
        let mut rows = Vec::new();
        if s.lease_duration > 0 {
            let name = if s.lease_id.is_empty() { "refresh_interval" } else { "lease_duration" };
            rows.push((name.to_string(), format!("{}s", s.lease_duration)));
        }
        if !s.lease_id.is_empty() {
            rows.push(("lease_id".into(), s.lease_id.clone()));
            rows.push(("lease_renewable".into(), s.renewable.to_string()));
        }
        let mut keys: Vec<_> = source.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        rows.extend(keys.into_iter().map(|(k, v)| (k.clone(), cell(v))));
        table(&rows, ("Key", "Value"))
    })
}

/// Prints warnings returned by the server to stderr.
pub fn print_warnings(s: &Secret) {
    if let Some(warnings) = s.warnings.as_ref().filter(|w| !w.is_empty()) {
        eprintln!("WARNING! The following warnings were returned from Coffer:\n");
        for w in warnings {
            eprintln!("  * {w}\n");
        }
    }
}

/// `coffer status`: 0 unsealed, 2 sealed.
pub async fn status(client: &Client, global: &Global) -> Result<u8> {
    let (_, body) = client.raw_json("GET", "sys/seal-status", None).await?;
    let map = body.as_object().cloned().unwrap_or_default();
    let sealed = map.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    emit(global, &map, &body, || {
        let get = |k: &str| map.get(k).map(cell).unwrap_or_default();
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
        rows.push(("Version".into(), get("version")));
        rows.push(("Storage Type".into(), get("storage_type")));
        if !sealed {
            rows.push(("Cluster Name".into(), get("cluster_name")));
            rows.push(("Cluster ID".into(), get("cluster_id")));
        }
        rows.push(("HA Enabled".into(), "false".into()));
        table(&rows, ("Key", "Value"))
    });
    Ok(if sealed { 2 } else { 0 })
}

/// `coffer login TOKEN`: checks the token, then stores it in `~/.coffer-token` (0600).
pub async fn login(client: &Client, token: Option<String>) -> Result<u8> {
    let token = match token.filter(|t| t != "-") {
        Some(t) => t,
        None => {
            let mut buf = String::new();
            std::io::stdin().read_line(&mut buf)?;
            buf.trim().to_string()
        }
    };
    let client = client.with_token(Some(coffer_types::SecretString::new(token.clone())));
    let Some(me) = client.read("auth/token/lookup-self", &[]).await? else {
        bail!("token lookup returned nothing")
    };
    crate::token_file::store(&token)?;
    let policies = me.data.as_ref().and_then(|d| d.get("policies")).map(cell).unwrap_or_default();
    println!("Success! You are now authenticated. The token is stored in ~/.coffer-token.\n");
    print!("{}", table(&[("token_policies".into(), policies)], ("Key", "Value")));
    Ok(0)
}

/// `coffer read PATH`.
pub async fn read(client: &Client, global: &Global, path: &str) -> Result<u8> {
    match client.read(path, &[]).await? {
        Some(s) => Ok(print_secret(global, &s)),
        None => {
            eprintln!("No value found at {path}");
            Ok(2)
        }
    }
}

/// `coffer write PATH k=v...`.
pub async fn write(
    client: &Client,
    global: &Global,
    path: &str,
    pairs: &[String],
    force: bool,
) -> Result<u8> {
    let data = parse_pairs(pairs)?;
    if data.is_empty() && !force {
        bail!("Must supply data or use -force");
    }
    let body = if data.is_empty() { Value::Null } else { Value::Object(data) };
    match client.write(path, &body).await? {
        Some(s) if s.data.is_some() || s.auth.is_some() => Ok(print_secret(global, &s)),
        Some(s) => {
            print_warnings(&s);
            println!("Success! Data written to: {path}");
            Ok(0)
        }
        None => {
            println!("Success! Data written to: {path}");
            Ok(0)
        }
    }
}

/// `coffer patch PATH k=v...`.
pub async fn patch(client: &Client, global: &Global, path: &str, pairs: &[String]) -> Result<u8> {
    let data = parse_pairs(pairs)?;
    match client.patch(path, &Value::Object(data)).await? {
        Some(s) if s.data.is_some() => Ok(print_secret(global, &s)),
        _ => {
            println!("Success! Data written to: {path}");
            Ok(0)
        }
    }
}

/// `coffer list PATH`.
pub async fn list(client: &Client, global: &Global, path: &str) -> Result<u8> {
    let Some(s) = client.list(path).await? else {
        eprintln!("No value found at {path}");
        return Ok(2);
    };
    print_keys(global, &s)
}

/// Prints the `keys` of a list answer.
pub fn print_keys(global: &Global, s: &Secret) -> Result<u8> {
    let keys = s
        .data
        .as_ref()
        .and_then(|d| d.get("keys"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if global.format == "json" {
        println!("{}", crate::output::json(&Value::Array(keys)));
    } else {
        print!("{}", keys_list(&keys));
    }
    Ok(0)
}

/// `coffer delete PATH`.
pub async fn delete(client: &Client, path: &str) -> Result<u8> {
    client.delete(path, &[]).await?;
    println!("Success! Data deleted (if it existed) at: {path}");
    Ok(0)
}
