//! `approle-login`: a login with a role ID and a secret ID, minting a token each time. The
//! request carries no token; the tokens it mints hold only the `bench-approle` policy.

use anyhow::Result;
use http::Method;
use serde_json::{Value, json};

use super::{Prepared, Scope};
use crate::client::{Api, Call, Reply};

/// Prepares the workload.
pub async fn prepare(root: &Api) -> Result<Prepared> {
    let reply = root.put("sys/auth/bench-approle", &json!({ "type": "approle" })).await?;
    if !reply.status.is_success() && !reply.body.to_string().contains("already in use") {
        reply.ok("enabling approle")?;
    }
    let policy = r#"path "bench-kv/data/item" { capabilities = ["read"] }"#;
    root.put("sys/policies/acl/bench-approle", &json!({ "policy": policy }))
        .await?
        .ok("writing the approle token policy")?;
    let role =
        json!({ "token_policies": ["bench-approle"], "token_ttl": "5m", "token_max_ttl": "10m" });
    root.put("auth/bench-approle/role/bench", &role).await?.ok("writing the role")?;
    let role_id =
        root.get("auth/bench-approle/role/bench/role-id").await?.ok("reading the role ID")?;
    let role_id = Reply::field(&role_id, "data", "role_id")?;
    let secret = root
        .put("auth/bench-approle/role/bench/secret-id", &Value::Object(Default::default()))
        .await?
        .ok("making a secret ID")?;
    let secret_id = Reply::field(&secret, "data", "secret_id")?;
    let call = Call::json(
        Method::PUT,
        "auth/bench-approle/login",
        &json!({ "role_id": role_id, "secret_id": secret_id }),
    );
    Ok(Prepared::new(root.with_token(None)?, Scope::Unauthenticated, move |_| call.clone()))
}
