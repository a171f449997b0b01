//! `pki-issue-*`: certificate issue, the server generating the key (EC P-256 stored, EC
//! P-256 from a `no_store` role, RSA-2048).

use anyhow::Result;
use http::Method;
use serde_json::json;

use super::{Background, Prepared, scoped};
use crate::client::{Api, Call};

/// Which role.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// EC P-256, certificates stored.
    Ec,
    /// EC P-256, `no_store`.
    EcNoStore,
    /// RSA-2048, stored.
    Rsa,
}

/// Mounts `bench-pki` with an EC root CA and the three roles (idempotent).
pub async fn pki_mount(root: &Api) -> Result<()> {
    super::mount(root, "bench-pki", json!({ "type": "pki" })).await?;
    root.put("sys/mounts/bench-pki/tune", &json!({ "max_lease_ttl": "87600h" }))
        .await?
        .ok("tuning bench-pki")?;
    let ca = root.get("bench-pki/cert/ca").await?;
    let has_ca = ca.status.is_success()
        && ca
            .body
            .pointer("/data/certificate")
            .and_then(|c| c.as_str())
            .is_some_and(|c| !c.is_empty());
    if !has_ca {
        let body = json!({ "common_name": "Bench Root", "key_type": "ec", "key_bits": 256, "ttl": "8760h" });
        root.put("bench-pki/root/generate/internal", &body)
            .await?
            .ok("generating the bench root CA")?;
    }
    for (name, key_type, bits, no_store) in
        [("ec", "ec", 256, false), ("ec-no-store", "ec", 256, true), ("rsa", "rsa", 2048, false)]
    {
        let role = json!({
            "allowed_domains": "bench.internal", "allow_subdomains": true, "key_type": key_type,
            "key_bits": bits, "ttl": "5m", "max_ttl": "10m", "no_store": no_store,
        });
        root.put(&format!("bench-pki/roles/{name}"), &role).await?.ok("writing a PKI role")?;
    }
    Ok(())
}

/// Prepares the workload.
pub async fn prepare(root: &Api, kind: Kind) -> Result<Prepared> {
    pki_mount(root).await?;
    let role = match kind {
        Kind::Ec => "ec",
        Kind::EcNoStore => "ec-no-store",
        Kind::Rsa => "rsa",
    };
    let path = format!("bench-pki/issue/{role}");
    let policy = format!(r#"path "{path}" {{ capabilities = ["create", "update"] }}"#);
    let (api, scope) = scoped(root, &format!("bench-pki-issue-{role}"), &policy).await?;
    Ok(Prepared::new(api, scope, move |i| {
        let body =
            json!({ "common_name": format!("svc-{}.bench.internal", i % 1000), "ttl": "5m" });
        Call::json(Method::PUT, path.clone(), &body)
    }))
}

/// RSA issues kept in flight beside `pki-issue-ec-beside-rsa`.
const RSA_BESIDE: usize = 4;

/// EC P-256 issue, measured while RSA-2048 issues run beside it without pause: the server must
/// keep RSA key generation from starving the EC requests (compare its p99 with `pki-issue-ec`).
pub async fn prepare_beside_rsa(root: &Api) -> Result<Prepared> {
    let rsa = std::sync::Arc::new(prepare(root, Kind::Rsa).await?);
    let mut ec = prepare(root, Kind::Ec).await?;
    ec.background = Some(Box::new(move || {
        let rsa = rsa.clone();
        let task = tokio::spawn(async move {
            let mut senders = tokio::task::JoinSet::new();
            for worker in 0..RSA_BESIDE {
                let rsa = rsa.clone();
                senders.spawn(async move {
                    let mut i = worker as u64;
                    loop {
                        let _ = rsa.api.send(&(rsa.next)(i)).await;
                        i += RSA_BESIDE as u64;
                    }
                });
            }
            while senders.join_next().await.is_some() {}
        });
        Background(task.abort_handle())
    }));
    Ok(ec)
}
