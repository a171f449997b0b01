//! `config`: the cluster's API address and CA, the token used to call TokenReview, and the
//! optional signing keys that let logins be checked locally. A write replaces the whole
//! configuration, as in Vault. The reviewer token is never returned (`token_reviewer_jwt_set`).

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use coffer_framework::{Field, Path, Req, Router, read_json};
use coffer_jwt::http::HttpClient;
use coffer_jwt::keys::{self, VerificationKey};
use coffer_storage::SharedStorage;
use coffer_types::{Error, Response, Result, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Storage key of the configuration.
const CONFIG_KEY: &str = "config";

/// Where a pod finds its service account's CA and token.
const LOCAL_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
const LOCAL_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The stored configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct KubeConfig {
    pub(crate) kubernetes_host: String,
    pub(crate) kubernetes_ca_cert: String,
    /// The reviewer's bearer token. Stored (the barrier encrypts it), never returned.
    pub(crate) token_reviewer_jwt: String,
    pub(crate) pem_keys: Vec<String>,
    pub(crate) issuer: String,
    pub(crate) disable_iss_validation: bool,
    pub(crate) disable_local_ca_jwt: bool,
}

/// A configuration ready for logins: parsed keys and an HTTP client trusting the cluster CA.
pub(crate) struct Loaded {
    pub(crate) config: KubeConfig,
    /// Keys that verify service-account JWTs locally (empty: TokenReview decides).
    pub(crate) keys: Vec<VerificationKey>,
    /// The client for the API server.
    pub(crate) client: HttpClient,
    /// The configured reviewer token, when set.
    pub(crate) reviewer: Option<SecretString>,
}

impl Loaded {
    fn build(config: KubeConfig) -> Result<Loaded> {
        let keys =
            keys::parse_pem_list(&config.pem_keys).map_err(|e| Error::invalid(e.to_string()))?;
        let mut ca = config.kubernetes_ca_cert.clone();
        if ca.is_empty() && !config.disable_local_ca_jwt {
            ca = std::fs::read_to_string(LOCAL_CA).unwrap_or_default();
        }
        let client = HttpClient::new(&ca).map_err(|e| Error::invalid(e.to_string()))?;
        let reviewer = (!config.token_reviewer_jwt.is_empty())
            .then(|| SecretString::new(config.token_reviewer_jwt.clone()));
        Ok(Loaded { config, keys, client, reviewer })
    }

    /// The bearer token for TokenReview: the configured one, else the pod's own service
    /// account token (read each time: the kubelet rotates it), else `None` (use the JWT).
    pub(crate) fn reviewer_token(&self) -> Option<SecretString> {
        if let Some(token) = &self.reviewer {
            return Some(token.clone());
        }
        if self.config.disable_local_ca_jwt {
            return None;
        }
        std::fs::read_to_string(LOCAL_TOKEN)
            .ok()
            .map(|t| SecretString::new(t.trim().to_string()))
            .filter(|t| !t.is_empty())
    }

    /// The API server's base URL (a bare `host:port` means HTTPS).
    pub(crate) fn base_url(&self) -> String {
        let host = self.config.kubernetes_host.trim().trim_end_matches('/');
        if host.contains("://") { host.to_string() } else { format!("https://{host}") }
    }
}

/// The state shared by the routes of one Kubernetes mount.
pub struct KubeState {
    loaded: ArcSwapOption<Loaded>,
    writes: tokio::sync::Mutex<()>,
}

impl KubeState {
    pub(crate) fn new() -> KubeState {
        KubeState { loaded: ArcSwapOption::empty(), writes: tokio::sync::Mutex::new(()) }
    }

    /// The configuration, loaded from storage on first use; `None` when unconfigured.
    pub(crate) async fn loaded(&self, storage: &SharedStorage) -> Result<Option<Arc<Loaded>>> {
        if let Some(loaded) = self.loaded.load_full() {
            return Ok(Some(loaded));
        }
        let Some(config) = read_json::<KubeConfig>(storage, CONFIG_KEY).await? else {
            return Ok(None);
        };
        let fresh = Arc::new(Loaded::build(config)?);
        // A configuration written meanwhile wins over what was read before it.
        let previous = self.loaded.compare_and_swap(&None::<Arc<Loaded>>, Some(fresh.clone()));
        Ok(Some((*previous).clone().unwrap_or(fresh)))
    }
}

pub(crate) fn routes(router: Router<KubeState>) -> Router<KubeState> {
    router.path(
        Path::new("config")
            .field(Field::string("kubernetes_host").describe("URL of the Kubernetes API server."))
            .field(Field::string("kubernetes_ca_cert").describe("PEM CA of the API server."))
            .field(Field::string("token_reviewer_jwt").describe("Bearer token for TokenReview."))
            .field(Field::list("pem_keys").describe("PEM keys verifying service-account JWTs."))
            .field(Field::string("issuer").describe("Deprecated: expected iss claim."))
            .field(Field::bool("disable_iss_validation").default(true))
            .field(Field::bool("disable_local_ca_jwt").default(false))
            .read(read_config)
            .write(write_config),
    )
}

async fn read_config(state: Arc<KubeState>, req: Req) -> Result<Option<Response>> {
    Ok(state.loaded(req.storage()).await?.map(|l| {
        let c = &l.config;
        Response::json(json!({
            "disable_iss_validation": c.disable_iss_validation,
            "disable_local_ca_jwt": c.disable_local_ca_jwt,
            "issuer": c.issuer,
            "kubernetes_ca_cert": c.kubernetes_ca_cert,
            "kubernetes_host": c.kubernetes_host,
            "pem_keys": c.pem_keys,
            "token_reviewer_jwt_set": !c.token_reviewer_jwt.is_empty(),
        }))
    }))
}

async fn write_config(state: Arc<KubeState>, req: Req) -> Result<Option<Response>> {
    let _one_writer = state.writes.lock().await;
    let config = KubeConfig {
        kubernetes_host: req.str("kubernetes_host")?.trim().to_string(),
        kubernetes_ca_cert: req.str("kubernetes_ca_cert")?,
        token_reviewer_jwt: req.str("token_reviewer_jwt")?.trim().to_string(),
        pem_keys: req.list("pem_keys")?,
        issuer: req.str("issuer")?,
        disable_iss_validation: req.bool("disable_iss_validation")?,
        disable_local_ca_jwt: req.bool("disable_local_ca_jwt")?,
    };
    if config.kubernetes_host.is_empty() {
        return Err(Error::invalid("no host provided"));
    }
    if config.disable_local_ca_jwt && config.kubernetes_ca_cert.trim().is_empty() {
        return Err(Error::invalid(
            "kubernetes_ca_cert must be given when disable_local_ca_jwt is true",
        ));
    }
    let loaded = Loaded::build(config)?;
    let bytes = serde_json::to_vec(&loaded.config).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(CONFIG_KEY, &bytes).await?;
    state.loaded.store(Some(Arc::new(loaded)));
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hosts_without_a_scheme_mean_https() {
        let at = |host: &str| {
            let config = KubeConfig { kubernetes_host: host.into(), ..KubeConfig::default() };
            Loaded::build(config).unwrap().base_url()
        };
        assert_eq!(at("10.0.0.1:6443"), "https://10.0.0.1:6443");
        assert_eq!(at("https://k8s.example.com/"), "https://k8s.example.com");
        assert_eq!(at("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
