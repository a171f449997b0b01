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
    /// Policies every token of this entity also carries (`identity_policies`).
    #[serde(default)]
    pub policies: Vec<String>,
    /// A disabled entity's tokens are refused.
    #[serde(default)]
    pub disabled: bool,
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
            "policies": self.policies,
            "disabled": self.disabled,
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

/// A change to an entity: `None` fields are left as they are.
#[derive(Debug, Default)]
pub struct EntityChange {
    /// The entity to change (else by `name`, else a new one).
    pub id: Option<String>,
    /// Its (new) name.
    pub name: Option<String>,
    /// Operator metadata.
    pub metadata: Option<HashMap<String, String>>,
    /// Policies its tokens also carry.
    pub policies: Option<Vec<String>>,
    /// Whether its tokens are refused.
    pub disabled: Option<bool>,
}

/// The auth mount an alias belongs to.
#[derive(Debug, Clone)]
pub struct MountInfo {
    /// The mount's accessor.
    pub accessor: String,
    /// The auth method type.
    pub engine_type: String,
    /// The routing prefix (`auth/userpass/`).
    pub path: String,
}

/// Decoded entities kept in memory at most.
const CACHE_LIMIT: usize = 10_000;

/// Entities and their aliases.
pub struct IdentityStore {
    /// The groups of entities.
    pub groups: super::groups::GroupStore,
    storage: SharedStorage,
    cache: RwLock<HashMap<String, Arc<Entity>>>,
    /// Serialises find-or-create at login so one alias never gets two entities.
    login_lock: tokio::sync::Mutex<()>,
}

impl IdentityStore {
    /// The store over its view.
    pub fn new(storage: SharedStorage) -> Self {
        IdentityStore {
            groups: super::groups::GroupStore::new(storage.clone()),
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

    /// The policies `entity_id`'s identity gives its tokens: the entity's and its groups',
    /// sorted, without repeats (empty for no entity).
    pub async fn policies_of(&self, entity_id: &str) -> Result<Vec<String>> {
        if entity_id.is_empty() {
            return Ok(Vec::new());
        }
        let mut policies = match self.entity(entity_id).await? {
            Some(entity) => entity.policies.clone(),
            None => return Ok(Vec::new()),
        };
        policies.extend(self.groups.policies_of(entity_id).await?.iter().cloned());
        policies.sort();
        policies.dedup();
        Ok(policies)
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
            policies: Vec::new(),
            disabled: false,
        };
        let extra = vec![
            WriteOp::Put { key, value: id.clone().into_bytes() },
            WriteOp::Put { key: format!("alias/{}", alias.id), value: id.clone().into_bytes() },
            WriteOp::Put { key: format!("entity-name/{}", entity.name), value: id.into_bytes() },
        ];
        self.save(entity, extra).await
    }

    /// Creates or changes an entity (`identity/entity`, `.../id/:id`, `.../name/:name`):
    /// the one `id` names, else the one named `name`, else a new one. Returns it and whether
    /// it was created.
    pub async fn upsert(&self, change: EntityChange) -> Result<(Arc<Entity>, bool)> {
        let _guard = self.login_lock.lock().await;
        let existing = match (&change.id, &change.name) {
            (Some(id), _) => Some(
                self.entity(id).await?.ok_or_else(|| Error::invalid("entity not found from id"))?,
            ),
            (None, Some(name)) => self.entity_by_name(name).await?,
            (None, None) => None,
        };
        let created = existing.is_none();
        let mut entity = match existing {
            Some(e) => (*e).clone(),
            None => {
                let id = new_uuid();
                Entity {
                    name: format!("entity_{}", &id[..8]),
                    id,
                    metadata: HashMap::new(),
                    aliases: Vec::new(),
                    creation_time: now(),
                    last_update_time: now(),
                    policies: Vec::new(),
                    disabled: false,
                }
            }
        };
        let mut ops = Vec::new();
        if let Some(name) = change.name.filter(|n| !n.is_empty() && *n != entity.name) {
            if self.storage.get(&format!("entity-name/{name}")).await?.is_some() {
                return Err(Error::invalid("entity name is already in use"));
            }
            if !created {
                ops.push(WriteOp::Delete { key: format!("entity-name/{}", entity.name) });
            }
            entity.name = name;
        }
        if created || !ops.is_empty() {
            ops.push(WriteOp::Put {
                key: format!("entity-name/{}", entity.name),
                value: entity.id.clone().into_bytes(),
            });
        }
        if let Some(metadata) = change.metadata {
            entity.metadata = metadata;
        }
        if let Some(policies) = change.policies {
            entity.policies = policies;
        }
        if let Some(disabled) = change.disabled {
            entity.disabled = disabled;
        }
        entity.last_update_time = now();
        Ok((self.save(entity, ops).await?, created))
    }

    /// Deletes an entity with its name and aliases, and takes it out of its groups; `false`
    /// when there was none.
    pub async fn delete(&self, id: &str) -> Result<bool> {
        for group_id in self.groups.groups_of(id).await? {
            if let Some(group) = self.groups.get(&group_id).await? {
                let members = group.member_entity_ids.into_iter().filter(|m| m != id).collect();
                let change = super::groups::GroupChange {
                    id: Some(group_id),
                    member_entity_ids: Some(members),
                    ..Default::default()
                };
                self.groups.upsert(change).await?;
            }
        }
        let _guard = self.login_lock.lock().await;
        let Some(entity) = self.entity(id).await? else { return Ok(false) };
        let mut ops = vec![
            WriteOp::Delete { key: format!("entity/{id}") },
            WriteOp::Delete { key: format!("entity-name/{}", entity.name) },
        ];
        for alias in &entity.aliases {
            ops.push(WriteOp::Delete { key: format!("alias/{}", alias.id) });
            ops.push(WriteOp::Delete { key: alias_key(&alias.mount_accessor, &alias.name) });
        }
        self.storage.batch(ops).await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(id);
        }
        Ok(true)
    }

    /// Adds an alias (`identity/entity-alias`): logins on that mount with that name become
    /// this entity. Returns the alias id.
    pub async fn add_alias(&self, entity_id: &str, mount: MountInfo, name: &str) -> Result<String> {
        let _guard = self.login_lock.lock().await;
        let entity =
            self.entity(entity_id).await?.ok_or_else(|| Error::invalid("invalid canonical ID"))?;
        let key = alias_key(&mount.accessor, name);
        if self.storage.get(&key).await?.is_some() {
            return Err(Error::invalid(
                "alias already exists for requested mount accessor and name",
            ));
        }
        let alias = Alias {
            id: new_uuid(),
            name: name.to_string(),
            mount_accessor: mount.accessor,
            mount_type: mount.engine_type,
            mount_path: mount.path,
            metadata: HashMap::new(),
            creation_time: now(),
        };
        let id = alias.id.clone();
        let mut updated = (*entity).clone();
        updated.aliases.push(alias);
        updated.last_update_time = now();
        let ops = vec![
            WriteOp::Put { key, value: entity_id.as_bytes().to_vec() },
            WriteOp::Put { key: format!("alias/{id}"), value: entity_id.as_bytes().to_vec() },
        ];
        self.save(updated, ops).await?;
        Ok(id)
    }

    /// Deletes an alias; `false` when there was none.
    pub async fn delete_alias(&self, id: &str) -> Result<bool> {
        let Some((alias, entity_id)) = self.alias(id).await? else { return Ok(false) };
        let _guard = self.login_lock.lock().await;
        let Some(entity) = self.entity(&entity_id).await? else { return Ok(false) };
        let mut updated = (*entity).clone();
        updated.aliases.retain(|a| a.id != id);
        updated.last_update_time = now();
        let ops = vec![
            WriteOp::Delete { key: format!("alias/{id}") },
            WriteOp::Delete { key: alias_key(&alias.mount_accessor, &alias.name) },
        ];
        self.save(updated, ops).await?;
        Ok(true)
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
