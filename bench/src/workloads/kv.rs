//! KV v2: reads of one secret, writes over 1,000 keys, and the 90/10 mix.

use anyhow::Result;
use http::Method;
use serde_json::json;

use super::{Prepared, mount, scoped, until_ok};
use crate::client::{Api, Call};

async fn kv_mount(root: &Api) -> Result<()> {
    mount(root, "bench-kv", json!({ "type": "kv", "options": { "version": "2" } })).await?;
    let item = json!({ "data": { "user": "bench", "password": "p4ss", "n": "1" } });
    until_ok(root, "bench-kv/data/item", &item).await.map(drop)
}

/// `kv2-read`: GET one secret.
pub async fn read(root: &Api) -> Result<Prepared> {
    kv_mount(root).await?;
    let policy = r#"path "bench-kv/data/item" { capabilities = ["read"] }"#;
    let (api, scope) = scoped(root, "bench-kv-read", policy).await?;
    let call = Call::new(Method::GET, "bench-kv/data/item");
    Ok(Prepared::new(api, scope, move |_| call.clone()))
}

fn write_call(i: u64, keys: u64) -> Call {
    let body = json!({ "data": { "value": i.to_string() } });
    Call::json(Method::PUT, format!("bench-kv/data/w/{}", i % keys), &body)
}

/// `kv2-write`: PUT a secret, 1,000 keys in turn.
pub async fn write(root: &Api) -> Result<Prepared> {
    kv_mount(root).await?;
    let policy = r#"path "bench-kv/data/w/*" { capabilities = ["create", "update"] }"#;
    let (api, scope) = scoped(root, "bench-kv-write", policy).await?;
    Ok(Prepared::new(api, scope, |i| write_call(i, 1000)))
}

/// `mixed`: 9 reads of one secret for each write (over 100 keys).
pub async fn mixed(root: &Api) -> Result<Prepared> {
    kv_mount(root).await?;
    let policy = r#"
path "bench-kv/data/item" { capabilities = ["read"] }
path "bench-kv/data/w/*" { capabilities = ["create", "update"] }
"#;
    let (api, scope) = scoped(root, "bench-kv-mixed", policy).await?;
    let read = Call::new(Method::GET, "bench-kv/data/item");
    Ok(Prepared::new(
        api,
        scope,
        move |i| if i % 10 == 9 { write_call(i, 100) } else { read.clone() },
    ))
}
