//! The seal state machine: `init` splits a fresh unseal key with Shamir, `unseal` collects
//! shares until the threshold, `seal` drops every key from memory.

use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine as _;
use coffer_barrier::shamir;
use coffer_storage::{Storage, View};
use coffer_types::{Error, Result, SecretString, new_uuid, random_bytes};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::token::TokenStore;
use crate::{Active, Core};

/// The date `sys/seal-status` reports for this build.
pub(crate) const BUILD_DATE: &str = "2026-11-28T00:00:00Z";

const SEAL_CONFIG_KEY: &str = "core/seal-config";
const CLUSTER_KEY: &str = "core/cluster";

/// The persisted seal configuration (kept outside the barrier: it is needed to unseal).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SealConfig {
    pub secret_shares: usize,
    pub secret_threshold: usize,
}

#[derive(Serialize, Deserialize)]
struct ClusterInfo {
    name: String,
    id: String,
}

/// Shares collected so far towards the threshold.
#[derive(Default)]
pub(crate) struct UnsealProgress {
    shares: Vec<Zeroizing<Vec<u8>>>,
    nonce: String,
}

/// What `sys/init` returns. The keys and root token are secrets shown exactly once.
pub struct InitResult {
    /// The unseal key shares.
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    /// The initial root token.
    pub root_token: SecretString,
}

/// The state reported by `sys/seal-status` and `sys/unseal`.
#[derive(Debug, Clone, Serialize)]
pub struct SealStatus {
    /// Always `shamir`.
    #[serde(rename = "type")]
    pub seal_type: &'static str,
    /// Whether `sys/init` has run.
    pub initialized: bool,
    /// Whether the barrier is sealed.
    pub sealed: bool,
    /// Threshold.
    pub t: usize,
    /// Number of shares.
    pub n: usize,
    /// Shares entered so far.
    pub progress: usize,
    /// Id of the current unseal attempt, "" when none.
    pub nonce: String,
    /// Semver version.
    pub version: &'static str,
    /// Build date (Vault's field).
    pub build_date: &'static str,
    /// The same date under OpenBao's name for it (`bao status` prints it).
    pub commit_date: &'static str,
    /// Always false.
    pub migration: bool,
    /// Always false.
    pub recovery_seal: bool,
    /// The storage type.
    pub storage_type: String,
    /// Present when unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Present when unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

/// Parses an unseal key share given as hex or base64.
fn decode_share(key: &str) -> Result<Zeroizing<Vec<u8>>> {
    let key = key.trim();
    let decoded = hex::decode(key)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(key).ok())
        .ok_or_else(|| Error::invalid("'key' must be a valid hex or base64 string"))?;
    if decoded.len() < 16 || decoded.len() > 33 {
        return Err(Error::invalid("invalid key length: an unseal key share is 32 or 33 bytes"));
    }
    Ok(Zeroizing::new(decoded))
}

impl Core {
    pub(crate) async fn seal_config(&self) -> Result<Option<SealConfig>> {
        match self.physical.get(SEAL_CONFIG_KEY).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::internal(format!("corrupt seal configuration: {e}"))),
        }
    }

    /// The current seal status.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        let config = self.seal_config().await?;
        let active = self.active.load_full();
        let (progress, nonce) = {
            let p = self.unseal_progress.lock().map_err(|_| Error::internal("lock poisoned"))?;
            (p.shares.len(), p.nonce.clone())
        };
        Ok(SealStatus {
            seal_type: "shamir",
            initialized: config.is_some(),
            sealed: active.is_none(),
            t: config.as_ref().map_or(0, |c| c.secret_threshold),
            n: config.as_ref().map_or(0, |c| c.secret_shares),
            progress: if active.is_some() { 0 } else { progress },
            nonce: if active.is_some() { String::new() } else { nonce },
            version: coffer_types::VERSION,
            build_date: BUILD_DATE,
            commit_date: BUILD_DATE,
            migration: false,
            recovery_seal: false,
            storage_type: self.config.storage_type.clone(),
            cluster_name: active.as_ref().map(|a| a.cluster_name.clone()),
            cluster_id: active.as_ref().map(|a| a.cluster_id.clone()),
        })
    }

    /// Initialises the server: a fresh unseal key split into `shares` with `threshold`, the
    /// keyring, the default mounts and a root token. The server stays sealed afterwards.
    pub async fn init(&self, shares: usize, threshold: usize) -> Result<InitResult> {
        self.init_with(shares, threshold, None, &[]).await
    }

    pub(crate) async fn init_with(
        &self,
        shares: usize,
        threshold: usize,
        root_token_id: Option<&str>,
        extra_mounts: &[crate::MountEntry],
    ) -> Result<InitResult> {
        let _guard = self.lifecycle.lock().await;
        if self.seal_config().await?.is_some() {
            return Err(Error::invalid("Vault is already initialized"));
        }
        if shares == 0 || threshold == 0 {
            return Err(Error::invalid(
                "invalid seal configuration: secret_shares and secret_threshold must be at least 1",
            ));
        }
        if threshold > shares {
            return Err(Error::invalid(
                "invalid seal configuration: threshold cannot be larger than shares",
            ));
        }
        if shares > 1 && threshold < 2 {
            return Err(Error::invalid(
                "invalid seal configuration: threshold must be greater than one for multiple shares",
            ));
        }
        if shares > 255 {
            return Err(Error::invalid("invalid seal configuration: shares must be at most 255"));
        }
        let unseal_key = Zeroizing::new(random_bytes(32));
        let keys = if shares == 1 {
            vec![unseal_key.clone()]
        } else {
            shamir::split(&unseal_key, shares, threshold)
                .map_err(|e| Error::internal(format!("failed to split the unseal key: {e}")))?
                .into_iter()
                .map(Zeroizing::new)
                .collect()
        };
        self.barrier.initialize(&unseal_key).await?;
        self.barrier.unseal(&unseal_key).await?;
        let setup = async {
            let cluster =
                ClusterInfo { name: format!("vault-cluster-{}", &new_uuid()[..8]), id: new_uuid() };
            let bytes = serde_json::to_vec(&cluster).map_err(|e| Error::internal(e.to_string()))?;
            self.barrier.put(CLUSTER_KEY, &bytes).await?;
            self.write_default_mount_tables(extra_mounts).await?;
            let tokens =
                TokenStore::open(View::new(self.barrier.clone(), "sys/token/").shared()).await?;
            let display = if root_token_id.is_some() { "token" } else { "root" };
            tokens.create_root(root_token_id, display).await
        };
        let result = setup.await;
        self.barrier.seal();
        let root_token = result?;
        let config = SealConfig { secret_shares: shares, secret_threshold: threshold };
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::internal(e.to_string()))?;
        self.physical.put(SEAL_CONFIG_KEY, &bytes).await?;
        Ok(InitResult { keys, root_token })
    }

    /// Enters one key share (or resets the attempt). Unseals when the threshold is reached.
    pub async fn unseal(&self, key: Option<&str>, reset: bool) -> Result<SealStatus> {
        let _guard = self.lifecycle.lock().await;
        let config =
            self.seal_config().await?.ok_or_else(|| Error::invalid("Vault is not initialized"))?;
        if reset {
            let mut p =
                self.unseal_progress.lock().map_err(|_| Error::internal("lock poisoned"))?;
            *p = UnsealProgress::default();
        }
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            if reset {
                drop(_guard);
                return self.seal_status().await;
            }
            return Err(Error::invalid(
                "'key' must be specified in request body as JSON, or 'reset' set to true",
            ));
        };
        if self.active.load().is_some() {
            drop(_guard);
            return self.seal_status().await;
        }
        let share = decode_share(key)?;
        let ready = {
            let mut p =
                self.unseal_progress.lock().map_err(|_| Error::internal("lock poisoned"))?;
            if p.shares.is_empty() {
                p.nonce = new_uuid();
            }
            if !p.shares.iter().any(|s| **s == *share) {
                p.shares.push(share);
            }
            if p.shares.len() >= config.secret_threshold {
                Some(std::mem::take(&mut *p).shares)
            } else {
                None
            }
        };
        if let Some(shares) = ready {
            let unseal_key = if config.secret_threshold == 1 {
                shares.into_iter().next().unwrap_or_default()
            } else {
                let raw: Vec<Vec<u8>> = shares.iter().map(|s| s.to_vec()).collect();
                let combined = shamir::combine(&raw).map_err(|e| {
                    Error::invalid(format!("failed to combine the unseal key shares: {e}"))
                });
                raw.into_iter().for_each(|mut r| zeroize::Zeroize::zeroize(&mut r));
                Zeroizing::new(combined?)
            };
            self.barrier.unseal(&unseal_key).await.map_err(|_| {
                Error::invalid("failed to unseal: the key shares do not form the unseal key")
            })?;
            if let Err(e) = self.activate().await {
                self.barrier.seal();
                return Err(e);
            }
            tracing::info!("core: unsealed");
        }
        drop(_guard);
        self.seal_status().await
    }

    /// Seals: drops the active state and every key. Idempotent.
    pub async fn seal(&self) -> Result<()> {
        let _guard = self.lifecycle.lock().await;
        self.active.store(None);
        self.barrier.seal();
        tracing::info!("core: sealed");
        Ok(())
    }

    /// Builds the active state after the barrier opened: mount table, token store, cluster.
    async fn activate(&self) -> Result<()> {
        let cluster: ClusterInfo = match self.barrier.get(CLUSTER_KEY).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("corrupt cluster info: {e}")))?,
            None => return Err(Error::internal("cluster info missing")),
        };
        let table = self.load_mount_table().await?;
        let tokens =
            TokenStore::open(View::new(self.barrier.clone(), "sys/token/").shared()).await?;
        let policies = crate::policy_store::PolicyStore::open(
            View::new(self.barrier.clone(), "sys/policy/").shared(),
        )
        .await?;
        let audit = self.load_audit().await?;
        let identity = crate::identity::IdentityStore::new(
            View::new(self.barrier.clone(), "sys/identity/").shared(),
        );
        let active = Arc::new(Active {
            mounts: ArcSwap::from_pointee(table),
            tokens,
            policies,
            identity,
            leases: crate::leases::LeaseStore::new(
                View::new(self.barrier.clone(), "sys/expire/").shared(),
            ),
            audit,
            cluster_name: cluster.name,
            cluster_id: cluster.id,
            mount_lock: tokio::sync::Mutex::new(()),
        });
        self.active.store(Some(active.clone()));
        crate::expiry::spawn(self.me.clone(), Arc::downgrade(&active));
        Ok(())
    }

    /// Dev mode: initialise with one share, unseal, and return the key and root token.
    pub async fn init_dev(
        &self,
        root_token_id: Option<&str>,
        extra_mounts: &[crate::MountEntry],
    ) -> Result<InitResult> {
        let result = self.init_with(1, 1, root_token_id, extra_mounts).await?;
        let key = result.keys.first().map(|k| hex::encode(k.as_slice())).unwrap_or_default();
        self.unseal(Some(&key), false).await?;
        Ok(result)
    }
}
