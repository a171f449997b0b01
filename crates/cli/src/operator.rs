//! `coffer operator init|unseal|seal|rotate`, with the request bodies Vault's CLI sends.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result};
use coffer_client::Client;
use serde_json::{Value, json};

use crate::UsageError;
use crate::args::{Global, Operator};
use crate::output::{cell, columns, emit, json as pretty, table};
use crate::status::{seal_and_leader, seal_rows};

/// Runs an operator subcommand.
pub async fn run(client: &Client, global: &Global, command: Operator) -> Result<u8> {
    match command {
        Operator::Init { status: true, .. } => {
            let body =
                client.json("GET", "sys/init", None).await.context("Error checking init status")?;
            if body.get("initialized").and_then(Value::as_bool).unwrap_or(false) {
                println!("Coffer is initialized");
                Ok(0)
            } else {
                println!("Coffer is not initialized");
                Ok(2)
            }
        }
        Operator::Init { key_shares, key_threshold, .. } => {
            init(client, global, key_shares, key_threshold).await
        }
        Operator::Unseal { key, reset } => unseal(client, global, key, reset).await,
        Operator::Seal => {
            client.write_empty("sys/seal").await.context("Error sealing")?;
            println!("Success! Coffer is sealed.");
            Ok(0)
        }
        Operator::Rotate => rotate(client, global).await,
    }
}

/// The `sys/init` body Vault's CLI sends (no PGP, no recovery keys).
pub fn init_body(shares: u32, threshold: u32) -> Value {
    json!({
        "secret_shares": shares,
        "secret_threshold": threshold,
        "pgp_keys": null,
        "recovery_shares": 0,
        "recovery_threshold": 0,
        "recovery_pgp_keys": null,
        "root_token_pgp_key": "",
    })
}

async fn init(client: &Client, global: &Global, shares: u32, threshold: u32) -> Result<u8> {
    let body = init_body(shares, threshold);
    let answer = client.json("PUT", "sys/init", Some(&body)).await.context("Error initializing")?;
    let list = |k: &str| answer.get(k).cloned().unwrap_or(Value::Array(Vec::new()));
    let root = answer.get("root_token").and_then(Value::as_str).unwrap_or("");
    if global.format == "json" {
        let out = json!({
            "unseal_keys_b64": list("keys_base64"),
            "unseal_keys_hex": list("keys"),
            "unseal_shares": shares,
            "unseal_threshold": threshold,
            "recovery_keys_b64": answer.get("recovery_keys_base64"),
            "recovery_keys_hex": answer.get("recovery_keys"),
            "recovery_keys_shares": 0,
            "recovery_keys_threshold": 0,
            "root_token": root,
        });
        println!("{}", pretty(&out));
        return Ok(0);
    }
    let keys = list("keys_base64");
    for (i, key) in keys.as_array().into_iter().flatten().enumerate() {
        println!("Unseal Key {}: {}", i + 1, cell(key));
    }
    println!("\nInitial Root Token: {root}\n");
    println!(
        "Coffer initialized with {shares} key shares and a key threshold of {threshold}. Please\n\
         securely distribute the key shares printed above. When Coffer is re-sealed,\n\
         restarted, or stopped, you must supply at least {threshold} of these keys to unseal it\n\
         before it can start servicing requests.\n\n\
         Coffer does not store the generated root key. Without at least {threshold} keys to\n\
         reconstruct the root key, Coffer will remain permanently sealed!"
    );
    Ok(0)
}

/// The share from the argument, or from stdin when it is `-` or absent.
fn unseal_key(key: Option<String>) -> Result<String> {
    if let Some(k) = key.filter(|k| k != "-") {
        return Ok(k);
    }
    if std::io::stdin().is_terminal() {
        eprint!("Unseal Key (will be echoed): ");
    }
    let mut buf = String::new();
    std::io::stdin().read_to_string(&mut buf).context("reading the unseal key from stdin")?;
    let key = buf.trim().to_string();
    if key.is_empty() {
        return Err(UsageError("Error unsealing: no unseal key given".into()).into());
    }
    Ok(key)
}

async fn unseal(client: &Client, global: &Global, key: Option<String>, reset: bool) -> Result<u8> {
    let body = if reset {
        json!({"reset": true})
    } else {
        json!({"key": unseal_key(key)?, "reset": false, "migrate": false})
    };
    let answer = client.json("PUT", "sys/unseal", Some(&body)).await.context("Error unsealing")?;
    let map = seal_and_leader(client, answer).await;
    Ok(emit(global, &map, &Value::Object(map.clone()), || table(&seal_rows(&map))))
}

async fn rotate(client: &Client, global: &Global) -> Result<u8> {
    client.write_empty("sys/rotate").await.context("Error rotating key")?;
    let status = client
        .read("sys/key-status", &[])
        .await
        .context("Error reading key status")?
        .and_then(|s| s.data)
        .unwrap_or_default();
    Ok(emit(global, &status, &Value::Object(status.clone()), || {
        let get = |k: &str| status.get(k).map(cell).unwrap_or_else(|| "n/a".into());
        let mut rows = vec![
            vec!["Key Term".to_string(), get("term")],
            vec!["Install Time".into(), vault_time(&get("install_time"))],
        ];
        if status.contains_key("encryptions") {
            rows.push(vec!["Encryption Count".into(), get("encryptions")]);
        }
        format!("Success! Rotated key\n\n{}", columns(&rows))
    }))
}

/// An RFC 3339 UTC time as Vault prints install times (Go's `time.RFC822`: `28 Nov 26 23:32
/// UTC`); anything else unchanged.
pub fn vault_time(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let parts = (|| {
        let (date, time) = rfc3339.strip_suffix('Z').unwrap_or(rfc3339).split_once('T')?;
        let mut d = date.splitn(3, '-');
        let (year, month, day) = (d.next()?, d.next()?.parse::<usize>().ok()?, d.next()?);
        let month = MONTHS.get(month.checked_sub(1)?)?;
        let hm = time.get(..5)?;
        Some(format!("{day} {month} {} {hm} UTC", year.get(2..)?))
    })();
    match parts {
        Some(p) if rfc3339.ends_with('Z') => p,
        _ => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_sends_what_vault_sends() {
        assert_eq!(
            init_body(3, 2).to_string(),
            r#"{"secret_shares":3,"secret_threshold":2,"pgp_keys":null,"recovery_shares":0,"recovery_threshold":0,"recovery_pgp_keys":null,"root_token_pgp_key":""}"#
        );
    }

    #[test]
    fn install_times_print_like_vault() {
        assert_eq!(vault_time("2026-11-28T23:32:48.824543638Z"), "28 Nov 26 23:32 UTC");
        assert_eq!(vault_time("2026-01-05T01:02:03Z"), "05 Jan 26 01:02 UTC");
        assert_eq!(vault_time("garbage"), "garbage");
        assert_eq!(vault_time("2026-13-01T00:00:00Z"), "2026-13-01T00:00:00Z");
    }
}
