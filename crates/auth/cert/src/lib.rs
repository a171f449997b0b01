//! The TLS certificate auth method (Vault's `cert`): a client presents a certificate in the
//! TLS handshake and gets a Coffer token carrying the policies of a trusted certificate
//! ("cert role") that vouches for it.
//!
//! - `certs/:name`: a PEM trust anchor (a CA, or a client's own certificate pinned as is),
//!   globs the certificate's names must match (`allowed_common_names`, `allowed_dns_sans`,
//!   `allowed_email_sans`, `allowed_uri_sans`, `allowed_organizational_units`, the deprecated
//!   `allowed_names`), `required_extensions` (`<oid>:<glob>`), and the token settings.
//! - `config`: `disable_binding`, `enable_identity_alias_metadata`.
//! - `login`: the listener asks every TLS client for a certificate without judging it and
//!   hands the chain (leaf first) to this method, which verifies it with webpki against the
//!   roles' anchors for client authentication, then applies the role's constraints.
//!
//! - renewal: a token renews only over a connection presenting the certificate it logged
//!   in with, still admitted by its role (unless `disable_binding`), and only while the
//!   role grants the same policies.
//!
//! Not implemented yet: OCSP (`ocsp_enabled` is refused) and CRLs (`crls/`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client_cert;
mod constraints;
mod path_certs;
mod path_config;
mod path_login;
mod renewal;
mod trust;

use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, Router, SpecialPaths};
use coffer_types::Result;

/// Builds a TLS certificate auth mount.
pub fn factory(_config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let router = Router::new(Arc::new(()))
        .special_paths(SpecialPaths { unauthenticated: vec!["login".into()], sudo: Vec::new() });
    let router = path_config::routes(router);
    let router = path_certs::routes(router);
    Ok(Arc::new(path_login::routes(router).login_renewal(renewal::renew)))
}
