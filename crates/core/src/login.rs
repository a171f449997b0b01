//! Turning an auth method's [`Login`] into a token: an orphan carrying the method's token
//! settings, with TTLs bounded by the mount and the system; and asking the method again
//! when that token is renewed.

use coffer_framework::{BackendRequest, IssuedLogin, LoginRenewal};
use coffer_types::{Auth, Error, Login, Operation, Result, random_base62, unix_now};

use crate::mounts::Mounted;
use crate::token::{RenewalTerms, TokenEntry, TokenStore};
use crate::{Active, Core};

impl Core {
    /// Creates the token for a successful login at `path` and returns its `auth` block.
    pub(crate) async fn issue_login_token(
        &self,
        active: &Active,
        mount: &Mounted,
        path: &str,
        login: Login,
    ) -> Result<Auth> {
        let config = &mount.entry.config;
        let mount_max = match login.max_ttl {
            0 => config.effective_max_ttl(),
            m => m.min(config.effective_max_ttl()),
        };
        let max = match login.explicit_max_ttl {
            0 => mount_max,
            e => e.min(mount_max),
        };
        let ttl = match (login.period, login.ttl) {
            (p, _) if p > 0 => p,
            (_, 0) => config.effective_default_ttl(),
            (_, t) => t,
        }
        .min(max);
        let mut policies: Vec<String> =
            login.policies.iter().map(|p| p.trim().to_lowercase()).collect();
        if !login.no_default_policy && !policies.iter().any(|p| p == "default") {
            policies.push("default".into());
        }
        policies.sort();
        policies.dedup();
        let now = unix_now();
        let batch = login_token_type(&login.token_type, &config.token_type) == "batch";
        let entry = TokenEntry {
            // Batch tokens have no accessor and are never renewed (as the reference's).
            accessor: if batch { String::new() } else { random_base62(24) },
            policies,
            path: path.to_string(),
            display_name: display_name(&mount.prefix, &login.display_name),
            meta: (!login.metadata.is_empty()).then(|| login.metadata.clone()),
            creation_time: now,
            creation_ttl: ttl,
            expire_time: now + ttl,
            explicit_max_ttl: login.explicit_max_ttl,
            period: login.period,
            num_uses: login.num_uses,
            token_type: if batch { "batch" } else { "service" }.into(),
            renewable: !batch,
            mount_max_ttl: max,
            mount_accessor: mount.entry.accessor.clone(),
            bound_cidrs: login.bound_cidrs.clone(),
            internal: login.internal.clone(),
            ..TokenEntry::default()
        };
        let mut entry = entry;
        if !login.alias_name.is_empty() {
            let entity = active
                .identity
                .login(
                    &mount.entry.accessor,
                    &mount.entry.engine_type,
                    &mount.prefix,
                    &login.alias_name,
                    &login.alias_metadata,
                )
                .await?;
            entry.entity_id = entity.id.clone();
        }
        let token = if batch { TokenStore::generate_batch() } else { TokenStore::generate() };
        active.tokens.insert(&token, &entry).await?;
        let mut auth = entry.auth(&token, now);
        // As the reference answers a login: `policies` holds the identity's too.
        auth.identity_policies = active.identity.policies_of(&entry.entity_id).await?;
        for extra in &auth.identity_policies {
            if !auth.policies.contains(extra) {
                auth.policies.push(extra.clone());
            }
        }
        auth.policies.sort();
        Ok(auth)
    }
}

/// The type of a login's token: a mount tuned to `service` or `batch` decides; else the
/// role's choice; else the mount's default (`default-service` unless tuned).
fn login_token_type(role: &str, mount: &str) -> &'static str {
    match (mount, role) {
        ("batch", _) => "batch",
        ("service", _) => "service",
        (_, "batch") => "batch",
        (_, "service") => "service",
        ("default-batch", _) => "batch",
        _ => "service",
    }
}

/// A login token's display name, as Vault builds it: the mount path below `auth/` with
/// dashes, then the method's part, without a trailing dash (`auth/ci/jwt/` and `bob` give
/// `ci-jwt-bob`; `auth/approle/` and "" give `approle`).
fn display_name(mount_prefix: &str, who: &str) -> String {
    let source = mount_prefix.strip_prefix("auth/").unwrap_or(mount_prefix).replace('/', "-");
    format!("{source}{who}").trim_end_matches('-').to_string()
}

impl Core {
    /// Asks the auth method whose login issued `entry` whether, and on which terms, it may be
    /// renewed over the connection that `req` came on. `None`: the method declined (the
    /// renewal answers 204 and the token is left as it is). Tokens of the token store, and of
    /// a mount that is gone, renew on their issued terms.
    pub(crate) async fn login_renewal_terms(
        &self,
        active: &Active,
        entry: &TokenEntry,
        req: &BackendRequest,
    ) -> Result<Option<RenewalTerms>> {
        if entry.mount_accessor.is_empty() {
            return Ok(Some(RenewalTerms::token_store(entry)));
        }
        let issued = RenewalTerms::issued(entry);
        let mounted = active
            .mounts
            .load()
            .iter()
            .find(|m| m.is_auth && m.entry.accessor == entry.mount_accessor)
            .cloned();
        let Some(mounted) = mounted else { return Ok(Some(issued)) };
        let login_path = entry.path.strip_prefix(&mounted.prefix).unwrap_or("login");
        let request = BackendRequest {
            operation: Operation::Update,
            path: login_path.to_string(),
            mount_point: mounted.prefix.clone(),
            request_id: req.request_id.clone(),
            remote_addr: req.remote_addr,
            peer_certificates: req.peer_certificates.clone(),
            ..BackendRequest::new(Operation::Update, login_path, mounted.storage.clone())
        };
        let issued_login = IssuedLogin {
            policies: entry.policies.clone(),
            metadata: entry.meta.clone().unwrap_or_default(),
            internal: entry.internal.clone(),
        };
        let answer = match mounted.backend.renew_login(request, issued_login).await {
            Ok(answer) => answer,
            // Vault wraps the method's own failures; bad requests (no certificate) pass as is.
            Err(Error::Internal(msg)) => {
                return Err(Error::internal(format!("failed to renew entry: {msg}")));
            }
            Err(e) => return Err(e),
        };
        let config = &mounted.entry.config;
        Ok(match answer {
            LoginRenewal::Unchanged => Some(issued),
            LoginRenewal::Declined => None,
            LoginRenewal::Terms(terms) => {
                let mount_max = config.effective_max_ttl();
                let max = match terms.max_ttl {
                    0 => mount_max,
                    m => m.min(mount_max),
                };
                let max = match entry.explicit_max_ttl {
                    0 => max,
                    e => e.min(max),
                };
                let ttl = match terms.ttl {
                    0 => config.effective_default_ttl(),
                    t => t,
                };
                Some(RenewalTerms { ttl, max_ttl: max, period: terms.period })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_follow_the_mount() {
        assert_eq!(display_name("auth/jwt/", "alice"), "jwt-alice");
        assert_eq!(display_name("auth/ci/jwt/", "bob"), "ci-jwt-bob");
        assert_eq!(display_name("auth/approle/", ""), "approle");
        assert_eq!(display_name("auth/up2/", "bob"), "up2-bob");
    }
}
