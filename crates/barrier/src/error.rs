//! The barrier's error enum and its mappings to the storage and request-path errors.

use coffer_storage::StorageError;

/// What can go wrong in the barrier. Messages name storage keys at most, never a value or
/// any key material.
#[derive(Debug, thiserror::Error)]
pub enum BarrierError {
    /// The barrier holds no keys: unseal it first.
    #[error("Vault is sealed")]
    Sealed,
    /// The unseal key is not 32 bytes, or does not decrypt the keyring.
    #[error("invalid unseal key")]
    InvalidKey,
    /// `initialize` ran on a storage that already has a keyring.
    #[error("Vault is already initialized")]
    AlreadyInitialized,
    /// The physical storage has no keyring: run `initialize` first.
    #[error("Vault is not initialized")]
    NotInitialized,
    /// The value at this storage key is not a ciphertext the keyring can open: truncated,
    /// altered, moved from another key, or written under an unknown term.
    #[error("corrupt or undecryptable value at {0:?}")]
    Corrupt(String),
    /// Writes through the barrier may not touch the keyring's own storage key.
    #[error("{0:?} is reserved for the barrier keyring")]
    Reserved(String),
    /// The physical storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The random generator or the cipher failed.
    #[error("cryptographic operation failed")]
    Crypto,
}

impl From<BarrierError> for coffer_types::Error {
    fn from(e: BarrierError) -> Self {
        use coffer_types::Error;
        match e {
            BarrierError::Sealed => Error::Sealed,
            BarrierError::InvalidKey => Error::InvalidRequest(e.to_string()),
            BarrierError::AlreadyInitialized | BarrierError::NotInitialized => {
                Error::InvalidRequest(e.to_string())
            }
            BarrierError::Storage(inner) => inner.into(),
            BarrierError::Corrupt(_) | BarrierError::Reserved(_) | BarrierError::Crypto => {
                Error::Internal(e.to_string())
            }
        }
    }
}

impl From<BarrierError> for StorageError {
    /// Through the [`coffer_storage::Storage`] trait every barrier failure is a backend
    /// failure; callers that must tell "sealed" apart check [`crate::Barrier::check_unsealed`]
    /// (or [`crate::Barrier::is_sealed`]) before touching storage.
    fn from(e: BarrierError) -> Self {
        match e {
            BarrierError::Storage(inner) => inner,
            other => StorageError::Backend(other.to_string()),
        }
    }
}
