//! The expiration manager: every dynamic secret gets a lease, persisted before the response
//! leaves, indexed by expiry and by owning token. Leases are renewed and revoked through the
//! engine that issued them; a revocation that fails is retried with exponential backoff and,
//! after repeated failures, listed as irrevocable (it can then be force-revoked).
//!
//! Nothing here reads every lease: expiry reads the head of the expiry index, one slot and
//! one page at a time; revoking a prefix or a token's leases walks its index a page at a
//! time; irrevocable leases have an index of their own. Memory therefore stays flat however
//! many leases are stored, and unseal reads none of them.

use aws_lc_rs::digest;
use coffer_framework::{SecretRequest, read_json};
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{
    Error, LeaseInfo, Result, SecretLease, random_base62, ttl_capped_warning, unix_now,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::mounts::{MountTable, Mounted};

/// Failed revocations before a lease is reported irrevocable.
const IRREVOCABLE_AFTER: u32 = 6;
/// Longest wait between revocation attempts, seconds.
const MAX_BACKOFF: i64 = 3600;
/// Index entries read per storage call while walking an index.
const PAGE: usize = 256;

/// A stored lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseEntry {
    /// `<request path>/<24 base62>`.
    pub lease_id: String,
    /// The mount that issued it.
    pub mount_prefix: String,
    /// The engine's internal data.
    pub internal: coffer_types::Map,
    /// Unix seconds of issue.
    pub issue_time: i64,
    /// Unix seconds of expiry.
    pub expire_time: i64,
    /// Hard end of life (unix seconds).
    pub max_expire: i64,
    /// Unix seconds of the last renewal (0 = none).
    pub last_renewal: i64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// The owning token's hash ("" = none).
    pub token_hash: String,
    /// Failed revocation attempts.
    #[serde(default)]
    pub revoke_attempts: u32,
    /// The last revocation error.
    #[serde(default)]
    pub last_error: String,
}

impl LeaseEntry {
    /// Whether revocation has failed too often.
    pub fn irrevocable(&self) -> bool {
        self.revoke_attempts >= IRREVOCABLE_AFTER
    }

    /// The `sys/leases/lookup` shape.
    pub fn lookup_json(&self, now: i64) -> Value {
        let t = |u: i64| {
            humantime::format_rfc3339_nanos(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(u.max(0) as u64),
            )
            .to_string()
        };
        let mut out = json!({
            "id": self.lease_id,
            "issue_time": t(self.issue_time),
            "expire_time": t(self.expire_time),
            "last_renewal": if self.last_renewal > 0 { json!(t(self.last_renewal)) } else { Value::Null },
            "renewable": self.renewable,
            "ttl": (self.expire_time - now).max(0),
        });
        if self.revoke_attempts > 0 {
            out["revoke_attempts"] = json!(self.revoke_attempts);
            out["last_revoke_error"] = json!(self.last_error);
            out["irrevocable"] = json!(self.irrevocable());
        }
        out
    }
}

fn hash(lease_id: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, lease_id.as_bytes()).as_ref())
}

fn expiry_key(t: i64, lease_id: &str) -> String {
    format!("expiry/{t:020}/{}", hash(lease_id))
}

fn irrevocable_key(lease_id: &str) -> String {
    format!("irrevocable/{}", hash(lease_id))
}

/// A depth-first walk over the lease ids under a prefix, handed out a page at a time by
/// [`LeaseStore::next_ids`], so revoking a whole mount never holds every id in memory. The
/// walk follows cursors, so leases removed along the way do not disturb it.
pub struct LeaseWalk {
    /// Folders still being read, each with its last child already handed out or entered.
    stack: Vec<(String, Option<String>)>,
}

/// Lock stripes: operations on leases hashing to the same stripe wait for each other.
const LOCK_STRIPES: usize = 1024;

/// Serialises the operations on one lease (renew, revoke, expiry), so two concurrent
/// renewals cannot both move its expiry index entry (leaving one behind that would revoke it
/// early) and the engine never sees two calls for the same secret at once (PostgreSQL
/// refuses concurrent `ALTER ROLE`s of one role). Striped: no map of ids, no global lock;
/// no caller holds two stripes at once, so stripes cannot deadlock.
struct LeaseLocks {
    stripes: Box<[tokio::sync::Mutex<()>]>,
    hasher: std::hash::RandomState,
}

impl LeaseLocks {
    fn new() -> Self {
        LeaseLocks {
            stripes: (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    async fn lock(&self, lease_id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::BuildHasher;
        let stripe = self.hasher.hash_one(lease_id) as usize % self.stripes.len();
        self.stripes[stripe].lock().await
    }
}

/// Leases inside the barrier (`sys/expire/`).
pub struct LeaseStore {
    storage: SharedStorage,
    locks: LeaseLocks,
}

impl LeaseStore {
    /// The store over its view.
    pub fn new(storage: SharedStorage) -> Self {
        LeaseStore { storage, locks: LeaseLocks::new() }
    }

    /// A lease by id.
    pub async fn get(&self, lease_id: &str) -> Result<Option<LeaseEntry>> {
        if lease_id.is_empty() || lease_id.contains("..") {
            return Ok(None);
        }
        read_json(&self.storage, &format!("lease/{lease_id}")).await
    }

    /// After a remount: the leases of the mount that was at `old_prefix` are renewed and
    /// revoked through it at `new_prefix` (their ids, opaque to clients, stay). `id_prefixes`
    /// are the prefixes their ids can start with (every path the mount has had).
    pub async fn rehome(
        &self,
        id_prefixes: &[String],
        old_prefix: &str,
        new_prefix: &str,
    ) -> Result<usize> {
        let mut moved = 0;
        for id_prefix in id_prefixes {
            let mut walk = self.walk(id_prefix);
            loop {
                let ids = self.next_ids(&mut walk).await?;
                if ids.is_empty() {
                    break;
                }
                for id in ids {
                    let Some(old) = self.get(&id).await? else { continue };
                    if old.mount_prefix != old_prefix {
                        continue;
                    }
                    let new = LeaseEntry { mount_prefix: new_prefix.to_string(), ..old.clone() };
                    self.put(Some(&old), &new).await?;
                    moved += 1;
                }
            }
        }
        Ok(moved)
    }

    async fn put(&self, old: Option<&LeaseEntry>, new: &LeaseEntry) -> Result<()> {
        let value = serde_json::to_vec(new).map_err(|e| Error::internal(e.to_string()))?;
        let mut ops = vec![WriteOp::Put { key: format!("lease/{}", new.lease_id), value }];
        if let Some(old) = old.filter(|o| o.expire_time != new.expire_time) {
            ops.push(WriteOp::Delete { key: expiry_key(old.expire_time, &old.lease_id) });
        }
        ops.push(WriteOp::Put {
            key: expiry_key(new.expire_time, &new.lease_id),
            value: new.lease_id.clone().into_bytes(),
        });
        if old.is_none() && !new.token_hash.is_empty() {
            ops.push(WriteOp::Put {
                key: format!("token/{}/{}", new.token_hash, hash(&new.lease_id)),
                value: new.lease_id.clone().into_bytes(),
            });
        }
        if new.irrevocable() && !old.is_some_and(LeaseEntry::irrevocable) {
            ops.push(WriteOp::Put {
                key: irrevocable_key(&new.lease_id),
                value: new.lease_id.clone().into_bytes(),
            });
        }
        self.storage.batch(ops).await?;
        Ok(())
    }

    async fn remove(&self, entry: &LeaseEntry) -> Result<()> {
        let mut ops = vec![
            WriteOp::Delete { key: format!("lease/{}", entry.lease_id) },
            WriteOp::Delete { key: expiry_key(entry.expire_time, &entry.lease_id) },
        ];
        if entry.irrevocable() {
            ops.push(WriteOp::Delete { key: irrevocable_key(&entry.lease_id) });
        }
        if !entry.token_hash.is_empty() {
            ops.push(WriteOp::Delete {
                key: format!("token/{}/{}", entry.token_hash, hash(&entry.lease_id)),
            });
        }
        self.storage.batch(ops).await?;
        Ok(())
    }

    /// Registers a lease for a secret returned at `path`; returns the envelope's lease fields.
    pub async fn register(
        &self,
        mount: &Mounted,
        path: &str,
        secret: SecretLease,
        token_hash: &str,
    ) -> Result<LeaseInfo> {
        let config = &mount.entry.config;
        let max = if secret.max_ttl > 0 {
            secret.max_ttl.min(config.effective_max_ttl())
        } else {
            config.effective_max_ttl()
        };
        let ttl = if secret.ttl > 0 { secret.ttl } else { config.effective_default_ttl() }.min(max);
        let now = unix_now();
        let entry = LeaseEntry {
            lease_id: format!("{}/{}", path.trim_end_matches('/'), random_base62(24)),
            mount_prefix: mount.prefix.clone(),
            internal: secret.internal,
            issue_time: now,
            expire_time: now + ttl,
            max_expire: now + max,
            last_renewal: 0,
            renewable: secret.renewable,
            token_hash: token_hash.to_string(),
            revoke_attempts: 0,
            last_error: String::new(),
        };
        self.put(None, &entry).await?;
        Ok(LeaseInfo { lease_id: entry.lease_id, renewable: entry.renewable, lease_duration: ttl })
    }

    fn request(entry: &LeaseEntry, mount: &Mounted, increment: i64) -> SecretRequest {
        SecretRequest {
            lease_id: entry.lease_id.clone(),
            internal: entry.internal.clone(),
            increment,
            issue_time: entry.issue_time,
            storage: mount.storage.clone(),
            mount_point: mount.prefix.clone(),
        }
    }

    /// Renews a lease through its engine; returns the new terms and any warning.
    pub async fn renew(
        &self,
        table: &MountTable,
        lease_id: &str,
        increment: i64,
    ) -> Result<(LeaseInfo, Vec<String>)> {
        let _serialised = self.locks.lock(lease_id).await;
        let entry = self.get(lease_id).await?.ok_or_else(|| Error::invalid("lease not found"))?;
        let now = unix_now();
        if !entry.renewable || entry.expire_time <= now {
            return Err(Error::invalid("lease is not renewable"));
        }
        let mount =
            table.get(&entry.mount_prefix).ok_or_else(|| Error::invalid("lease not found"))?;
        let terms = mount.backend.renew_secret(Self::request(&entry, mount, increment)).await?;
        let wanted = if increment > 0 {
            increment
        } else if terms.ttl > 0 {
            terms.ttl
        } else {
            mount.entry.config.effective_default_ttl()
        };
        let mut warnings = Vec::new();
        let mut expire = now + wanted;
        if expire > entry.max_expire {
            expire = entry.max_expire;
            warnings.push(ttl_capped_warning(wanted, expire - now));
        }
        let mut new = entry.clone();
        new.expire_time = expire;
        new.last_renewal = now;
        if !terms.internal.is_empty() {
            new.internal = terms.internal;
        }
        self.put(Some(&entry), &new).await?;
        Ok((
            LeaseInfo { lease_id: new.lease_id, renewable: true, lease_duration: expire - now },
            warnings,
        ))
    }

    /// Revokes a lease through its engine. On failure the lease stays, with its error, to be
    /// retried with backoff. `force` drops it without asking the engine.
    pub async fn revoke(&self, table: &MountTable, lease_id: &str, force: bool) -> Result<()> {
        self.revoke_if(table, lease_id, force, |_| true).await.map(drop)
    }

    /// Revokes a lease if `due` says so of its stored entry, under the lease's lock; returns
    /// whether this call revoked it (`false` too when the lease is already gone).
    async fn revoke_if(
        &self,
        table: &MountTable,
        lease_id: &str,
        force: bool,
        due: impl FnOnce(&LeaseEntry) -> bool,
    ) -> Result<bool> {
        let _serialised = self.locks.lock(lease_id).await;
        let Some(entry) = self.get(lease_id).await? else { return Ok(false) };
        if !due(&entry) {
            return Ok(false);
        }
        if !force {
            if let Some(mount) = table.get(&entry.mount_prefix) {
                if let Err(e) = mount.backend.revoke_secret(Self::request(&entry, mount, 0)).await {
                    self.record_failure(&entry, &e).await?;
                    return Err(Error::internal(format!("failed to revoke lease {lease_id}: {e}")));
                }
            }
        }
        self.remove(&entry).await?;
        Ok(true)
    }

    async fn record_failure(&self, entry: &LeaseEntry, error: &Error) -> Result<()> {
        let mut new = entry.clone();
        new.revoke_attempts += 1;
        new.last_error = error.to_string();
        let backoff = (1i64 << new.revoke_attempts.min(12)).min(MAX_BACKOFF);
        new.expire_time = unix_now() + backoff;
        tracing::warn!(lease = %entry.lease_id, attempts = new.revoke_attempts, "lease revocation failed; retrying later");
        self.put(Some(entry), &new).await
    }

    /// A walk over every lease id under `prefix`, recursively (see [`LeaseStore::next_ids`]).
    pub fn walk(&self, prefix: &str) -> LeaseWalk {
        LeaseWalk { stack: vec![(prefix.to_string(), None)] }
    }

    /// The next page of lease ids of `walk`; empty when the walk is done.
    pub async fn next_ids(&self, walk: &mut LeaseWalk) -> Result<Vec<String>> {
        let mut out = Vec::new();
        'folders: while let Some((folder, after)) = walk.stack.last().cloned() {
            let listed = format!("lease/{folder}");
            let children = self.storage.list_page(&listed, after.as_deref(), Some(PAGE)).await?;
            if children.is_empty() {
                walk.stack.pop();
                continue;
            }
            for child in children {
                if let Some(top) = walk.stack.last_mut() {
                    top.1 = Some(child.clone());
                }
                let full = format!("{folder}{child}");
                if child.ends_with('/') {
                    walk.stack.push((full, None));
                    continue 'folders;
                }
                out.push(full);
                if out.len() >= PAGE {
                    break 'folders;
                }
            }
        }
        Ok(out)
    }

    /// Immediate children under `prefix` (`sys/leases/lookup/<prefix>` LIST).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.storage.list(&format!("lease/{prefix}")).await?)
    }

    /// One page of an index folder (`token/<hash>/`, `expiry/<t>/`, `irrevocable/`) after
    /// `after`: each key with the lease id stored under it ("" when it vanished meanwhile).
    async fn index_pages(
        &self,
        folder: &str,
        after: Option<String>,
    ) -> Result<Vec<(String, String)>> {
        let keys = self.storage.list_page(folder, after.as_deref(), Some(PAGE)).await?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(id) = self.storage.get(&format!("{folder}{key}")).await? {
                out.push((key, String::from_utf8_lossy(&id).to_string()));
            } else {
                out.push((key, String::new()));
            }
        }
        Ok(out)
    }

    /// Revokes every lease owned by the given tokens.
    pub async fn revoke_for_tokens(
        &self,
        table: &MountTable,
        token_hashes: &[String],
    ) -> Result<()> {
        for token in token_hashes {
            let folder = format!("token/{token}/");
            let mut after = None;
            loop {
                let page = self.index_pages(&folder, after.take()).await?;
                for (_, id) in page.iter().filter(|(_, id)| !id.is_empty()) {
                    if let Err(e) = self.revoke(table, id, false).await {
                        tracing::warn!(error = %e, "lease of a revoked token will be retried");
                    }
                }
                match page.last() {
                    Some((key, _)) if page.len() >= PAGE => after = Some(key.clone()),
                    _ => break,
                }
            }
        }
        Ok(())
    }

    /// Revokes every lease due at `now`, reading the expiry index from its head: one slot
    /// (second) at a time, one page of a slot at a time, and stopping at the first slot still
    /// in the future. Each due slot is visited once per call, so a lease whose revocation
    /// fails (and moves to a later slot with backoff) cannot keep the call busy.
    pub async fn expire_due(&self, table: &MountTable, now: i64) -> Result<usize> {
        let mut done = 0;
        let mut last_slot: Option<String> = None;
        loop {
            let head = self.storage.list_page("expiry/", last_slot.as_deref(), Some(1)).await?;
            let Some(slot) = head.into_iter().next() else { break };
            if !slot.trim_end_matches('/').parse::<i64>().is_ok_and(|t| t <= now) {
                break;
            }
            let folder = format!("expiry/{slot}");
            let mut after = None;
            loop {
                let page = self.index_pages(&folder, after.take()).await?;
                for (key, id) in &page {
                    // Only a lease whose own expiry has come: an index entry left behind by
                    // a renewal must not revoke the lease early.
                    let revoked = if id.is_empty() {
                        true
                    } else {
                        match self.revoke_if(table, id, false, |e| e.expire_time <= now).await {
                            Ok(true) => {
                                done += 1;
                                true
                            }
                            Ok(false) => false,
                            Err(e) => {
                                tracing::warn!(error = %e, "expired lease: revocation will be retried");
                                false
                            }
                        }
                    };
                    // A stale index entry (lease gone, or its expiry moved) is dropped here.
                    let stale = revoked
                        || self.get(id).await?.is_none_or(|e| {
                            expiry_key(e.expire_time, &e.lease_id) != format!("{folder}{key}")
                        });
                    if stale {
                        self.storage.delete(&format!("{folder}{key}")).await?;
                    }
                }
                match page.last() {
                    Some((key, _)) if page.len() >= PAGE => after = Some(key.clone()),
                    _ => break,
                }
            }
            last_slot = Some(slot);
        }
        Ok(done)
    }

    /// Leases whose revocation keeps failing, from their own index.
    pub async fn irrevocable(&self) -> Result<Vec<LeaseEntry>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.index_pages("irrevocable/", after.take()).await?;
            for (_, id) in &page {
                // Removing a lease removes its index entry in the same batch, so a miss here
                // is only a lease revoked while this page was read.
                if let Some(entry) = self.get(id).await?.filter(LeaseEntry::irrevocable) {
                    out.push(entry);
                }
            }
            match page.last() {
                Some((key, _)) if page.len() >= PAGE => after = Some(key.clone()),
                _ => break,
            }
        }
        Ok(out)
    }
}
