//! `config`: mount-wide settings. A write changes only the fields it carries; a read always
//! answers, with the defaults until something was written.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router, read_json};
use coffer_types::{Error, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Storage key of the configuration.
const CONFIG_KEY: &str = "config";

/// The stored configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct CertConfig {
    /// Renewals do not need the login's certificate.
    pub(crate) disable_binding: bool,
    /// Copy the token metadata onto the identity alias.
    pub(crate) enable_identity_alias_metadata: bool,
    /// Stored for compatibility (no OCSP client yet); 0 = never set.
    pub(crate) ocsp_cache_size: i64,
}

/// Loads the configuration (defaults when never written).
pub(crate) async fn load(req: &Req) -> Result<CertConfig> {
    Ok(read_json(req.storage(), CONFIG_KEY).await?.unwrap_or_default())
}

pub(crate) fn routes(router: Router<()>) -> Router<()> {
    router.path(
        Path::new("config")
            .field(Field::bool("disable_binding").describe("Renew without the same certificate."))
            .field(Field::bool("enable_identity_alias_metadata").describe("Metadata on aliases."))
            .field(Field::int("ocsp_cache_size").describe("Size of the OCSP cache (2-100000)."))
            .read(read_config)
            .write(write_config),
    )
}

async fn read_config(_s: Arc<()>, req: Req) -> Result<Option<Response>> {
    let config = load(&req).await?;
    Ok(Some(Response::json(json!({
        "disable_binding": config.disable_binding,
        "enable_identity_alias_metadata": config.enable_identity_alias_metadata,
        "ocsp_cache_size": config.ocsp_cache_size,
    }))))
}

async fn write_config(_s: Arc<()>, req: Req) -> Result<Option<Response>> {
    let mut config = load(&req).await?;
    if req.has("disable_binding") {
        config.disable_binding = req.bool("disable_binding")?;
    }
    if req.has("enable_identity_alias_metadata") {
        config.enable_identity_alias_metadata = req.bool("enable_identity_alias_metadata")?;
    }
    if req.has("ocsp_cache_size") {
        let size = req.int("ocsp_cache_size")?;
        if !(2..=100_000).contains(&size) {
            return Err(Error::invalid("invalid cache size, must be >= 2 and <= 100000"));
        }
        config.ocsp_cache_size = size;
    }
    let bytes = serde_json::to_vec(&config).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(CONFIG_KEY, &bytes).await?;
    Ok(None)
}
