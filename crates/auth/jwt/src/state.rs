//! Per-mount state: the configuration and its key source, loaded once from storage and swapped
//! whole when the configuration is written.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use coffer_framework::read_json;
use coffer_storage::SharedStorage;
use coffer_types::{Error, Result};

use crate::jwks::{KeySource, RemoteKeys};
use crate::keys;
use crate::path_config::{CONFIG_KEY, JwtConfig};

/// A configuration with the key source built from it.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The stored configuration.
    pub(crate) config: JwtConfig,
    /// Where its verification keys come from.
    pub(crate) keys: KeySource,
}

impl Loaded {
    /// Builds the key source of `config` (no network access: remote keys are fetched lazily).
    pub(crate) fn build(config: JwtConfig) -> Result<Loaded> {
        let keys = if !config.jwt_validation_pubkeys.is_empty() {
            KeySource::Static(
                keys::parse_pem_list(&config.jwt_validation_pubkeys)
                    .map_err(|e| Error::invalid(e.to_string()))?,
            )
        } else if !config.jwks_url.is_empty() {
            KeySource::Remote(Box::new(
                RemoteKeys::jwks(&config.jwks_url, &config.jwks_ca_pem)
                    .map_err(|_| Error::invalid("error checking jwks_ca_pem"))?,
            ))
        } else if !config.oidc_discovery_url.is_empty() {
            KeySource::Remote(Box::new(
                RemoteKeys::discovery(&config.oidc_discovery_url, &config.oidc_discovery_ca_pem)
                    .map_err(|_| Error::invalid("error checking oidc_discovery_ca_pem"))?,
            ))
        } else {
            return Err(Error::invalid(
                "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set",
            ));
        };
        Ok(Loaded { config, keys })
    }
}

/// The state shared by the routes of one JWT mount.
pub struct JwtState {
    loaded: ArcSwapOption<Loaded>,
    /// Orders configuration writes.
    pub(crate) config_writes: tokio::sync::Mutex<()>,
}

impl JwtState {
    pub(crate) fn new() -> JwtState {
        JwtState { loaded: ArcSwapOption::empty(), config_writes: tokio::sync::Mutex::new(()) }
    }

    /// The current configuration, loaded from storage on first use; `None` when the mount has
    /// not been configured.
    pub(crate) async fn loaded(&self, storage: &SharedStorage) -> Result<Option<Arc<Loaded>>> {
        if let Some(loaded) = self.loaded.load_full() {
            return Ok(Some(loaded));
        }
        let Some(config) = read_json::<JwtConfig>(storage, CONFIG_KEY).await? else {
            return Ok(None);
        };
        let fresh = Arc::new(Loaded::build(config)?);
        // A configuration written meanwhile wins over what was read before it.
        let previous = self.loaded.compare_and_swap(&None::<Arc<Loaded>>, Some(fresh.clone()));
        Ok(Some((*previous).clone().unwrap_or(fresh)))
    }

    /// Replaces the configuration (after it was stored).
    pub(crate) fn replace(&self, loaded: Arc<Loaded>) {
        self.loaded.store(Some(loaded));
    }
}
