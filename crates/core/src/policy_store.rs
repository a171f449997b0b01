//! ACL policies: stored as text inside the barrier (`sys/policy/<name>`), parsed once, and
//! compiled into one ACL per distinct policy set, cached until any policy changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use coffer_policy::{Acl, Policy};
use coffer_storage::SharedStorage;
use coffer_types::{Error, Result, unix_now};
use serde::{Deserialize, Serialize};

/// A stored policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// Lower-cased name.
    pub name: String,
    /// The text as written.
    pub policy: String,
    /// Incremented on every write.
    #[serde(default)]
    pub version: u64,
    /// Unix seconds of the last write.
    #[serde(default)]
    pub modified: i64,
    /// Whether writes must carry `cas`.
    #[serde(default)]
    pub cas_required: bool,
}

/// Parsed policies and compiled ACLs.
pub struct PolicyStore {
    storage: SharedStorage,
    parsed: ArcSwap<HashMap<String, Arc<Policy>>>,
    acls: RwLock<HashMap<Vec<String>, Arc<Acl>>>,
    generation: AtomicU64,
    root: Arc<Acl>,
}

impl PolicyStore {
    /// Loads every policy, creating `default` on first use.
    pub async fn open(storage: SharedStorage) -> Result<Self> {
        let store = PolicyStore {
            storage,
            parsed: ArcSwap::from_pointee(HashMap::new()),
            acls: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            root: Arc::new(Acl::root()),
        };
        if store.read("default").await?.is_none() {
            store.write("default", coffer_policy::default_policy_text(), None).await?;
        }
        let mut parsed = HashMap::new();
        for name in store.storage.list("").await? {
            if let Some(stored) = store.read(&name).await? {
                match Policy::parse(&stored.name, &stored.policy) {
                    Ok(p) => {
                        parsed.insert(stored.name.clone(), Arc::new(p));
                    }
                    Err(e) => {
                        tracing::error!(policy = %stored.name, error = %e, "stored policy no longer parses")
                    }
                }
            }
        }
        // Built in, not stored or listed: what a wrapping token may do.
        let wrapping = coffer_policy::response_wrapping_policy_text();
        let builtin = Policy::parse("response-wrapping", wrapping)
            .map_err(|e| Error::internal(e.to_string()))?;
        parsed.insert("response-wrapping".into(), Arc::new(builtin));
        store.parsed.store(Arc::new(parsed));
        Ok(store)
    }

    /// A stored policy by name.
    pub async fn read(&self, name: &str) -> Result<Option<StoredPolicy>> {
        coffer_framework::read_json(&self.storage, &name.to_lowercase()).await
    }

    /// Every policy name (without `root`), sorted.
    pub async fn names(&self) -> Result<Vec<String>> {
        let mut names = self.storage.list("").await?;
        names.sort();
        Ok(names)
    }

    /// Parses and stores a policy; `cas` must match the current version when given.
    pub async fn write(&self, name: &str, text: &str, cas: Option<u64>) -> Result<()> {
        let name = name.trim().to_lowercase();
        if name == "root" {
            return Err(Error::invalid("cannot update \"root\" policy"));
        }
        if name.is_empty() || name.contains('/') {
            return Err(Error::invalid("invalid policy name"));
        }
        if text.trim().is_empty() {
            return Err(Error::invalid("'policy' parameter not supplied or empty"));
        }
        let parsed = Policy::parse(&name, text).map_err(|e| Error::invalid(e.to_string()))?;
        let current = self.read(&name).await?;
        let version = current.as_ref().map_or(0, |c| c.version);
        match (cas, &current) {
            (Some(c), _) if c != version => {
                return Err(Error::invalid(
                    "check-and-set parameter did not match the current version",
                ));
            }
            (None, Some(c)) if c.cas_required => {
                return Err(Error::invalid("check-and-set parameter required for this call"));
            }
            _ => {}
        }
        let stored = StoredPolicy {
            name: name.clone(),
            policy: text.to_string(),
            version: version + 1,
            modified: unix_now(),
            cas_required: current.as_ref().is_some_and(|c| c.cas_required),
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| Error::internal(e.to_string()))?;
        self.storage.put(&name, &bytes).await?;
        let mut map = (**self.parsed.load()).clone();
        map.insert(name, Arc::new(parsed));
        self.swap(map);
        Ok(())
    }

    /// Deletes a policy (idempotent); `default` and `root` cannot be deleted.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let name = name.trim().to_lowercase();
        match name.as_str() {
            "default" => return Err(Error::invalid("cannot delete default policy")),
            "root" => return Err(Error::invalid("cannot delete root policy")),
            _ => {}
        }
        self.storage.delete(&name).await?;
        let mut map = (**self.parsed.load()).clone();
        map.remove(&name);
        self.swap(map);
        Ok(())
    }

    fn swap(&self, map: HashMap<String, Arc<Policy>>) {
        self.parsed.store(Arc::new(map));
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut acls) = self.acls.write() {
            acls.clear();
        }
    }

    /// Whether a policy exists (root always does).
    pub fn exists(&self, name: &str) -> bool {
        name == "root" || self.parsed.load().contains_key(name)
    }

    /// Whether any of `policies` has templated paths.
    pub fn any_templated(&self, policies: &[String]) -> bool {
        let parsed = self.parsed.load();
        policies.iter().any(|p| parsed.get(p).is_some_and(|p| p.is_templated()))
    }

    /// The compiled ACL for a token with an entity: templated paths rendered for it. Cached
    /// per policy set and entity version.
    pub fn acl_for_entity(
        &self,
        policies: &[String],
        entity: &crate::identity::Entity,
    ) -> Arc<Acl> {
        let mut key = policies.to_vec();
        key.push(format!("\u{0}entity:{}:{}", entity.id, entity.last_update_time));
        if let Some(acl) = self.acls.read().ok().and_then(|m| m.get(&key).cloned()) {
            return acl;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let ctx = entity.template_context();
        let parsed = self.parsed.load();
        let rendered: Vec<Policy> =
            policies.iter().filter_map(|p| parsed.get(p)).map(|p| p.render(&ctx)).collect();
        let acl = Arc::new(Acl::new(&rendered));
        self.remember(key, acl.clone(), generation);
        acl
    }

    fn remember(&self, key: Vec<String>, acl: Arc<Acl>, generation: u64) {
        if let Ok(mut acls) = self.acls.write() {
            if self.generation.load(Ordering::Acquire) == generation {
                if acls.len() > 10_000 {
                    acls.clear();
                }
                acls.insert(key, acl);
            }
        }
    }

    /// The compiled ACL for a set of policy names (sorted, as tokens store them).
    pub fn acl(&self, policies: &[String]) -> Arc<Acl> {
        if policies.iter().any(|p| p == "root") {
            return self.root.clone();
        }
        if let Some(acl) = self.acls.read().ok().and_then(|m| m.get(policies).cloned()) {
            return acl;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let parsed = self.parsed.load();
        let selected: Vec<Arc<Policy>> =
            policies.iter().filter_map(|p| parsed.get(p).cloned()).collect();
        let acl = Arc::new(Acl::new(&selected));
        self.remember(policies.to_vec(), acl.clone(), generation);
        acl
    }
}
