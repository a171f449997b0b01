//! `identity/`: entities and aliases, read and listed.

use std::sync::{Arc, Weak};

use coffer_framework::{Backend, Path, Req, Router};
use coffer_types::{Error, Response, Result};
use serde_json::json;

use super::store::alias_json;
use crate::Core;

/// State behind the identity routes.
pub(crate) struct IdentityState {
    core: Weak<Core>,
}

impl IdentityState {
    fn store(&self) -> Result<Arc<crate::Active>> {
        self.core.upgrade().ok_or_else(|| Error::internal("core is shutting down"))?.active()
    }
}

/// Builds the identity backend.
pub(crate) fn backend(core: Weak<Core>) -> Arc<dyn Backend> {
    Arc::new(
        Router::new(Arc::new(IdentityState { core }))
            .path(Path::new("entity/id/").list(list_ids))
            .path(Path::new("entity/id/{id}").read(read_by_id))
            .path(Path::new("entity/name/").list(list_names))
            .path(Path::new("entity/name/{name}").read(read_by_name))
            .path(Path::new("entity-alias/id/").list(list_alias_ids))
            .path(Path::new("entity-alias/id/{id}").read(read_alias)),
    )
}

fn keys(keys: Vec<String>) -> Option<Response> {
    Some(Response::json(json!({ "keys": keys })))
}

async fn list_ids(s: Arc<IdentityState>, _req: Req) -> Result<Option<Response>> {
    Ok(keys(s.store()?.identity.entity_ids().await?))
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

async fn read_alias(s: Arc<IdentityState>, req: Req) -> Result<Option<Response>> {
    Ok(s.store()?
        .identity
        .alias(req.capture("id"))
        .await?
        .map(|(a, entity)| Response::json(alias_json(&a, &entity))))
}
