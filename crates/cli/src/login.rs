//! `coffer login [TOKEN]`: the token method only. The token is checked with
//! `auth/token/lookup-self`, then remembered in `~/.coffer-token`.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result};
use coffer_client::{Client, Secret};
use coffer_types::SecretString;
use serde_json::{Map, Value, json};

use crate::args::Global;
use crate::generic::print_secret;
use crate::{UsageError, env_first, token_file};

fn read_token(token: Option<String>) -> Result<SecretString> {
    if let Some(t) = token.filter(|t| t != "-") {
        return Ok(SecretString::new(t));
    }
    if std::io::stdin().is_terminal() {
        eprint!("Token (will be echoed): ");
    }
    let mut buf = String::new();
    std::io::stdin().read_to_string(&mut buf).context("reading the token from stdin")?;
    let token = SecretString::new(buf.trim());
    if token.is_empty() {
        return Err(UsageError("Error authenticating: no token given".into()).into());
    }
    Ok(token)
}

/// The `auth` block Vault's CLI shows after a token login, built from `lookup-self` data.
pub fn auth_from_lookup(token: &str, lookup: &Map<String, Value>) -> Value {
    let get = |k: &str| lookup.get(k).cloned().unwrap_or(Value::Null);
    let policies = lookup.get("policies").cloned().unwrap_or_else(|| json!([]));
    json!({
        "client_token": token,
        "accessor": get("accessor"),
        "lease_duration": lookup.get("ttl").and_then(Value::as_i64).unwrap_or(0),
        "renewable": lookup.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        "token_policies": policies,
        "identity_policies": lookup.get("identity_policies").cloned().unwrap_or_else(|| json!([])),
        "policies": policies,
        "metadata": get("meta"),
    })
}

/// `coffer login [TOKEN]`.
pub async fn login(client: &Client, global: &Global, token: Option<String>) -> Result<u8> {
    let token = read_token(token)?;
    let client = client.with_token(Some(token.clone()));
    let lookup = client
        .read("auth/token/lookup-self", &[])
        .await
        .context("Error authenticating: error looking up token")?
        .and_then(|s| s.data)
        .ok_or_else(|| anyhow::anyhow!("Error authenticating: empty response from lookup-self"))?;
    token_file::store(token.expose())?;
    if let Some(var) =
        ["COFFER_TOKEN", "VAULT_TOKEN", "BAO_TOKEN"].into_iter().find(|v| env_first(&[v]).is_some())
    {
        eprintln!(
            "WARNING! The {var} environment variable is set! The value of this variable\n\
             will take precedence; if this is unwanted please unset {var} or update its\n\
             value accordingly.\n"
        );
    }
    let secret =
        Secret { auth: Some(auth_from_lookup(token.expose(), &lookup)), ..Secret::default() };
    if global.field.is_none() && global.format == "table" {
        println!(
            "Success! You are now authenticated. The token information displayed below is\n\
             stored in ~/.coffer-token. You do NOT need to run \"coffer login\" again.\n\
             Future requests will automatically use this token.\n"
        );
    }
    Ok(print_secret(global, &secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_data_becomes_an_auth_block() {
        let lookup = json!({"accessor": "acc", "ttl": 3600, "renewable": true,
            "policies": ["default", "web"], "meta": null});
        let auth = auth_from_lookup("s.t", lookup.as_object().unwrap_or(&Map::new()));
        assert_eq!(auth["client_token"], "s.t");
        assert_eq!(auth["lease_duration"], 3600);
        assert_eq!(auth["token_policies"], json!(["default", "web"]));
        assert_eq!(auth["identity_policies"], json!([]));
    }
}
