//! The Kubernetes auth method (Vault's `kubernetes` plugin): a pod presents its
//! service-account JWT and gets a Coffer token carrying the policies of a role that binds
//! its service account's name and namespace.
//!
//! - `config`: the API server (`kubernetes_host`, `kubernetes_ca_cert`), the token that calls
//!   TokenReview (`token_reviewer_jwt`, else the pod's own, else the login JWT) and optional
//!   signing keys (`pem_keys`).
//! - `role/:name`: bound service-account names and namespaces (`*` or globs), audience,
//!   alias naming and token settings.
//! - `login`: checks the JWT and its bindings, then validates it in one of two ways: locally
//!   against `pem_keys` when configured (no API call), else through the TokenReview API, which
//!   also notices deleted service accounts and pods.
//!
//! Refusals are 403s, as in Vault; JWTs and the reviewer token never reach logs or errors.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod namespace_selector;
mod path_config;
mod path_login;
mod path_role;
mod token_review;
mod validate;

use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, Router, SpecialPaths};
use coffer_types::Result;

pub use path_config::KubeState;

/// Builds a Kubernetes mount.
pub fn factory(_config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let router = Router::new(Arc::new(KubeState::new()))
        .special_paths(SpecialPaths { unauthenticated: vec!["login".into()], sudo: Vec::new() });
    let router = path_config::routes(router);
    let router = path_role::routes(router);
    Ok(Arc::new(path_login::routes(router)))
}
