//! Workloads: each is set up through the API with the root token, then driven with a token
//! scoped by a policy to exactly what the workload needs (never root).

use anyhow::{Context, Result, bail};
use coffer_client::Client;
use coffer_types::SecretString;
use serde_json::{Value, json};

/// Every workload this load generator knows.
pub const ALL: &[&str] = &[
    "kv2-read",
    "kv2-write",
    "token-lookup-self",
    "approle-login",
    "pki-issue-ec",
    "pki-issue-ec-no-store",
    "pki-issue-rsa",
    "mixed",
];

/// One request to send: method, path, body, and whether it carries the scoped token.
#[derive(Clone)]
pub struct Call {
    /// HTTP method.
    pub method: &'static str,
    /// Path below /v1/.
    pub path: String,
    /// JSON body.
    pub body: Option<Value>,
}

/// A prepared workload: the client holding the scoped token and a request generator.
pub struct Prepared {
    /// Client with the scoped token.
    pub client: Client,
    /// Builds the i-th request.
    pub next: Box<dyn Fn(u64) -> Call + Send + Sync>,
    /// Whether the token is policy-scoped (false: a fallback that the report flags).
    pub scoped: bool,
}

async fn ok_or_in_use(client: &Client, path: &str, body: Value) -> Result<()> {
    match client.write(path, &body).await {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("already in use") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Writes `policy` and returns a client with a token holding only it.
async fn scoped_client(root: &Client, name: &str, policy: &str) -> Result<Client> {
    root.write(&format!("sys/policies/acl/{name}"), &json!({ "policy": policy }))
        .await
        .context("writing the workload policy")?;
    let created = root
        .write(
            "auth/token/create",
            &json!({ "policies": [name], "ttl": "2h", "no_default_policy": false }),
        )
        .await?
        .context("token create answered nothing")?;
    let token = created
        .auth
        .as_ref()
        .and_then(|a| a.get("client_token"))
        .and_then(Value::as_str)
        .context("no client_token")?;
    Ok(root.with_token(Some(SecretString::new(token))))
}

async fn kv_mount(root: &Client) -> Result<()> {
    ok_or_in_use(root, "sys/mounts/bench-kv", json!({"type": "kv", "options": {"version": "2"}}))
        .await?;
    // A fresh kv-v2 mount takes a moment to be ready on some servers.
    for _ in 0..50 {
        if root
            .write(
                "bench-kv/data/item",
                &json!({"data": {"user": "bench", "password": "p4ss", "n": "1"}}),
            )
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("the kv-v2 mount never became writable")
}

async fn pki_mount(root: &Client) -> Result<()> {
    ok_or_in_use(root, "sys/mounts/bench-pki", json!({"type": "pki"})).await?;
    root.write("sys/mounts/bench-pki/tune", &json!({"max_lease_ttl": "87600h"})).await?;
    let has_ca = root.read("bench-pki/cert/ca", &[]).await.ok().flatten().is_some();
    if !has_ca {
        root.write("bench-pki/root/generate/internal", &json!({"common_name": "Bench Root", "key_type": "ec", "key_bits": 256, "ttl": "8760h"}))
            .await
            .context("generating the bench root CA")?;
    }
    let roles =
        [("ec", "ec", 256, false), ("ec-no-store", "ec", 256, true), ("rsa", "rsa", 2048, false)];
    for (name, key_type, bits, no_store) in roles {
        root.write(
            &format!("bench-pki/roles/{name}"),
            &json!({"allowed_domains": "bench.internal", "allow_subdomains": true, "key_type": key_type, "key_bits": bits, "ttl": "5m", "max_ttl": "10m", "no_store": no_store}),
        )
        .await?;
    }
    Ok(())
}

/// Sets a workload up on the server behind `root`.
pub async fn prepare(root: &Client, workload: &str) -> Result<Prepared> {
    match workload {
        "kv2-read" => {
            kv_mount(root).await?;
            let client = scoped_client(
                root,
                "bench-kv-read",
                "path \"bench-kv/data/*\" { capabilities = [\"read\"] }",
            )
            .await?;
            Ok(Prepared {
                client,
                next: Box::new(|_| Call {
                    method: "GET",
                    path: "bench-kv/data/item".into(),
                    body: None,
                }),
                scoped: true,
            })
        }
        "kv2-write" => {
            kv_mount(root).await?;
            let client = scoped_client(
                root,
                "bench-kv-write",
                "path \"bench-kv/data/w/*\" { capabilities = [\"create\", \"update\"] }",
            )
            .await?;
            Ok(Prepared {
                client,
                next: Box::new(|i| Call {
                    method: "PUT",
                    path: format!("bench-kv/data/w/{}", i % 1000),
                    body: Some(json!({"data": {"value": i.to_string()}})),
                }),
                scoped: true,
            })
        }
        "mixed" => {
            kv_mount(root).await?;
            let policy =
                "path \"bench-kv/data/*\" { capabilities = [\"read\", \"create\", \"update\"] }";
            let client = scoped_client(root, "bench-kv-mixed", policy).await?;
            Ok(Prepared {
                client,
                next: Box::new(|i| {
                    if i % 10 == 0 {
                        Call {
                            method: "PUT",
                            path: format!("bench-kv/data/m/{}", i % 100),
                            body: Some(json!({"data": {"v": i.to_string()}})),
                        }
                    } else {
                        Call { method: "GET", path: "bench-kv/data/item".into(), body: None }
                    }
                }),
                scoped: true,
            })
        }
        "token-lookup-self" => {
            let client = scoped_client(
                root,
                "bench-nothing",
                "path \"bench-none/*\" { capabilities = [\"deny\"] }",
            )
            .await?;
            Ok(Prepared {
                client,
                next: Box::new(|_| Call {
                    method: "GET",
                    path: "auth/token/lookup-self".into(),
                    body: None,
                }),
                scoped: true,
            })
        }
        "approle-login" => {
            ok_or_in_use(root, "sys/auth/bench-approle", json!({"type": "approle"})).await?;
            root.write(
                "auth/bench-approle/role/bench",
                &json!({"token_policies": "default", "token_ttl": "5m"}),
            )
            .await?;
            let role_id = root
                .read("auth/bench-approle/role/bench/role-id", &[])
                .await?
                .and_then(|s| s.data)
                .and_then(|d| d.get("role_id").and_then(Value::as_str).map(String::from))
                .context("no role_id")?;
            let secret_id = root
                .write("auth/bench-approle/role/bench/secret-id", &Value::Null)
                .await?
                .and_then(|s| s.data)
                .and_then(|d| d.get("secret_id").and_then(Value::as_str).map(String::from))
                .context("no secret_id")?;
            let body = json!({"role_id": role_id, "secret_id": secret_id});
            Ok(Prepared {
                client: root.with_token(None),
                next: Box::new(move |_| Call {
                    method: "PUT",
                    path: "auth/bench-approle/login".into(),
                    body: Some(body.clone()),
                }),
                scoped: true,
            })
        }
        "pki-issue-ec" | "pki-issue-ec-no-store" | "pki-issue-rsa" => {
            pki_mount(root).await?;
            let role = match workload {
                "pki-issue-ec" => "ec",
                "pki-issue-ec-no-store" => "ec-no-store",
                _ => "rsa",
            };
            let policy = format!(
                "path \"bench-pki/issue/{role}\" {{ capabilities = [\"create\", \"update\"] }}"
            );
            let client = scoped_client(root, &format!("bench-pki-{role}"), &policy).await?;
            let path = format!("bench-pki/issue/{role}");
            Ok(Prepared {
                client,
                next: Box::new(move |i| Call {
                    method: "PUT",
                    path: path.clone(),
                    body: Some(
                        json!({"common_name": format!("svc-{}.bench.internal", i % 1000), "ttl": "5m"}),
                    ),
                }),
                scoped: true,
            })
        }
        other => bail!("unknown workload {other:?} (known: {})", ALL.join(", ")),
    }
}
