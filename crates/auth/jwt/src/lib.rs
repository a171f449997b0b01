//! The JWT auth method (Vault's `jwt` plugin, JWT flow only): a workload presents a JWT
//! signed by an identity provider (a CI system, a cloud, Kubernetes' OIDC issuer) and gets a
//! Coffer token carrying the policies of a role whose bindings the JWT satisfies.
//!
//! - `config`: where the verification keys come from, exactly one of PEM public keys, a JWKS
//!   URL or an OIDC discovery URL ([`jwks`]), plus the bound issuer and accepted algorithms.
//! - `role/:name`: bound audiences, subject and claims, the user claim (the identity alias),
//!   claim-to-metadata mappings, leeways and token settings.
//! - `login`: verifies the signature ([`validate`]) and the claims, then returns a login the
//!   core turns into an orphan token with an identity entity.
//!
//! Only public-key algorithms are accepted ([`keys::SUPPORTED`]): `none` and HMAC are refused
//! before any key is looked at. Tokens never appear in logs or error messages.
//!
//! The verification pieces ([`validate`], [`keys`], [`http`]) are public because
//! the Kubernetes method validates service-account JWTs with them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod claims;
pub mod http;
pub mod jwks;
pub mod keys;
mod path_config;
mod path_login;
mod path_role;
mod state;
pub mod validate;

use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, Router, SpecialPaths};
use coffer_types::Result;

pub use state::JwtState;

/// Builds a JWT mount (also registered as `oidc`, serving the JWT flow).
pub fn factory(_config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let router = Router::new(Arc::new(JwtState::new()))
        .special_paths(SpecialPaths { unauthenticated: vec!["login".into()], sudo: Vec::new() });
    let router = path_config::routes(router);
    let router = path_role::routes(router);
    Ok(Arc::new(path_login::routes(router)))
}
