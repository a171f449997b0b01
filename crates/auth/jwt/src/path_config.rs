//! `config`: where verification keys come from (exactly one of PEM keys, a JWKS URL or an
//! OIDC discovery URL), the bound issuer, the default role and the accepted algorithms.
//! A write replaces the whole configuration, as in Vault; remote keys are fetched once to
//! check them unless `skip_jwks_validation` is set.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Map, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::jwks::KeySource;
use crate::keys;
use crate::state::{JwtState, Loaded};

/// Storage key of the configuration.
pub(crate) const CONFIG_KEY: &str = "config";

/// The discovery document suffix some users paste into `oidc_discovery_url`.
const WELL_KNOWN: &str = ".well-known/openid-configuration";

/// The stored configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct JwtConfig {
    pub(crate) oidc_discovery_url: String,
    pub(crate) oidc_discovery_ca_pem: String,
    pub(crate) oidc_client_id: String,
    /// Stored for the OIDC flow (not implemented); never returned.
    pub(crate) oidc_client_secret: String,
    pub(crate) oidc_response_mode: String,
    pub(crate) oidc_response_types: Vec<String>,
    pub(crate) jwks_url: String,
    pub(crate) jwks_ca_pem: String,
    pub(crate) jwt_validation_pubkeys: Vec<String>,
    pub(crate) jwt_supported_algs: Vec<String>,
    pub(crate) bound_issuer: String,
    pub(crate) default_role: String,
    pub(crate) provider_config: Map,
    pub(crate) override_allowed_server_names: Vec<String>,
    pub(crate) namespace_in_state: bool,
}

impl JwtConfig {
    /// The algorithms tokens may be signed with: the configured list, else all supported.
    pub(crate) fn algorithms(&self) -> Vec<jsonwebtoken::Algorithm> {
        if self.jwt_supported_algs.is_empty() {
            return keys::SUPPORTED.iter().map(|(_, a)| *a).collect();
        }
        self.jwt_supported_algs.iter().filter_map(|a| keys::algorithm(a)).collect()
    }

    fn to_json(&self) -> Value {
        json!({
            "bound_issuer": self.bound_issuer,
            "default_role": self.default_role,
            "jwks_ca_pem": self.jwks_ca_pem,
            "jwks_url": self.jwks_url,
            "jwt_supported_algs": self.jwt_supported_algs,
            "jwt_validation_pubkeys": self.jwt_validation_pubkeys,
            "namespace_in_state": self.namespace_in_state,
            "oidc_client_id": self.oidc_client_id,
            "oidc_discovery_ca_pem": self.oidc_discovery_ca_pem,
            "oidc_discovery_url": self.oidc_discovery_url,
            "oidc_response_mode": self.oidc_response_mode,
            "oidc_response_types": self.oidc_response_types,
            "override_allowed_server_names": self.override_allowed_server_names,
            "provider_config": self.provider_config,
            "status": "valid",
        })
    }
}

pub(crate) fn routes(router: Router<JwtState>) -> Router<JwtState> {
    router.path(
        Path::new("config")
            .field(Field::string("oidc_discovery_url").describe("OIDC issuer URL (discovery)."))
            .field(Field::string("oidc_discovery_ca_pem").describe("CA for the discovery URL."))
            .field(Field::string("oidc_client_id"))
            .field(Field::string("oidc_client_secret"))
            .field(Field::string("oidc_response_mode"))
            .field(Field::list("oidc_response_types"))
            .field(Field::string("jwks_url").describe("JWKS URL of the signing keys."))
            .field(Field::string("jwks_ca_pem").describe("CA for the JWKS URL."))
            .field(Field::list("jwt_validation_pubkeys").describe("PEM public keys."))
            .field(Field::list("jwt_supported_algs").describe("Accepted signing algorithms."))
            .field(Field::string("bound_issuer").describe("Required iss claim."))
            .field(Field::string("default_role").describe("Role used when login names none."))
            .field(Field::any("provider_config"))
            .field(Field::list("override_allowed_server_names"))
            .field(Field::bool("namespace_in_state"))
            .field(Field::bool("skip_jwks_validation"))
            .read(read_config)
            .write(write_config),
    )
}

async fn read_config(state: Arc<JwtState>, req: Req) -> Result<Option<Response>> {
    Ok(state.loaded(req.storage()).await?.map(|l| Response::json(l.config.to_json())))
}

/// The configuration as the request states it (a write replaces everything).
fn from_request(req: &Req, existing: Option<&JwtConfig>) -> Result<JwtConfig> {
    let provider_config = match req.raw("provider_config") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Error::invalid("invalid provider_config: expected a map")),
    };
    let namespace_in_state = if req.has("namespace_in_state") {
        req.bool("namespace_in_state")?
    } else {
        existing.is_none_or(|c| c.namespace_in_state)
    };
    Ok(JwtConfig {
        oidc_discovery_url: req.str("oidc_discovery_url")?.trim().to_string(),
        oidc_discovery_ca_pem: req.str("oidc_discovery_ca_pem")?,
        oidc_client_id: req.str("oidc_client_id")?,
        oidc_client_secret: req.str("oidc_client_secret")?,
        oidc_response_mode: req.str("oidc_response_mode")?,
        oidc_response_types: req.list("oidc_response_types")?,
        jwks_url: req.str("jwks_url")?.trim().to_string(),
        jwks_ca_pem: req.str("jwks_ca_pem")?,
        jwt_validation_pubkeys: req.list("jwt_validation_pubkeys")?,
        jwt_supported_algs: req.list("jwt_supported_algs")?,
        bound_issuer: req.str("bound_issuer")?,
        default_role: req.str("default_role")?.to_lowercase(),
        provider_config,
        override_allowed_server_names: req.list("override_allowed_server_names")?,
        namespace_in_state,
    })
}

/// The checks Vault makes on a configuration that need no network.
fn check(config: &JwtConfig) -> Result<()> {
    let sources = [
        !config.oidc_discovery_url.is_empty(),
        !config.jwt_validation_pubkeys.is_empty(),
        !config.jwks_url.is_empty(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err(Error::invalid(
            "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set",
        ));
    }
    if config.oidc_client_id.is_empty() != config.oidc_client_secret.is_empty() {
        return Err(Error::invalid(
            "both 'oidc_client_id' and 'oidc_client_secret' must be set for OIDC",
        ));
    }
    if !config.oidc_client_id.is_empty() && config.oidc_discovery_url.is_empty() {
        return Err(Error::invalid("'oidc_discovery_url' must be set for OIDC"));
    }
    for alg in &config.jwt_supported_algs {
        if keys::algorithm(alg).is_none() {
            return Err(Error::invalid(format!(
                "invalid jwt_supported_algs: unsupported signing algorithm: {alg}"
            )));
        }
    }
    if let Some(bad) =
        config.oidc_response_types.iter().find(|t| !matches!(t.as_str(), "code" | "id_token"))
    {
        return Err(Error::invalid(format!(
            "invalid response_types [{bad}]. 'code' and 'id_token' are allowed"
        )));
    }
    match config.oidc_response_mode.as_str() {
        "" | "query" if config.oidc_response_types.iter().any(|t| t == "id_token") => Err(
            Error::invalid("query response_mode may not be used with an id_token response_type"),
        ),
        "" | "query" | "form_post" => Ok(()),
        other => Err(Error::invalid(format!("invalid response_mode: {other:?}"))),
    }
}

async fn write_config(state: Arc<JwtState>, req: Req) -> Result<Option<Response>> {
    let _one_writer = state.config_writes.lock().await;
    let existing = state.loaded(req.storage()).await.ok().flatten();
    let mut config = from_request(&req, existing.as_ref().map(|l| &l.config))?;
    let mut warnings = Vec::new();
    if let Some((base, _)) = config.oidc_discovery_url.split_once(WELL_KNOWN) {
        let base = base.to_string();
        warnings.push(format!("modifying provided `OIDCDiscoveryURL` to {base:?}"));
        config.oidc_discovery_url = base;
    }
    check(&config)?;
    let skip_validation = req.bool("skip_jwks_validation")?;
    let loaded = Loaded::build(config)?;
    if let KeySource::Remote(remote) = &loaded.keys {
        if let Err(e) = remote.fetch().await {
            let what = if loaded.config.jwks_url.is_empty() {
                "error checking oidc discovery URL"
            } else {
                "error checking jwks URL"
            };
            tracing::warn!(error = %e, mount = %req.inner.mount_point, "jwt: {what}");
            if !skip_validation {
                return Err(Error::invalid(what));
            }
            warnings.push(what.to_string());
        }
    }
    let bytes = serde_json::to_vec(&loaded.config).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(CONFIG_KEY, &bytes).await?;
    state.replace(Arc::new(loaded));
    Ok((!warnings.is_empty()).then(|| Response::warnings_only(warnings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pubkeys() -> JwtConfig {
        JwtConfig { jwt_validation_pubkeys: vec!["pem".into()], ..JwtConfig::default() }
    }

    #[test]
    fn exactly_one_key_source() {
        assert!(check(&JwtConfig::default()).is_err());
        assert!(check(&pubkeys()).is_ok());
        let two = JwtConfig { jwks_url: "https://x".into(), ..pubkeys() };
        assert!(check(&two).is_err());
    }

    #[test]
    fn algorithms_and_oidc_settings() {
        let hs = JwtConfig { jwt_supported_algs: vec!["HS256".into()], ..pubkeys() };
        assert!(check(&hs).is_err());
        let rs = JwtConfig { jwt_supported_algs: vec!["RS256".into()], ..pubkeys() };
        assert!(check(&rs).is_ok());
        assert_eq!(rs.algorithms(), vec![jsonwebtoken::Algorithm::RS256]);
        assert_eq!(pubkeys().algorithms().len(), keys::SUPPORTED.len());
        let half = JwtConfig { oidc_client_id: "id".into(), ..pubkeys() };
        assert!(check(&half).is_err());
        let mode = JwtConfig { oidc_response_mode: "fragment".into(), ..pubkeys() };
        assert!(check(&mode).is_err());
        let types = JwtConfig { oidc_response_types: vec!["token".into()], ..pubkeys() };
        assert!(check(&types).is_err());
    }
}
