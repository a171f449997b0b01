//! KV v2 `config`: the mount-wide defaults for `max_versions`, `cas_required`,
//! `delete_version_after` and `metadata_cas_required`.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req};
use coffer_types::{Error, Response, Result};

use crate::KvState;
use crate::store::{put_config, read_config};

/// The `config` route.
pub(crate) fn path() -> Path<KvState> {
    Path::new("config")
        .field(Field::int("max_versions").describe("Versions kept per key; 0 keeps 10."))
        .field(Field::bool("cas_required").describe("Whether every write must carry options.cas."))
        .field(
            Field::duration("delete_version_after")
                .describe("Delay before a new version is deleted; 0 clears, negative disables."),
        )
        .field(
            Field::bool("metadata_cas_required")
                .describe("Whether every metadata write must carry metadata_cas."),
        )
        .help("Configures settings applied to every key of the mount.")
        .read(read)
        .write(write)
        // The configuration always exists (it has defaults): writing it is an update, never a
        // create, exactly as in Vault where this path has no existence check.
        .existence(|_state: Arc<KvState>, _req: Req| async { Ok(true) })
}

async fn read(_state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(read_config(req.storage()).await?.to_json())))
}

async fn write(state: Arc<KvState>, req: Req) -> Result<Option<Response>> {
    let fields = ["max_versions", "cas_required", "delete_version_after", "metadata_cas_required"];
    if !fields.iter().any(|f| req.has(f)) {
        return Ok(None);
    }
    // Two concurrent partial updates must not lose each other's fields. No user key contains
    // NUL, so this stripe name is the configuration's own.
    let _guard = state.write_lock("\0config").await?;
    let mut config = read_config(req.storage()).await?;
    if req.has("max_versions") {
        config.max_versions = non_negative("max_versions", req.int("max_versions")?)?;
    }
    if req.has("cas_required") {
        config.cas_required = req.bool("cas_required")?;
    }
    if req.has("metadata_cas_required") {
        config.metadata_cas_required = req.bool("metadata_cas_required")?;
    }
    if req.has("delete_version_after") {
        // Negative disables the feature on every key; it is stored as -1s, as Vault shows it.
        config.delete_version_after = req.duration("delete_version_after")?.max(-1);
    }
    req.storage().batch(vec![put_config(&config)?]).await?;
    Ok(None)
}

/// A count that must not be negative (Vault would wrap it around to 4294967295).
pub(crate) fn non_negative(field: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| {
        Error::invalid(format!(
            "error converting input for field \"{field}\": cannot provide negative value '{value}'"
        ))
    })
}
