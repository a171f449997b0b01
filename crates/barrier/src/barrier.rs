//! [`Barrier`]: an encrypting [`Storage`] over an untrusted physical storage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use coffer_storage::{SharedStorage, Storage, StorageError, WriteOp};
use zeroize::Zeroizing;

use crate::BarrierError;
use crate::keyring::{self, KEYRING_TERM, Keyring};
use crate::read_cache::{Lookup, ReadCache};

/// The physical storage key of the keyring, sealed with the unseal key. Reserved: the
/// barrier refuses to read, write or delete it through the [`Storage`] trait.
pub const KEYRING_PATH: &str = "core/keyring";

/// The state of the barrier's active encryption key, as `sys/key-status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The active term: new writes are encrypted with its key.
    pub term: u32,
    /// When the active key was installed (whole seconds).
    pub install_time: SystemTime,
    /// Encryptions with the active key since the barrier was unsealed or last rotated.
    /// With random 96-bit nonces a key should be rotated well before 2^32 of them.
    pub encryptions: u64,
}

/// The keys held while unsealed; everything secret in here is wiped when the last
/// reference drops.
struct Unsealed {
    keyring: Keyring,
    /// Kept to re-encrypt the keyring on rotation.
    unseal_key: Zeroizing<Vec<u8>>,
    encryptions: AtomicU64,
    /// Decrypted entries, when the barrier caches reads; kept across rotations.
    cache: Option<Arc<ReadCache>>,
}

/// An encrypting storage: every value is sealed with AES-256-GCM under the keyring's active
/// term, bound to its storage key, before it reaches the physical storage.
///
/// Through the [`Storage`] trait a sealed barrier fails every operation with
/// [`StorageError::Backend`]`("Vault is sealed")`. Code that must answer "sealed" (HTTP 503)
/// rather than "internal error" calls [`Barrier::check_unsealed`] first.
pub struct Barrier {
    physical: SharedStorage,
    /// Bytes of decrypted entries cached while unsealed; 0 for no cache.
    read_cache_bytes: usize,
    /// `None` while sealed. Swapped whole, so no lock is held while doing I/O.
    state: ArcSwapOption<Unsealed>,
    /// Serialises initialize, unseal and rotate, which read-modify-write the keyring.
    admin: tokio::sync::Mutex<()>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier").field("sealed", &self.is_sealed()).finish_non_exhaustive()
    }
}

impl Barrier {
    /// A sealed barrier over `physical`, without a read cache.
    pub fn new(physical: SharedStorage) -> Barrier {
        Self::with_read_cache(physical, 0)
    }

    /// A sealed barrier over `physical` that, while unsealed, caches up to about `bytes` of
    /// decrypted entries (none when 0). The cache is dropped, its values wiped, when the
    /// barrier seals. Only for a physical store that nothing else writes: a write made
    /// behind the barrier's back would not invalidate the cache.
    pub fn with_read_cache(physical: SharedStorage, bytes: usize) -> Barrier {
        Barrier {
            physical,
            read_cache_bytes: bytes,
            state: ArcSwapOption::empty(),
            admin: tokio::sync::Mutex::new(()),
            rng: SystemRandom::new(),
        }
    }

    /// Whether the physical storage holds a keyring.
    pub async fn is_initialized(&self) -> Result<bool, BarrierError> {
        Ok(self.physical.get(KEYRING_PATH).await?.is_some())
    }

    /// Creates the keyring (term 1, a fresh random key) sealed with `unseal_key` (32 bytes).
    /// The barrier stays sealed.
    pub async fn initialize(&self, unseal_key: &[u8]) -> Result<(), BarrierError> {
        let wrap = keyring::aead_key(unseal_key)?;
        let _admin = self.admin.lock().await;
        if self.is_initialized().await? {
            return Err(BarrierError::AlreadyInitialized);
        }
        let ring = Keyring::generate(&self.rng)?;
        let sealed = keyring::seal(&self.rng, &wrap, KEYRING_TERM, KEYRING_PATH, &ring.encode()?)?;
        self.physical.put(KEYRING_PATH, &sealed).await?;
        tracing::info!(term = ring.active_term(), "barrier: initialized the keyring");
        Ok(())
    }

    /// Decrypts the keyring with `unseal_key` and holds its keys. Does nothing when already
    /// unsealed. A key that does not open the keyring is [`BarrierError::InvalidKey`].
    pub async fn unseal(&self, unseal_key: &[u8]) -> Result<(), BarrierError> {
        if !self.is_sealed() {
            return Ok(());
        }
        let wrap = keyring::aead_key(unseal_key)?;
        let _admin = self.admin.lock().await;
        if !self.is_sealed() {
            return Ok(());
        }
        let sealed = self.physical.get(KEYRING_PATH).await?.ok_or(BarrierError::NotInitialized)?;
        if keyring::term_of(&sealed) != Some(KEYRING_TERM) {
            return Err(BarrierError::Corrupt(KEYRING_PATH.to_string()));
        }
        let json = Zeroizing::new(
            keyring::open(&wrap, KEYRING_PATH, &sealed).ok_or(BarrierError::InvalidKey)?,
        );
        let ring = Keyring::decode(&json)?;
        let term = ring.active_term();
        self.state.store(Some(Arc::new(Unsealed {
            keyring: ring,
            unseal_key: Zeroizing::new(unseal_key.to_vec()),
            encryptions: AtomicU64::new(0),
            cache: (self.read_cache_bytes > 0)
                .then(|| Arc::new(ReadCache::new(self.read_cache_bytes))),
        })));
        tracing::info!(term, "barrier: unsealed");
        Ok(())
    }

    /// Drops every key from memory (wiped once in-flight operations finish with them).
    pub fn seal(&self) {
        if self.state.swap(None).is_some() {
            tracing::info!("barrier: sealed");
        }
    }

    /// Whether the barrier holds no keys.
    pub fn is_sealed(&self) -> bool {
        self.state.load().is_none()
    }

    /// [`BarrierError::Sealed`] when sealed: the check the core makes before using storage.
    pub fn check_unsealed(&self) -> Result<(), BarrierError> {
        if self.is_sealed() { Err(BarrierError::Sealed) } else { Ok(()) }
    }

    /// Adds a term with a fresh key and makes it active. The keyring is persisted, sealed
    /// with the unseal key, before any write uses the new term; old terms keep decrypting.
    pub async fn rotate(&self) -> Result<KeyStatus, BarrierError> {
        let _admin = self.admin.lock().await;
        let current = self.unsealed()?;
        let ring = current.keyring.rotated(&self.rng)?;
        let wrap = keyring::aead_key(&current.unseal_key)?;
        let sealed = keyring::seal(&self.rng, &wrap, KEYRING_TERM, KEYRING_PATH, &ring.encode()?)?;
        self.physical.put(KEYRING_PATH, &sealed).await?;
        let next = Arc::new(Unsealed {
            keyring: ring,
            unseal_key: current.unseal_key.clone(),
            encryptions: AtomicU64::new(0),
            cache: current.cache.clone(),
        });
        let status = status_of(&next)?;
        // Install only if nobody sealed meanwhile: a rotation must not unseal the barrier.
        let expected = Some(current.clone());
        let previous = self.state.compare_and_swap(&expected, Some(next));
        if !matches!(&*previous, Some(p) if Arc::ptr_eq(p, &current)) {
            return Err(BarrierError::Sealed);
        }
        tracing::info!(term = status.term, "barrier: rotated the encryption key");
        Ok(status)
    }

    /// Bytes of decrypted entries cached now (0 when sealed or without a cache).
    pub fn cached_bytes(&self) -> usize {
        self.state.load().as_ref().and_then(|s| s.cache.as_ref()).map_or(0, |c| c.cached_bytes())
    }

    /// After a write (whether it succeeded or not: a failed write may still have reached the
    /// store), applies `forget` to the cache of `state`, the state the write started in, and,
    /// should the barrier have been sealed and unsealed meanwhile, to the current one.
    fn after_write(&self, state: &Unsealed, forget: impl Fn(&ReadCache)) {
        if let Some(cache) = &state.cache {
            forget(cache);
        }
        if let Some(current) = self.state.load().as_ref() {
            if let Some(cache) = current.cache.as_ref().filter(|c| !cache_is(&state.cache, c)) {
                forget(cache);
            }
        }
    }

    /// The active term, when it was installed, and how often it has encrypted.
    pub fn key_status(&self) -> Result<KeyStatus, BarrierError> {
        let state = self.unsealed()?;
        status_of(&state)
    }

    fn unsealed(&self) -> Result<Arc<Unsealed>, BarrierError> {
        self.state.load_full().ok_or(BarrierError::Sealed)
    }

    fn encrypt(
        &self,
        state: &Unsealed,
        key: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, BarrierError> {
        let active = state.keyring.active()?;
        let sealed =
            keyring::seal(&self.rng, active.aead(), state.keyring.active_term(), key, plaintext)?;
        state.encryptions.fetch_add(1, Ordering::Relaxed);
        Ok(sealed)
    }

    fn decrypt(state: &Unsealed, key: &str, ciphertext: &[u8]) -> Result<Vec<u8>, BarrierError> {
        let corrupt = || BarrierError::Corrupt(key.to_string());
        let term = keyring::term_of(ciphertext).ok_or_else(corrupt)?;
        let term_key = state.keyring.term(term).ok_or_else(|| {
            tracing::warn!(key, term, "barrier: value written under an unknown term");
            corrupt()
        })?;
        keyring::open(term_key.aead(), key, ciphertext).ok_or_else(corrupt)
    }
}

fn status_of(state: &Unsealed) -> Result<KeyStatus, BarrierError> {
    Ok(KeyStatus {
        term: state.keyring.active_term(),
        install_time: state.keyring.active()?.install_time(),
        encryptions: state.encryptions.load(Ordering::Relaxed),
    })
}

fn cache_is(cache: &Option<Arc<ReadCache>>, other: &Arc<ReadCache>) -> bool {
    cache.as_ref().is_some_and(|c| Arc::ptr_eq(c, other))
}

fn check_not_reserved(key: &str) -> Result<(), BarrierError> {
    if key == KEYRING_PATH { Err(BarrierError::Reserved(key.to_string())) } else { Ok(()) }
}

#[async_trait]
impl Storage for Barrier {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let state = self.unsealed()?;
        check_not_reserved(key)?;
        let ticket = match state.cache.as_ref().map(|c| c.lookup(key)) {
            Some(Lookup::Hit(value)) => return Ok(value),
            Some(Lookup::Miss(ticket)) => Some(ticket),
            None => None,
        };
        let value = match self.physical.get(key).await? {
            None => None,
            Some(ciphertext) => Some(Self::decrypt(&state, key, &ciphertext)?),
        };
        if let (Some(cache), Some(ticket)) = (&state.cache, ticket) {
            cache.fill(ticket, key, value.as_deref());
        }
        Ok(value)
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let state = self.unsealed()?;
        check_not_reserved(key)?;
        let sealed = self.encrypt(&state, key, value)?;
        let outcome = self.physical.put(key, &sealed).await;
        self.after_write(&state, |cache| cache.invalidate([key]));
        outcome
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let state = self.unsealed()?;
        check_not_reserved(key)?;
        let outcome = self.physical.delete(key).await;
        self.after_write(&state, |cache| cache.invalidate([key]));
        outcome
    }

    async fn batch(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        let state = self.unsealed()?;
        // The keys to invalidate afterwards; none to keep when the barrier has no cache.
        let keys: Vec<String> = if self.read_cache_bytes == 0 {
            Vec::new()
        } else {
            ops.iter()
                .map(|op| match op {
                    WriteOp::Put { key, .. } | WriteOp::Delete { key } => key.clone(),
                })
                .collect()
        };
        let mut sealed = Vec::with_capacity(ops.len());
        for op in ops {
            sealed.push(match op {
                WriteOp::Put { key, value } => {
                    check_not_reserved(&key)?;
                    let value = Zeroizing::new(value);
                    let ciphertext = self.encrypt(&state, &key, &value)?;
                    WriteOp::Put { key, value: ciphertext }
                }
                WriteOp::Delete { key } => {
                    check_not_reserved(&key)?;
                    WriteOp::Delete { key }
                }
            });
        }
        let outcome = self.physical.batch(sealed).await;
        self.after_write(&state, |cache| cache.invalidate(keys.iter().map(String::as_str)));
        outcome
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<String>, StorageError> {
        self.unsealed()?;
        self.physical.list_page(prefix, after, limit).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        let state = self.unsealed()?;
        // A range covering the keyring would destroy every key at once: refuse it.
        if KEYRING_PATH.starts_with(prefix) {
            return Err(BarrierError::Reserved(KEYRING_PATH.to_string()).into());
        }
        let outcome = self.physical.delete_prefix(prefix).await;
        self.after_write(&state, |cache| cache.invalidate_prefix(prefix));
        outcome
    }
}
