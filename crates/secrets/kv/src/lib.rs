//! The KV secrets engine, in both of its versions, selected by the mount's `options.version`:
//!
//! - **v1** (`v1`): one JSON object per key, stored as written, read back verbatim with a
//!   `lease_duration` refresh hint.
//! - **v2**: versioned secrets with check-and-set, soft delete, undelete, destroy, per-key
//!   metadata and subkeys. Routes, one file per path group: `config` (`path_config`),
//!   `data/` (`path_data`), `delete/`, `undelete/`, `destroy/` (`path_versions`),
//!   `metadata/` (`path_metadata`) and `subkeys/` (`path_subkeys`); the persisted model is
//!   in `store`. Any other path answers 404 with a warning that points to the versioned API.
//!
//! Writes to one key are serialised by a striped lock (see `KvState`); each change of a key
//! is one atomic storage batch, so metadata and version data never disagree. A v1 mount tuned
//! to version 2 is upgraded in place when its v2 engine starts (`upgrade`).
#![forbid(unsafe_code)]

mod merge;
mod path_config;
mod path_data;
mod path_metadata;
mod path_subkeys;
mod path_versions;
mod store;
mod upgrade;
mod v1;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, Path, Req, Router};
use coffer_types::{Error, Operation, Response, Result};
use serde_json::Value;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Number of lock stripes: writers of one key are serialised, different keys rarely contend.
const LOCK_STRIPES: usize = 64;

/// Per-mount state of the engine: the striped per-key locks.
///
/// A write of KV v2 is a read-modify-write of the key's metadata (next version number,
/// check-and-set, pruning) followed by one storage batch. Two writers of the same key must not
/// both read version N and both write N+1, so the whole cycle runs under the key's stripe.
/// The lock is held across the storage `.await`s on purpose, which is why it is a tokio lock
/// and not a `std` one: waiting yields the worker instead of blocking it, and the guard is
/// `Send`. Reads of data take the stripe shared, so they never see metadata that promises a
/// version whose data a concurrent destroy has just removed. There is no global lock: keys on
/// different stripes proceed in parallel.
pub(crate) struct KvState {
    stripes: Vec<RwLock<()>>,
}

impl KvState {
    fn new() -> Self {
        KvState { stripes: (0..LOCK_STRIPES).map(|_| RwLock::new(())).collect() }
    }

    fn stripe(&self, key: &str) -> Result<&RwLock<()>> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % LOCK_STRIPES as u64).unwrap_or(0);
        self.stripes.get(index).ok_or_else(|| Error::internal("kv lock stripe out of range"))
    }

    /// Takes the stripe of `key` exclusively, for a read-modify-write of the key.
    pub(crate) async fn write_lock(&self, key: &str) -> Result<RwLockWriteGuard<'_, ()>> {
        Ok(self.stripe(key)?.write().await)
    }

    /// Takes the stripe of `key` shared, for a read of metadata and then version data.
    pub(crate) async fn read_lock(&self, key: &str) -> Result<RwLockReadGuard<'_, ()>> {
        Ok(self.stripe(key)?.read().await)
    }
}

/// The key a write targets: the `path` capture, which must not be empty or end in `/`.
pub(crate) fn write_key(req: &Req) -> Result<String> {
    let key = req.capture("path");
    if key.is_empty() || key.ends_with('/') {
        return Err(Error::invalid("cannot write to a path ending in '/'"));
    }
    Ok(key.to_string())
}

/// The KV version a mount's options ask for.
fn version(config: &BackendConfig) -> Result<u8> {
    match config.options.get("version") {
        None | Some(Value::Null) => Ok(1),
        Some(Value::String(s)) if s.is_empty() || s == "1" => Ok(1),
        Some(Value::String(s)) if s == "2" => Ok(2),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(1),
        Some(Value::Number(n)) if n.as_u64() == Some(2) => Ok(2),
        Some(other) => Err(Error::invalid(format!("invalid kv version: {other}"))),
    }
}

/// Builds the KV engine for a mount: v1 unless `options.version` is `"2"` or `2`.
pub fn factory(config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let router = Router::new(Arc::new(KvState::new()));
    Ok(match version(&config)? {
        1 => Arc::new(router.path(v1::path())),
        _ => Arc::new(
            router
                .on_initialize(move |_| upgrade::from_v1(config.storage.clone()))
                .path(path_config::path())
                .path(path_data::path())
                .path(path_versions::delete_path())
                .path(path_versions::undelete_path())
                .path(path_versions::destroy_path())
                .path(path_metadata::path())
                .path(path_subkeys::path())
                .path(invalid_path()),
        ),
    })
}

/// Everything outside the versioned API of a v2 mount (`GET kv2/foo`).
fn invalid_path() -> Path<KvState> {
    Path::new("{path*}")
        .open_fields()
        .read(answer_invalid_path)
        .write(answer_invalid_path)
        .patch(answer_invalid_path)
        .delete(answer_invalid_path)
        .list(answer_invalid_path)
}

/// The bare names of the versioned path groups: `GET kv2/data` is an operation "on the root".
const ROOTS: [&str; 5] = ["data", "metadata", "delete", "undelete", "destroy"];

/// A 404 whose envelope carries `data: null` and a warning naming the CLI command to use.
async fn answer_invalid_path(_state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    if req.operation() != Operation::List && ROOTS.contains(&req.capture("path")) {
        let warning = "Non-listing operations on the root of a K/V v2 mount are not supported.";
        let mut response = Response::default().with_warning(warning);
        response.status = Some(404);
        return Ok(Some(response));
    }
    let command = match req.operation() {
        Operation::Read => "get",
        Operation::List => "list",
        Operation::Create | Operation::Update => "put",
        Operation::Patch => "patch",
        Operation::Delete => "delete",
    };
    let warning = format!(
        "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate \
         API endpoints to use. If using the Vault CLI, use 'vault kv {command}' for this \
         operation."
    );
    let mut response = Response::default().with_warning(warning);
    response.status = Some(404);
    Ok(Some(response))
}
