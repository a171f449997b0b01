//! Roles (`role/`, `role/:name`) and their role IDs (`role/:name/role-id`).

use std::sync::Arc;

use coffer_framework::{Field, LegacyNames, Path, Req, Router, read_json};
use coffer_storage::WriteOp;
use coffer_types::{Error, Map, Response, Result, new_uuid};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::state::AppRoleState;
use coffer_framework::cidr;
use coffer_framework::token_fields::{self, TokenFields, sorted};

/// A stored role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    /// The role name (lower-case).
    pub name: String,
    /// Storage prefix of its secret IDs: deleting the role is one prefix delete.
    pub uuid: String,
    /// The role ID (the public half of the credential).
    pub role_id: String,
    /// Whether login needs a secret ID.
    pub bind_secret_id: bool,
    /// CIDRs secret IDs may be used from.
    pub secret_id_bound_cidrs: Vec<String>,
    /// Uses per secret ID (0 = unlimited).
    pub secret_id_num_uses: i64,
    /// Lifetime of secret IDs in seconds (0 = forever).
    pub secret_id_ttl: i64,
    /// Kept for compatibility.
    pub local_secret_ids: bool,
    /// Settings of the issued tokens.
    pub token: TokenFields,
    /// Legacy names (`policies`, `period`) used to set token settings, echoed on reads.
    #[serde(default)]
    pub legacy: LegacyNames,
}

impl Role {
    /// The read shape of the role.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("bind_secret_id".into(), json!(self.bind_secret_id));
        out.insert("local_secret_ids".into(), json!(self.local_secret_ids));
        let cidrs = if self.secret_id_bound_cidrs.is_empty() {
            Value::Null
        } else {
            json!(self.secret_id_bound_cidrs)
        };
        out.insert("secret_id_bound_cidrs".into(), cidrs);
        out.insert("secret_id_num_uses".into(), json!(self.secret_id_num_uses));
        out.insert("secret_id_ttl".into(), json!(self.secret_id_ttl));
        self.token.write_json(&mut out);
        self.legacy.echo(&self.token, &mut out);
        Value::Object(sorted(out))
    }
}

pub(crate) fn role_key(name: &str) -> String {
    format!("role/{}", name.to_lowercase())
}

/// Loads a role by name.
pub(crate) async fn load(req: &Req, name: &str) -> Result<Option<Role>> {
    read_json(req.storage(), &role_key(name)).await
}

/// Declares every setting a role write takes on `path` (the role and its per-field paths).
pub(crate) fn declare_fields(path: Path<AppRoleState>) -> Path<AppRoleState> {
    token_fields::declare(path)
        .field(Field::bool("bind_secret_id").default(true))
        .field(Field::list("secret_id_bound_cidrs"))
        .field(Field::list("bound_cidr_list"))
        .field(Field::int("secret_id_num_uses"))
        .field(Field::duration("secret_id_ttl"))
        .field(Field::bool("local_secret_ids"))
        .field(Field::string("role_id"))
}

/// Stores a role as it is (its role ID index unchanged).
pub(crate) async fn save(req: &Req, role: &Role) -> Result<()> {
    let bytes = serde_json::to_vec(role).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(&role_key(&role.name), &bytes).await?;
    Ok(())
}

pub(crate) fn routes(router: Router<AppRoleState>) -> Router<AppRoleState> {
    let role = declare_fields(Path::new("role/{role_name}"))
        .read(read_role)
        .write(write_role)
        .delete(delete_role)
        .existence(|_s: Arc<AppRoleState>, req: Req| async move {
            Ok(load(&req, req.capture("role_name")).await?.is_some())
        });
    router.path(Path::new("role/").list(list_roles)).path(role).path(
        Path::new("role/{role_name}/role-id")
            .field(Field::string("role_id"))
            .read(read_role_id)
            .write(write_role_id),
    )
}

async fn list_roles(_s: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": req.storage().list("role/").await? }))))
}

async fn read_role(_s: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    Ok(load(&req, req.capture("role_name")).await?.map(|r| Response::json(r.to_json())))
}

fn non_negative(name: &str, v: i64) -> Result<i64> {
    if v < 0 { Err(Error::invalid(format!("{name} cannot be negative"))) } else { Ok(v) }
}

/// Creates or updates a role with the settings the request carries.
pub(crate) async fn write_role(state: Arc<AppRoleState>, mut req: Req) -> Result<Option<Response>> {
    let name = req.capture("role_name").to_lowercase();
    let salt = state.salt(req.storage()).await?;
    let _guard = state.roles.lock().await;
    let existing = load(&req, &name).await?;
    let mut role = existing.clone().unwrap_or_else(|| Role {
        name: name.clone(),
        uuid: new_uuid(),
        role_id: new_uuid(),
        bind_secret_id: true,
        secret_id_bound_cidrs: Vec::new(),
        secret_id_num_uses: 0,
        secret_id_ttl: 0,
        local_secret_ids: false,
        token: TokenFields::default(),
        legacy: LegacyNames::default(),
    });
    if req.has("bind_secret_id") {
        role.bind_secret_id = req.bool("bind_secret_id")?;
    }
    for field in ["secret_id_bound_cidrs", "bound_cidr_list"] {
        if req.has(field) {
            role.secret_id_bound_cidrs = cidr::canonical_list(&req.list(field)?)?;
        }
    }
    if req.has("secret_id_num_uses") {
        role.secret_id_num_uses =
            non_negative("secret_id_num_uses", req.int("secret_id_num_uses")?)?;
    }
    if req.has("secret_id_ttl") {
        role.secret_id_ttl = non_negative("secret_id_ttl", req.duration("secret_id_ttl")?)?;
    }
    if req.has("local_secret_ids") && existing.is_none() {
        role.local_secret_ids = req.bool("local_secret_ids")?;
    }
    role.legacy.upgrade(&mut req, &["policies", "period"]);
    role.token.update(&req)?;
    role.legacy.retain_in_use(&role.token);
    if !role.bind_secret_id
        && role.secret_id_bound_cidrs.is_empty()
        && role.token.bound_cidrs.is_empty()
    {
        return Err(Error::invalid("at least one constraint should be enabled on the role"));
    }
    let mut ops = Vec::new();
    if req.has("role_id") {
        let new_id = req.str("role_id")?;
        if new_id.is_empty() {
            return Err(Error::invalid("missing role_id"));
        }
        ops.push(WriteOp::Delete {
            key: format!("role_id/{}", salt.hash("role_id", &role.role_id)),
        });
        role.role_id = new_id;
    }
    let id_key = format!("role_id/{}", salt.hash("role_id", &role.role_id));
    if let Some(owner) = req.storage().get(&id_key).await? {
        if owner != name.as_bytes() {
            return Err(Error::invalid("role_id already in use"));
        }
    }
    ops.push(WriteOp::Put { key: id_key, value: name.clone().into_bytes() });
    let bytes = serde_json::to_vec(&role).map_err(|e| Error::internal(e.to_string()))?;
    ops.push(WriteOp::Put { key: role_key(&name), value: bytes });
    req.storage().batch(ops).await?;
    Ok(None)
}

async fn delete_role(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let salt = state.salt(req.storage()).await?;
    let _guard = state.roles.lock().await;
    let Some(role) = load(&req, req.capture("role_name")).await? else { return Ok(None) };
    req.storage()
        .batch(vec![
            WriteOp::Delete { key: role_key(&role.name) },
            WriteOp::Delete { key: format!("role_id/{}", salt.hash("role_id", &role.role_id)) },
        ])
        .await?;
    // One range delete per index, however many secret IDs the role had.
    req.storage().delete_prefix(&format!("secret_id/{}/", role.uuid)).await?;
    req.storage().delete_prefix(&format!("accessor/{}/", role.uuid)).await?;
    Ok(None)
}

async fn read_role_id(_s: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    Ok(load(&req, req.capture("role_name"))
        .await?
        .map(|r| Response::json(json!({ "role_id": r.role_id }))))
}

async fn write_role_id(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let salt = state.salt(req.storage()).await?;
    let _guard = state.roles.lock().await;
    let mut role = load(&req, req.capture("role_name")).await?.ok_or_else(|| {
        Error::invalid(format!("role {} does not exist", req.capture("role_name")))
    })?;
    let new_id = req.str("role_id")?;
    if new_id.is_empty() {
        return Err(Error::invalid("missing role_id"));
    }
    let new_key = format!("role_id/{}", salt.hash("role_id", &new_id));
    if req.storage().get(&new_key).await?.is_some_and(|owner| owner != role.name.as_bytes()) {
        return Err(Error::invalid("role_id already in use"));
    }
    let old_key = format!("role_id/{}", salt.hash("role_id", &role.role_id));
    role.role_id = new_id;
    let bytes = serde_json::to_vec(&role).map_err(|e| Error::internal(e.to_string()))?;
    req.storage()
        .batch(vec![
            WriteOp::Delete { key: old_key },
            WriteOp::Put { key: new_key, value: role.name.clone().into_bytes() },
            WriteOp::Put { key: role_key(&role.name), value: bytes },
        ])
        .await?;
    Ok(None)
}
