//! The KV secrets engine: version 1 (one JSON object per key) and version 2 (versioned, with
//! check-and-set, soft delete, metadata and subkeys), selected by the mount's `options.version`.
#![forbid(unsafe_code)]

mod merge;
mod model;
mod v1;
mod v2_data;
mod v2_metadata;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use coffer_framework::{Backend, BackendConfig, Router};
use coffer_types::{Error, Result};
use serde_json::Value;

/// Number of lock stripes: writes to one key are serialised, different keys rarely contend.
const LOCK_STRIPES: usize = 64;

/// Per-mount state: striped locks that serialise read-modify-write cycles on one key.
pub struct KvState {
    locks: Vec<tokio::sync::Mutex<()>>,
}

impl KvState {
    fn new() -> Self {
        KvState { locks: (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect() }
    }

    /// Locks the stripe of `path`. A tokio mutex is held across the storage calls of one
    /// write on purpose: it orders writers to the same key (versions must not collide) and
    /// is never taken by reads.
    async fn lock(&self, path: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        let index = (h.finish() as usize) % LOCK_STRIPES;
        // `index < LOCK_STRIPES == locks.len()` by construction.
        #[allow(clippy::indexing_slicing)]
        self.locks[index].lock().await
    }
}

/// The KV version a mount's options ask for.
fn version(config: &BackendConfig) -> Result<u8> {
    match config.options.get("version") {
        None | Some(Value::Null) => Ok(1),
        Some(Value::String(s)) if s.is_empty() || s == "1" => Ok(1),
        Some(Value::String(s)) if s == "2" => Ok(2),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(1),
        Some(Value::Number(n)) if n.as_u64() == Some(2) => Ok(2),
        Some(other) => Err(Error::invalid(format!("invalid kv version {other}"))),
    }
}

/// Builds a KV engine for a mount.
pub fn factory(config: BackendConfig) -> Result<Arc<dyn Backend>> {
    let router = Router::new(Arc::new(KvState::new()));
    Ok(match version(&config)? {
        1 => Arc::new(v1::routes(router)),
        _ => Arc::new(v2_metadata::routes(v2_data::routes(router))),
    })
}
