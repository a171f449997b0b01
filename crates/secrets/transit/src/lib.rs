//! The transit secrets engine: encryption as a service. Named keys with versions
//! (`keys/:name`, rotate, config, delete), encrypt/decrypt/rewrap with AES-GCM or
//! ChaCha20-Poly1305, data keys, HMACs, and Ed25519/ECDSA P-256 signatures; every operation
//! also in batches (`batch_input`); `random` and `hash` as under `sys/tools`. Ciphertexts
//! carry the reference's `vault:vN:` prefix.
//! Keys live in the mount's storage, inside the barrier; derived and convergent keys are
//! refused rather than faked.
#![forbid(unsafe_code)]

mod ops;
mod policy;

use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, Field, Path, Req, Router, read_json};
use coffer_types::{Error, Response, Result, unix_now};
use serde_json::json;

use policy::Policy;

/// Per-mount state: key changes (create, rotate, config, delete) are serialised.
pub(crate) struct TransitState {
    writes: tokio::sync::Mutex<()>,
}

/// Builds a transit mount.
pub fn factory(_config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let state = Arc::new(TransitState { writes: tokio::sync::Mutex::new(()) });
    let router = Router::new(state)
        .path(Path::new("keys/").list(list_keys))
        .path(
            Path::new("keys/{name}")
                .field(Field::string("type").default(json!("aes256-gcm96")))
                .field(Field::bool("derived"))
                .field(Field::bool("convergent_encryption"))
                .field(Field::bool("exportable"))
                .field(Field::bool("allow_plaintext_backup"))
                .field(Field::duration("auto_rotate_period"))
                .field(Field::int("key_size"))
                .read(read_key)
                .write(create_key)
                .delete(delete_key)
                .existence(key_exists),
        )
        .path(
            Path::new("keys/{name}/config")
                .field(Field::int("min_decryption_version"))
                .field(Field::int("min_encryption_version"))
                .field(Field::bool("deletion_allowed"))
                .field(Field::bool("exportable"))
                .field(Field::bool("allow_plaintext_backup"))
                .field(Field::duration("auto_rotate_period"))
                .write(configure_key),
        )
        .path(Path::new("keys/{name}/rotate").write(rotate_key));
    let router = coffer_framework::tools::routes(router, "");
    Ok(Arc::new(ops::routes(router)))
}

fn key_path(name: &str) -> String {
    format!("policy/{name}")
}

/// The key named `name`, if any.
pub(crate) async fn load(req: &Req, name: &str) -> Result<Option<Policy>> {
    read_json(req.storage(), &key_path(name)).await
}

/// Stores a key.
pub(crate) async fn save(req: &Req, policy: &Policy) -> Result<()> {
    let bytes = serde_json::to_vec(policy).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(&key_path(&policy.name), &bytes).await?;
    Ok(())
}

/// The key `name` as it stands now: rotated first when its `auto_rotate_period` has run
/// out since its latest version (keys rotate on their next use after the period).
pub(crate) async fn load_current(
    state: &TransitState,
    req: &Req,
    name: &str,
) -> Result<Option<Policy>> {
    let Some(policy) = load(req, name).await? else { return Ok(None) };
    if !policy.rotation_due(unix_now()) {
        return Ok(Some(policy));
    }
    let _guard = state.writes.lock().await;
    let Some(mut policy) = load(req, name).await? else { return Ok(None) };
    rotate_if_due(req, &mut policy).await?;
    Ok(Some(policy))
}

/// Rotates `policy` and stores it when its auto-rotation is due (callers hold the lock).
async fn rotate_if_due(req: &Req, policy: &mut Policy) -> Result<()> {
    if policy.rotation_due(unix_now()) {
        policy.rotate()?;
        save(req, policy).await?;
    }
    Ok(())
}

/// Checks an `auto_rotate_period` as the reference does: off (0) or at least an hour.
fn auto_rotate_period(req: &Req) -> Result<i64> {
    let period = req.duration("auto_rotate_period")?;
    if period != 0 && period < 3600 {
        return Err(Error::invalid("auto rotate period must be 0 to disable or at least an hour"));
    }
    Ok(period)
}

/// The key `name`, created with the request's `type` when it does not exist yet (the
/// reference's create, and its upsert on encrypt, where only encryption key types may be
/// created: `for_encryption`).
pub(crate) async fn load_or_create(
    state: &TransitState,
    req: &Req,
    name: &str,
    for_encryption: bool,
) -> Result<Policy> {
    let _guard = state.writes.lock().await;
    if let Some(mut existing) = load(req, name).await? {
        rotate_if_due(req, &mut existing).await?;
        return Ok(existing);
    }
    if req.bool("derived")? || req.bool("convergent_encryption")? {
        return Err(Error::invalid("derived and convergent keys are not supported by this server"));
    }
    let key_type = match req.str("type")? {
        t if t.is_empty() => "aes256-gcm96".to_string(),
        t => t,
    };
    if for_encryption && !policy::ENCRYPTION_TYPES.contains(&key_type.as_str()) {
        return Err(Error::invalid(format!("unknown key type {key_type}")));
    }
    let mut policy = Policy::new(name, &key_type, req.int("key_size")?)?;
    policy.exportable = req.bool("exportable")?;
    policy.allow_plaintext_backup = req.bool("allow_plaintext_backup")?;
    policy.auto_rotate_period = auto_rotate_period(req)?;
    save(req, &policy).await?;
    Ok(policy)
}

async fn list_keys(_s: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": req.storage().list("policy/").await? }))))
}

async fn read_key(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let policy = load_current(&state, &req, req.capture("name")).await?;
    Ok(policy.map(|p| Response::json(p.to_json())))
}

/// Whether the key a request names exists: creating one (a key write, an encrypt's upsert)
/// needs `create` on the path, as in the reference.
pub(crate) async fn key_exists(_s: Arc<TransitState>, req: Req) -> Result<bool> {
    Ok(load(&req, req.capture("name")).await?.is_some())
}

async fn create_key(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let policy = load_or_create(&state, &req, req.capture("name"), false).await?;
    Ok(Some(Response::json(policy.to_json())))
}

async fn delete_key(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.writes.lock().await;
    let name = req.capture("name");
    let Some(policy) = load(&req, name).await? else { return Ok(None) };
    if !policy.deletion_allowed {
        return Err(Error::invalid(format!(
            "error deleting policy {name}: deletion is not allowed for this key"
        )));
    }
    req.storage().delete(&key_path(name)).await?;
    Ok(None)
}

async fn rotate_key(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.writes.lock().await;
    let mut policy =
        load(&req, req.capture("name")).await?.ok_or_else(|| Error::invalid("key not found"))?;
    policy.rotate()?;
    save(&req, &policy).await?;
    Ok(Some(Response::json(policy.to_json())))
}

async fn configure_key(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.writes.lock().await;
    let mut policy =
        load(&req, req.capture("name")).await?.ok_or_else(|| Error::invalid("key not found"))?;
    let version = |field: &str| -> Result<Option<u32>> {
        if !req.has(field) {
            return Ok(None);
        }
        let value = req.int(field)?;
        u32::try_from(value)
            .map(Some)
            .map_err(|_| Error::invalid(format!("{field} cannot be negative")))
    };
    if let Some(v) = version("min_decryption_version")? {
        if v > policy.latest_version {
            return Err(Error::invalid(format!(
                "cannot set min decryption version of {v}, latest key version is {}",
                policy.latest_version
            )));
        }
        policy.min_decryption_version = v.max(1);
    }
    if let Some(v) = version("min_encryption_version")? {
        if v > policy.latest_version {
            return Err(Error::invalid(format!(
                "cannot set min encryption version of {v}, latest key version is {}",
                policy.latest_version
            )));
        }
        policy.min_encryption_version = v;
    }
    if policy.min_encryption_version > 0
        && policy.min_encryption_version < policy.min_decryption_version
    {
        return Err(Error::invalid(
            "min encryption version should not be less than min decryption version",
        ));
    }
    if req.has("deletion_allowed") {
        policy.deletion_allowed = req.bool("deletion_allowed")?;
    }
    if req.has("exportable") {
        let exportable = req.bool("exportable")?;
        if policy.exportable && !exportable {
            return Err(Error::invalid("export cannot be disabled once enabled"));
        }
        policy.exportable = exportable;
    }
    if req.has("allow_plaintext_backup") {
        let allow = req.bool("allow_plaintext_backup")?;
        if policy.allow_plaintext_backup && !allow {
            return Err(Error::invalid("plaintext backup cannot be disabled once allowed"));
        }
        policy.allow_plaintext_backup = allow;
    }
    if req.has("auto_rotate_period") {
        policy.auto_rotate_period = auto_rotate_period(&req)?;
    }
    save(&req, &policy).await?;
    Ok(Some(Response::json(policy.to_json())))
}
