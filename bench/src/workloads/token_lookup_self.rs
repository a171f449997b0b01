//! `token-lookup-self`: the cheapest authenticated request, a token reading itself.

use anyhow::Result;
use http::Method;

use super::{Prepared, scoped};
use crate::client::{Api, Call};

/// Prepares the workload.
pub async fn prepare(root: &Api) -> Result<Prepared> {
    let policy = r#"path "auth/token/lookup-self" { capabilities = ["read"] }"#;
    let (api, scope) = scoped(root, "bench-token-lookup", policy).await?;
    let call = Call::new(Method::GET, "auth/token/lookup-self");
    Ok(Prepared::new(api, scope, move |_| call.clone()))
}
