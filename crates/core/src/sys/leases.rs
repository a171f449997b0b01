//! `sys/leases/...` (lookup, renew, revoke, revoke-prefix, revoke-force, tidy, LIST lookup,
//! irrevocable) and Vault's older `sys/renew`, `sys/revoke` aliases.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Response, Result, unix_now};
use serde_json::json;

use super::SysState;

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    let id = |p: &str| {
        Path::new(p)
            .field(Field::string("lease_id"))
            .field(Field::duration("increment"))
            .field(Field::bool("sync").default(true))
    };
    router
        .path(id("leases/lookup").write(lookup))
        .path(Path::new("leases/lookup/{prefix*}").list(list))
        .path(id("leases/renew").write(renew))
        .path(id("leases/renew/{id*}").write(renew))
        .path(id("renew").write(renew))
        .path(id("renew/{id*}").write(renew))
        .path(id("leases/revoke").write(revoke))
        .path(id("leases/revoke/{id*}").write(revoke))
        .path(id("revoke").write(revoke))
        .path(id("revoke/{id*}").write(revoke))
        .path(id("leases/revoke-prefix/{prefix*}").write(revoke_prefix))
        .path(id("revoke-prefix/{prefix*}").write(revoke_prefix))
        .path(id("leases/revoke-force/{prefix*}").write(revoke_force))
        .path(id("revoke-force/{prefix*}").write(revoke_force))
        .path(Path::new("leases/tidy").write(tidy))
        .path(Path::new("leases/irrevocable").read(irrevocable))
}

fn lease_id(req: &Req) -> Result<String> {
    let id = match req.str("lease_id")? {
        s if !s.is_empty() => s,
        _ => req.capture("id").to_string(),
    };
    if id.is_empty() {
        return Err(Error::invalid("missing lease ID"));
    }
    Ok(id)
}

async fn lookup(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let active = state.core()?.active()?;
    let entry = active
        .leases
        .get(&lease_id(&req)?)
        .await?
        .ok_or_else(|| Error::invalid("invalid lease"))?;
    let mut data = entry.lookup_json(unix_now());
    // The request path that made the lease, as the reference prints it (no trailing slash).
    let path = entry.lease_id.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
    data["path"] = json!(path);
    Ok(Some(Response::json(data)))
}

async fn list(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let keys = state.core()?.active()?.leases.list(req.capture("prefix")).await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}

async fn renew(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let active = state.core()?.active()?;
    let id = lease_id(&req)?;
    if id.starts_with("auth/") && active.leases.get(&id).await?.is_none() {
        return Err(Error::invalid("lease not found"));
    }
    let (lease, warnings) =
        active.leases.renew(&active.mounts.load(), &id, req.duration("increment")?).await?;
    let mut response = Response { lease: Some(lease), ..Response::default() };
    response.warnings = warnings;
    Ok(Some(response))
}

/// `sync: false` answers 202 while the revocation runs in the background.
fn accepted() -> Option<Response> {
    Some(Response { status: Some(202), ..Response::default() })
}

async fn revoke(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let core = state.core()?;
    let id = lease_id(&req)?;
    if !req.bool("sync")? {
        tokio::spawn(async move {
            if let Ok(active) = core.active() {
                if let Err(e) = active.leases.revoke(&active.mounts.load(), &id, false).await {
                    tracing::warn!(error = %e, "background lease revocation failed; it will be retried");
                }
            }
        });
        return Ok(accepted());
    }
    let active = core.active()?;
    active.leases.revoke(&active.mounts.load(), &id, false).await?;
    Ok(None)
}

async fn revoke_all(core: &crate::Core, prefix: &str, force: bool) -> Result<()> {
    let active = core.active()?;
    let table = active.mounts.load();
    let prefix = if prefix.ends_with('/') || prefix.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let mut failed = 0;
    let mut walk = active.leases.walk(&prefix);
    loop {
        let ids = active.leases.next_ids(&mut walk).await?;
        if ids.is_empty() {
            break;
        }
        for id in ids {
            if active.leases.revoke(&table, &id, force).await.is_err() {
                failed += 1;
            }
        }
    }
    // Tokens are leases too: those created under the prefix (logins, token creation).
    let tokens = active.tokens.revoke_path_prefix(&prefix).await?;
    core.after_token_revocation(&active, &tokens).await?;
    if failed > 0 {
        return Err(Error::internal(format!(
            "{failed} leases could not be revoked; they will be retried"
        )));
    }
    Ok(())
}

async fn revoke_prefix(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let core = state.core()?;
    let prefix = req.capture("prefix").to_string();
    if !req.bool("sync")? {
        tokio::spawn(async move {
            if let Err(e) = revoke_all(&core, &prefix, false).await {
                tracing::warn!(error = %e, "background prefix revocation incomplete");
            }
        });
        return Ok(accepted());
    }
    revoke_all(&core, &prefix, false).await?;
    Ok(None)
}

async fn revoke_force(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    revoke_all(&*state.core()?, req.capture("prefix"), true).await?;
    Ok(None)
}

async fn tidy(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    let active = state.core()?.active()?;
    let revoked = active.leases.expire_due(&active.mounts.load(), unix_now()).await?;
    tracing::info!(revoked, "lease tidy finished");
    Ok(Some(Response::tidy_started()))
}

async fn irrevocable(state: Arc<SysState>, _req: Req) -> Result<Option<Response>> {
    let active = state.core()?.active()?;
    let leases: Vec<_> = active
        .leases
        .irrevocable()
        .await?
        .into_iter()
        .map(|l| json!({"lease_id": l.lease_id, "attempts": l.revoke_attempts, "error": l.last_error}))
        .collect();
    Ok(Some(Response::json(json!({ "leases": leases, "lease_count": leases.len() }))))
}
