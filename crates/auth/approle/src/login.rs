//! `login` (unauthenticated): role ID plus secret ID become a token carrying the role's token
//! settings. Every failure gives the same answer: `invalid role or secret ID`.

use std::sync::Arc;

use coffer_framework::{Field, IssuedLogin, LoginRenewal, Path, Req, Router, read_json};
use coffer_types::{Error, Response, Result, unix_now};
use serde_json::Value;

use crate::role::{Role, role_key};
use crate::secret_id::{delete_entry, read_entry, secret_key};
use crate::state::{AppRoleState, hashes_equal};
use coffer_framework::cidr;

/// A role uuid no role has: the target of the read made for an unknown role ID.
const NO_ROLE: &str = "00000000-0000-0000-0000-000000000000";

fn invalid() -> Error {
    Error::invalid("invalid role or secret ID")
}

pub(crate) fn routes(router: Router<AppRoleState>) -> Router<AppRoleState> {
    router
        .path(
            Path::new("login")
                .field(Field::string("role_id"))
                .field(Field::string("secret_id"))
                .write(login),
        )
        .login_renewal(renew)
}

async fn login(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let role_id = req.str("role_id")?;
    if role_id.is_empty() {
        return Err(Error::invalid("missing role_id"));
    }
    let storage = req.storage().clone();
    let salt = state.salt(&storage).await?;
    // The same work whether or not the role exists: hash both values up front.
    let role_hash = salt.hash("role_id", &role_id);
    let secret_id = req.str("secret_id")?;
    let secret_hash = salt.hash("secret_id", &secret_id);
    let name = storage.get(&format!("role_id/{role_hash}")).await?;
    let role: Option<Role> = match name {
        Some(n) => read_json(&storage, &role_key(&String::from_utf8_lossy(&n))).await?,
        None => None,
    };
    // The index is only stale after a crash mid-update: the role's own ID decides, compared
    // in constant time.
    let role = role.filter(|r| hashes_equal(&salt.hash("role_id", &r.role_id), &role_hash));
    let Some(role) = role else {
        // The same storage work as a known role: one secret-ID read.
        let _ = storage.get(&format!("secret_id/{NO_ROLE}/{secret_hash}")).await?;
        return Err(invalid());
    };
    let remote = req.inner.remote_addr;
    if !role.secret_id_bound_cidrs.is_empty() {
        cidr::check_source(remote, &role.secret_id_bound_cidrs, "role").map_err(|_| invalid())?;
    }
    let mut metadata = serde_json::Map::new();
    let mut token_cidrs = role.token.bound_cidrs.clone();
    if role.bind_secret_id {
        if secret_id.is_empty() {
            return Err(Error::invalid("missing secret_id"));
        }
        let _guard = state.lock(&secret_hash).await;
        let entry = read_entry(&storage, &role, &secret_hash).await?.ok_or_else(invalid)?;
        if entry.expired(unix_now()) {
            delete_entry(&storage, &role, &secret_hash, &entry).await?;
            return Err(invalid());
        }
        if !entry.cidr_list.is_empty() {
            cidr::check_source(remote, &entry.cidr_list, "secret ID").map_err(|_| invalid())?;
        }
        match entry.num_uses {
            0 => {}
            1 => delete_entry(&storage, &role, &secret_hash, &entry).await?,
            n => {
                let mut used = entry.clone();
                used.num_uses = n - 1;
                used.last_updated_time = unix_now();
                let bytes =
                    serde_json::to_vec(&used).map_err(|e| Error::internal(e.to_string()))?;
                storage.put(&secret_key(&role, &secret_hash), &bytes).await?;
            }
        }
        metadata.extend(entry.metadata.clone());
        if !entry.token_bound_cidrs.is_empty() {
            token_cidrs = entry.token_bound_cidrs.clone();
        }
    }
    metadata.insert("role_name".into(), Value::String(role.name.clone()));
    let mut login = role.token.login();
    login.metadata = metadata;
    login.bound_cidrs = token_cidrs;
    login.alias_name = role.role_id.clone();
    login.alias_metadata = login.metadata.clone();
    login.internal.insert("role_name".into(), Value::String(role.name.clone()));
    Ok(Some(Response { login: Some(login), ..Response::default() }))
}

/// A token renews on its role's current TTLs while the role exists (Vault does not compare
/// AppRole policies on renewal).
async fn renew(_s: Arc<AppRoleState>, req: Req, login: IssuedLogin) -> Result<LoginRenewal> {
    let name = login.role_name("role_name")?;
    let role = crate::role::load(&req, name).await?;
    LoginRenewal::while_role_exists(role.as_ref().map(|r| &r.token), &format!("{name:?}"))
}
