//! `coffer operator init|unseal|seal|rotate`.

use std::io::Read;

use anyhow::{Result, bail};
use base64::Engine as _;
use coffer_client::Client;
use serde_json::{Value, json};

use crate::args::{Global, Operator};
use crate::output::{cell, json as pretty, table};

/// Runs an operator subcommand.
pub async fn run(client: &Client, global: &Global, command: Operator) -> Result<u8> {
    match command {
        Operator::Init { key_shares, key_threshold, status } => {
            if status {
                let (_, body) = client.raw_json("GET", "sys/init", None).await?;
                let initialized = body.get("initialized").and_then(Value::as_bool).unwrap_or(false);
                println!(
                    "{}",
                    if initialized { "Coffer is initialized" } else { "Coffer is not initialized" }
                );
                return Ok(if initialized { 0 } else { 2 });
            }
            init(client, global, key_shares, key_threshold).await
        }
        Operator::Unseal { key, reset } => unseal(client, global, key, reset).await,
        Operator::Seal => {
            client.write("sys/seal", &Value::Null).await?;
            println!("Success! Coffer is sealed.");
            Ok(0)
        }
        Operator::Rotate => {
            client.write("sys/rotate", &Value::Null).await?;
            let status =
                client.read("sys/key-status", &[]).await?.and_then(|s| s.data).unwrap_or_default();
            let term = status.get("term").map(cell).unwrap_or_default();
            let installed = status.get("install_time").map(cell).unwrap_or_default();
            println!("Success! Rotated key\n\nKey Term        {term}\nInstall Time    {installed}");
            Ok(0)
        }
    }
}

async fn init(client: &Client, global: &Global, shares: u32, threshold: u32) -> Result<u8> {
    let body = json!({"secret_shares": shares, "secret_threshold": threshold});
    let (status, answer) = client.raw_json("PUT", "sys/init", Some(&body)).await?;
    if status >= 400 {
        let errors = answer.get("errors").map(cell).unwrap_or_default();
        bail!("Error initializing: Code: {status}. Errors: {errors}");
    }
    let b64: Vec<String> = answer
        .get("keys_base64")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let hex: Vec<String> =
        answer.get("keys").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
    let root = answer.get("root_token").and_then(Value::as_str).unwrap_or("");
    if global.format == "json" {
        let out = json!({
            "unseal_keys_b64": b64,
            "unseal_keys_hex": hex,
            "unseal_shares": shares,
            "unseal_threshold": threshold,
            "recovery_keys_b64": [],
            "recovery_keys_hex": [],
            "recovery_keys_shares": 0,
            "recovery_keys_threshold": 0,
            "root_token": root,
        });
        println!("{}", pretty(&out));
        return Ok(0);
    }
    for (i, key) in b64.iter().enumerate() {
        println!("Unseal Key {}: {key}", i + 1);
    }
    println!("\nInitial Root Token: {root}\n");
    println!(
        "Coffer initialized with {shares} key shares and a key threshold of {threshold}. Keep the keys apart: {threshold} of them unseal the server after every restart."
    );
    Ok(0)
}

async fn unseal(client: &Client, global: &Global, key: Option<String>, reset: bool) -> Result<u8> {
    let body = if reset {
        json!({"reset": true})
    } else {
        let key = match key.filter(|k| k != "-") {
            Some(k) => k,
            None => {
                let mut buf = String::new();
                std::io::stdin().read_to_string(&mut buf)?;
                buf.trim().to_string()
            }
        };
        if base64::engine::general_purpose::STANDARD.decode(&key).is_err() && hex_decode_fails(&key)
        {
            bail!("the unseal key must be hex or base64");
        }
        json!({"key": key})
    };
    let (status, answer) = client.raw_json("PUT", "sys/unseal", Some(&body)).await?;
    if status >= 400 {
        let errors = answer.get("errors").map(cell).unwrap_or_default();
        bail!("Error unsealing: Code: {status}. Errors: {errors}");
    }
    if global.format == "json" {
        println!("{}", pretty(&answer));
        return Ok(0);
    }
    let get = |k: &str| answer.get(k).map(cell).unwrap_or_default();
    let rows = vec![
        ("Seal Type".to_string(), get("type")),
        ("Initialized".into(), get("initialized")),
        ("Sealed".into(), get("sealed")),
        ("Total Shares".into(), get("n")),
        ("Threshold".into(), get("t")),
        ("Unseal Progress".into(), format!("{}/{}", get("progress"), get("t"))),
        ("Version".into(), get("version")),
    ];
    print!("{}", table(&rows, ("Key", "Value")));
    Ok(0)
}

fn hex_decode_fails(key: &str) -> bool {
    key.len() % 2 != 0 || !key.chars().all(|c| c.is_ascii_hexdigit())
}
