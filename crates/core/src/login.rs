//! Turning an auth method's [`Login`] into a token: an orphan carrying the method's token
//! settings, with TTLs bounded by the mount and the system.

use coffer_types::{Auth, Login, Result, random_base62, unix_now};

use crate::mounts::Mounted;
use crate::token::{TokenEntry, TokenStore};
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
        let entry = TokenEntry {
            accessor: random_base62(24),
            policies,
            path: path.to_string(),
            display_name: login.display_name.clone(),
            meta: (!login.metadata.is_empty()).then(|| login.metadata.clone()),
            creation_time: now,
            creation_ttl: ttl,
            expire_time: now + ttl,
            explicit_max_ttl: login.explicit_max_ttl,
            period: login.period,
            num_uses: login.num_uses,
            token_type: "service".into(),
            renewable: true,
            mount_max_ttl: max,
            mount_accessor: mount.entry.accessor.clone(),
            bound_cidrs: login.bound_cidrs.clone(),
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
        let token = TokenStore::generate();
        active.tokens.insert(&token, &entry).await?;
        Ok(entry.auth(&token, now))
    }
}
