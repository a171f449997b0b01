//! The core of Coffer: the seal state machine, the mount table and router, the token store,
//! and the request pipeline, read top to bottom in [`Core::handle`]:
//!
//! resolve the mount → authenticate the token → authorize (ACL) → dispatch to the engine →
//! map empty answers to Vault's statuses.
//!
//! The core never names an engine: the server hands it a [`Registry`] of factories.
#![forbid(unsafe_code)]

mod acl;
mod audit;
mod cidr;
mod cubbyhole;
mod expiry;
mod identity;
mod leases;
mod lifecycle;
mod login;
mod mount_ops;
mod mounts;
mod pipeline;
mod policy_store;
mod seal;
mod sys;
mod token;
mod wrapping;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use arc_swap::{ArcSwap, ArcSwapOption};
use coffer_barrier::Barrier;
use coffer_framework::{Backend, Factory};
use coffer_storage::SharedStorage;

pub use identity::{Alias, Entity, IdentityStore};
pub use leases::{LeaseEntry, LeaseStore, LeaseWalk};
pub use mounts::{
    MountConfig, MountEntry, MountTable, Mounted, SYSTEM_DEFAULT_TTL, SYSTEM_MAX_TTL,
};
pub use policy_store::{PolicyStore, StoredPolicy};
pub use seal::{InitResult, SealStatus};
pub use token::{CreateParams, TokenEntry, TokenStore};

/// Engine factories by type name (`"kv" -> coffer_kv::factory`).
#[derive(Clone, Default)]
pub struct Registry {
    secrets: HashMap<String, Factory>,
    auth: HashMap<String, Factory>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers a secrets engine type (builder style).
    pub fn secrets(mut self, engine_type: &str, factory: Factory) -> Self {
        self.secrets.insert(engine_type.to_string(), factory);
        self
    }

    /// Registers an auth method type (builder style).
    pub fn auth(mut self, method_type: &str, factory: Factory) -> Self {
        self.auth.insert(method_type.to_string(), factory);
        self
    }

    fn secrets_factory(&self, engine_type: &str) -> Option<Factory> {
        self.secrets.get(engine_type).copied()
    }

    fn auth_factory(&self, method_type: &str) -> Option<Factory> {
        self.auth.get(method_type).copied()
    }

    /// The registered secrets engine types, sorted.
    pub fn secrets_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.secrets.keys().cloned().collect();
        types.sort();
        types
    }

    /// The registered auth method types, sorted.
    pub fn auth_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.auth.keys().cloned().collect();
        types.sort();
        types
    }
}

/// Static facts the core reports about itself.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// The storage type shown by `sys/seal-status` (`inmem`, `embedded`, `postgresql`).
    pub storage_type: String,
    /// Bytes of decrypted entries the barrier caches while unsealed (0: none). Only for a
    /// physical store this core alone writes.
    pub read_cache_bytes: usize,
}

impl CoreConfig {
    /// Memory for the barrier's read cache by default.
    pub const DEFAULT_READ_CACHE_BYTES: usize = 16 << 20;

    /// The configuration for a store of type `storage_type` that this core alone writes.
    pub fn new(storage_type: impl Into<String>) -> Self {
        CoreConfig {
            storage_type: storage_type.into(),
            read_cache_bytes: Self::DEFAULT_READ_CACHE_BYTES,
        }
    }
}

/// What exists only while unsealed.
struct Active {
    mounts: ArcSwap<MountTable>,
    tokens: TokenStore,
    policies: policy_store::PolicyStore,
    identity: identity::IdentityStore,
    leases: leases::LeaseStore,
    audit: Arc<coffer_audit::AuditBroker>,
    cluster_name: String,
    cluster_id: String,
    /// Serialises mount table changes (enable, disable, tune); never taken by requests.
    mount_lock: tokio::sync::Mutex<()>,
}

/// The core: one per server.
pub struct Core {
    physical: SharedStorage,
    barrier: Arc<Barrier>,
    registry: Registry,
    config: CoreConfig,
    active: ArcSwapOption<Active>,
    unseal_progress: std::sync::Mutex<seal::UnsealProgress>,
    /// Serialises init, unseal and seal; never taken by ordinary requests.
    lifecycle: tokio::sync::Mutex<()>,
    sys_backend: Arc<dyn Backend>,
    token_backend: Arc<dyn Backend>,
    identity_backend: Arc<dyn Backend>,
    cubbyhole_backend: Arc<dyn Backend>,
    /// A weak handle on itself, for background tasks.
    me: Weak<Core>,
    /// Audit devices declared in the server configuration, enabled at every unseal.
    declared_audit: std::sync::Mutex<Vec<coffer_audit::DeviceInfo>>,
    /// When this core started (`sys/version-history` reports it as the install time).
    started_at: std::time::SystemTime,
}

impl Core {
    /// A sealed core over `physical` storage.
    pub fn new(physical: SharedStorage, registry: Registry, config: CoreConfig) -> Arc<Core> {
        Arc::new_cyclic(|weak: &Weak<Core>| Core {
            barrier: Arc::new(Barrier::with_read_cache(physical.clone(), config.read_cache_bytes)),
            physical,
            registry,
            config,
            active: ArcSwapOption::empty(),
            unseal_progress: std::sync::Mutex::new(seal::UnsealProgress::default()),
            lifecycle: tokio::sync::Mutex::new(()),
            sys_backend: sys::backend(weak.clone()),
            token_backend: token::backend(weak.clone()),
            identity_backend: identity::backend(weak.clone()),
            cubbyhole_backend: cubbyhole::backend(weak.clone()),
            me: weak.clone(),
            declared_audit: std::sync::Mutex::new(Vec::new()),
            started_at: std::time::SystemTime::now(),
        })
    }

    /// The engines and auth methods this core can mount.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// When this core started.
    pub fn started_at(&self) -> std::time::SystemTime {
        self.started_at
    }

    /// Declares audit devices from the server configuration; they are enabled at every
    /// unseal (their salts are persisted the first time).
    pub fn declare_audit_devices(&self, devices: Vec<coffer_audit::DeviceInfo>) {
        if let Ok(mut declared) = self.declared_audit.lock() {
            *declared = devices;
        }
    }

    /// Whether the core is sealed.
    pub fn is_sealed(&self) -> bool {
        self.active.load().is_none()
    }
}
