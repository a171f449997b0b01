//! Response wrapping: with `X-Vault-Wrap-TTL`, a response is stored in the cubbyhole of a new
//! single-use token and only that token is returned; `sys/wrapping/unwrap` gives the response
//! back exactly once. The cubbyhole is per-token storage that dies with its token.

use std::sync::Arc;
use std::time::SystemTime;

use coffer_storage::{SharedStorage, View};
use coffer_types::{Auth, Error, LeaseInfo, Response, Result, WrapInfo, random_base62, unix_now};
use serde::{Deserialize, Serialize};

use crate::token::{TokenEntry, TokenStore};
use crate::{Active, Core};

/// What a wrapping token's cubbyhole holds.
#[derive(Serialize, Deserialize)]
struct Wrapped {
    data: Option<coffer_types::Map>,
    warnings: Vec<String>,
    auth: Option<Auth>,
    lease_id: String,
    renewable: bool,
    lease_duration: i64,
}

/// The per-token cubbyhole storage of the token with salted hash `token_id`.
pub(crate) fn cubbyhole(barrier: SharedStorage, token_id: &str) -> SharedStorage {
    View::new(barrier, format!("sys/cubbyhole/{token_id}/")).shared()
}

impl Core {
    /// Wraps `response` in a new single-use token living `ttl` seconds.
    pub(crate) async fn wrap(
        &self,
        active: &Active,
        response: &Response,
        ttl: i64,
        path: &str,
    ) -> Result<Response> {
        let lease = response.lease.clone().unwrap_or_default();
        let wrapped = Wrapped {
            data: response.data.clone(),
            warnings: response.warnings.clone(),
            auth: response.auth.clone(),
            lease_id: lease.lease_id,
            renewable: lease.renewable,
            lease_duration: lease.lease_duration,
        };
        let bytes = serde_json::to_vec(&wrapped).map_err(|e| Error::internal(e.to_string()))?;
        // What the wrapped response hands out: a token's accessor, or an AppRole secret ID's.
        let wrapped_accessor = match (&response.auth, &response.data) {
            (Some(auth), _) => auth.accessor.clone(),
            (None, Some(data)) => data
                .get("secret_id_accessor")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            (None, None) => String::new(),
        };
        let info = self.store_wrapped(active, &bytes, ttl, path, wrapped_accessor).await?;
        Ok(Response { wrap_info: Some(info), ..Response::default() })
    }

    /// Stores an encoded wrapped response under a new single-use wrapping token.
    async fn store_wrapped(
        &self,
        active: &Active,
        bytes: &[u8],
        ttl: i64,
        path: &str,
        wrapped_accessor: String,
    ) -> Result<WrapInfo> {
        let now = unix_now();
        let entry = TokenEntry {
            accessor: random_base62(24),
            policies: vec!["response-wrapping".into()],
            path: path.to_string(),
            display_name: "response-wrapping".into(),
            creation_time: now,
            creation_ttl: ttl,
            expire_time: now + ttl,
            num_uses: 1,
            token_type: "service".into(),
            ..TokenEntry::default()
        };
        let token = TokenStore::generate();
        active.tokens.insert(&token, &entry).await?;
        cubbyhole(self.barrier.clone(), &active.tokens.hash(&token)).put("response", bytes).await?;
        Ok(WrapInfo {
            token: coffer_types::SecretString::new(token),
            accessor: entry.accessor,
            ttl,
            creation_time: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            creation_path: path.to_string(),
            wrapped_accessor,
        })
    }

    /// `sys/wrapping/rewrap`: the same response under a new wrapping token with the old
    /// one's TTL and creation path; the old token stops working.
    pub(crate) async fn rewrap(&self, token: &str) -> Result<Response> {
        let active = self.active()?;
        let (hash, entry) = self.wrapping_entry(&active, token).await?;
        let bytes = cubbyhole(self.barrier.clone(), &hash)
            .get("response")
            .await?
            .ok_or_else(|| Error::invalid("wrapping token is not valid or does not exist"))?;
        let info = self
            .store_wrapped(&active, &bytes, entry.creation_ttl, &entry.path, String::new())
            .await?;
        let revoked = active.tokens.revoke_tree(&hash).await?;
        self.after_token_revocation(&active, &revoked).await?;
        Ok(Response { wrap_info: Some(info), ..Response::default() })
    }

    async fn wrapping_entry(
        &self,
        active: &Active,
        token: &str,
    ) -> Result<(String, Arc<TokenEntry>)> {
        let invalid = || Error::invalid("wrapping token is not valid or does not exist");
        let hash = active.tokens.hash(token);
        let entry = active.tokens.lookup_hash(&hash).await?.ok_or_else(invalid)?;
        if !entry.is_wrapping() {
            return Err(invalid());
        }
        Ok((hash, entry))
    }

    /// Returns the wrapped response once and revokes the wrapping token.
    pub(crate) async fn unwrap(&self, token: &str) -> Result<Response> {
        let active = self.active()?;
        let (hash, _) = self.wrapping_entry(&active, token).await?;
        let store = cubbyhole(self.barrier.clone(), &hash);
        let bytes = store
            .get("response")
            .await?
            .ok_or_else(|| Error::invalid("wrapping token is not valid or does not exist"))?;
        let revoked = active.tokens.revoke_tree(&hash).await?;
        self.after_token_revocation(&active, &revoked).await?;
        let wrapped: Wrapped = serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("corrupt wrapped response: {e}")))?;
        let leased = !wrapped.lease_id.is_empty() || wrapped.lease_duration > 0;
        let lease = leased.then_some(LeaseInfo {
            lease_id: wrapped.lease_id,
            renewable: wrapped.renewable,
            lease_duration: wrapped.lease_duration,
        });
        Ok(Response {
            data: wrapped.data,
            warnings: wrapped.warnings,
            auth: wrapped.auth,
            lease,
            ..Response::default()
        })
    }

    /// `sys/wrapping/lookup`: what a wrapping token wraps, without using it.
    pub(crate) async fn wrap_lookup(&self, token: &str) -> Result<serde_json::Value> {
        let active = self.active()?;
        let (_, entry) = self.wrapping_entry(&active, token).await?;
        let created = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(entry.creation_time.max(0) as u64);
        Ok(serde_json::json!({
            "creation_path": entry.path,
            "creation_time": humantime::format_rfc3339(created).to_string(),
            "creation_ttl": entry.creation_ttl,
        }))
    }

    /// What follows a token revocation: the leases of the revoked tokens are revoked and
    /// their cubbyholes deleted.
    pub(crate) async fn after_token_revocation(
        &self,
        active: &Active,
        token_ids: &[String],
    ) -> Result<()> {
        if token_ids.is_empty() {
            return Ok(());
        }
        active.leases.revoke_for_tokens(&active.mounts.load(), token_ids).await?;
        for id in token_ids {
            cubbyhole(self.barrier.clone(), id).delete_prefix("").await?;
        }
        Ok(())
    }
}
