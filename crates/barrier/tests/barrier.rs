//! Black-box tests of the barrier over a plain in-memory map, inspecting the physical bytes.
//!
//! Contents: lifecycle (init, unseal, seal), confidentiality (no plaintext in storage),
//! integrity (AAD binding, tampering, unknown terms), rotation, the error mappings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coffer_barrier::{Barrier, BarrierError, KEYRING_PATH};
use coffer_storage::{SharedStorage, Storage, StorageError, WriteOp, child_of};

/// A minimal physical storage, so these tests do not depend on any backend crate.
#[derive(Default)]
struct MapStorage(Mutex<BTreeMap<String, Vec<u8>>>);

#[async_trait]
impl Storage for MapStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }

    async fn batch(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        let mut map = self.0.lock().unwrap();
        for op in ops {
            match op {
                WriteOp::Put { key, value } => {
                    map.insert(key, value);
                }
                WriteOp::Delete { key } => {
                    map.remove(&key);
                }
            }
        }
        Ok(())
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<String>, StorageError> {
        let map = self.0.lock().unwrap();
        let mut out: Vec<String> = map
            .keys()
            .filter(|k| k.starts_with(prefix))
            .filter_map(|k| child_of(prefix, k))
            .filter(|c| after.is_none_or(|a| c.as_str() > a))
            .collect();
        out.dedup();
        out.truncate(limit.unwrap_or(usize::MAX));
        Ok(out)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        self.0.lock().unwrap().retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }
}

const KEY: [u8; 32] = [0x42; 32];

async fn setup() -> (Arc<MapStorage>, Barrier) {
    let physical = Arc::new(MapStorage::default());
    let barrier = Barrier::new(physical.clone() as SharedStorage);
    barrier.initialize(&KEY).await.unwrap();
    barrier.unseal(&KEY).await.unwrap();
    (physical, barrier)
}

fn raw(physical: &MapStorage, key: &str) -> Vec<u8> {
    physical.0.lock().unwrap().get(key).cloned().unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// --- lifecycle -------------------------------------------------------------------------

#[tokio::test]
async fn initialize_then_unseal_roundtrips() {
    let physical = Arc::new(MapStorage::default());
    let barrier = Barrier::new(physical.clone() as SharedStorage);
    assert!(!barrier.is_initialized().await.unwrap());
    assert!(matches!(barrier.unseal(&KEY).await, Err(BarrierError::NotInitialized)));
    barrier.initialize(&KEY).await.unwrap();
    assert!(barrier.is_initialized().await.unwrap());
    assert!(barrier.is_sealed(), "initialize does not unseal");
    assert!(matches!(barrier.initialize(&KEY).await, Err(BarrierError::AlreadyInitialized)));

    barrier.unseal(&KEY).await.unwrap();
    assert!(!barrier.is_sealed());
    barrier.put("secret/a", b"value-a").await.unwrap();
    assert_eq!(barrier.get("secret/a").await.unwrap().unwrap(), b"value-a");
    assert_eq!(barrier.get("secret/missing").await.unwrap(), None);

    // A second barrier over the same storage (a restart) reads it back.
    let restarted = Barrier::new(physical as SharedStorage);
    restarted.unseal(&KEY).await.unwrap();
    assert_eq!(restarted.get("secret/a").await.unwrap().unwrap(), b"value-a");
}

#[tokio::test]
async fn wrong_unseal_key_fails() {
    let (physical, barrier) = setup().await;
    let fresh = Barrier::new(physical as SharedStorage);
    let mut wrong = KEY;
    wrong[31] ^= 1;
    assert!(matches!(fresh.unseal(&wrong).await, Err(BarrierError::InvalidKey)));
    assert!(matches!(fresh.unseal(&KEY[..16]).await, Err(BarrierError::InvalidKey)));
    assert!(fresh.is_sealed());
    assert!(matches!(barrier.initialize(&KEY[..31]).await, Err(BarrierError::InvalidKey)));
}

#[tokio::test]
async fn sealed_barrier_refuses_everything() {
    let (_physical, barrier) = setup().await;
    barrier.put("a", b"1").await.unwrap();
    barrier.seal();
    assert!(barrier.is_sealed());
    assert!(matches!(barrier.check_unsealed(), Err(BarrierError::Sealed)));
    assert!(matches!(barrier.key_status(), Err(BarrierError::Sealed)));
    assert!(matches!(barrier.rotate().await, Err(BarrierError::Sealed)));
    let sealed = |r: Result<(), StorageError>| {
        assert!(matches!(r, Err(StorageError::Backend(m)) if m == "Vault is sealed"));
    };
    sealed(barrier.get("a").await.map(|_| ()));
    sealed(barrier.put("a", b"2").await);
    sealed(barrier.delete("a").await);
    sealed(barrier.batch(vec![WriteOp::Delete { key: "a".into() }]).await);
    sealed(barrier.list("").await.map(|_| ()));
    sealed(barrier.list_page("", None, Some(1)).await.map(|_| ()));
    sealed(barrier.delete_prefix("a").await);
    barrier.seal(); // idempotent

    barrier.unseal(&KEY).await.unwrap();
    assert_eq!(barrier.get("a").await.unwrap().unwrap(), b"1");
}

// --- confidentiality and integrity ----------------------------------------------------

#[tokio::test]
async fn plaintext_never_reaches_physical_storage() {
    let (physical, barrier) = setup().await;
    let secret = b"correct horse battery staple";
    barrier.put("kv/one", secret).await.unwrap();
    barrier
        .batch(vec![WriteOp::Put { key: "kv/two".into(), value: secret.to_vec() }])
        .await
        .unwrap();
    for (_, bytes) in physical.0.lock().unwrap().iter() {
        assert!(!contains(bytes, secret));
        assert!(!contains(bytes, &KEY));
        assert!(!contains(bytes, b"active_term"), "the keyring is stored encrypted");
    }
    // Two writes of the same value differ (random nonces).
    assert_ne!(raw(&physical, "kv/one"), raw(&physical, "kv/two"));
    // Layout: term 1, version 1, nonce, ciphertext + tag.
    let one = raw(&physical, "kv/one");
    assert_eq!(&one[..5], &[0, 0, 0, 1, 1]);
    assert_eq!(one.len(), 4 + 1 + 12 + secret.len() + 16);
}

#[tokio::test]
async fn a_value_moved_to_another_key_does_not_decrypt() {
    let (physical, barrier) = setup().await;
    barrier.put("secret/a", b"for a only").await.unwrap();
    let bytes = raw(&physical, "secret/a");
    physical.put("secret/b", &bytes).await.unwrap();
    let err = barrier.get("secret/b").await.unwrap_err();
    assert!(matches!(&err, StorageError::Backend(m) if m.contains("secret/b")));
    assert!(!err.to_string().contains("for a only"));
    assert_eq!(barrier.get("secret/a").await.unwrap().unwrap(), b"for a only");
}

#[tokio::test]
async fn corrupt_values_are_errors_not_panics() {
    let (physical, barrier) = setup().await;
    barrier.put("x", b"some value").await.unwrap();
    let good = raw(&physical, "x");
    let mut cases: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
    for i in 0..good.len() {
        let mut flipped = good.clone();
        flipped[i] ^= 0x80;
        cases.push(flipped);
    }
    let mut unknown_term = good.clone();
    unknown_term[..4].copy_from_slice(&99u32.to_be_bytes());
    cases.push(unknown_term);
    for case in cases {
        physical.put("x", &case).await.unwrap();
        assert!(barrier.get("x").await.is_err());
    }
}

#[tokio::test]
async fn the_keyring_key_is_reserved() {
    let (physical, barrier) = setup().await;
    let before = raw(&physical, KEYRING_PATH);
    assert!(barrier.get(KEYRING_PATH).await.is_err());
    assert!(barrier.put(KEYRING_PATH, b"x").await.is_err());
    assert!(barrier.delete(KEYRING_PATH).await.is_err());
    assert!(barrier.batch(vec![WriteOp::Delete { key: KEYRING_PATH.into() }]).await.is_err());
    for prefix in ["", "core", "core/", "core/key"] {
        assert!(barrier.delete_prefix(prefix).await.is_err(), "{prefix:?}");
    }
    barrier.delete_prefix("core/other/").await.unwrap();
    assert_eq!(raw(&physical, KEYRING_PATH), before);
}

// --- rotation -------------------------------------------------------------------------

#[tokio::test]
async fn rotation_keeps_old_values_readable_and_writes_the_new_term() {
    let (physical, barrier) = setup().await;
    let status = barrier.key_status().unwrap();
    assert_eq!(status.term, 1);
    assert_eq!(status.encryptions, 0);
    barrier.put("old", b"written under term 1").await.unwrap();
    barrier.put("old2", b"also term 1").await.unwrap();
    assert_eq!(barrier.key_status().unwrap().encryptions, 2);

    let rotated = barrier.rotate().await.unwrap();
    assert_eq!(rotated.term, 2);
    assert_eq!(rotated.encryptions, 0);
    assert!(rotated.install_time >= status.install_time);
    barrier.put("new", b"written under term 2").await.unwrap();
    assert_eq!(&raw(&physical, "old")[..4], &1u32.to_be_bytes());
    assert_eq!(&raw(&physical, "new")[..4], &2u32.to_be_bytes());
    assert_eq!(barrier.get("old").await.unwrap().unwrap(), b"written under term 1");
    assert_eq!(barrier.get("new").await.unwrap().unwrap(), b"written under term 2");
    assert_eq!(barrier.key_status().unwrap().encryptions, 1);

    // The rotated keyring was persisted: after a restart both terms still decrypt.
    assert_eq!(barrier.rotate().await.unwrap().term, 3);
    let restarted = Barrier::new(physical.clone() as SharedStorage);
    restarted.unseal(&KEY).await.unwrap();
    assert_eq!(restarted.key_status().unwrap().term, 3);
    assert_eq!(restarted.get("old").await.unwrap().unwrap(), b"written under term 1");
    assert_eq!(restarted.get("new").await.unwrap().unwrap(), b"written under term 2");
}

#[tokio::test]
async fn concurrent_rotations_lose_no_term() {
    let (physical, barrier) = setup().await;
    let barrier = Arc::new(barrier);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let b = barrier.clone();
        tasks.push(tokio::spawn(async move {
            b.rotate().await.unwrap();
            b.put(&format!("k{i}"), format!("v{i}").as_bytes()).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(barrier.key_status().unwrap().term, 9);
    let restarted = Barrier::new(physical as SharedStorage);
    restarted.unseal(&KEY).await.unwrap();
    for i in 0..8 {
        let v = restarted.get(&format!("k{i}")).await.unwrap().unwrap();
        assert_eq!(v, format!("v{i}").as_bytes());
    }
}

// --- passthrough and errors -----------------------------------------------------------

#[tokio::test]
async fn listing_and_deletes_pass_through() {
    let (_physical, barrier) = setup().await;
    for k in ["a/1", "a/2", "a/b/3", "c"] {
        barrier.put(k, k.as_bytes()).await.unwrap();
    }
    assert_eq!(barrier.list("a/").await.unwrap(), vec!["1", "2", "b/"]);
    barrier.delete("a/1").await.unwrap();
    barrier.delete_prefix("a/b/").await.unwrap();
    assert_eq!(barrier.list("a/").await.unwrap(), vec!["2"]);
    barrier
        .batch(vec![
            WriteOp::Put { key: "d".into(), value: b"dv".to_vec() },
            WriteOp::Delete { key: "c".into() },
        ])
        .await
        .unwrap();
    assert_eq!(barrier.get("c").await.unwrap(), None);
    assert_eq!(barrier.get("d").await.unwrap().unwrap(), b"dv");
}

#[test]
fn errors_map_to_the_request_path() {
    use coffer_types::Error;
    assert_eq!(Error::from(BarrierError::Sealed), Error::Sealed);
    assert_eq!(Error::from(BarrierError::Sealed).status(), 503);
    assert_eq!(Error::from(BarrierError::InvalidKey).status(), 400);
    assert_eq!(Error::from(BarrierError::Corrupt("k".into())).status(), 500);
    assert_eq!(Error::from(BarrierError::Crypto).status(), 500);
}
