//! The trait between the core and an engine, and the factory that builds an engine per mount.

use std::sync::Arc;

use async_trait::async_trait;
use coffer_storage::SharedStorage;
use coffer_types::{Error, Map, Response, Result, SecretLease};

use crate::{BackendRequest, IssuedLogin, LoginRenewal};

/// Paths of a backend that need special treatment by the core.
#[derive(Debug, Clone, Default)]
pub struct SpecialPaths {
    /// Paths served without a token (login). A trailing `*` matches a prefix.
    pub unauthenticated: Vec<String>,
    /// Paths that need the `sudo` capability. A trailing `*` matches a prefix.
    pub sudo: Vec<String>,
}

impl SpecialPaths {
    /// Whether `path` matches one of `patterns`: exact, a prefix when the pattern ends in `*`,
    /// and `+` standing for exactly one path segment (`issuer/+/pem`).
    pub fn matches(patterns: &[String], path: &str) -> bool {
        patterns.iter().any(|p| pattern_matches(p, path))
    }
}

fn pattern_matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('+') {
        return match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => pattern == path,
        };
    }
    let (body, glob) = match pattern.strip_suffix('*') {
        Some(b) => (b, true),
        None => (pattern, false),
    };
    let mut rest = path;
    let mut parts = body.split('/').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        if part == "+" {
            let end = rest.find('/').unwrap_or(rest.len());
            if end == 0 {
                return false;
            }
            rest = &rest[end..];
        } else if last && glob {
            return rest.starts_with(part);
        } else if let Some(r) = rest.strip_prefix(part) {
            rest = r;
        } else {
            return false;
        }
        if !last {
            match rest.strip_prefix('/') {
                Some(r) => rest = r,
                None => return false,
            }
        }
    }
    glob || rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_path_patterns() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(SpecialPaths::matches(&p(&["login"]), "login"));
        assert!(!SpecialPaths::matches(&p(&["login"]), "login/x"));
        assert!(SpecialPaths::matches(&p(&["login/*"]), "login/alice"));
        assert!(SpecialPaths::matches(&p(&["issuer/+/pem"]), "issuer/default/pem"));
        assert!(!SpecialPaths::matches(&p(&["issuer/+/pem"]), "issuer/default/der"));
        assert!(!SpecialPaths::matches(&p(&["issuer/+/pem"]), "issuer//pem"));
        assert!(!SpecialPaths::matches(&p(&["issuer/+/pem"]), "issuer/a/b/pem"));
        assert!(SpecialPaths::matches(&p(&["issuer/+/crl*"]), "issuer/x/crl/delta"));
        assert!(!SpecialPaths::matches(&p(&["issuer/+/crl*"]), "issuer/x/json"));
    }
}

/// An engine mounted at a path: secrets engines and auth methods alike.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Serves one request. `Ok(None)` is an empty answer (204, or 404 for a read).
    async fn handle(&self, req: BackendRequest) -> Result<Option<Response>>;

    /// Whether the item a write targets exists (`Some`), or `None` when the path is not
    /// create-aware. The core uses it to pick the `create` or `update` capability.
    async fn exists(&self, _req: &BackendRequest) -> Result<Option<bool>> {
        Ok(None)
    }

    /// Run once the mount is built (mounted, unsealed, or rebuilt by a tune of its options)
    /// and before it serves: brings the engine's stored data up to date (KV upgrades v1 data
    /// to v2 here). Must be idempotent; an `Err` keeps the mount from being (re)built.
    async fn initialize(&self) -> Result<()> {
        Ok(())
    }

    /// Paths served without a token or needing `sudo`.
    fn special_paths(&self) -> SpecialPaths {
        SpecialPaths::default()
    }

    /// Renews a lease this backend issued; returns the renewed terms.
    async fn renew_secret(&self, _req: SecretRequest) -> Result<SecretLease> {
        Err(Error::invalid("lease is not renewable"))
    }

    /// Revokes a lease this backend issued (drops the credential). Must be idempotent.
    async fn revoke_secret(&self, _req: SecretRequest) -> Result<()> {
        Ok(())
    }

    /// Asked when a token that a login on this auth mount issued is renewed
    /// (`auth/token/renew`, `renew-self`, `renew-accessor`). `req` is an update of the login
    /// path as the renewing connection made it (its peer address and client certificates,
    /// no data, no caller); `login` is what the login stored with the token. An `Err`
    /// refuses the renewal. The default renews on the terms the token was issued with.
    async fn renew_login(&self, _req: BackendRequest, _login: IssuedLogin) -> Result<LoginRenewal> {
        Ok(LoginRenewal::Unchanged)
    }
}

/// A renew or revoke of a lease, as the expiration manager asks the engine.
#[derive(Clone)]
pub struct SecretRequest {
    /// The lease id.
    pub lease_id: String,
    /// The engine's internal data stored with the lease.
    pub internal: Map,
    /// The requested increment in seconds (renew only, 0 = default).
    pub increment: i64,
    /// Unix seconds the lease was issued.
    pub issue_time: i64,
    /// The mount's storage.
    pub storage: SharedStorage,
    /// The mount point with trailing `/`.
    pub mount_point: String,
}

/// What a factory gets to build a backend for one mount.
#[derive(Clone)]
pub struct BackendConfig {
    /// The mount path, with its trailing `/` (`secret/`).
    pub mount_path: String,
    /// The engine type as given at enable time (`kv`).
    pub engine_type: String,
    /// The mount's `options` (`{"version":"2"}` for KV v2).
    pub options: Map,
    /// The mount's storage view.
    pub storage: SharedStorage,
}

/// Builds a backend for a mount.
pub type Factory = fn(BackendConfig) -> Result<Arc<dyn Backend>>;
