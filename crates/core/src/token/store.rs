//! Storage of tokens: entries keyed by salted HMAC, the accessor, parent and expiry indexes,
//! and a cache of decoded entries so that authenticating a request rarely touches storage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::hmac;
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Result, SecretString, random_base62, random_bytes, unix_now};

use super::TokenEntry;

const SALT_KEY: &str = "salt";
const CACHE_LIMIT: usize = 100_000;
/// Index entries read per storage call while walking an index.
const PAGE: usize = 256;

/// Cached entries with a generation counter: a lookup that raced with a write does not put a
/// stale entry back.
#[derive(Default)]
struct Cache {
    entries: RwLock<HashMap<String, Arc<TokenEntry>>>,
    generation: AtomicU64,
}

impl Cache {
    fn get(&self, hash: &str) -> Option<Arc<TokenEntry>> {
        self.entries.read().ok()?.get(hash).cloned()
    }

    fn insert_if_current(&self, hash: String, entry: Arc<TokenEntry>, generation: u64) {
        if let Ok(mut map) = self.entries.write() {
            if self.generation.load(Ordering::Acquire) != generation {
                return;
            }
            if map.len() >= CACHE_LIMIT {
                map.clear();
            }
            map.insert(hash, entry);
        }
    }

    fn invalidate(&self, hash: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut map) = self.entries.write() {
            map.remove(hash);
        }
    }
}

/// The index entry of a token under the request path that created it.
fn path_key(path: &str, hash: &str) -> String {
    format!("path/{}/{hash}", path.trim_end_matches('/'))
}

fn expiry_key(expire_time: i64, hash: &str) -> String {
    format!("expiry/{expire_time:020}/{hash}")
}

fn encode(entry: &TokenEntry) -> Result<Vec<u8>> {
    serde_json::to_vec(entry).map_err(|e| Error::internal(e.to_string()))
}

/// `num_uses` of a token whose last use is being served: it is revoked when that request
/// ends and refused to any other (the reference's marker, shown by `lookup-self`).
pub const REVOCATION_PENDING: i64 = -1;

/// The token store over its storage view (`sys/token/` inside the barrier).
pub struct TokenStore {
    storage: SharedStorage,
    key: hmac::Key,
    cache: Cache,
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
        Ok(TokenStore {
            storage,
            key: hmac::Key::new(hmac::HMAC_SHA256, &salt),
            cache: Cache::default(),
        })
    }

    /// The salted HMAC of a token: the only form in which tokens are stored.
    pub fn hash(&self, token: &str) -> String {
        hex::encode(hmac::sign(&self.key, token.as_bytes()).as_ref())
    }

    /// A fresh random service token.
    pub fn generate() -> String {
        format!("s.{}", random_base62(24))
    }

    /// A new batch token: `b.` and a longer random part (the reference's are longer still,
    /// being encrypted blobs; clients only look at the prefix).
    pub fn generate_batch() -> String {
        format!("b.{}", random_base62(64))
    }

    /// Creates a root token (`id` given in dev mode, random otherwise) and returns it.
    pub async fn create_root(&self, id: Option<&str>, display_name: &str) -> Result<SecretString> {
        let token = match id {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => Self::generate(),
        };
        let entry = TokenEntry {
            accessor: random_base62(24),
            policies: vec!["root".to_string()],
            path: "auth/token/root".to_string(),
            display_name: display_name.to_string(),
            creation_time: unix_now(),
            token_type: "service".to_string(),
            ..TokenEntry::default()
        };
        self.insert(&token, &entry).await?;
        Ok(SecretString::new(token))
    }

    /// Stores a new token with its indexes, in one atomic batch.
    pub async fn insert(&self, token: &str, entry: &TokenEntry) -> Result<()> {
        let hash = self.hash(token);
        if self.storage.get(&format!("id/{hash}")).await?.is_some() {
            return Err(Error::invalid("cannot create a token with a duplicate ID"));
        }
        let mut ops = vec![WriteOp::Put { key: format!("id/{hash}"), value: encode(entry)? }];
        if !entry.accessor.is_empty() {
            ops.push(WriteOp::Put {
                key: format!("accessor/{}", entry.accessor),
                value: hash.clone().into_bytes(),
            });
        }
        if !entry.parent.is_empty() {
            ops.push(WriteOp::Put {
                key: format!("parent/{}/{hash}", entry.parent),
                value: Vec::new(),
            });
        }
        if entry.expire_time > 0 {
            ops.push(WriteOp::Put { key: expiry_key(entry.expire_time, &hash), value: Vec::new() });
        }
        if !entry.mount_accessor.is_empty() {
            ops.push(WriteOp::Put {
                key: format!("mount/{}/{hash}", entry.mount_accessor),
                value: Vec::new(),
            });
        }
        // Only tokens that expire are leases (as the reference): a root token is never
        // revoked by prefix.
        if !entry.path.is_empty() && entry.expire_time > 0 && !entry.is_batch() {
            ops.push(WriteOp::Put { key: path_key(&entry.path, &hash), value: Vec::new() });
        }
        self.storage.batch(ops).await?;
        self.cache.invalidate(&hash);
        Ok(())
    }

    /// Revokes, with their children, the tokens created under the request path `prefix`
    /// (`auth/userpass/login/alice/`, `auth/token/create/`...): what `sys/leases/revoke-prefix`
    /// does to token leases. Returns the hashes revoked.
    pub async fn revoke_path_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut revoked = Vec::new();
        let mut folders = vec![format!("path/{prefix}")];
        while let Some(folder) = folders.pop() {
            for child in self.storage.list(&folder).await? {
                if child.ends_with('/') {
                    folders.push(format!("{folder}{child}"));
                } else {
                    revoked.extend(self.revoke_tree(&child).await?);
                }
            }
        }
        Ok(revoked)
    }

    /// Revokes every token issued by logins on the auth mount with `mount_accessor`; returns
    /// the hashes revoked.
    pub async fn revoke_by_mount(&self, mount_accessor: &str) -> Result<Vec<String>> {
        let prefix = format!("mount/{mount_accessor}/");
        let mut revoked = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.storage.list_page(&prefix, after.as_deref(), Some(PAGE)).await?;
            for hash in &page {
                revoked.extend(self.revoke_tree(hash).await?);
            }
            match page.last() {
                Some(last) if page.len() >= PAGE => after = Some(last.clone()),
                _ => break,
            }
        }
        self.storage.delete_prefix(&prefix).await?;
        Ok(revoked)
    }

    /// Replaces the entry of `hash`, moving its expiry index when the expiry changed.
    pub async fn update(&self, hash: &str, old: &TokenEntry, new: &TokenEntry) -> Result<()> {
        let mut ops = vec![WriteOp::Put { key: format!("id/{hash}"), value: encode(new)? }];
        if old.expire_time != new.expire_time {
            if old.expire_time > 0 {
                ops.push(WriteOp::Delete { key: expiry_key(old.expire_time, hash) });
            }
            if new.expire_time > 0 {
                ops.push(WriteOp::Put {
                    key: expiry_key(new.expire_time, hash),
                    value: Vec::new(),
                });
            }
        }
        if old.parent != new.parent && !old.parent.is_empty() {
            ops.push(WriteOp::Delete { key: format!("parent/{}/{hash}", old.parent) });
        }
        self.storage.batch(ops).await?;
        self.cache.invalidate(hash);
        Ok(())
    }

    /// The live entry stored under `hash`, `None` when unknown or expired.
    pub async fn lookup_hash(&self, hash: &str) -> Result<Option<Arc<TokenEntry>>> {
        let now = unix_now();
        if let Some(entry) = self.cache.get(hash) {
            return Ok((!entry.expired(now)).then_some(entry));
        }
        let generation = self.cache.generation.load(Ordering::Acquire);
        let Some(bytes) = self.storage.get(&format!("id/{hash}")).await? else {
            return Ok(None);
        };
        let entry: Arc<TokenEntry> = Arc::new(
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("corrupt token entry: {e}")))?,
        );
        self.cache.insert_if_current(hash.to_string(), entry.clone(), generation);
        Ok((!entry.expired(now)).then_some(entry))
    }

    /// The live entry of `token`, `None` when unknown or expired.
    pub async fn lookup(&self, token: &str) -> Result<Option<Arc<TokenEntry>>> {
        self.lookup_hash(&self.hash(token)).await
    }

    /// The hash and live entry behind an accessor.
    pub async fn lookup_accessor(
        &self,
        accessor: &str,
    ) -> Result<Option<(String, Arc<TokenEntry>)>> {
        if accessor.is_empty() || accessor.contains('/') {
            return Ok(None);
        }
        let Some(hash) = self.storage.get(&format!("accessor/{accessor}")).await? else {
            return Ok(None);
        };
        let hash =
            String::from_utf8(hash).map_err(|_| Error::internal("corrupt accessor index"))?;
        Ok(self.lookup_hash(&hash).await?.map(|e| (hash, e)))
    }

    /// Every accessor.
    pub async fn accessors(&self) -> Result<Vec<String>> {
        Ok(self.storage.list("accessor/").await?)
    }

    /// Revokes the token under `hash` and, recursively, every child token; returns the hashes
    /// of every token revoked (their leases must go too).
    pub async fn revoke_tree(&self, hash: &str) -> Result<Vec<String>> {
        let mut revoked = Vec::new();
        // Depth-first with an explicit stack: children are revoked before their parent, so a
        // failure part-way never leaves a child without its parent's index entry.
        let mut stack = vec![(hash.to_string(), false)];
        while let Some((current, expanded)) = stack.pop() {
            if expanded {
                self.delete_one(&current).await?;
                revoked.push(current);
                continue;
            }
            stack.push((current.clone(), true));
            for child in self.storage.list(&format!("parent/{current}/")).await? {
                stack.push((child.trim_end_matches('/').to_string(), false));
            }
        }
        Ok(revoked)
    }

    /// Revokes only the token under `hash`; its children become orphans.
    pub async fn revoke_orphan(&self, hash: &str) -> Result<Vec<String>> {
        for child in self.storage.list(&format!("parent/{hash}/")).await? {
            let child = child.trim_end_matches('/').to_string();
            if let Some(old) = self.raw_entry(&child).await? {
                let mut new = old.clone();
                new.parent.clear();
                self.update(&child, &old, &new).await?;
            }
        }
        self.delete_one(hash).await?;
        Ok(vec![hash.to_string()])
    }

    async fn raw_entry(&self, hash: &str) -> Result<Option<TokenEntry>> {
        match self.storage.get(&format!("id/{hash}")).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::internal(format!("corrupt token entry: {e}"))),
        }
    }

    async fn delete_one(&self, hash: &str) -> Result<()> {
        let mut ops = vec![WriteOp::Delete { key: format!("id/{hash}") }];
        if let Some(entry) = self.raw_entry(hash).await? {
            if !entry.accessor.is_empty() {
                ops.push(WriteOp::Delete { key: format!("accessor/{}", entry.accessor) });
            }
            if !entry.parent.is_empty() {
                ops.push(WriteOp::Delete { key: format!("parent/{}/{hash}", entry.parent) });
            }
            if entry.expire_time > 0 {
                ops.push(WriteOp::Delete { key: expiry_key(entry.expire_time, hash) });
            }
            if !entry.mount_accessor.is_empty() {
                ops.push(WriteOp::Delete { key: format!("mount/{}/{hash}", entry.mount_accessor) });
            }
            if !entry.path.is_empty() {
                ops.push(WriteOp::Delete { key: path_key(&entry.path, hash) });
            }
        }
        self.storage.batch(ops).await?;
        self.storage.delete_prefix(&format!("parent/{hash}/")).await?;
        self.cache.invalidate(hash);
        Ok(())
    }

    /// Counts one use of a `num_uses` token. On its last use the token is marked
    /// [`REVOCATION_PENDING`] and `true` is returned: the caller revokes it once the request
    /// is served (as the reference does, so `lookup-self` and `revoke-self` work on the last
    /// use), and no other request may use it meanwhile.
    pub async fn use_once(&self, hash: &str) -> Result<bool> {
        let Some(old) = self.raw_entry(hash).await? else { return Ok(false) };
        if old.num_uses <= 0 {
            return Ok(false);
        }
        let mut new = old.clone();
        new.num_uses = if old.num_uses == 1 { REVOCATION_PENDING } else { old.num_uses - 1 };
        self.update(hash, &old, &new).await?;
        Ok(old.num_uses == 1)
    }

    /// Revokes every token whose expiry is at or before `now`, reading the expiry index from
    /// its head, one slot (second) and one page at a time, and stopping at the first slot
    /// still in the future. Returns the hashes revoked.
    pub async fn expire_due(&self, now: i64) -> Result<Vec<String>> {
        let mut revoked = Vec::new();
        loop {
            let head = self.storage.list_page("expiry/", None, Some(1)).await?;
            let Some(slot) = head.into_iter().next() else { return Ok(revoked) };
            if !slot.trim_end_matches('/').parse::<i64>().is_ok_and(|t| t <= now) {
                return Ok(revoked);
            }
            let folder = format!("expiry/{slot}");
            let mut after: Option<String> = None;
            loop {
                let page = self.storage.list_page(&folder, after.as_deref(), Some(PAGE)).await?;
                for hash in &page {
                    revoked.extend(self.revoke_tree(hash).await?);
                }
                match page.last() {
                    Some(last) if page.len() >= PAGE => after = Some(last.clone()),
                    _ => break,
                }
            }
            self.storage.delete_prefix(&folder).await?;
        }
    }

    /// Removes index entries that point at tokens that no longer exist. Returns the count.
    pub async fn tidy(&self) -> Result<usize> {
        let mut removed = 0;
        for accessor in self.accessors().await? {
            if let Some(hash) = self.storage.get(&format!("accessor/{accessor}")).await? {
                let hash = String::from_utf8_lossy(&hash).to_string();
                if self.raw_entry(&hash).await?.is_none() {
                    self.storage.delete(&format!("accessor/{accessor}")).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}
