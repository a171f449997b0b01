//! Tidy: `tidy` (starts a background pass), `tidy-status`, `tidy-cancel` and
//! `config/auto-tidy` (a per-mount task runs it on its interval).
//!
//! Expired certificates and revocations are found through the expiry indexes: a pass reads
//! the index from its oldest entry up to `now - safety_buffer` and stops, so its cost grows
//! with what it deletes, not with what is stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use coffer_framework::{Field, Path, Req, Router};
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Response, Result, unix_now};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::PkiState;
use crate::certutil::rfc3339;
use crate::model::{
    self, CERT_INDEX, IssuersConfig, REVOKED_INDEX, cert_key, config_key, parse_index_entry,
    revoked_key,
};
use crate::{crl, issuers};

/// What a tidy pass does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct TidyParams {
    /// Remove expired certificates from the store.
    pub tidy_cert_store: bool,
    /// Remove expired revocations (and their certificates).
    pub tidy_revoked_certs: bool,
    /// Accepted for compatibility; revocations always point at a live issuer here.
    pub tidy_revoked_cert_issuer_associations: bool,
    /// Remove expired issuers (never the default one).
    pub tidy_expired_issuers: bool,
    /// Accepted for compatibility (nothing invalid is ever stored).
    pub tidy_invalid_certs: bool,
    /// Accepted for compatibility (no legacy bundle exists).
    pub tidy_move_legacy_ca_bundle: bool,
    /// Accepted for compatibility (no ACME state yet).
    pub tidy_acme: bool,
    /// How long past expiry a certificate is kept.
    pub safety_buffer: i64,
    /// How long past expiry a revocation is kept.
    pub revoked_safety_buffer: i64,
    /// How long past expiry an issuer is kept.
    pub issuer_safety_buffer: i64,
    /// Pause between pages, seconds.
    pub pause_duration: i64,
    /// Entries per page.
    pub page_size: i64,
    /// Accepted for compatibility.
    pub acme_account_safety_buffer: i64,
}

impl Default for TidyParams {
    fn default() -> Self {
        TidyParams {
            tidy_cert_store: false,
            tidy_revoked_certs: false,
            tidy_revoked_cert_issuer_associations: false,
            tidy_expired_issuers: false,
            tidy_invalid_certs: false,
            tidy_move_legacy_ca_bundle: false,
            tidy_acme: false,
            safety_buffer: 72 * 3600,
            revoked_safety_buffer: 72 * 3600,
            issuer_safety_buffer: 365 * 24 * 3600,
            pause_duration: 0,
            page_size: 1000,
            acme_account_safety_buffer: 30 * 24 * 3600,
        }
    }
}

const FLAGS: [&str; 7] = [
    "tidy_cert_store",
    "tidy_revoked_certs",
    "tidy_revoked_cert_issuer_associations",
    "tidy_expired_issuers",
    "tidy_invalid_certs",
    "tidy_move_legacy_ca_bundle",
    "tidy_acme",
];
const BUFFERS: [&str; 5] = [
    "safety_buffer",
    "revoked_safety_buffer",
    "issuer_safety_buffer",
    "pause_duration",
    "acme_account_safety_buffer",
];

impl TidyParams {
    fn apply(&mut self, req: &Req) -> Result<()> {
        let mut value = serde_json::to_value(&*self).map_err(|e| Error::internal(e.to_string()))?;
        let Some(map) = value.as_object_mut() else {
            return Err(Error::internal("tidy params are not an object"));
        };
        for name in FLAGS.iter().filter(|n| req.has(n)) {
            map.insert((*name).into(), json!(req.bool(name)?));
        }
        for name in BUFFERS.iter().filter(|n| req.has(n)) {
            let v = req.duration(name)?;
            if v < 0 {
                return Err(Error::invalid(format!("{name} must not be negative")));
            }
            map.insert((*name).into(), json!(v));
        }
        if req.has("safety_buffer") && !req.has("revoked_safety_buffer") {
            let buffer = map.get("safety_buffer").cloned().unwrap_or(Value::Null);
            map.insert("revoked_safety_buffer".into(), buffer);
        }
        if req.has("page_size") {
            map.insert("page_size".into(), json!(req.int("page_size")?.clamp(1, 100_000)));
        }
        *self = serde_json::from_value(value).map_err(|e| Error::internal(e.to_string()))?;
        Ok(())
    }

    fn anything(&self) -> bool {
        self.tidy_cert_store || self.tidy_revoked_certs || self.tidy_expired_issuers
    }
}

/// `config/auto-tidy`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct AutoTidyConfig {
    /// Whether the periodic pass runs.
    pub enabled: bool,
    /// Seconds between passes.
    pub interval_duration: i64,
    /// What a pass does.
    #[serde(flatten)]
    pub params: TidyParams,
    /// Accepted for compatibility.
    pub maintain_stored_certificate_counts: bool,
    /// Accepted for compatibility.
    pub publish_stored_certificate_count_metrics: bool,
}

impl Default for AutoTidyConfig {
    fn default() -> Self {
        AutoTidyConfig {
            enabled: false,
            interval_duration: 12 * 3600,
            params: TidyParams::default(),
            maintain_stored_certificate_counts: false,
            publish_stored_certificate_count_metrics: false,
        }
    }
}

/// The state of the last or running pass.
#[derive(Debug, Clone, Default)]
struct TidyStatus {
    state: &'static str,
    error: Option<String>,
    params: TidyParams,
    time_started: i64,
    time_finished: i64,
    last_auto_tidy_finished: i64,
    cert_store_deleted_count: u64,
    revoked_cert_deleted_count: u64,
}

/// Tracks tidy passes of one mount; the lock is never held across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct TidyTracker {
    status: Mutex<TidyStatus>,
    cancel: AtomicBool,
}

impl TidyTracker {
    fn update(&self, f: impl FnOnce(&mut TidyStatus)) {
        if let Ok(mut status) = self.status.lock() {
            f(&mut status);
        }
    }

    fn snapshot(&self) -> TidyStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Marks a pass as started; false when one is already running.
    fn start(&self, params: &TidyParams) -> bool {
        let Ok(mut status) = self.status.lock() else { return false };
        if status.state == "Running" {
            return false;
        }
        let last_auto = status.last_auto_tidy_finished;
        *status = TidyStatus {
            state: "Running",
            params: params.clone(),
            time_started: unix_now(),
            last_auto_tidy_finished: last_auto,
            ..Default::default()
        };
        self.cancel.store(false, Ordering::SeqCst);
        true
    }
}

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    let with_params = |mut path: Path<PkiState>| {
        for name in FLAGS {
            path = path.field(Field::bool(name));
        }
        for name in BUFFERS {
            path = path.field(Field::duration(name));
        }
        path.field(Field::int("page_size"))
    };
    router
        .path(with_params(Path::new("tidy")).write(tidy))
        .path(Path::new("tidy-status").read(tidy_status))
        .path(Path::new("tidy-cancel").write(tidy_cancel))
        .path(
            with_params(Path::new("config/auto-tidy"))
                .field(Field::bool("enabled"))
                .field(Field::duration("interval_duration"))
                .field(Field::bool("maintain_stored_certificate_counts"))
                .field(Field::bool("publish_stored_certificate_count_metrics"))
                .read(read_auto_tidy)
                .write(write_auto_tidy),
        )
}

async fn tidy(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let mut params = TidyParams::default();
    params.apply(&req)?;
    if !params.anything() {
        let mut response = Response { status: Some(202), ..Default::default() };
        response.warnings.push("No targets to tidy; specify at least one tidy operation (such as tidy_cert_store) to run.".into());
        return Ok(Some(response));
    }
    if !state.tidy.start(&params) {
        return Err(Error::invalid("tidy operation already in progress"));
    }
    let storage = req.storage().clone();
    let task_state = state.clone();
    tokio::spawn(async move { run(&task_state, &storage, &params, false).await });
    Ok(Some(Response::tidy_started()))
}

/// Runs one pass and records its outcome.
async fn run(state: &PkiState, storage: &SharedStorage, params: &TidyParams, auto: bool) {
    let outcome = pass(state, storage, params).await;
    let now = unix_now();
    state.tidy.update(|s| {
        s.time_finished = now;
        if auto {
            s.last_auto_tidy_finished = now;
        }
        match outcome {
            Ok(true) => s.state = "Finished",
            Ok(false) => s.state = "Cancelled",
            Err(e) => {
                s.state = "Error";
                s.error = Some(e.to_string());
            }
        }
    });
}

/// Deletes index entries up to `cutoff` below `prefix`, calling `extra` for the keys to
/// delete with each entry; returns how many went and whether the pass was not cancelled.
async fn sweep(
    state: &PkiState,
    storage: &SharedStorage,
    prefix: &str,
    cutoff: i64,
    params: &TidyParams,
    cert_too: bool,
) -> Result<(u64, bool)> {
    let page = usize::try_from(params.page_size).unwrap_or(1000).max(1);
    let mut deleted = 0;
    loop {
        if state.tidy.cancel.load(Ordering::SeqCst) {
            return Ok((deleted, false));
        }
        let names = storage.list_page(prefix, None, Some(page)).await?;
        let mut ops = Vec::new();
        let mut done = names.len() < page;
        for name in &names {
            let Some((expiry, serial)) = parse_index_entry(name) else {
                ops.push(WriteOp::Delete { key: format!("{prefix}{name}") });
                continue;
            };
            if expiry > cutoff {
                done = true;
                break;
            }
            ops.push(WriteOp::Delete { key: format!("{prefix}{name}") });
            if prefix == REVOKED_INDEX {
                ops.push(WriteOp::Delete { key: revoked_key(serial) });
            }
            if cert_too {
                ops.push(WriteOp::Delete { key: cert_key(serial) });
            }
            deleted += 1;
        }
        if !ops.is_empty() {
            storage.batch(ops).await?;
        }
        if done {
            return Ok((deleted, true));
        }
        if params.pause_duration > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(
                u64::try_from(params.pause_duration).unwrap_or(0),
            ))
            .await;
        }
    }
}

async fn pass(state: &PkiState, storage: &SharedStorage, params: &TidyParams) -> Result<bool> {
    let now = unix_now();
    if params.tidy_cert_store {
        let (n, finished) =
            sweep(state, storage, CERT_INDEX, now - params.safety_buffer, params, true).await?;
        state.tidy.update(|s| s.cert_store_deleted_count = n);
        if !finished {
            return Ok(false);
        }
    }
    if params.tidy_revoked_certs {
        let buffer = params.revoked_safety_buffer;
        let (n, finished) =
            sweep(state, storage, REVOKED_INDEX, now - buffer, params, true).await?;
        state.tidy.update(|s| s.revoked_cert_deleted_count = n);
        if n > 0 {
            crl::rebuild(state, storage, None, false).await?;
        }
        if !finished {
            return Ok(false);
        }
    }
    if params.tidy_expired_issuers {
        let config: IssuersConfig = model::get_config(storage, "issuers").await?;
        let _guard = state.issuer_lock.lock().await;
        for entry in issuers::list_issuers(storage).await? {
            if entry.id != config.default && entry.not_after + params.issuer_safety_buffer < now {
                state.cache.invalidate();
                issuers::delete_issuer(storage, &entry).await?;
                state.cache.invalidate();
            }
        }
    }
    Ok(true)
}

fn time_or_null(t: i64) -> Value {
    if t == 0 { Value::Null } else { json!(rfc3339(t)) }
}

async fn tidy_status(state: Arc<PkiState>, _req: Req) -> Result<Option<Response>> {
    let s = state.tidy.snapshot();
    let p = &s.params;
    let inactive = s.state.is_empty();
    // Before the first pass every detail is null, as in OpenBao.
    let v = |value: Value| if inactive { Value::Null } else { value };
    let mut data = json!({
        "state": if inactive { "Inactive" } else { s.state },
        "error": s.error,
        "message": Value::Null,
        "time_started": time_or_null(s.time_started),
        "time_finished": time_or_null(s.time_finished),
        "safety_buffer": v(json!(p.safety_buffer)),
        "revoked_safety_buffer": v(json!(p.revoked_safety_buffer)),
        "issuer_safety_buffer": v(json!(p.issuer_safety_buffer)),
        "acme_account_safety_buffer": v(json!(p.acme_account_safety_buffer)),
        "tidy_cert_store": v(json!(p.tidy_cert_store)),
        "tidy_revoked_certs": v(json!(p.tidy_revoked_certs)),
        "tidy_revoked_cert_issuer_associations": v(json!(p.tidy_revoked_cert_issuer_associations)),
        "tidy_expired_issuers": v(json!(p.tidy_expired_issuers)),
        "tidy_invalid_certs": v(json!(p.tidy_invalid_certs)),
        "tidy_move_legacy_ca_bundle": v(json!(p.tidy_move_legacy_ca_bundle)),
        "tidy_acme": v(json!(p.tidy_acme)),
        "pause_duration": v(json!(format!("{}s", p.pause_duration))),
        "page_size": v(json!(p.page_size)),
        "cert_store_deleted_count": v(json!(s.cert_store_deleted_count)),
        "revoked_cert_deleted_count": v(json!(s.revoked_cert_deleted_count)),
        "missing_issuer_cert_count": v(json!(0)),
        "current_cert_store_count": Value::Null,
        "current_revoked_cert_count": Value::Null,
        "acme_account_deleted_count": v(json!(0)),
        "acme_account_revoked_count": v(json!(0)),
        "acme_orders_deleted_count": v(json!(0)),
        "total_acme_account_count": v(json!(0)),
        "internal_backend_uuid": state.backend_uuid,
    });
    if let (false, Some(map)) = (inactive, data.as_object_mut()) {
        // Like OpenBao, the engine's start counts as the last auto-tidy until one runs.
        let last = if s.last_auto_tidy_finished != 0 {
            s.last_auto_tidy_finished
        } else {
            state.started_at
        };
        map.insert("last_auto_tidy_finished".into(), time_or_null(last));
    }
    Ok(Some(Response::json(data)))
}

async fn tidy_cancel(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    if state.tidy.snapshot().state == "Running" {
        state.tidy.cancel.store(true, Ordering::SeqCst);
        state.tidy.update(|s| s.state = "Cancelling");
    }
    tidy_status(state, req).await
}

/// The auto-tidy config as the API shows it (`pause_duration` as a duration string).
fn auto_tidy_json(config: &AutoTidyConfig) -> Value {
    let mut value = json!(config);
    if let Some(map) = value.as_object_mut() {
        map.insert("pause_duration".into(), json!(format!("{}s", config.params.pause_duration)));
    }
    value
}

async fn read_auto_tidy(_state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let config: AutoTidyConfig = model::get_config(req.storage(), "auto-tidy").await?;
    Ok(Some(Response::json(auto_tidy_json(&config))))
}

async fn write_auto_tidy(_state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let mut config: AutoTidyConfig = model::get_config(req.storage(), "auto-tidy").await?;
    config.params.apply(&req)?;
    for (name, field) in [
        ("enabled", &mut config.enabled),
        ("maintain_stored_certificate_counts", &mut config.maintain_stored_certificate_counts),
        (
            "publish_stored_certificate_count_metrics",
            &mut config.publish_stored_certificate_count_metrics,
        ),
    ] {
        if req.has(name) {
            *field = req.bool(name)?;
        }
    }
    if req.has("interval_duration") {
        config.interval_duration = req.duration("interval_duration")?;
    }
    if config.interval_duration <= 0 {
        return Err(Error::invalid("interval_duration must be positive"));
    }
    if config.enabled && !config.params.anything() {
        return Err(Error::invalid("auto-tidy enabled but no tidy operations were requested"));
    }
    model::put(req.storage(), &config_key("auto-tidy"), &config).await?;
    Ok(Some(Response::json(auto_tidy_json(&config))))
}

/// Runs auto-tidy on its interval for as long as the mount exists: the task holds the state
/// weakly and ends once the engine is dropped (unmounted).
pub(crate) async fn auto_tidy_loop(state: Weak<PkiState>, storage: SharedStorage) {
    let mut last_run = unix_now();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        let Some(state) = state.upgrade() else { return };
        // A sealed or failing storage just skips this tick.
        let Ok(config) = model::get_config::<AutoTidyConfig>(&storage, "auto-tidy").await else {
            continue;
        };
        let now = unix_now();
        if !config.enabled || now - last_run < config.interval_duration {
            continue;
        }
        if state.tidy.start(&config.params) {
            last_run = now;
            run(&state, &storage, &config.params, true).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_refuses_a_second_pass() {
        let tracker = TidyTracker::default();
        let params = TidyParams { tidy_cert_store: true, ..Default::default() };
        assert!(tracker.start(&params));
        assert!(!tracker.start(&params));
        tracker.update(|s| s.state = "Finished");
        assert!(tracker.start(&params));
    }
}
