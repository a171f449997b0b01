//! Entities and aliases inside the barrier (`sys/identity/`), cached decoded.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use coffer_framework::read_json;
use coffer_policy::{AliasInfo, TemplateContext};
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Map, Result, new_uuid};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One login identity of an entity on one auth mount.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alias {
    /// Alias id.
    pub id: String,
    /// The name the auth method gave (role id, user name, service account uid...).
    pub name: String,
    /// The auth mount's accessor.
    pub mount_accessor: String,
    /// The auth mount's type.
    pub mount_type: String,
    /// The auth mount's path (`auth/approle/`).
    pub mount_path: String,
    /// Metadata set at login.
    pub metadata: HashMap<String, String>,
    /// RFC 3339 creation time.
    pub creation_time: String,
}

/// A person or service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entity {
    /// Entity id.
    pub id: String,
    /// Generated name (`entity_<8 hex>`).
    pub name: String,
    /// Operator metadata.
    pub metadata: HashMap<String, String>,
    /// Its aliases.
    pub aliases: Vec<Alias>,
    /// RFC 3339 creation time.
    pub creation_time: String,
    /// RFC 3339 time of the last change.
    pub last_update_time: String,
}

impl Entity {
    /// The `identity/entity/id/<id>` read shape.
    pub fn to_json(&self) -> Value {
        let aliases: Vec<Value> = self.aliases.iter().map(|a| alias_json(a, &self.id)).collect();
        json!({
            "id": self.id,
            "name": self.name,
            "aliases": aliases,
            "metadata": if self.metadata.is_empty() { Value::Null } else { json!(self.metadata) },
            "policies": [],
            "disabled": false,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
            "direct_group_ids": [],
            "group_ids": [],
            "inherited_group_ids": [],
            "merged_entity_ids": null,
            "namespace_id": "root",
        })
    }

    /// What templated policies may refer to.
    pub fn template_context(&self) -> TemplateContext {
        TemplateContext {
            entity_id: self.id.clone(),
            entity_name: self.name.clone(),
            entity_metadata: self.metadata.clone(),
            aliases: self
                .aliases
                .iter()
                .map(|a| {
                    let info = AliasInfo {
                        id: a.id.clone(),
                        name: a.name.clone(),
                        metadata: a.metadata.clone(),
                        ..AliasInfo::default()
                    };
                    (a.mount_accessor.clone(), info)
                })
                .collect(),
            groups: Vec::new(),
        }
    }
}

/// The `identity/entity-alias/id/<id>` read shape.
pub fn alias_json(a: &Alias, entity_id: &str) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "canonical_id": entity_id,
        "mount_accessor": a.mount_accessor,
        "mount_type": a.mount_type,
        "mount_path": a.mount_path,
        "metadata": if a.metadata.is_empty() { Value::Null } else { json!(a.metadata) },
        "creation_time": a.creation_time,
        "namespace_id": "root",
    })
}

fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

fn alias_key(mount_accessor: &str, name: &str) -> String {
    format!("alias-name/{mount_accessor}/{}", hex::encode(name.as_bytes()))
}

/// Decoded entities kept in memory at most.
const CACHE_LIMIT: usize = 10_000;

/// Entities and their aliases.
pub struct IdentityStore {
    storage: SharedStorage,
    cache: RwLock<HashMap<String, Arc<Entity>>>,
    /// Serialises find-or-create at login so one alias never gets two entities.
    login_lock: tokio::sync::Mutex<()>,
}

impl IdentityStore {
    /// The store over its view.
    pub fn new(storage: SharedStorage) -> Self {
        IdentityStore {
            storage,
            cache: RwLock::new(HashMap::new()),
            login_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// An entity by id.
    pub async fn entity(&self, id: &str) -> Result<Option<Arc<Entity>>> {
        if let Some(e) = self.cache.read().ok().and_then(|c| c.get(id).cloned()) {
            return Ok(Some(e));
        }
        let Some(entity) = read_json::<Entity>(&self.storage, &format!("entity/{id}")).await?
        else {
            return Ok(None);
        };
        let entity = Arc::new(entity);
        self.remember(id.to_string(), entity.clone());
        Ok(Some(entity))
    }

    /// An entity by name.
    pub async fn entity_by_name(&self, name: &str) -> Result<Option<Arc<Entity>>> {
        match self.storage.get(&format!("entity-name/{name}")).await? {
            Some(id) => self.entity(&String::from_utf8_lossy(&id)).await,
            None => Ok(None),
        }
    }

    /// Every entity id.
    pub async fn entity_ids(&self) -> Result<Vec<String>> {
        Ok(self.storage.list("entity/").await?)
    }

    /// Every entity name.
    pub async fn entity_names(&self) -> Result<Vec<String>> {
        Ok(self.storage.list("entity-name/").await?)
    }

    /// Every alias id.
    pub async fn alias_ids(&self) -> Result<Vec<String>> {
        Ok(self.storage.list("alias/").await?)
    }

    /// An alias and its entity id.
    pub async fn alias(&self, id: &str) -> Result<Option<(Alias, String)>> {
        let Some(entity_id) = self.storage.get(&format!("alias/{id}")).await? else {
            return Ok(None);
        };
        let entity_id = String::from_utf8_lossy(&entity_id).to_string();
        let Some(entity) = self.entity(&entity_id).await? else { return Ok(None) };
        Ok(entity.aliases.iter().find(|a| a.id == id).cloned().map(|a| (a, entity_id)))
    }

    /// Finds the entity behind (`mount`, `name`), creating entity and alias on first login;
    /// refreshes the alias metadata.
    pub async fn login(
        &self,
        mount_accessor: &str,
        mount_type: &str,
        mount_path: &str,
        name: &str,
        metadata: &Map,
    ) -> Result<Arc<Entity>> {
        let metadata: HashMap<String, String> = metadata
            .iter()
            .map(|(k, v)| {
                (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))
            })
            .collect();
        let _guard = self.login_lock.lock().await;
        let key = alias_key(mount_accessor, name);
        if let Some(entity_id) = self.storage.get(&key).await? {
            let entity_id = String::from_utf8_lossy(&entity_id).to_string();
            if let Some(entity) = self.entity(&entity_id).await? {
                let current = entity
                    .aliases
                    .iter()
                    .find(|a| a.mount_accessor == mount_accessor && a.name == name);
                if current.is_some_and(|a| a.metadata == metadata) {
                    return Ok(entity);
                }
                let mut updated = (*entity).clone();
                for a in updated
                    .aliases
                    .iter_mut()
                    .filter(|a| a.mount_accessor == mount_accessor && a.name == name)
                {
                    a.metadata = metadata.clone();
                }
                updated.last_update_time = now();
                return self.save(updated, Vec::new()).await;
            }
        }
        let id = new_uuid();
        let alias = Alias {
            id: new_uuid(),
            name: name.to_string(),
            mount_accessor: mount_accessor.to_string(),
            mount_type: mount_type.to_string(),
            mount_path: mount_path.to_string(),
            metadata,
            creation_time: now(),
        };
        let entity = Entity {
            name: format!("entity_{}", &id[..8]),
            id: id.clone(),
            metadata: HashMap::new(),
            aliases: vec![alias.clone()],
            creation_time: now(),
            last_update_time: now(),
        };
        let extra = vec![
            WriteOp::Put { key, value: id.clone().into_bytes() },
            WriteOp::Put { key: format!("alias/{}", alias.id), value: id.clone().into_bytes() },
            WriteOp::Put { key: format!("entity-name/{}", entity.name), value: id.into_bytes() },
        ];
        self.save(entity, extra).await
    }

    async fn save(&self, entity: Entity, mut ops: Vec<WriteOp>) -> Result<Arc<Entity>> {
        let value = serde_json::to_vec(&entity).map_err(|e| Error::internal(e.to_string()))?;
        ops.push(WriteOp::Put { key: format!("entity/{}", entity.id), value });
        self.storage.batch(ops).await?;
        let entity = Arc::new(entity);
        self.remember(entity.id.clone(), entity.clone());
        Ok(entity)
    }

    /// Caches a decoded entity; the cache is emptied when full, so memory stays bounded
    /// however many entities are stored.
    fn remember(&self, id: String, entity: Arc<Entity>) {
        if let Ok(mut c) = self.cache.write() {
            if c.len() >= CACHE_LIMIT && !c.contains_key(&id) {
                c.clear();
            }
            c.insert(id, entity);
        }
    }
}
