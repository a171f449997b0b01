//! The token auth method's routes (`auth/token/...`), always mounted.

use std::sync::{Arc, Weak};

use coffer_framework::{Backend, Field, Path, Req, Router, SpecialPaths};
use coffer_types::{Error, Response, Result, unix_now};
use serde_json::json;

use super::create::{CreateContext, CreateParams, build, check_renewable, renewed};
use super::{TokenEntry, TokenStore, roles};
use crate::{Active, Core};

/// State behind the token routes.
pub(crate) struct TokenState {
    core: Weak<Core>,
}

impl TokenState {
    fn core(&self) -> Result<Arc<Core>> {
        self.core.upgrade().ok_or_else(|| Error::internal("core is shutting down"))
    }

    fn active(&self) -> Result<Arc<Active>> {
        self.core()?.active()
    }
}

fn create_fields(path: Path<TokenState>) -> Path<TokenState> {
    path.field(Field::string("id"))
        .field(Field::string("role_name"))
        .field(Field::list("policies"))
        .field(Field::map("meta"))
        .field(Field::bool("no_parent"))
        .field(Field::bool("no_default_policy"))
        .field(Field::bool("renewable"))
        .field(Field::duration("ttl"))
        .field(Field::duration("lease"))
        .field(Field::duration("explicit_max_ttl"))
        .field(Field::string("display_name"))
        .field(Field::int("num_uses"))
        .field(Field::duration("period"))
        .field(Field::string("type"))
        .field(Field::string("entity_alias"))
}

/// Builds the token backend.
pub(crate) fn backend(core: Weak<Core>) -> Arc<dyn Backend> {
    let router = Router::new(Arc::new(TokenState { core }))
        .special_paths(SpecialPaths {
            unauthenticated: Vec::new(),
            sudo: vec!["revoke-orphan".into(), "accessors".into(), "accessors/".into()],
        })
        .path(create_fields(Path::new("create")).write(create))
        .path(create_fields(Path::new("create-orphan")).write(create))
        .path(create_fields(Path::new("create/{role_name}")).write(create))
        .path(Path::new("lookup-self").read(lookup_self))
        .path(Path::new("lookup").field(Field::string("token")).read(lookup).write(lookup))
        .path(Path::new("lookup-accessor").field(Field::string("accessor")).write(lookup_accessor))
        .path(Path::new("renew-self").field(Field::duration("increment")).write(renew))
        .path(
            Path::new("renew")
                .field(Field::string("token"))
                .field(Field::duration("increment"))
                .write(renew),
        )
        .path(
            Path::new("renew-accessor")
                .field(Field::string("accessor"))
                .field(Field::duration("increment"))
                .write(renew),
        )
        .path(Path::new("revoke-self").write(revoke))
        .path(Path::new("revoke").field(Field::string("token")).write(revoke))
        .path(Path::new("revoke-orphan").field(Field::string("token")).write(revoke))
        .path(Path::new("revoke-accessor").field(Field::string("accessor")).write(revoke))
        .path(Path::new("accessors/").list(list_accessors))
        .path(Path::new("tidy").write(tidy));
    Arc::new(roles::routes(router))
}

/// The caller's own token, hash and entry (the pipeline authenticated it).
async fn caller(store: &TokenStore, req: &Req) -> Result<(String, String, Arc<TokenEntry>)> {
    let token = req.inner.client_token.as_ref().ok_or(Error::PermissionDenied)?;
    let hash = store.hash(token.expose());
    let entry = store.lookup_hash(&hash).await?.ok_or(Error::PermissionDenied)?;
    Ok((token.expose().to_string(), hash, entry))
}

async fn create(state: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let active = state.active()?;
    let store = &active.tokens;
    let (_, parent_hash, parent) = caller(store, &req).await?;
    let role_name = match req.capture("role_name") {
        "" => req.str("role_name")?,
        name => name.to_string(),
    };
    let role = match role_name.as_str() {
        "" => None,
        name => Some(
            roles::load(&req, name)
                .await?
                .ok_or_else(|| Error::invalid(format!("unknown role {name}")))?,
        ),
    };
    let mount =
        active.mounts.load().get("auth/token/").map(|m| m.entry.config.clone()).unwrap_or_default();
    let path = match &role {
        Some(r) if r.path_suffix.is_empty() => format!("auth/token/create/{}", r.name),
        Some(r) => format!("auth/token/create/{}/{}", r.name, r.path_suffix),
        None => req.inner.path.trim_end_matches('/').to_string(),
    };
    let path = if path.starts_with("auth/token/") { path } else { format!("auth/token/{path}") };
    let params = CreateParams {
        id: req.str("id")?,
        policies: if req.has("policies") { Some(req.list("policies")?) } else { None },
        meta: req.map("meta")?,
        no_parent: req.bool("no_parent")?,
        no_default_policy: req.bool("no_default_policy")?,
        renewable: if req.has("renewable") { Some(req.bool("renewable")?) } else { None },
        ttl: if req.has("ttl") { req.duration("ttl")? } else { req.duration("lease")? },
        explicit_max_ttl: req.duration("explicit_max_ttl")?,
        display_name: req.str("display_name")?,
        num_uses: req.int("num_uses")?,
        period: req.duration("period")?,
        token_type: req.str("type")?,
    };
    let ctx = CreateContext {
        parent: &parent,
        parent_hash: &parent_hash,
        privileged: req.inner.caller.sudo,
        orphan_endpoint: req.inner.path == "create-orphan",
        path,
        default_ttl: mount.effective_default_ttl(),
        max_ttl: mount.effective_max_ttl(),
    };
    let (token, entry, warnings) = build(&ctx, &params, role.as_ref())?;
    store.insert(&token, &entry).await?;
    let mut response =
        Response { auth: Some(entry.auth(&token, unix_now())), ..Response::default() };
    response.warnings = warnings;
    Ok(Some(response))
}

/// A lookup's answer: the token's info, with the policies its identity adds.
async fn lookup_answer(
    active: &crate::Active,
    entry: &TokenEntry,
    token: &str,
) -> Result<Response> {
    let mut info = entry.lookup_json(token, unix_now());
    let identity = active.identity.policies_of(&entry.entity_id).await?;
    if let (false, Some(map)) = (identity.is_empty(), info.as_object_mut()) {
        map.insert("identity_policies".into(), json!(identity));
    }
    Ok(Response::json(info))
}

async fn lookup_self(state: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let active = state.active()?;
    let (token, _, entry) = caller(&active.tokens, &req).await?;
    Ok(Some(lookup_answer(&active, &entry, &token).await?))
}

async fn lookup(state: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let token = req.str("token")?;
    if token.is_empty() {
        return lookup_self(state, req).await;
    }
    let active = state.active()?;
    let entry =
        active.tokens.lookup(&token).await?.ok_or_else(|| Error::Forbidden("bad token".into()))?;
    Ok(Some(lookup_answer(&active, &entry, &token).await?))
}

async fn lookup_accessor(state: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let active = state.active()?;
    let (_, entry) = active
        .tokens
        .lookup_accessor(&req.str("accessor")?)
        .await?
        .ok_or_else(|| Error::invalid("invalid accessor"))?;
    Ok(Some(lookup_answer(&active, &entry, "").await?))
}

/// The target of a renew or revoke: the caller, a token, or an accessor.
async fn target(
    store: &TokenStore,
    req: &Req,
) -> Result<Option<(String, String, Arc<TokenEntry>)>> {
    match req.inner.path.as_str() {
        "renew-self" | "revoke-self" => caller(store, req).await.map(Some),
        "renew-accessor" | "revoke-accessor" => Ok(store
            .lookup_accessor(&req.str("accessor")?)
            .await?
            .map(|(hash, entry)| (String::new(), hash, entry))),
        _ => {
            let token = req.str("token")?;
            if token.is_empty() {
                return Err(Error::invalid("missing token"));
            }
            let hash = store.hash(&token);
            Ok(store.lookup_hash(&hash).await?.map(|entry| (token, hash, entry)))
        }
    }
}

async fn renew(state: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let active = state.active()?;
    let store = &active.tokens;
    let (token, hash, entry) =
        target(store, &req).await?.ok_or_else(|| match req.inner.path.as_str() {
            "renew-accessor" => Error::invalid("invalid accessor"),
            _ => Error::invalid("token not found"),
        })?;
    if entry.is_batch() {
        return Err(Error::invalid("batch tokens cannot be renewed"));
    }
    if entry.num_uses == super::REVOCATION_PENDING {
        // Its last use is this very request: nothing is left to renew (the reference's words).
        return Err(Error::invalid("token not found"));
    }
    let increment = req.duration("increment")?;
    check_renewable(&entry)?;
    let core = state.core()?;
    let Some(terms) = core.login_renewal_terms(&active, &entry, &req.inner).await? else {
        return Ok(None);
    };
    let now = unix_now();
    let (new, warnings) = renewed(&entry, terms, increment, now)?;
    store.update(&hash, &entry, &new).await?;
    let mut response = Response { auth: Some(new.auth(&token, now)), ..Response::default() };
    response.warnings = warnings;
    Ok(Some(response))
}

async fn revoke(state: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let active = state.active()?;
    let store = &active.tokens;
    let Some((_, hash, entry)) = target(store, &req).await? else {
        if req.inner.path == "revoke-accessor" {
            return Ok(Some(Response::default().with_warning("No token found with this accessor")));
        }
        return Ok(None);
    };
    if entry.is_batch() {
        return Err(Error::invalid("batch tokens cannot be revoked"));
    }
    let revoked = if req.inner.path == "revoke-orphan" {
        store.revoke_orphan(&hash).await?
    } else {
        store.revoke_tree(&hash).await?
    };
    state.core()?.after_token_revocation(&active, &revoked).await?;
    Ok(None)
}

async fn list_accessors(state: Arc<TokenState>, _req: Req) -> Result<Option<Response>> {
    let keys = state.active()?.tokens.accessors().await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}

async fn tidy(state: Arc<TokenState>, _req: Req) -> Result<Option<Response>> {
    let active = state.active()?;
    let expired = active.tokens.expire_due(unix_now()).await?;
    state.core()?.after_token_revocation(&active, &expired).await?;
    let dangling = active.tokens.tidy().await?;
    tracing::info!(expired = expired.len(), dangling, "token store: tidy finished");
    Ok(Some(Response::tidy_started()))
}
