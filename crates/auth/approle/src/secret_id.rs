//! Secret IDs: generated or custom, stored only as salted hashes under the role's prefix, with
//! an accessor index; lookup, destroy (by value or accessor), list, and use counting.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router, read_json};
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Map, Response, Result, coerce_string_map, new_uuid, unix_now};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::role::{Role, load};
use crate::state::AppRoleState;
use coffer_framework::cidr;

/// A stored secret ID (its value is never stored: the key is its salted hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretIdEntry {
    /// The accessor.
    pub accessor: String,
    /// Unix seconds of creation.
    pub creation_time: i64,
    /// Unix seconds of expiry (0 = never).
    pub expiration_time: i64,
    /// Unix seconds of the last change.
    pub last_updated_time: i64,
    /// Metadata copied into the token's metadata.
    pub metadata: Map,
    /// Uses left (0 = unlimited).
    pub num_uses: i64,
    /// The TTL given at creation.
    pub ttl: i64,
    /// CIDRs the secret ID may be used from.
    pub cidr_list: Vec<String>,
    /// CIDRs the resulting tokens may be used from.
    pub token_bound_cidrs: Vec<String>,
}

fn rfc3339(unix: i64) -> String {
    if unix == 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    humantime::format_rfc3339(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
    .to_string()
}

impl SecretIdEntry {
    fn to_json(&self) -> Value {
        json!({
            "cidr_list": self.cidr_list,
            "creation_time": rfc3339(self.creation_time),
            "expiration_time": rfc3339(self.expiration_time),
            "last_updated_time": rfc3339(self.last_updated_time),
            "metadata": self.metadata,
            "secret_id_accessor": self.accessor,
            "secret_id_num_uses": self.num_uses,
            "secret_id_ttl": self.ttl,
            "token_bound_cidrs": self.token_bound_cidrs,
        })
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expiration_time > 0 && now >= self.expiration_time
    }
}

pub(crate) fn secret_key(role: &Role, hash: &str) -> String {
    format!("secret_id/{}/{hash}", role.uuid)
}

fn accessor_key(role: &Role, accessor: &str) -> String {
    format!("accessor/{}/{accessor}", role.uuid)
}

pub(crate) async fn read_entry(
    storage: &SharedStorage,
    role: &Role,
    hash: &str,
) -> Result<Option<SecretIdEntry>> {
    read_json(storage, &secret_key(role, hash)).await
}

/// Deletes a secret ID and its accessor entry.
pub(crate) async fn delete_entry(
    storage: &SharedStorage,
    role: &Role,
    hash: &str,
    entry: &SecretIdEntry,
) -> Result<()> {
    storage
        .batch(vec![
            WriteOp::Delete { key: secret_key(role, hash) },
            WriteOp::Delete { key: accessor_key(role, &entry.accessor) },
        ])
        .await?;
    Ok(())
}

pub(crate) fn routes(router: Router<AppRoleState>) -> Router<AppRoleState> {
    let create = |p: &str| {
        Path::new(p)
            .field(Field::string("secret_id"))
            .field(Field::any("metadata"))
            .field(Field::list("cidr_list"))
            .field(Field::list("token_bound_cidrs"))
            .field(Field::int("num_uses"))
            .field(Field::duration("ttl"))
    };
    router
        .path(create("role/{role_name}/secret-id").write(generate))
        // A LIST arrives with its trailing slash.
        .path(Path::new("role/{role_name}/secret-id/").list(list_accessors))
        .path(create("role/{role_name}/custom-secret-id").write(generate))
        .path(
            Path::new("role/{role_name}/secret-id/lookup")
                .field(Field::string("secret_id"))
                .write(lookup),
        )
        .path(
            Path::new("role/{role_name}/secret-id/destroy")
                .field(Field::string("secret_id"))
                .write(destroy)
                .delete(destroy),
        )
        .path(
            Path::new("role/{role_name}/secret-id-accessor/lookup")
                .field(Field::string("secret_id_accessor"))
                .write(lookup_accessor),
        )
        .path(
            Path::new("role/{role_name}/secret-id-accessor/destroy")
                .field(Field::string("secret_id_accessor"))
                .write(destroy_accessor)
                .delete(destroy_accessor),
        )
        .path(Path::new("tidy/secret-id").write(tidy))
}

async fn role_of(req: &Req) -> Result<Role> {
    let name = req.capture("role_name");
    load(req, name).await?.ok_or_else(|| Error::invalid(format!("role \"{name}\" does not exist")))
}

async fn generate(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let role = role_of(&req).await?;
    if !role.bind_secret_id {
        return Err(Error::invalid("bind_secret_id is not set on the role"));
    }
    let custom = req.inner.path.ends_with("custom-secret-id");
    let secret_id = if custom { req.str("secret_id")? } else { new_uuid() };
    if secret_id.is_empty() {
        return Err(Error::invalid("missing secret_id"));
    }
    let metadata = match req.raw("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(v) => coerce_string_map("metadata", v).map_err(|_| {
            Error::invalid("failed to parse metadata: must be a JSON object of strings")
        })?,
    };
    let ttl = req.duration("ttl")?;
    if ttl < 0 {
        return Err(Error::invalid("ttl cannot be negative"));
    }
    if role.secret_id_ttl > 0 && ttl > role.secret_id_ttl {
        return Err(Error::invalid("ttl cannot be longer than the role's secret_id_ttl"));
    }
    let ttl = if ttl > 0 { ttl } else { role.secret_id_ttl };
    let num_uses = if req.has("num_uses") { req.int("num_uses")? } else { role.secret_id_num_uses };
    if num_uses < 0 {
        return Err(Error::invalid("num_uses cannot be negative"));
    }
    if role.secret_id_num_uses > 0 && (num_uses == 0 || num_uses > role.secret_id_num_uses) {
        return Err(Error::invalid("num_uses cannot be higher than the role's secret_id_num_uses"));
    }
    let cidr_list = cidr::canonical_list(&req.list("cidr_list")?)?;
    let token_bound_cidrs = cidr::canonical_list(&req.list("token_bound_cidrs")?)?;
    let salt = state.salt(req.storage()).await?;
    let hash = salt.hash("secret_id", &secret_id);
    if read_entry(req.storage(), &role, &hash).await?.is_some() {
        return Err(Error::invalid("SecretID is already registered"));
    }
    let now = unix_now();
    let entry = SecretIdEntry {
        accessor: new_uuid(),
        creation_time: now,
        expiration_time: if ttl > 0 { now + ttl } else { 0 },
        last_updated_time: now,
        metadata,
        num_uses,
        ttl,
        cidr_list,
        token_bound_cidrs,
    };
    let bytes = serde_json::to_vec(&entry).map_err(|e| Error::internal(e.to_string()))?;
    req.storage()
        .batch(vec![
            WriteOp::Put { key: secret_key(&role, &hash), value: bytes },
            WriteOp::Put { key: accessor_key(&role, &entry.accessor), value: hash.into_bytes() },
        ])
        .await?;
    Ok(Some(Response::json(json!({
        "secret_id": secret_id,
        "secret_id_accessor": entry.accessor,
        "secret_id_num_uses": entry.num_uses,
        "secret_id_ttl": entry.ttl,
    }))))
}

async fn list_accessors(_s: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let role = role_of(&req).await?;
    let keys = req.storage().list(&format!("accessor/{}/", role.uuid)).await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}

async fn lookup(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let role = role_of(&req).await?;
    let hash = state.salt(req.storage()).await?.hash("secret_id", &req.str("secret_id")?);
    Ok(read_entry(req.storage(), &role, &hash)
        .await?
        .filter(|e| !e.expired(unix_now()))
        .map(|e| Response::json(e.to_json())))
    .map(|r| r.or_else(|| Some(Response::default())))
}

async fn destroy(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let role = role_of(&req).await?;
    let hash = state.salt(req.storage()).await?.hash("secret_id", &req.str("secret_id")?);
    let _guard = state.lock(&hash).await;
    if let Some(entry) = read_entry(req.storage(), &role, &hash).await? {
        delete_entry(req.storage(), &role, &hash, &entry).await?;
    }
    Ok(None)
}

async fn by_accessor(req: &Req, role: &Role) -> Result<Option<(String, SecretIdEntry)>> {
    let accessor = req.str("secret_id_accessor")?;
    if accessor.is_empty() || accessor.contains('/') {
        return Err(Error::invalid("missing secret_id_accessor"));
    }
    let Some(hash) = req.storage().get(&accessor_key(role, &accessor)).await? else {
        return Ok(None);
    };
    let hash = String::from_utf8_lossy(&hash).to_string();
    Ok(read_entry(req.storage(), role, &hash).await?.map(|e| (hash, e)))
}

async fn lookup_accessor(_s: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let role = role_of(&req).await?;
    match by_accessor(&req, &role).await? {
        Some((_, entry)) => Ok(Some(Response::json(entry.to_json()))),
        None => Err(Error::invalid(format!(
            "failed to find accessor entry for secret_id_accessor: {:?}",
            req.str("secret_id_accessor")?
        ))),
    }
}

async fn destroy_accessor(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    let role = role_of(&req).await?;
    if let Some((hash, entry)) = by_accessor(&req, &role).await? {
        let _guard = state.lock(&hash).await;
        delete_entry(req.storage(), &role, &hash, &entry).await?;
    }
    Ok(None)
}

/// `tidy/secret-id`: removes expired secret IDs of every role.
pub(crate) async fn tidy(state: Arc<AppRoleState>, req: Req) -> Result<Option<Response>> {
    use std::sync::atomic::Ordering;
    if state.tidy_running.swap(true, Ordering::AcqRel) {
        return Ok(Some(Response::default().with_warning("Tidy operation already in progress.")));
    }
    let result = async {
        let now = unix_now();
        let mut removed = 0;
        for name in req.storage().list("role/").await? {
            let Some(role) = load(&req, &name).await? else { continue };
            for hash in req.storage().list(&format!("secret_id/{}/", role.uuid)).await? {
                let _guard = state.lock(&hash).await;
                if let Some(entry) =
                    read_entry(req.storage(), &role, &hash).await?.filter(|e| e.expired(now))
                {
                    delete_entry(req.storage(), &role, &hash, &entry).await?;
                    removed += 1;
                }
            }
        }
        Ok::<_, Error>(removed)
    }
    .await;
    state.tidy_running.store(false, Ordering::Release);
    let removed = result?;
    tracing::info!(removed, "approle: tidied expired secret IDs");
    Ok(Some(Response::tidy_started()))
}
