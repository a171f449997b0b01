//! The token store: tokens are random strings kept only as salted HMACs, with an accessor index.
//! This is the part of the token store the request pipeline needs; the token auth routes
//! (`auth/token/...`) live in `token_routes.rs`.

use std::time::UNIX_EPOCH;

use aws_lc_rs::hmac;
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Map, Result, SecretString, random_base62, random_bytes};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const SALT_KEY: &str = "salt";

/// A stored token. The token itself is never stored: entries are keyed by its salted HMAC.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The accessor: a second, non-secret handle to the token.
    pub accessor: String,
    /// Policies attached to the token, sorted.
    pub policies: Vec<String>,
    /// The path that created it (`auth/token/root`, `auth/token/create`...).
    pub path: String,
    /// Display name.
    pub display_name: String,
    /// Metadata.
    #[serde(default)]
    pub meta: Option<Map>,
    /// Unix seconds of creation.
    pub creation_time: i64,
    /// TTL at creation in seconds (0 = never expires).
    pub ttl: i64,
    /// Hard TTL cap in seconds (0 = none).
    #[serde(default)]
    pub explicit_max_ttl: i64,
    /// Uses left (0 = unlimited).
    #[serde(default)]
    pub num_uses: i64,
    /// The parent's HMAC, "" for orphans.
    #[serde(default)]
    pub parent: String,
    /// `service` or `batch`.
    pub token_type: String,
    /// Whether the token can be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// The identity entity, "" when none.
    #[serde(default)]
    pub entity_id: String,
}

impl TokenEntry {
    /// Whether the token holds the root policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Seconds left, 0 when the token never expires.
    pub fn ttl_left(&self, now: i64) -> i64 {
        if self.ttl == 0 { 0 } else { (self.creation_time + self.ttl - now).max(0) }
    }

    /// Whether the token has expired at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.ttl > 0 && now >= self.creation_time + self.ttl
    }

    /// The `lookup` shape of §5.3; `id` is the token when the caller may see it.
    pub fn lookup_json(&self, id: &str, now: i64) -> Value {
        let expire_time = if self.ttl == 0 {
            Value::Null
        } else {
            json!(rfc3339(self.creation_time + self.ttl))
        };
        json!({
            "accessor": self.accessor,
            "creation_time": self.creation_time,
            "creation_ttl": self.ttl,
            "display_name": self.display_name,
            "entity_id": self.entity_id,
            "expire_time": expire_time,
            "explicit_max_ttl": self.explicit_max_ttl,
            "id": id,
            "issue_time": rfc3339(self.creation_time),
            "meta": self.meta,
            "num_uses": self.num_uses,
            "orphan": self.parent.is_empty(),
            "path": self.path,
            "policies": self.policies,
            "renewable": self.renewable,
            "ttl": self.ttl_left(now),
            "type": self.token_type,
        })
    }
}


fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339(t).to_string()
}

/// The token store over its storage view (`sys/token/` inside the barrier).
pub struct TokenStore {
    storage: SharedStorage,
    key: hmac::Key,
}

impl TokenStore {
    /// Opens the store, creating its salt on first use.
    pub async fn open(storage: SharedStorage) -> Result<Self> {
        let salt = match storage.get(SALT_KEY).await? {
            Some(salt) => salt,
            None => {
                let salt = random_bytes(32);
                storage.put(SALT_KEY, &salt).await?;
                salt
            }
        };
        Ok(TokenStore { storage, key: hmac::Key::new(hmac::HMAC_SHA256, &salt) })
    }

    /// The salted HMAC of a token: the only form in which tokens are stored.
    pub fn hash(&self, token: &str) -> String {
        hex::encode(hmac::sign(&self.key, token.as_bytes()).as_ref())
    }

    /// Creates a root token (`id` given in dev mode, random otherwise) and returns it.
    pub async fn create_root(&self, id: Option<&str>, display_name: &str) -> Result<SecretString> {
        let token = match id {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => format!("s.{}", random_base62(24)),
        };
        let entry = TokenEntry {
            accessor: random_base62(24),
            policies: vec!["root".to_string()],
            path: "auth/token/root".to_string(),
            display_name: display_name.to_string(),
            meta: None,
            creation_time: coffer_types::unix_now(),
            ttl: 0,
            explicit_max_ttl: 0,
            num_uses: 0,
            parent: String::new(),
            token_type: "service".to_string(),
            renewable: false,
            entity_id: String::new(),
        };
        self.store(&token, &entry).await?;
        Ok(SecretString::new(token))
    }

    /// Stores `entry` for `token` with its accessor index, in one atomic batch.
    pub async fn store(&self, token: &str, entry: &TokenEntry) -> Result<()> {
        let hash = self.hash(token);
        let value = serde_json::to_vec(entry).map_err(|e| Error::internal(e.to_string()))?;
        self.storage
            .batch(vec![
                WriteOp::Put { key: format!("id/{hash}"), value },
                WriteOp::Put { key: format!("accessor/{}", entry.accessor), value: hash.into_bytes() },
            ])
            .await?;
        Ok(())
    }

    /// The live entry of `token`, `None` when unknown or expired.
    pub async fn lookup(&self, token: &str) -> Result<Option<TokenEntry>> {
        let hash = self.hash(token);
        let Some(bytes) = self.storage.get(&format!("id/{hash}")).await? else {
            return Ok(None);
        };
        let entry: TokenEntry = serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("corrupt token entry: {e}")))?;
        Ok((!entry.expired(coffer_types::unix_now())).then_some(entry))
    }
}
