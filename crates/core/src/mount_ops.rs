//! Mount table persistence and changes: enable, disable, tune. Each change writes the table
//! through the barrier, then swaps the compiled [`MountTable`] whole.

use std::sync::Arc;

use coffer_framework::BackendConfig;
use coffer_storage::{SharedStorage, Storage, View};
use coffer_types::{Error, Map, Result};

use crate::mounts::{MountEntry, MountTable, Mounted};
use crate::{Active, Core};

const MOUNTS_KEY: &str = "core/mounts";
const AUTH_KEY: &str = "core/auth";

/// The token type an auth mount issues unless tuned otherwise.
const DEFAULT_AUTH_TOKEN_TYPE: &str = "default-service";

/// The built-in secrets mounts every server has.
fn default_mounts() -> Vec<MountEntry> {
    // As the reference lists them (its seal-wrapped sys/ and the headers it passes through).
    let mut sys = MountEntry::new(
        "sys/",
        "system",
        "system endpoints used for control, policy and debugging",
        "",
    );
    sys.seal_wrap = true;
    sys.config.passthrough_request_headers = vec!["Accept".into()];
    let mut identity = MountEntry::new("identity/", "identity", "identity store", "");
    identity.config.passthrough_request_headers = vec!["Authorization".into()];
    vec![sys, identity, {
        let mut cubbyhole =
            MountEntry::new("cubbyhole/", "cubbyhole", "per-token private secret storage", "");
        cubbyhole.local = true;
        cubbyhole
    }]
}

/// The built-in auth mounts every server has.
fn default_auth() -> Vec<MountEntry> {
    let mut token = MountEntry::new("token/", "token", "token based credentials", "auth_");
    token.config.token_type = DEFAULT_AUTH_TOKEN_TYPE.into();
    vec![token]
}

impl Core {
    pub(crate) async fn write_default_mount_tables(&self, extra: &[MountEntry]) -> Result<()> {
        let mut mounts = default_mounts();
        mounts.extend(extra.iter().cloned());
        self.persist_table(MOUNTS_KEY, &mounts).await?;
        self.persist_table(AUTH_KEY, &default_auth()).await
    }

    async fn persist_table(&self, key: &str, entries: &[MountEntry]) -> Result<()> {
        let bytes = serde_json::to_vec(entries).map_err(|e| Error::internal(e.to_string()))?;
        self.barrier.put(key, &bytes).await?;
        Ok(())
    }

    async fn read_table(&self, key: &str) -> Result<Vec<MountEntry>> {
        match self.barrier.get(key).await? {
            None => Ok(Vec::new()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("corrupt mount table {key}: {e}"))),
        }
    }

    /// Reads both tables and builds every backend.
    pub(crate) async fn load_mount_table(&self) -> Result<MountTable> {
        let mut mounted = Vec::new();
        for entry in self.read_table(MOUNTS_KEY).await? {
            mounted.push(self.build_mounted(entry, false)?);
        }
        for entry in self.read_table(AUTH_KEY).await? {
            mounted.push(self.build_mounted(entry, true)?);
        }
        // One engine's data upgrade failing must not keep every mount down: it is logged,
        // its data stays as it was, and the next unseal tries again.
        for m in &mounted {
            if let Err(e) = m.backend.initialize().await {
                tracing::error!(mount = %m.prefix, error = %e, "mount initialisation failed");
            }
        }
        Ok(MountTable::new(mounted))
    }

    fn storage_for(&self, entry: &MountEntry, is_auth: bool) -> SharedStorage {
        let prefix = match (entry.engine_type.as_str(), is_auth) {
            ("system", _) => "sys/".to_string(),
            ("token", _) => "sys/token/".to_string(),
            ("identity", _) => "sys/identity/".to_string(),
            (_, true) => format!("auth/{}/", entry.uuid),
            (_, false) => format!("logical/{}/", entry.uuid),
        };
        View::new(self.barrier.clone(), prefix).shared()
    }

    /// Builds the running form of a mount entry.
    pub(crate) fn build_mounted(&self, entry: MountEntry, is_auth: bool) -> Result<Arc<Mounted>> {
        let storage = self.storage_for(&entry, is_auth);
        let backend = match (entry.engine_type.as_str(), is_auth) {
            ("system", false) => self.sys_backend.clone(),
            ("token", true) => self.token_backend.clone(),
            ("identity", false) => self.identity_backend.clone(),
            ("cubbyhole", false) => self.cubbyhole_backend.clone(),
            (t, is_auth) => {
                let factory = if is_auth {
                    self.registry.auth_factory(t)
                } else {
                    self.registry.secrets_factory(t)
                };
                let factory = factory.ok_or_else(|| {
                    Error::invalid(format!("plugin not found in the catalog: {t}"))
                })?;
                factory(BackendConfig {
                    mount_path: entry.path.clone(),
                    engine_type: t.to_string(),
                    options: entry.options.clone().unwrap_or_default(),
                    storage: storage.clone(),
                })?
            }
        };
        let prefix = if is_auth { format!("auth/{}", entry.path) } else { entry.path.clone() };
        Ok(Arc::new(Mounted {
            special: backend.special_paths(),
            entry,
            prefix,
            is_auth,
            backend,
            storage,
        }))
    }

    pub(crate) fn active(&self) -> Result<Arc<Active>> {
        self.active.load_full().ok_or(Error::Sealed)
    }

    async fn persist_from(&self, table: &MountTable, is_auth: bool) -> Result<()> {
        let key = if is_auth { AUTH_KEY } else { MOUNTS_KEY };
        self.persist_table(key, &table.entries(is_auth)).await
    }

    /// Enables a mount; `entry.path` is normalised (`secret/`).
    pub async fn enable_mount(&self, mut entry: MountEntry, is_auth: bool) -> Result<()> {
        let active = self.active()?;
        let _guard = active.mount_lock.lock().await;
        let current = active.mounts.load_full();
        let prefix = if is_auth { format!("auth/{}", entry.path) } else { entry.path.clone() };
        let reserved = ["sys/", "auth/", "cubbyhole/", "identity/"];
        if !is_auth && reserved.iter().any(|r| prefix.starts_with(r) || r.starts_with(&prefix)) {
            return Err(Error::invalid(format!("cannot mount at reserved path {prefix:?}")));
        }
        if let Some(existing) =
            current.iter().find(|m| m.prefix.starts_with(&prefix) || prefix.starts_with(&m.prefix))
        {
            return Err(Error::invalid(format!("path is already in use at {}", existing.prefix)));
        }
        if is_auth {
            // The reference records the token type and empty options on every auth mount.
            if entry.config.token_type.is_empty() {
                entry.config.token_type = DEFAULT_AUTH_TOKEN_TYPE.into();
            }
            entry.options.get_or_insert_with(Default::default);
        }
        if entry.engine_type == "kv-v1" {
            entry.engine_type = "kv".to_string();
            let mut options = entry.options.take().unwrap_or_default();
            options.insert("version".into(), "1".into());
            entry.options = Some(options);
        }
        if entry.engine_type == "kv-v2" {
            entry.engine_type = "kv".to_string();
            let mut options = entry.options.take().unwrap_or_default();
            options.insert("version".into(), "2".into());
            entry.options = Some(options);
        }
        let mounted = self.build_mounted(entry, is_auth)?;
        mounted.backend.initialize().await?;
        let table = current.with(mounted);
        self.persist_from(&table, is_auth).await?;
        active.mounts.store(Arc::new(table));
        Ok(())
    }

    /// Disables a mount and deletes its data. Absent mounts are fine (204).
    pub async fn disable_mount(&self, prefix: &str) -> Result<()> {
        let active = self.active()?;
        let _guard = active.mount_lock.lock().await;
        let current = active.mounts.load_full();
        let Some(mounted) = current.get(prefix).cloned() else { return Ok(()) };
        if mounted.entry.is_builtin() {
            return Err(Error::invalid(format!("cannot unmount {prefix:?}")));
        }
        let table = current.without(prefix);
        self.persist_from(&table, mounted.is_auth).await?;
        active.mounts.store(Arc::new(table));
        for id_prefix in mounted.entry.lease_prefixes(prefix) {
            let mut walk = active.leases.walk(&id_prefix);
            loop {
                let ids = active.leases.next_ids(&mut walk).await?;
                if ids.is_empty() {
                    break;
                }
                for lease in ids {
                    if active.leases.revoke(&current, &lease, false).await.is_err() {
                        tracing::warn!(lease = %lease, "disable: the engine could not revoke a lease; dropping it");
                        active.leases.revoke(&current, &lease, true).await?;
                    }
                }
            }
        }
        if mounted.is_auth {
            let revoked = active.tokens.revoke_by_mount(&mounted.entry.accessor).await?;
            self.after_token_revocation(&active, &revoked).await?;
            tracing::info!(mount = %prefix, revoked = revoked.len(), "auth mount disabled: its tokens are revoked");
        }
        mounted.storage.delete_prefix("").await?;
        Ok(())
    }

    /// Moves the mount at `from` to `to` (both routing prefixes with their trailing `/`;
    /// auth mounts stay under `auth/`): same engine, same data (storage follows the mount's
    /// uuid, not its path), its leases renewed through the new path.
    pub async fn remount(&self, from: &str, to: &str) -> Result<()> {
        let active = self.active()?;
        let _guard = active.mount_lock.lock().await;
        let current = active.mounts.load_full();
        let mounted = current
            .get(from)
            .cloned()
            .ok_or_else(|| Error::invalid(format!("no matching mount at {from:?}")))?;
        if mounted.entry.is_builtin() {
            return Err(Error::invalid(format!("cannot remount {from:?}")));
        }
        let reserved = ["sys/", "cubbyhole/", "identity/"];
        let auth_target = to.starts_with("auth/");
        if auth_target != mounted.is_auth
            || to == "auth/"
            || reserved.iter().any(|r| to.starts_with(r) || r.starts_with(to))
        {
            return Err(Error::invalid(format!("cannot remount to destination {to}")));
        }
        if let Some(existing) =
            current.iter().find(|m| m.prefix.starts_with(to) || to.starts_with(&m.prefix))
        {
            return Err(Error::invalid(format!("path already in use at {:?}", existing.prefix)));
        }
        let mut entry = mounted.entry.clone();
        entry.path = if mounted.is_auth {
            to.trim_start_matches("auth/").to_string()
        } else {
            to.to_string()
        };
        let id_prefixes = mounted.entry.lease_prefixes(from);
        entry.previous_prefixes.push(from.to_string());
        let moved = self.build_mounted(entry, mounted.is_auth)?;
        moved.backend.initialize().await?;
        let table = current.without(from).with(moved);
        self.persist_from(&table, mounted.is_auth).await?;
        active.mounts.store(Arc::new(table));
        let leases = active.leases.rehome(&id_prefixes, from, to).await?;
        tracing::info!(from = %from, to = %to, leases, "mount moved");
        Ok(())
    }

    /// Replaces a mount's entry (tune), rebuilding its backend when the options changed.
    pub async fn update_mount(
        &self,
        prefix: &str,
        change: impl FnOnce(&mut MountEntry) -> Result<()>,
    ) -> Result<()> {
        let active = self.active()?;
        let _guard = active.mount_lock.lock().await;
        let current = active.mounts.load_full();
        let mounted = current
            .get(prefix)
            .cloned()
            .ok_or_else(|| Error::invalid(format!("no mount at {prefix:?}")))?;
        let mut entry = mounted.entry.clone();
        change(&mut entry)?;
        let rebuilt = if entry.options != mounted.entry.options {
            let rebuilt = self.build_mounted(entry, mounted.is_auth)?;
            rebuilt.backend.initialize().await?;
            rebuilt
        } else {
            Arc::new(Mounted { entry, ..(*mounted).clone() })
        };
        let table = current.without(prefix).with(rebuilt);
        self.persist_from(&table, mounted.is_auth).await?;
        active.mounts.store(Arc::new(table));
        Ok(())
    }

    /// The current mount table (sealed → error).
    pub fn mount_table(&self) -> Result<Arc<MountTable>> {
        Ok(self.active()?.mounts.load_full())
    }
}

/// The `options` map of a request, with `version` normalised to a string.
pub(crate) fn normalize_options(options: Option<Map>) -> Option<Map> {
    options.map(|mut o| {
        if let Some(v) = o.get("version").cloned() {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            o.insert("version".into(), s.into());
        }
        o
    })
}
