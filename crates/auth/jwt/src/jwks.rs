//! Where verification keys come from: a fixed list of PEM keys, or a remote key set (a JWKS
//! URL, or the `jwks_uri` of an OIDC discovery document). Remote keys are cached for an hour;
//! a token whose key ID is unknown triggers a refetch (at most one every few seconds, so a
//! stream of forged key IDs cannot hammer the provider). A failed refetch keeps the old keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::ArcSwapOption;
use coffer_types::unix_now;
use serde_json::Value;

use crate::http::{HttpClient, HttpError};
use crate::keys::{self, VerificationKey};
use crate::validate::{ParsedToken, TokenError};

/// How long fetched keys are used before they are fetched again (seconds).
const CACHE_SECONDS: i64 = 3600;

/// Minimum time between two refetches caused by unknown key IDs (seconds).
const FORCED_REFRESH_INTERVAL: i64 = 5;

/// The path of the discovery document below an OIDC issuer URL.
const WELL_KNOWN: &str = ".well-known/openid-configuration";

/// Why keys could not be fetched.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// The HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The discovery document names another issuer.
    #[error(
        "issuer did not match the issuer returned by provider: expected {expected:?} got {got:?}"
    )]
    IssuerMismatch {
        /// The configured discovery URL.
        expected: String,
        /// The document's `issuer`.
        got: String,
    },
    /// The discovery document has no `jwks_uri`.
    #[error("discovery document has no jwks_uri")]
    NoJwksUri,
    /// The key set holds no usable signing key.
    #[error("key set contains no usable signing key")]
    NoKeys,
}

/// Where a remote key set is found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    /// A JWKS document at this URL.
    Jwks(String),
    /// An OIDC issuer: its discovery document names the JWKS.
    Discovery(String),
}

/// Keys as fetched, with the fetch's sequence number (to tell whether another caller
/// refetched meanwhile).
#[derive(Debug)]
struct Cached {
    keys: Arc<Vec<VerificationKey>>,
    fetched_at: i64,
    generation: u64,
}

/// A remote key set with its cache.
#[derive(Debug)]
pub struct RemoteKeys {
    origin: Origin,
    client: HttpClient,
    cache: ArcSwapOption<Cached>,
    fetching: tokio::sync::Mutex<()>,
    last_forced: AtomicI64,
}

impl RemoteKeys {
    /// Keys at a JWKS URL, fetched over TLS trusting `ca_pem` (system roots when empty).
    pub fn jwks(url: &str, ca_pem: &str) -> Result<RemoteKeys, HttpError> {
        Ok(RemoteKeys::new(Origin::Jwks(url.to_string()), HttpClient::new(ca_pem)?))
    }

    /// Keys of an OIDC issuer found through its discovery document.
    pub fn discovery(issuer_url: &str, ca_pem: &str) -> Result<RemoteKeys, HttpError> {
        Ok(RemoteKeys::new(Origin::Discovery(issuer_url.to_string()), HttpClient::new(ca_pem)?))
    }

    fn new(origin: Origin, client: HttpClient) -> RemoteKeys {
        RemoteKeys {
            origin,
            client,
            cache: ArcSwapOption::empty(),
            fetching: tokio::sync::Mutex::new(()),
            last_forced: AtomicI64::new(i64::MIN / 2),
        }
    }

    async fn jwks_url(&self) -> Result<String, FetchError> {
        let issuer = match &self.origin {
            Origin::Jwks(url) => return Ok(url.clone()),
            Origin::Discovery(issuer) => issuer,
        };
        let url = format!("{}/{WELL_KNOWN}", issuer.trim_end_matches('/'));
        let document = self.client.get_json(&url).await?;
        let got = document.get("issuer").and_then(Value::as_str).unwrap_or("");
        if got.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(FetchError::IssuerMismatch { expected: issuer.clone(), got: got.into() });
        }
        document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .ok_or(FetchError::NoJwksUri)
    }

    /// Fetches the keys now and caches them.
    pub async fn fetch(&self) -> Result<Arc<Vec<VerificationKey>>, FetchError> {
        let url = self.jwks_url().await?;
        let keys = keys::parse_jwks(&self.client.get_json(&url).await?);
        if keys.is_empty() {
            return Err(FetchError::NoKeys);
        }
        let generation = self.cache.load().as_ref().map_or(0, |c| c.generation) + 1;
        let cached = Arc::new(Cached { keys: Arc::new(keys), fetched_at: unix_now(), generation });
        self.cache.store(Some(cached.clone()));
        Ok(cached.keys.clone())
    }

    /// Refetches unless another caller did since fetch `seen` (0 = none seen); on failure
    /// the cached keys stay. Concurrent callers share one fetch.
    async fn refresh(&self, seen: u64) -> Result<Arc<Vec<VerificationKey>>, FetchError> {
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(cached) = self.cache.load_full().filter(|c| c.generation > seen) {
            return Ok(cached.keys.clone());
        }
        match (self.fetch().await, self.cache.load_full()) {
            (Ok(keys), _) => Ok(keys),
            (Err(e), Some(stale)) => {
                tracing::warn!(error = %e, "jwt: refetching the key set failed; keeping the cached keys");
                Ok(stale.keys.clone())
            }
            (Err(e), None) => Err(e),
        }
    }

    /// The cached keys, fetched first when absent or older than the cache lifetime.
    pub async fn keys(&self) -> Result<Arc<Vec<VerificationKey>>, FetchError> {
        match self.cache.load_full() {
            Some(c) if unix_now() - c.fetched_at < CACHE_SECONDS => Ok(c.keys.clone()),
            Some(c) => self.refresh(c.generation).await,
            None => self.refresh(0).await,
        }
    }

    /// Refetches because a token named a key ID that `current` (the keys it was checked
    /// against) lacks; at most once per interval, else `current` stays.
    async fn keys_for_unknown_kid(
        &self,
        current: &Arc<Vec<VerificationKey>>,
    ) -> Result<Arc<Vec<VerificationKey>>, FetchError> {
        let seen = match self.cache.load_full() {
            Some(c) if !Arc::ptr_eq(&c.keys, current) => return Ok(c.keys.clone()),
            Some(c) => c.generation,
            None => 0,
        };
        let now = unix_now();
        let last = self.last_forced.load(Ordering::Acquire);
        if now - last < FORCED_REFRESH_INTERVAL
            || self
                .last_forced
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Ok(current.clone());
        }
        self.refresh(seen).await
    }
}

/// The keys that verify tokens of one configuration.
#[derive(Debug)]
pub enum KeySource {
    /// PEM keys from the configuration.
    Static(Vec<VerificationKey>),
    /// A remote key set.
    Remote(Box<RemoteKeys>),
}

impl KeySource {
    /// Verifies the signature of `token`, refetching remote keys once when its key is not
    /// among the cached ones.
    pub async fn verify(&self, token: &ParsedToken) -> Result<(), TokenError> {
        let remote = match self {
            KeySource::Static(keys) => return token.verify(keys),
            KeySource::Remote(remote) => remote,
        };
        let fetch_error = |e: FetchError| TokenError::KeyFetch(e.to_string());
        let keys = remote.keys().await.map_err(fetch_error)?;
        match token.verify(&keys) {
            Ok(()) => Ok(()),
            Err(_) if !token.kid_known(&keys) || token.kid.is_none() => {
                let fresh = remote.keys_for_unknown_kid(&keys).await.map_err(fetch_error)?;
                token.verify(&fresh)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn unreachable_key_sets_fail_cleanly() {
        let remote = RemoteKeys::jwks("http://127.0.0.1:9/keys", "").unwrap();
        assert!(matches!(remote.keys().await, Err(FetchError::Http(_))));
        assert!(RemoteKeys::jwks("x", "not a pem").is_err());
    }
}
