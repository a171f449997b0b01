//! The audit device trait and the description `sys/audit` lists.

use coffer_types::Map;
use serde::{Deserialize, Serialize};

use crate::AuditError;
use crate::entry::AuditEntry;

/// Somewhere audit entries are recorded. A device hashes its own copy of each entry with its
/// own salt (unless configured `log_raw`), so the broker hands every device the same entry.
pub trait AuditDevice: Send + Sync {
    /// Records one entry durably before returning. Blocking: a file device writes and syncs.
    /// Every failure is returned, never swallowed.
    fn log(&self, entry: &AuditEntry) -> Result<(), AuditError>;

    /// `hmac-sha256:<hex>` of `value` with this device's salt (`sys/audit-hash/<path>`).
    fn hash(&self, value: &str) -> String;

    /// Reopens the underlying sink (log rotation on SIGHUP). A no-op for sinks without one.
    fn reopen(&self) -> Result<(), AuditError>;

    /// The device as `sys/audit` lists it; also the configuration the core persists to build
    /// it again with [`crate::new_device`].
    fn describe(&self) -> DeviceInfo;
}

/// One enabled device as `GET sys/audit` shows it:
/// `{"type":"file","description":"","options":{"file_path":"..."},"path":"file/","local":false}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device type, `file`.
    #[serde(rename = "type")]
    pub device_type: String,
    /// A human-friendly description.
    pub description: String,
    /// The options the device was enabled with, values as strings.
    pub options: Map,
    /// Where the device is enabled, with a trailing `/` (`file/`).
    pub path: String,
    /// Whether the device is local to this node (not replicated).
    pub local: bool,
}

/// The path of an audit device as Vault shows it: no leading `/`, one trailing `/`.
pub fn normalize_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    format!("{trimmed}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_get_one_trailing_slash() {
        assert_eq!(normalize_path("file"), "file/");
        assert_eq!(normalize_path("/file/"), "file/");
        assert_eq!(normalize_path("a/b"), "a/b/");
    }

    #[test]
    fn info_serializes_like_sys_audit() {
        let info = DeviceInfo {
            device_type: "file".into(),
            path: "file/".into(),
            ..DeviceInfo::default()
        };
        let v = serde_json::to_value(&info).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"type":"file","description":"","options":{},"path":"file/","local":false})
        );
    }
}
