//! The PKI secrets engine: certificate authorities, roles, issuance, revocation, CRLs and an
//! OCSP responder, speaking Vault's PKI API.
//!
//! A mount holds any number of *issuers* (CA certificates, with or without their *keys*); one
//! is the default. *Roles* say which names, key types, usages and lifetimes `issue/:role`
//! (server-generated key) and `sign/:role` (client CSR) may produce. Every issued certificate
//! gets a random 159-bit serial and, unless the role says `no_store`, is stored with an entry
//! in an index ordered by expiry; revocations are indexed the same way, so CRL builds and tidy
//! read only what has not expired.
//!
//! Certificates are built with rcgen over aws-lc-rs keys; CRLs and OCSP responses are encoded
//! with the `der` crate (x509-cert types where they exist) and signed with the issuer's key.
//!
//! Files follow the API: `path_root.rs` (root CA generation and signing intermediates),
//! `path_intermediate.rs` (CSRs, imports), `path_issuers.rs` (issuer and key management),
//! `path_roles.rs`, `path_issue.rs` (issue, sign, sign-verbatim), `path_revoke.rs`,
//! `path_fetch.rs` (unauthenticated CA and CRL distribution), `path_config.rs`,
//! `path_tidy.rs`, `crl.rs` and `ocsp.rs`.
#![forbid(unsafe_code)]

mod cache;
mod certutil;
mod crl;
pub mod fuzzing;
mod issuers;
mod issuing;
mod keys;
mod model;
mod names;
mod ocsp;
mod output;
mod path_config;
mod path_fetch;
mod path_intermediate;
mod path_issue;
mod path_issuers;
mod path_revoke;
mod path_roles;
mod path_root;
mod path_tidy;
mod pem;
mod slow_keygen;
mod subject;

use std::sync::Arc;

use async_trait::async_trait;
use coffer_framework::{
    Backend, BackendConfig, BackendRequest, Router, SecretRequest, SpecialPaths,
};
use coffer_types::{Response, Result, SecretLease};

/// Per-mount state: locks that order the writes which must not interleave.
pub struct PkiState {
    /// Held while the set of issuers and keys changes (generation, import, delete), so that
    /// defaults, names and chains stay consistent.
    issuer_lock: tokio::sync::Mutex<()>,
    /// Held while CRLs are rebuilt, so that CRL numbers increase by one per build.
    crl_lock: tokio::sync::Mutex<()>,
    /// The state of the last or running tidy.
    tidy: path_tidy::TidyTracker,
    /// Identifies this engine instance in `tidy-status`.
    backend_uuid: String,
    /// When this engine instance started (unix seconds).
    started_at: i64,
    /// Parsed roles and issuers for the issue path.
    cache: cache::IssueCache,
}

impl PkiState {
    fn new() -> Self {
        PkiState {
            issuer_lock: tokio::sync::Mutex::new(()),
            crl_lock: tokio::sync::Mutex::new(()),
            tidy: path_tidy::TidyTracker::default(),
            backend_uuid: coffer_types::new_uuid(),
            started_at: coffer_types::unix_now(),
            cache: cache::IssueCache::default(),
        }
    }
}

/// Paths served without a token: CA certificates, CRLs, OCSP and single certificates.
/// `+` stands for one path segment (issuer references).
fn special_paths() -> SpecialPaths {
    let unauthenticated = [
        "cert/*",
        "ca",
        "ca/pem",
        "ca_chain",
        "crl",
        "crl/pem",
        "crl/delta",
        "crl/delta/pem",
        "issuers/",
        "ocsp",
        "ocsp/*",
        "issuer/+/der",
        "issuer/+/pem",
        "issuer/+/json",
        "issuer/+/crl",
        "issuer/+/crl/der",
        "issuer/+/crl/pem",
        "issuer/+/crl/delta",
        "issuer/+/crl/delta/der",
        "issuer/+/crl/delta/pem",
    ];
    let sudo = ["root", "root/sign-self-issued", "issuer/+/sign-self-issued"];
    SpecialPaths {
        unauthenticated: unauthenticated.iter().map(|s| s.to_string()).collect(),
        sudo: sudo.iter().map(|s| s.to_string()).collect(),
    }
}

/// Builds a PKI engine for a mount.
pub fn factory(config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let state = Arc::new(PkiState::new());
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(path_tidy::auto_tidy_loop(Arc::downgrade(&state), config.storage.clone()));
    }
    let router = Router::new(state.clone());
    let router = path_fetch::routes(router);
    let router = path_root::routes(router);
    let router = path_intermediate::routes(router);
    let router = path_issuers::routes(router);
    let router = path_roles::routes(router);
    let router = path_issue::routes(router);
    let router = path_revoke::routes(router);
    let router = path_config::routes(router);
    let router = path_tidy::routes(router);
    let router = ocsp::routes(router);
    Ok(Arc::new(PkiBackend { router: router.special_paths(special_paths()), state }))
}

/// The engine: its routes, with the issue cache dropped around every request that may change
/// roles, issuers, keys or configuration.
struct PkiBackend {
    router: Router<PkiState>,
    state: Arc<PkiState>,
}

#[async_trait]
impl Backend for PkiBackend {
    async fn handle(&self, req: BackendRequest) -> Result<Option<Response>> {
        if !cache::changes_issuing(req.operation, &req.path) {
            return self.router.handle(req).await;
        }
        self.state.cache.invalidate();
        let result = self.router.handle(req).await;
        self.state.cache.invalidate();
        result
    }

    async fn exists(&self, req: &BackendRequest) -> Result<Option<bool>> {
        self.router.exists(req).await
    }

    fn special_paths(&self) -> SpecialPaths {
        Backend::special_paths(&self.router)
    }

    async fn renew_secret(&self, req: SecretRequest) -> Result<SecretLease> {
        self.router.renew_secret(req).await
    }

    async fn revoke_secret(&self, req: SecretRequest) -> Result<()> {
        self.router.revoke_secret(req).await
    }
}
