//! Background expiry: one task per unseal revokes tokens whose time is up, reading the expiry
//! index page by page. It stops when the core seals (its active state is dropped).

use std::sync::Weak;
use std::time::Duration;

use crate::{Active, Core};

/// How often the expiry index is checked.
const TICK: Duration = Duration::from_secs(1);

/// Starts the expiry task for one unsealed period.
pub(crate) fn spawn(core: Weak<Core>, active: Weak<Active>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
    handle.spawn(async move {
        loop {
            tokio::time::sleep(TICK).await;
            let (Some(_core), Some(active)) = (core.upgrade(), active.upgrade()) else { return };
            if let Err(e) = active.tokens.expire_due(coffer_types::unix_now()).await {
                tracing::warn!(error = %e, "token expiry failed; retrying");
            }
        }
    });
}
