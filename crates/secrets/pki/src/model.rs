//! What the engine stores, and where. Every key of the mount's view is named here.
//!
//! ```text
//! config/{urls,crl,cluster,issuers,keys,auto-tidy}   JSON configs
//! issuer/<id>, key/<id>, role/<name>                   JSON entries
//! issuer-name/<name>, key-name/<name>                  name -> id
//! certs/<serial>, revoked/<serial>                     certificates, revocations (aa-bb-..)
//! index/certs/<notAfter>-<serial>                      expiry indexes (empty values), so tidy
//! index/revoked/<notAfter>-<serial>                    and CRL builds read only what is unexpired
//! crl/<issuer id>                                      the issuer's current CRLs
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_framework::read_json;
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Result};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::keys::{KeySpec, PrivateKey};

/// The usages an issuer has unless told otherwise.
pub(crate) const DEFAULT_USAGE: &str = "crl-signing,issuing-certificates,ocsp-signing,read-only";

/// An issuer: a CA certificate, optionally with the key it signs with.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub(crate) struct IssuerEntry {
    /// UUID.
    pub id: String,
    /// Optional unique name.
    pub name: String,
    /// The key's id, "" when the issuer was imported without its key.
    pub key_id: String,
    /// The certificate, PEM.
    pub certificate: String,
    /// The chain, PEM, starting with this certificate, up to a root when known.
    pub ca_chain: Vec<String>,
    /// Chain set by hand (issuer refs), or `None`.
    pub manual_chain: Option<Vec<String>>,
    /// `err`, `truncate` or `permit`.
    pub leaf_not_after_behavior: String,
    /// Comma-separated usages.
    pub usage: String,
    /// The signature algorithm for CRLs and OCSP, "" for the key's default.
    pub revocation_signature_algorithm: String,
    /// Per-issuer AIA overrides.
    pub issuing_certificates: Vec<String>,
    /// Per-issuer CRL distribution points.
    pub crl_distribution_points: Vec<String>,
    /// Per-issuer delta CRL distribution points.
    pub delta_crl_distribution_points: Vec<String>,
    /// Per-issuer OCSP servers.
    pub ocsp_servers: Vec<String>,
    /// Whether the AIA URLs are templates.
    pub enable_aia_url_templating: bool,
    /// Whether the issuer itself was revoked.
    pub revoked: bool,
    /// When it was revoked (unix seconds).
    pub revocation_time: i64,
    /// Serial of the certificate, colon hex.
    pub serial_number: String,
    /// Validity end of the certificate, unix seconds.
    pub not_after: i64,
}

impl IssuerEntry {
    /// Whether the usage list contains `usage`.
    pub(crate) fn has_usage(&self, usage: &str) -> bool {
        self.usage.split(',').any(|u| u.trim() == usage)
    }
}

/// A stored private key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyEntry {
    /// UUID.
    pub id: String,
    /// Optional unique name.
    #[serde(default)]
    pub name: String,
    /// Type and size.
    pub spec: KeySpec,
    /// PKCS#8 DER, base64.
    pub pkcs8: String,
}

impl KeyEntry {
    /// The private key.
    pub(crate) fn private_key(&self) -> Result<PrivateKey> {
        let der =
            STANDARD.decode(&self.pkcs8).map_err(|_| Error::internal("corrupt stored key"))?;
        Ok(PrivateKey::from_pkcs8(self.spec, der))
    }
}

/// A certificate issued (or generated) by this mount.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CertEntry {
    /// DER, base64.
    pub der: String,
    /// Validity end, unix seconds.
    pub not_after: i64,
    /// The issuer that signed it, "" for imported or self-signed roots.
    #[serde(default)]
    pub issuer_id: String,
}

impl CertEntry {
    /// The certificate DER.
    pub(crate) fn der(&self) -> Result<Vec<u8>> {
        STANDARD.decode(&self.der).map_err(|_| Error::internal("corrupt stored certificate"))
    }
}

/// A revocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RevokedEntry {
    /// Serial, colon hex.
    pub serial_number: String,
    /// Unix seconds.
    pub revocation_time: i64,
    /// Validity end of the revoked certificate.
    pub not_after: i64,
    /// The issuer whose CRL lists it.
    pub issuer_id: String,
    /// The certificate DER, base64 (kept for `cert/<serial>` after tidy of the store).
    #[serde(default)]
    pub der: String,
}

/// `config/urls`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub(crate) struct UrlsConfig {
    /// AIA caIssuers.
    pub issuing_certificates: Vec<String>,
    /// CRL distribution points.
    pub crl_distribution_points: Vec<String>,
    /// Delta CRL distribution points (freshest CRL).
    pub delta_crl_distribution_points: Vec<String>,
    /// AIA OCSP.
    pub ocsp_servers: Vec<String>,
    /// Whether `{{issuer_id}}` and friends are expanded.
    pub enable_templating: bool,
}

impl UrlsConfig {
    /// Whether nothing is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.issuing_certificates.is_empty()
            && self.crl_distribution_points.is_empty()
            && self.ocsp_servers.is_empty()
            && self.delta_crl_distribution_points.is_empty()
    }
}

/// `config/crl`, durations in seconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct CrlConfig {
    /// CRL validity.
    pub expiry: i64,
    /// No CRL building (empty CRLs are served).
    pub disable: bool,
    /// No OCSP answers.
    pub ocsp_disable: bool,
    /// OCSP answer validity.
    pub ocsp_expiry: i64,
    /// Rebuild on a schedule instead of on every revocation.
    pub auto_rebuild: bool,
    /// How long before expiry an automatic rebuild happens.
    pub auto_rebuild_grace_period: i64,
    /// Build delta CRLs.
    pub enable_delta: bool,
    /// How often delta CRLs are rebuilt.
    pub delta_rebuild_interval: i64,
    /// Whether expired certificates may still be revoked.
    pub allow_expired_cert_revocation: bool,
}

impl Default for CrlConfig {
    fn default() -> Self {
        CrlConfig {
            expiry: 72 * 3600,
            disable: false,
            ocsp_disable: false,
            ocsp_expiry: 12 * 3600,
            auto_rebuild: false,
            auto_rebuild_grace_period: 12 * 3600,
            enable_delta: false,
            delta_rebuild_interval: 15 * 60,
            allow_expired_cert_revocation: false,
        }
    }
}

/// `config/cluster`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub(crate) struct ClusterConfig {
    /// The mount's API path as seen by clients.
    pub path: String,
    /// The AIA path (may be non-TLS).
    pub aia_path: String,
}

/// `config/issuers`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub(crate) struct IssuersConfig {
    /// The default issuer id, "" when none.
    pub default: String,
    /// Whether every new issuer becomes the default.
    pub default_follows_latest_issuer: bool,
}

/// `config/keys`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub(crate) struct KeysConfig {
    /// The default key id.
    pub default: String,
}

/// Storage key of a config.
pub(crate) fn config_key(name: &str) -> String {
    format!("config/{name}")
}

/// Storage key of an issuer.
pub(crate) fn issuer_key(id: &str) -> String {
    format!("issuer/{id}")
}

/// Storage key of a key.
pub(crate) fn key_key(id: &str) -> String {
    format!("key/{id}")
}

/// Storage key of a stored certificate.
pub(crate) fn cert_key(serial: &str) -> String {
    format!("certs/{serial}")
}

/// Storage key of a revocation.
pub(crate) fn revoked_key(serial: &str) -> String {
    format!("revoked/{serial}")
}

/// Prefix of the expiry index of stored certificates.
pub(crate) const CERT_INDEX: &str = "index/certs/";
/// Prefix of the expiry index of revocations.
pub(crate) const REVOKED_INDEX: &str = "index/revoked/";

/// The expiry index entry for `serial` (storage form) expiring at `not_after`: keys sort by
/// expiry because the time is zero-padded.
pub(crate) fn index_entry(prefix: &str, not_after: i64, serial: &str) -> String {
    format!("{prefix}{:020}-{serial}", not_after.max(0))
}

/// Splits an index entry name (below its prefix) into expiry and serial.
pub(crate) fn parse_index_entry(name: &str) -> Option<(i64, &str)> {
    let (time, serial) = name.split_once('-')?;
    Some((time.parse().ok()?, serial))
}

/// Reads a JSON entry.
pub(crate) async fn get<T: DeserializeOwned>(
    storage: &SharedStorage,
    key: &str,
) -> Result<Option<T>> {
    read_json(storage, key).await
}

/// Reads a config, its default when absent.
pub(crate) async fn get_config<T: DeserializeOwned + Default>(
    storage: &SharedStorage,
    name: &str,
) -> Result<T> {
    Ok(read_json(storage, &config_key(name)).await?.unwrap_or_default())
}

/// A put of `value` as JSON, for a batch.
pub(crate) fn put_op<T: Serialize>(key: impl Into<String>, value: &T) -> Result<WriteOp> {
    let value = serde_json::to_vec(value).map_err(|e| Error::internal(e.to_string()))?;
    Ok(WriteOp::Put { key: key.into(), value })
}

/// Stores `value` as JSON.
pub(crate) async fn put<T: Serialize>(storage: &SharedStorage, key: &str, value: &T) -> Result<()> {
    let value = serde_json::to_vec(value).map_err(|e| Error::internal(e.to_string()))?;
    storage.put(key, &value).await?;
    Ok(())
}

/// Base64 of DER, for storage.
pub(crate) fn b64(der: &[u8]) -> String {
    STANDARD.encode(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_entries_sort_by_expiry() {
        let a = index_entry(CERT_INDEX, 99, "0a-ff");
        let b = index_entry(CERT_INDEX, 1_000, "01");
        assert!(a < b);
        let name = a.strip_prefix(CERT_INDEX).unwrap_or_default();
        assert_eq!(parse_index_entry(name), Some((99, "0a-ff")));
    }
}
