//! Audit: devices persisted inside the barrier (`core/audit`, with each device's salt) or
//! declared in the server config, loaded at unseal into a broker that fails closed; and the
//! entries the pipeline records before dispatch and after it.

use std::sync::Arc;

use coffer_audit::{
    AuditAuth, AuditBroker, AuditEntry, AuditRequest, AuditResponse, DeviceInfo, new_device,
};
use coffer_storage::Storage;
use coffer_types::{Error, Request, Response, Result, random_bytes};
use serde::{Deserialize, Serialize};

use crate::Core;
use crate::mounts::Mounted;
use crate::token::TokenEntry;

const AUDIT_KEY: &str = "core/audit";

/// A persisted device: its configuration and its salt.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredDevice {
    pub info: DeviceInfo,
    pub salt: String,
}

impl Core {
    pub(crate) async fn stored_devices(&self) -> Result<Vec<StoredDevice>> {
        Ok(coffer_framework::read_json(
            &(self.barrier.clone() as coffer_storage::SharedStorage),
            AUDIT_KEY,
        )
        .await?
        .unwrap_or_default())
    }

    async fn store_devices(&self, devices: &[StoredDevice]) -> Result<()> {
        let bytes = serde_json::to_vec(devices).map_err(|e| Error::internal(e.to_string()))?;
        self.barrier.put(AUDIT_KEY, &bytes).await?;
        Ok(())
    }

    /// Builds the broker at unseal: persisted devices plus those declared in the config
    /// (which get a salt persisted the first time).
    pub(crate) async fn load_audit(&self) -> Result<Arc<AuditBroker>> {
        let broker = Arc::new(AuditBroker::new());
        let mut stored = self.stored_devices().await?;
        let mut changed = false;
        let declared = self.declared_audit.lock().map(|d| d.clone()).unwrap_or_default();
        for declared in &declared {
            if !stored.iter().any(|d| d.info.path == declared.path) {
                stored.push(StoredDevice {
                    info: declared.clone(),
                    salt: hex::encode(random_bytes(32)),
                });
                changed = true;
            }
        }
        if changed {
            self.store_devices(&stored).await?;
        }
        for device in &stored {
            let salt =
                hex::decode(&device.salt).map_err(|_| Error::internal("corrupt audit salt"))?;
            match new_device(&device.info, salt) {
                Ok(d) => broker
                    .enable(&device.info.path, d)
                    .map_err(|e| Error::internal(e.to_string()))?,
                // A device that cannot open keeps the server from serving unaudited requests.
                Err(e) => {
                    return Err(Error::internal(format!(
                        "audit device {} failed to start: {e}",
                        device.info.path
                    )));
                }
            }
        }
        Ok(broker)
    }

    /// Enables a device (`sys/audit/<path>`), persisting it with a fresh salt.
    pub async fn enable_audit(&self, info: DeviceInfo) -> Result<()> {
        let active = self.active()?;
        let _guard = active.mount_lock.lock().await;
        if active.audit.contains(&info.path) {
            return Err(Error::invalid(format!("path already in use: {}", info.path)));
        }
        let salt = random_bytes(32);
        let device = new_device(&info, salt.clone()).map_err(|e| Error::invalid(e.to_string()))?;
        let mut stored = self.stored_devices().await?;
        stored.push(StoredDevice { info: info.clone(), salt: hex::encode(&salt) });
        self.store_devices(&stored).await?;
        active.audit.enable(&info.path, device).map_err(|e| Error::invalid(e.to_string()))?;
        Ok(())
    }

    /// Disables a device (idempotent).
    pub async fn disable_audit(&self, path: &str) -> Result<()> {
        let active = self.active()?;
        let _guard = active.mount_lock.lock().await;
        let mut stored = self.stored_devices().await?;
        stored.retain(|d| d.info.path != path);
        self.store_devices(&stored).await?;
        active.audit.disable(path);
        Ok(())
    }

    /// Reopens every device's file (log rotation on SIGHUP).
    pub fn reopen_audit(&self) {
        if let Some(active) = self.active.load_full() {
            if let Err(e) = active.audit.reopen_all() {
                tracing::error!(error = %e, "audit: reopening a device failed");
            }
        }
    }
}

/// The request part of the audit entries for `req` on `mount` by `token`.
pub(crate) fn audit_request(
    req: &Request,
    mount: &Mounted,
    token: Option<&TokenEntry>,
) -> AuditRequest {
    let mut out = AuditRequest::from_request(req);
    out.mount_point = mount.prefix.clone();
    out.mount_type = mount.entry.engine_type.clone();
    out.mount_accessor = mount.entry.accessor.clone();
    out.mount_class = if mount.is_auth { "auth".into() } else { "secret".into() };
    out.non_hmac_request_keys = mount.entry.config.audit_non_hmac_request_keys.clone();
    if let Some(t) = token {
        out.client_token_accessor = t.accessor.clone();
        out.auth = Some(AuditAuth {
            client_token: req.token.clone().unwrap_or_default(),
            accessor: t.accessor.clone(),
            display_name: t.display_name.clone(),
            policies: t.policies.clone(),
            token_policies: t.policies.clone(),
            metadata: t.meta.clone(),
            entity_id: t.entity_id.clone(),
            num_uses: t.num_uses,
            token_type: t.token_type.clone(),
            token_ttl: t.creation_ttl,
            ..AuditAuth::default()
        });
    }
    out
}

/// Records an entry on every device, off the async workers (each write is fsynced). Fails
/// when devices exist and none recorded it.
pub(crate) async fn record(broker: &Arc<AuditBroker>, entry: AuditEntry) -> Result<()> {
    let broker = broker.clone();
    let is_request = entry.entry_type() == "request";
    let result = tokio::task::spawn_blocking(move || {
        if is_request { broker.log_request(&entry) } else { broker.log_response(&entry) }
    })
    .await
    .map_err(|_| Error::internal("audit: the writer task failed"))?;
    result.map_err(|e| {
        tracing::error!(error = %e, "audit: no device could record the request");
        Error::internal("failed to audit the request")
    })
}

/// The response entry for an outcome.
pub(crate) fn response_entry(
    request: &AuditRequest,
    mount: &Mounted,
    outcome: &Result<Response>,
) -> AuditEntry {
    match outcome {
        Ok(r) => {
            let mut resp = AuditResponse::from_response(r);
            resp.non_hmac_response_keys = mount.entry.config.audit_non_hmac_response_keys.clone();
            AuditEntry::response(request, &resp)
        }
        Err(e) => {
            AuditEntry::response(request, &AuditResponse::default()).with_error(e.to_string())
        }
    }
}
