//! The trait between the core and an engine, and the factory that builds an engine per mount.

use std::sync::Arc;

use async_trait::async_trait;
use coffer_storage::SharedStorage;
use coffer_types::{Map, Response, Result};

use crate::BackendRequest;

/// Paths of a backend that need special treatment by the core.
#[derive(Debug, Clone, Default)]
pub struct SpecialPaths {
    /// Paths served without a token (login). A trailing `*` matches a prefix.
    pub unauthenticated: Vec<String>,
    /// Paths that need the `sudo` capability. A trailing `*` matches a prefix.
    pub sudo: Vec<String>,
}

impl SpecialPaths {
    /// Whether `path` matches one of `patterns` (exact, or prefix when the pattern ends in `*`).
    pub fn matches(patterns: &[String], path: &str) -> bool {
        patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => p == path,
        })
    }
}

/// An engine mounted at a path: secrets engines and auth methods alike.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Serves one request. `Ok(None)` is an empty answer (204, or 404 for a read).
    async fn handle(&self, req: BackendRequest) -> Result<Option<Response>>;

    /// Whether the item a write targets exists (`Some`), or `None` when the path is not
    /// create-aware. The core uses it to pick the `create` or `update` capability.
    async fn exists(&self, _req: &BackendRequest) -> Result<Option<bool>> {
        Ok(None)
    }

    /// Paths served without a token or needing `sudo`.
    fn special_paths(&self) -> SpecialPaths {
        SpecialPaths::default()
    }
}

/// What a factory gets to build a backend for one mount.
#[derive(Clone)]
pub struct BackendConfig {
    /// The mount path, with its trailing `/` (`secret/`).
    pub mount_path: String,
    /// The engine type as given at enable time (`kv`).
    pub engine_type: String,
    /// The mount's `options` (`{"version":"2"}` for KV v2).
    pub options: Map,
    /// The mount's storage view.
    pub storage: SharedStorage,
}

/// Builds a backend for a mount.
pub type Factory = fn(BackendConfig) -> Result<Arc<dyn Backend>>;
