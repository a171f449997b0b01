//! `sys/remount` (`bao secrets move`, hvac's `move_backend`) and
//! `sys/remount/status/:migration_id`. The move is done when the answer leaves; its record
//! is kept for the status reads clients poll.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Response, ResponseShape, Result, new_uuid};
use serde_json::json;

use super::SysState;
use crate::mounts::normalize_mount_path;

/// Move records kept at most.
const MAX_RECORDS: usize = 1000;

pub(super) fn routes(router: Router<SysState>) -> Router<SysState> {
    router
        .path(
            Path::new("remount")
                .field(Field::string("from"))
                .field(Field::string("to"))
                .write(remount),
        )
        .path(Path::new("remount/status/{migration_id}").read(status))
}

async fn remount(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let (from, to) = (req.str("from")?, req.str("to")?);
    if from.trim().is_empty() || to.trim().is_empty() {
        return Err(Error::invalid("both 'from' and 'to' path must be specified as a string"));
    }
    let (from, to) = (normalize_mount_path(&from), normalize_mount_path(&to));
    state.core()?.remount(&from, &to).await?;
    let id = new_uuid();
    if let Ok(mut done) = state.migrations.lock() {
        // Bounded: the records only serve clients polling right after their move.
        if done.len() >= MAX_RECORDS {
            done.clear();
        }
        done.insert(id.clone(), (from, to));
    }
    let mut response = Response::json(json!({ "migration_id": id }))
        .with_shape(ResponseShape::Injected)
        .with_warning(
            "Mount move has been queued. Progress will be reported in OpenBao's server log, tagged with the returned migration_id",
        );
    response.status = Some(200);
    Ok(Some(response))
}

async fn status(state: Arc<SysState>, req: Req) -> Result<Option<Response>> {
    let id = req.capture("migration_id");
    let found = state.migrations.lock().ok().and_then(|done| done.get(id).cloned());
    Ok(found.map(|(from, to)| {
        Response::json(json!({
            "migration_id": id,
            "migration_info": {"source_mount": from, "target_mount": to, "status": "success"},
        }))
    }))
}
