//! The barrier: everything Coffer stores passes through it and reaches the physical storage
//! encrypted, so the storage (a SQLite file, a PostgreSQL server, a backup) is never trusted
//! with a secret.
//!
//! # The key chain
//!
//! ```text
//! key shares ──shamir::combine──▶ unseal key (32 bytes, only ever in memory)
//!                                     │ AES-256-GCM, AAD "core/keyring", term 0
//!                                     ▼
//!                           keyring at core/keyring: { term → data key }, active term
//!                                     │ AES-256-GCM, AAD = the storage key
//!                                     ▼
//!                                   data
//! ```
//!
//! 1. At `sys/init` the core draws a random 32-byte *unseal key*, hands out
//!    [`shamir::split`] shares of it (byte-compatible with Vault's), and calls
//!    [`Barrier::initialize`], which creates the *keyring* with term 1 and stores it sealed
//!    with the unseal key at [`KEYRING_PATH`]. No key is written anywhere in clear.
//! 2. At `sys/unseal` the core [`shamir::combine`]s enough shares and calls
//!    [`Barrier::unseal`]. A wrong key fails the keyring's authentication tag
//!    ([`BarrierError::InvalidKey`]). The decrypted keyring stays in memory, in zeroizing
//!    buffers, until [`Barrier::seal`].
//! 3. Every value is written as `term (u32 BE) | version 1 | nonce (12) | ciphertext | tag`,
//!    encrypted with the active term's key and bound to its storage key as associated data:
//!    a value copied to another key does not decrypt.
//! 4. [`Barrier::rotate`] adds a term and makes it active; the older terms stay in the
//!    keyring so that existing values keep decrypting. [`Barrier::key_status`] counts the
//!    encryptions under the active term so the core can rotate before random nonces
//!    become a risk.
//!
//! # The read cache
//!
//! [`Barrier::with_read_cache`] keeps decrypted entries, with the keys absent from the store,
//! in a bounded cache while unsealed: a hit costs neither a store read nor a decryption.
//! Writes invalidate their keys; sealing drops the cache and wipes its values.
//!
//! # Sealed
//!
//! [`Barrier`] implements [`coffer_storage::Storage`], whose error type cannot say
//! "sealed": when sealed every operation fails with `StorageError::Backend("Vault is
//! sealed")`. Code that must answer with the sealed status (HTTP 503) calls
//! [`Barrier::check_unsealed`] before touching storage; [`BarrierError`] converts into
//! [`coffer_types::Error::Sealed`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod barrier;
mod error;
mod keyring;
mod read_cache;

pub mod shamir;

pub use barrier::{Barrier, KEYRING_PATH, KeyStatus};
pub use error::BarrierError;
pub use keyring::KEY_LEN;
