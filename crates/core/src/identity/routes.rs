//! `identity/`: entities and their aliases, created, read, changed, listed and deleted.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use coffer_framework::{Backend, Field, Path, Req, Router};
use coffer_types::{Error, Response, Result};
use serde_json::{Value, json};

use super::groups::GroupChange;
use super::store::{EntityChange, MountInfo, alias_json};
use crate::Core;

/// State behind the identity routes.
pub(crate) struct IdentityState {
    core: Weak<Core>,
}

impl IdentityState {
    fn core(&self) -> Result<Arc<Core>> {
        self.core.upgrade().ok_or_else(|| Error::internal("core is shutting down"))
    }

    fn store(&self) -> Result<Arc<crate::Active>> {
        self.core()?.active()
    }
}

fn entity_fields(path: Path<IdentityState>) -> Path<IdentityState> {
    path.field(Field::string("name"))
        .field(Field::string("id"))
        .field(Field::map("metadata"))
        .field(Field::list("policies"))
        .field(Field::bool("disabled"))
}

fn group_fields(path: Path<IdentityState>) -> Path<IdentityState> {
    path.field(Field::string("name"))
        .field(Field::string("id"))
        .field(Field::string("type"))
        .field(Field::map("metadata"))
        .field(Field::list("policies"))
        .field(Field::list("member_entity_ids"))
        .field(Field::list("member_group_ids"))
}

/// Builds the identity backend.
pub(crate) fn backend(core: Weak<Core>) -> Arc<dyn Backend> {
    let alias = |p: &str| {
        Path::new(p)
            .field(Field::string("name"))
            .field(Field::string("canonical_id"))
            .field(Field::string("mount_accessor"))
    };
    Arc::new(
        Router::new(Arc::new(IdentityState { core }))
            .path(entity_fields(Path::new("entity")).write(write_entity))
            .path(Path::new("entity/id/").list(list_ids))
            .path(
                entity_fields(Path::new("entity/id/{id}"))
                    .read(read_by_id)
                    .write(write_entity)
                    .delete(delete_by_id),
            )
            .path(Path::new("entity/name/").list(list_names))
            .path(
                entity_fields(Path::new("entity/name/{name}"))
                    .read(read_by_name)
                    .write(write_entity)
                    .delete(delete_by_name),
            )
            .path(group_fields(Path::new("group")).write(write_group))
            .path(Path::new("group/id/").list(list_group_ids))
            .path(
                group_fields(Path::new("group/id/{id}"))
                    .read(read_group)
                    .write(write_group)
                    .delete(delete_group),
            )
            .path(Path::new("group/name/").list(list_group_names))
            .path(
                group_fields(Path::new("group/name/{name}"))
                    .read(read_group)
                    .write(write_group)
                    .delete(delete_group),
            )
            .path(alias("entity-alias").write(write_alias))
            .path(Path::new("entity-alias/id/").list(list_alias_ids))
            .path(alias("entity-alias/id/{id}").read(read_alias).delete(delete_alias)),
    )
}

fn keys(keys: Vec<String>) -> Option<Response> {
    Some(Response::json(json!({ "keys": keys })))
}

async fn list_ids(s: Arc<IdentityState>, _req: Req) -> Result<Option<Response>> {
    let active = s.store()?;
    let ids = active.identity.entity_ids().await?;
    let mut info = serde_json::Map::new();
    for id in &ids {
        if let Some(entity) = active.identity.entity(id).await? {
            info.insert(id.clone(), json!({ "name": entity.name }));
        }
    }
    Ok(Some(Response::json(json!({ "keys": ids, "key_info": info }))))
}

async fn list_names(s: Arc<IdentityState>, _req: Req) -> Result<Option<Response>> {
    Ok(keys(s.store()?.identity.entity_names().await?))
}

async fn list_alias_ids(s: Arc<IdentityState>, _req: Req) -> Result<Option<Response>> {
    Ok(keys(s.store()?.identity.alias_ids().await?))
}

async fn read_by_id(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    Ok(s.store()?.identity.entity(req.capture("id")).await?.map(|e| Response::json(e.to_json())))
}

async fn read_by_name(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    Ok(s.store()?
        .identity
        .entity_by_name(req.capture("name"))
        .await?
        .map(|e| Response::json(e.to_json())))
}

/// Creates or updates an entity: the `{id}` or `{name}` of the path, else the body's.
async fn write_entity(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    let change = EntityChange {
        id: named(&req, "id")?,
        name: named(&req, "name")?,
        metadata: metadata(&req)?,
        policies: if req.has("policies") { Some(req.list("policies")?) } else { None },
        disabled: if req.has("disabled") { Some(req.bool("disabled")?) } else { None },
    };
    let (entity, created) = s.store()?.identity.upsert(change).await?;
    Ok(created.then(|| {
        Response::json(json!({ "aliases": Value::Null, "id": entity.id, "name": entity.name }))
    }))
}

async fn delete_by_id(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    s.store()?.identity.delete(req.capture("id")).await?;
    Ok(None)
}

async fn delete_by_name(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    let active = s.store()?;
    if let Some(entity) = active.identity.entity_by_name(req.capture("name")).await? {
        active.identity.delete(&entity.id).await?;
    }
    Ok(None)
}

async fn write_alias(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    let (name, entity, accessor) =
        (req.str("name")?, req.str("canonical_id")?, req.str("mount_accessor")?);
    if name.is_empty() {
        return Err(Error::invalid("missing alias name"));
    }
    if accessor.is_empty() {
        return Err(Error::invalid("missing mount_accessor"));
    }
    let core = s.core()?;
    let table = core.mount_table()?;
    let mounted = table
        .iter()
        .find(|m| m.is_auth && m.entry.accessor == accessor)
        .ok_or_else(|| Error::invalid(format!("invalid mount accessor \"{accessor}\"")))?;
    let mount = MountInfo {
        accessor,
        engine_type: mounted.entry.engine_type.clone(),
        path: mounted.prefix.clone(),
    };
    let id = s.store()?.identity.add_alias(&entity, mount, &name).await?;
    Ok(Some(Response::json(json!({ "canonical_id": entity, "id": id }))))
}

async fn read_alias(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    Ok(s.store()?
        .identity
        .alias(req.capture("id"))
        .await?
        .map(|(a, entity)| Response::json(alias_json(&a, &entity))))
}

async fn delete_alias(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    s.store()?.identity.delete_alias(req.capture("id")).await?;
    Ok(None)
}

/// The `{id}` or `{name}` of the path, else the body's field of that name.
fn named(req: &Req, capture: &str) -> Result<Option<String>> {
    let value = match req.capture(capture) {
        "" => req.str(capture)?,
        given => given.to_string(),
    };
    Ok((!value.is_empty()).then_some(value))
}

/// The `metadata` map of a write, when given.
fn metadata(req: &Req) -> Result<Option<HashMap<String, String>>> {
    if !req.has("metadata") {
        return Ok(None);
    }
    let map = req.map("metadata")?;
    Ok(Some(
        map.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect(),
    ))
}

async fn write_group(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    let kind = req.str("type")?;
    if !matches!(kind.as_str(), "" | "internal") {
        return Err(Error::invalid("only internal groups are supported by this server"));
    }
    if !req.list("member_group_ids")?.is_empty() {
        return Err(Error::invalid("nested groups are not supported by this server"));
    }
    let change = GroupChange {
        id: named(&req, "id")?,
        name: named(&req, "name")?,
        policies: if req.has("policies") { Some(req.list("policies")?) } else { None },
        member_entity_ids: if req.has("member_entity_ids") {
            Some(req.list("member_entity_ids")?)
        } else {
            None
        },
        metadata: metadata(&req)?,
    };
    let (group, created) = s.store()?.identity.groups.upsert(change).await?;
    Ok(created.then(|| Response::json(json!({ "id": group.id, "name": group.name }))))
}

/// The group the path names by id or by name.
async fn group_of(s: &IdentityState, req: &Req) -> Result<Option<super::groups::Group>> {
    let active = s.store()?;
    match (req.capture("id"), req.capture("name")) {
        ("", name) => active.identity.groups.by_name(name).await,
        (id, _) => active.identity.groups.get(id).await,
    }
}

async fn read_group(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    Ok(group_of(&s, &req).await?.map(|g| Response::json(g.to_json())))
}

async fn delete_group(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    if let Some(group) = group_of(&s, &req).await? {
        s.store()?.identity.groups.delete(&group.id).await?;
    }
    Ok(None)
}

async fn list_group_ids(s: Arc<IdentityState>, _req: Req) -> Result<Option<Response>> {
    let active = s.store()?;
    let ids = active.identity.groups.ids().await?;
    let mut info = serde_json::Map::new();
    for id in &ids {
        if let Some(group) = active.identity.groups.get(id).await? {
            info.insert(id.clone(), json!({ "name": group.name }));
        }
    }
    Ok(Some(Response::json(json!({ "keys": ids, "key_info": info }))))
}

async fn list_group_names(s: Arc<IdentityState>, _req: Req) -> Result<Option<Response>> {
    Ok(keys(s.store()?.identity.groups.names().await?))
}
