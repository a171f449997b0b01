//! `sys/wrapping/{wrap,unwrap,lookup,rewrap}`.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Response, Result};

use super::SysState;

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    router
        .path(Path::new("wrapping/wrap").open_fields().write(wrap))
        .path(Path::new("wrapping/unwrap").field(Field::string("token")).write(unwrap))
        .path(Path::new("wrapping/lookup").field(Field::string("token")).write(lookup).read(lookup))
        .path(Path::new("wrapping/rewrap").field(Field::string("token")).write(rewrap))
}

/// Echoes its body: the pipeline wraps it (the header is required).
async fn wrap(_s: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    if !req.inner.wrap_requested {
        return Err(Error::invalid("endpoint requires response wrapping to be used"));
    }
    Ok(Some(Response::data(req.data().clone())))
}

/// The token in the body, else the caller's own token.
fn token_of(req: &Req) -> Result<String> {
    match req.str("token")? {
        t if !t.is_empty() => Ok(t),
        _ => req
            .inner
            .client_token
            .as_ref()
            .map(|t| t.expose().to_string())
            .ok_or_else(|| Error::invalid("wrapping token is not valid or does not exist")),
    }
}

async fn unwrap(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(state.core()?.unwrap(&token_of(&req)?).await?))
}

async fn lookup(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(state.core()?.wrap_lookup(&token_of(&req)?).await?)))
}

async fn rewrap(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(state.core()?.rewrap(&token_of(&req)?).await?))
}
