//! Audit for Coffer: Vault-shaped audit entries, secrets HMAC'd per device, a durable `file`
//! device, and a broker that fails closed.
//!
//! # How the core uses it
//!
//! ```
//! use std::sync::Arc;
//! use coffer_audit::{AuditBroker, AuditEntry, AuditRequest, AuditResponse, FileDevice};
//! use coffer_types::{Map, Operation};
//!
//! let dir = tempfile::tempdir()?;
//! let log = dir.path().join("audit.log");
//! let mut options = Map::new();
//! options.insert("file_path".into(), log.display().to_string().into());
//! let salt = coffer_types::random_bytes(32); // persisted by the core with the device config
//!
//! let broker = AuditBroker::new();
//! broker.enable("file", Arc::new(FileDevice::new("file", &options, salt)?))?;
//!
//! let mut request = AuditRequest::new("3f0c...", Operation::Update, "secret/app");
//! request.data = serde_json::json!({ "password": "hunter2" }).as_object().cloned();
//! broker.log_request(&AuditEntry::request(&request))?; // before dispatch; Err -> 500
//! broker.log_response(&AuditEntry::response(&request, &AuditResponse::default()))?;
//!
//! let text = std::fs::read_to_string(&log)?;
//! assert_eq!(text.lines().count(), 2);
//! assert!(!text.contains("hunter2"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Entries
//!
//! The core builds an [`AuditEntry`] from plain structs: [`AuditEntry::request`] from an
//! [`AuditRequest`] (and its caller [`AuditAuth`]), [`AuditEntry::response`] from the same
//! request and an [`AuditResponse`], plus [`AuditEntry::with_error`] for failed requests. The
//! JSON has the shape of Vault's file audit log, empty fields left out as Vault's `omitempty`:
//!
//! ```text
//! {"time":"2026-11-28T16:43:47.823466989Z","type":"request",
//!  "auth":{"client_token","accessor","display_name","policies","token_policies",
//!          "metadata","entity_id","policy_results":{"allowed","granting_policies"},
//!          "token_type","token_ttl","token_issue_time"},
//!  "request":{"id","client_id","operation","mount_point","mount_type","mount_accessor",
//!             "mount_running_version","mount_class","client_token","client_token_accessor",
//!             "namespace":{"id":"root"},"path","data","remote_address","remote_port","wrap_ttl"},
//!  "response":{"mount_point","mount_type","mount_accessor","mount_running_plugin_version",
//!              "mount_class","auth","secret":{"lease_id"},"data","warnings","wrap_info"},
//!  "error":"..."}
//! ```
//!
//! `response` exists only in response entries; `error` only when the request failed.
//!
//! # Hashing
//!
//! An entry holds secrets in clear until a device writes it. Each device has its own salt (32
//! random bytes the core persists) and writes [`AuditEntry::hashed`]: tokens, accessors (with
//! `hmac_accessor`, the default), the wrapping token, and every string under `request.data` and
//! `response.data` (recursively through objects and arrays; numbers, bools and keys stay)
//! become `hmac-sha256:<hex>`. The mount's `audit_non_hmac_request_keys` and
//! `audit_non_hmac_response_keys`, carried in [`AuditRequest`] and [`AuditResponse`], keep
//! those top-level data keys in clear. `log_raw=true` disables hashing for that device.
//! [`hash_string`] (and [`AuditBroker::hash`]) computes the same HMAC for
//! `sys/audit-hash/<path>`, so an operator can find a known value in the log.
//!
//! # Durability and failing closed
//!
//! [`FileDevice::log`](AuditDevice::log) writes one line (prefix, JSON, newline) and syncs it
//! (`fdatasync`) before returning; every write or sync error is returned, after one retry on a
//! reopened file. [`AuditBroker::log_request`] and [`AuditBroker::log_response`] succeed when
//! at least one enabled device recorded the entry (failures are logged without content) and
//! return [`AuditError::NotRecorded`] when none could, so the core fails the request. With no
//! device enabled they succeed: there is nothing to record. Logging is blocking I/O; the lock
//! around a file is held only for the `write` call, never across an `.await`.
//!
//! The broker keeps its devices in an `ArcSwap`, swapped whole by [`AuditBroker::enable`] and
//! [`AuditBroker::disable`]; [`AuditBroker::reopen_all`] reopens files after log rotation.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod broker;
mod device;
mod entry;
mod file;
mod hash;
mod parts;

use std::sync::Arc;

pub use broker::AuditBroker;
pub use device::{AuditDevice, DeviceInfo, normalize_path};
pub use entry::AuditEntry;
pub use file::FileDevice;
pub use hash::{HMAC_PREFIX, HashOptions, Salt, hash_string};
pub use parts::{AuditAuth, AuditRequest, AuditResponse, AuditWrapInfo, PolicyInfo, PolicyResults};

/// What can go wrong while configuring or writing audit devices. Messages never contain
/// audited data.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Bad device configuration: a missing `file_path`, an unknown format, a bad mode (400).
    #[error("{0}")]
    InvalidConfig(String),
    /// A device is already enabled at this path (400).
    #[error("path already in use at {0}")]
    PathInUse(String),
    /// No device is enabled at this path (`sys/audit-hash/<path>`, 400).
    #[error("unknown audit device at {0}")]
    UnknownDevice(String),
    /// Writing, syncing or opening the log failed (500).
    #[error("audit log {target}: {source}")]
    Io {
        /// The file path, or `stdout`.
        target: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The entry could not be encoded as JSON (500).
    #[error("failed to encode the audit entry: {0}")]
    Encode(String),
    /// Devices are enabled and none recorded the entry: the request must fail (500).
    #[error("no audit device could record the request ({devices} enabled)")]
    NotRecorded {
        /// How many devices are enabled.
        devices: usize,
    },
}

impl From<AuditError> for coffer_types::Error {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::InvalidConfig(_)
            | AuditError::PathInUse(_)
            | AuditError::UnknownDevice(_) => {
                coffer_types::Error::InvalidRequest(error.to_string())
            }
            AuditError::Io { .. } | AuditError::Encode(_) | AuditError::NotRecorded { .. } => {
                coffer_types::Error::Internal(error.to_string())
            }
        }
    }
}

/// Builds a device from its persisted configuration (what [`AuditDevice::describe`] returned)
/// and its salt. Only the `file` type exists.
pub fn new_device(config: &DeviceInfo, salt: Vec<u8>) -> Result<Arc<dyn AuditDevice>, AuditError> {
    match config.device_type.as_str() {
        "file" => Ok(Arc::new(
            FileDevice::new(&config.path, &config.options, salt)?
                .with_description(config.description.clone())
                .with_local(config.local),
        )),
        other => Err(AuditError::InvalidConfig(format!("unknown backend type: \"{other}\""))),
    }
}
