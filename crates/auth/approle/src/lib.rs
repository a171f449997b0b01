//! The AppRole auth method, for services: a role (its token settings and bindings), a role ID
//! (public) and secret IDs (secret, stored only as salted hashes, with uses and TTLs), and a
//! login that trades the pair for a token.
#![forbid(unsafe_code)]

mod login;
mod role;
mod role_fields;
mod secret_id;
mod state;

use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, Router, SpecialPaths};
use coffer_types::Result;

pub use state::AppRoleState;

/// Builds an AppRole mount.
pub fn factory(_config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let router = Router::new(Arc::new(AppRoleState::new()))
        .special_paths(SpecialPaths { unauthenticated: vec!["login".into()], sudo: Vec::new() });
    let router = role::routes(router);
    let router = role_fields::routes(router);
    let router = secret_id::routes(router);
    Ok(Arc::new(login::routes(router)))
}
