//! The token auth method's routes (`auth/token/...`), always mounted.

use std::sync::{Arc, Weak};

use coffer_framework::{Backend, Field, Path, Req, Router};
use coffer_types::{Error, Response, Result};

use crate::Core;

/// State behind the token routes.
pub(crate) struct TokenState {
    core: Weak<Core>,
}

/// Builds the token backend.
pub(crate) fn backend(core: Weak<Core>) -> Arc<dyn Backend> {
    Arc::new(
        Router::new(Arc::new(TokenState { core }))
            .path(Path::new("lookup-self").read(lookup_self))
            .path(Path::new("lookup").field(Field::string("token")).read(lookup_self).write(lookup)),
    )
}

async fn lookup_self(state: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let core = state.core.upgrade().ok_or_else(|| Error::internal("core is shutting down"))?;
    let active = core.active()?;
    // The pipeline hands the token store, and only it, the caller's own token.
    let token = req.inner.client_token.as_ref().ok_or(Error::PermissionDenied)?;
    let entry = active.tokens.lookup(token.expose()).await?.ok_or(Error::PermissionDenied)?;
    Ok(Some(Response::json(entry.lookup_json(token.expose(), coffer_types::unix_now()))))
}

async fn lookup(state: Arc<TokenState>, req: Req) -> Result<Option<Response>> {
    let token = req.str("token")?;
    if token.is_empty() {
        return lookup_self(state, req).await;
    }
    let core = state.core.upgrade().ok_or_else(|| Error::internal("core is shutting down"))?;
    let entry = core
        .active()?
        .tokens
        .lookup(&token)
        .await?
        .ok_or_else(|| Error::Forbidden("bad token".into()))?;
    Ok(Some(Response::json(entry.lookup_json(&token, coffer_types::unix_now()))))
}
