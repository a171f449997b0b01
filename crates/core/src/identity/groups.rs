//! Identity groups (`identity/group`): named sets of entities whose policies every member's
//! tokens also carry. Membership is indexed by entity (`group-member/<entity>/<group>`), and
//! each entity's group policies are cached until a group changes, so that the request path
//! pays one map lookup.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use coffer_framework::read_json;
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Result, new_uuid};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Entities whose group policies are kept in memory at most.
const CACHE_LIMIT: usize = 10_000;

/// A group of entities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    /// Group id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Policies its members' tokens also carry.
    pub policies: Vec<String>,
    /// Its member entities.
    pub member_entity_ids: Vec<String>,
    /// Operator metadata.
    pub metadata: HashMap<String, String>,
    /// RFC 3339 creation time.
    pub creation_time: String,
    /// RFC 3339 time of the last change.
    pub last_update_time: String,
    /// Changes made to it so far (1 once created).
    #[serde(default)]
    pub modify_index: u64,
}

impl Group {
    /// The `identity/group/id/:id` read shape.
    pub fn to_json(&self) -> Value {
        json!({
            "alias": {},
            "creation_time": self.creation_time,
            "id": self.id,
            "last_update_time": self.last_update_time,
            "member_entity_ids": if self.member_entity_ids.is_empty() {
                Value::Null
            } else {
                json!(self.member_entity_ids)
            },
            "member_group_ids": null,
            "metadata": if self.metadata.is_empty() { Value::Null } else { json!(self.metadata) },
            "modify_index": self.modify_index,
            "name": self.name,
            "namespace_id": "root",
            "parent_group_ids": null,
            "policies": self.policies,
            "type": "internal",
        })
    }
}

/// A change to a group: `None` fields are left as they are.
#[derive(Debug, Default)]
pub struct GroupChange {
    /// The group to change (else by `name`, else a new one).
    pub id: Option<String>,
    /// Its (new) name.
    pub name: Option<String>,
    /// Policies of its members.
    pub policies: Option<Vec<String>>,
    /// Its members.
    pub member_entity_ids: Option<Vec<String>>,
    /// Operator metadata.
    pub metadata: Option<HashMap<String, String>>,
}

fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

fn member_key(entity: &str, group: &str) -> String {
    format!("group-member/{entity}/{group}")
}

/// The groups, over the identity store's storage.
pub struct GroupStore {
    storage: SharedStorage,
    /// Entity id → the policies its groups give.
    policies_of: RwLock<HashMap<String, Arc<Vec<String>>>>,
    /// Serialises group changes.
    writes: tokio::sync::Mutex<()>,
}

impl GroupStore {
    /// The store over `storage`.
    pub fn new(storage: SharedStorage) -> Self {
        GroupStore {
            storage,
            policies_of: RwLock::new(HashMap::new()),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// A group by id.
    pub async fn get(&self, id: &str) -> Result<Option<Group>> {
        read_json(&self.storage, &format!("group/{id}")).await
    }

    /// A group by name.
    pub async fn by_name(&self, name: &str) -> Result<Option<Group>> {
        match self.storage.get(&format!("group-name/{name}")).await? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)).await,
            None => Ok(None),
        }
    }

    /// Every group id.
    pub async fn ids(&self) -> Result<Vec<String>> {
        Ok(self.storage.list("group/").await?)
    }

    /// Every group name.
    pub async fn names(&self) -> Result<Vec<String>> {
        Ok(self.storage.list("group-name/").await?)
    }

    /// The ids of the groups `entity` belongs to.
    pub async fn groups_of(&self, entity: &str) -> Result<Vec<String>> {
        Ok(self.storage.list(&format!("group-member/{entity}/")).await?)
    }

    /// The policies `entity`'s groups give its tokens (cached until a group changes).
    pub async fn policies_of(&self, entity: &str) -> Result<Arc<Vec<String>>> {
        if let Some(found) = self.policies_of.read().ok().and_then(|c| c.get(entity).cloned()) {
            return Ok(found);
        }
        let mut policies = Vec::new();
        for id in self.groups_of(entity).await? {
            if let Some(group) = self.get(&id).await? {
                policies.extend(group.policies);
            }
        }
        policies.sort();
        policies.dedup();
        let policies = Arc::new(policies);
        if let Ok(mut cache) = self.policies_of.write() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(entity.to_string(), policies.clone());
        }
        Ok(policies)
    }

    fn forget_policies(&self) {
        if let Ok(mut cache) = self.policies_of.write() {
            cache.clear();
        }
    }

    /// Creates or changes a group: the one `id` names, else the one named `name`, else a
    /// new one. Returns it and whether it was created.
    pub async fn upsert(&self, change: GroupChange) -> Result<(Group, bool)> {
        let _guard = self.writes.lock().await;
        let existing = match (&change.id, &change.name) {
            (Some(id), _) => {
                Some(self.get(id).await?.ok_or_else(|| Error::invalid("group not found from id"))?)
            }
            (None, Some(name)) => self.by_name(name).await?,
            (None, None) => None,
        };
        let created = existing.is_none();
        let mut group = existing.unwrap_or_else(|| {
            let id = new_uuid();
            Group {
                name: format!("group_{}", &id[..8]),
                id,
                policies: Vec::new(),
                member_entity_ids: Vec::new(),
                metadata: HashMap::new(),
                creation_time: now(),
                last_update_time: now(),
                modify_index: 0,
            }
        });
        let mut ops = Vec::new();
        if let Some(name) = change.name.filter(|n| !n.is_empty() && *n != group.name) {
            if self.storage.get(&format!("group-name/{name}")).await?.is_some() {
                return Err(Error::invalid("group name is already in use"));
            }
            if !created {
                ops.push(WriteOp::Delete { key: format!("group-name/{}", group.name) });
            }
            group.name = name;
        }
        ops.push(WriteOp::Put {
            key: format!("group-name/{}", group.name),
            value: group.id.clone().into_bytes(),
        });
        if let Some(mut members) = change.member_entity_ids {
            let mut seen = std::collections::HashSet::new();
            members.retain(|m| seen.insert(m.clone()));
            for gone in group.member_entity_ids.iter().filter(|m| !members.contains(m)) {
                ops.push(WriteOp::Delete { key: member_key(gone, &group.id) });
            }
            for member in &members {
                ops.push(WriteOp::Put { key: member_key(member, &group.id), value: Vec::new() });
            }
            group.member_entity_ids = members;
        }
        if let Some(policies) = change.policies {
            group.policies = policies;
        }
        if let Some(metadata) = change.metadata {
            group.metadata = metadata;
        }
        group.last_update_time = now();
        group.modify_index += 1;
        let value = serde_json::to_vec(&group).map_err(|e| Error::internal(e.to_string()))?;
        ops.push(WriteOp::Put { key: format!("group/{}", group.id), value });
        self.storage.batch(ops).await?;
        self.forget_policies();
        Ok((group, created))
    }

    /// Deletes a group and its membership index; `false` when there was none.
    pub async fn delete(&self, id: &str) -> Result<bool> {
        let _guard = self.writes.lock().await;
        let Some(group) = self.get(id).await? else { return Ok(false) };
        let mut ops = vec![
            WriteOp::Delete { key: format!("group/{id}") },
            WriteOp::Delete { key: format!("group-name/{}", group.name) },
        ];
        for member in &group.member_entity_ids {
            ops.push(WriteOp::Delete { key: member_key(member, id) });
        }
        self.storage.batch(ops).await?;
        self.forget_policies();
        Ok(true)
    }
}
