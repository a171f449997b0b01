//! The broker: the enabled devices, swapped whole, and the fail-closed fan-out.

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::AuditError;
use crate::device::{AuditDevice, DeviceInfo, normalize_path};
use crate::entry::AuditEntry;

type Devices = Vec<(String, Arc<dyn AuditDevice>)>;

/// The enabled audit devices. Logging reads an immutable snapshot (no lock on the request
/// path); enabling and disabling build a new list and swap it in.
pub struct AuditBroker {
    devices: ArcSwap<Devices>,
    /// Serialises enable/disable so two concurrent changes cannot lose one another.
    changes: Mutex<()>,
}

impl Default for AuditBroker {
    fn default() -> Self {
        AuditBroker::new()
    }
}

impl std::fmt::Debug for AuditBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<String> = self.devices.load().iter().map(|(p, _)| p.clone()).collect();
        f.debug_struct("AuditBroker").field("devices", &paths).finish()
    }
}

impl AuditBroker {
    /// A broker with no device.
    pub fn new() -> Self {
        AuditBroker { devices: ArcSwap::from_pointee(Vec::new()), changes: Mutex::new(()) }
    }

    /// Enables `device` at `path` (`file` and `file/` are the same path).
    /// Fails with [`AuditError::PathInUse`] when a device is already there.
    pub fn enable(&self, path: &str, device: Arc<dyn AuditDevice>) -> Result<(), AuditError> {
        let path = normalize_path(path);
        let _guard = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.devices.load_full();
        if current.iter().any(|(p, _)| *p == path) {
            return Err(AuditError::PathInUse(path));
        }
        let mut next: Devices = current.iter().cloned().collect();
        next.push((path, device));
        next.sort_by(|a, b| a.0.cmp(&b.0));
        self.devices.store(Arc::new(next));
        Ok(())
    }

    /// Disables the device at `path`; returns whether one was there (Vault answers 204 either
    /// way).
    pub fn disable(&self, path: &str) -> bool {
        let path = normalize_path(path);
        let _guard = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.devices.load_full();
        if !current.iter().any(|(p, _)| *p == path) {
            return false;
        }
        let next: Devices = current.iter().filter(|(p, _)| *p != path).cloned().collect();
        self.devices.store(Arc::new(next));
        true
    }

    /// The enabled devices, sorted by path, as `GET sys/audit` lists them.
    pub fn list(&self) -> Vec<DeviceInfo> {
        self.devices
            .load()
            .iter()
            .map(|(path, device)| DeviceInfo { path: path.clone(), ..device.describe() })
            .collect()
    }

    /// Whether a device is enabled at `path`.
    pub fn contains(&self, path: &str) -> bool {
        let path = normalize_path(path);
        self.devices.load().iter().any(|(p, _)| *p == path)
    }

    /// Whether no device is enabled. Then nothing is recorded and logging succeeds; whether to
    /// serve requests without an audit device is the core's decision.
    pub fn is_empty(&self) -> bool {
        self.devices.load().is_empty()
    }

    /// Records the entry of a request before it is dispatched. Fails closed: an error when
    /// devices are enabled and none recorded it; the core then fails the request (500) and
    /// changes nothing.
    pub fn log_request(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        self.log(entry)
    }

    /// Records the entry of a response before it is returned; fails closed like
    /// [`AuditBroker::log_request`].
    pub fn log_response(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        self.log(entry)
    }

    fn log(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        let devices = self.devices.load();
        let mut recorded = 0usize;
        for (path, device) in devices.iter() {
            match device.log(entry) {
                Ok(()) => recorded += 1,
                // The error names the device and the I/O cause, never the entry's content.
                Err(error) => tracing::warn!(
                    audit_device = %path,
                    request_id = %entry.request_id(),
                    entry_type = %entry.entry_type(),
                    %error,
                    "audit device failed to record an entry"
                ),
            }
        }
        if recorded == 0 && !devices.is_empty() {
            tracing::error!(
                request_id = %entry.request_id(),
                entry_type = %entry.entry_type(),
                devices = devices.len(),
                "no audit device recorded the entry; failing the request"
            );
            return Err(AuditError::NotRecorded { devices: devices.len() });
        }
        Ok(())
    }

    /// `hmac-sha256:<hex>` of `value` with the salt of the device at `path`
    /// (`sys/audit-hash/<path>`).
    pub fn hash(&self, path: &str, value: &str) -> Result<String, AuditError> {
        let path = normalize_path(path);
        self.devices
            .load()
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, device)| device.hash(value))
            .ok_or(AuditError::UnknownDevice(path))
    }

    /// Reopens every device (SIGHUP). All are tried; the first error is returned.
    pub fn reopen_all(&self) -> Result<(), AuditError> {
        let mut first = None;
        for (path, device) in self.devices.load().iter() {
            if let Err(error) = device.reopen() {
                tracing::warn!(audit_device = %path, %error, "audit device reopen failed");
                first.get_or_insert(error);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
