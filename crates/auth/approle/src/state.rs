//! Per-mount state: the salt that keys every stored hash, the striped locks that serialise
//! the read-modify-write of one secret ID, and the lock that orders role writes.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::AtomicBool;

use aws_lc_rs::hmac;
use coffer_storage::SharedStorage;
use coffer_types::{Error, Result, random_bytes};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, MutexGuard, OnceCell};

/// Number of lock stripes for secret IDs: uses of one secret ID are serialised, different
/// secret IDs rarely contend.
const LOCK_STRIPES: usize = 64;

/// Storage key of the mount's salt.
const SALT_KEY: &str = "salt";

/// The mount's HMAC key. Secret IDs and role IDs are stored only as HMAC-SHA256 under it, so
/// a copy of the storage does not reveal them.
pub(crate) struct Salt {
    key: hmac::Key,
}

#[derive(Serialize, Deserialize)]
struct StoredSalt {
    salt: String,
}

impl Salt {
    /// Loads the mount's salt, creating it on first use.
    async fn load_or_create(storage: &SharedStorage) -> Result<Salt> {
        let bytes = match coffer_framework::read_json::<StoredSalt>(storage, SALT_KEY).await? {
            Some(stored) => {
                hex::decode(stored.salt).map_err(|_| Error::internal("corrupt approle salt"))?
            }
            None => {
                let bytes = random_bytes(32);
                let stored = StoredSalt { salt: hex::encode(&bytes) };
                let json =
                    serde_json::to_vec(&stored).map_err(|e| Error::internal(e.to_string()))?;
                storage.put(SALT_KEY, &json).await?;
                bytes
            }
        };
        Ok(Salt { key: hmac::Key::new(hmac::HMAC_SHA256, &bytes) })
    }

    /// The hex HMAC of `value` in the domain `domain` (`secret_id`, `role_id`): the same value
    /// hashes differently per domain.
    pub(crate) fn hash(&self, domain: &str, value: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        hex::encode(ctx.sign().as_ref())
    }
}

/// Compares two hashes in constant time.
pub(crate) fn hashes_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The state shared by the routes of one AppRole mount.
pub struct AppRoleState {
    salt: OnceCell<Salt>,
    locks: Vec<Mutex<()>>,
    /// Orders role writes (role ID uniqueness, delete vs update). Role writes are rare.
    pub(crate) roles: Mutex<()>,
    /// Set while a tidy runs, so that two do not overlap.
    pub(crate) tidy_running: AtomicBool,
}

impl AppRoleState {
    pub(crate) fn new() -> Self {
        AppRoleState {
            salt: OnceCell::new(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            roles: Mutex::new(()),
            tidy_running: AtomicBool::new(false),
        }
    }

    /// The mount's salt, loaded (or created) once.
    pub(crate) async fn salt(&self, storage: &SharedStorage) -> Result<&Salt> {
        self.salt.get_or_try_init(|| Salt::load_or_create(storage)).await
    }

    /// Locks the stripe of a secret ID hash. A tokio mutex is held across the storage calls
    /// of one use on purpose: two logins must not both spend the last use.
    pub(crate) async fn lock(&self, hash: &str) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        hash.hash(&mut h);
        let index = (h.finish() as usize) % LOCK_STRIPES;
        // `index < LOCK_STRIPES == locks.len()` by construction.
        #[allow(clippy::indexing_slicing)]
        self.locks[index].lock().await
    }
}
