//! Background expiry: one task per unseal revokes tokens and leases whose time is up. Each
//! tick reads the head of the expiry indexes (one key when nothing is due) and pages through
//! the due slots, so neither unseal nor the task ever reads every token or lease, and memory
//! does not grow with their number. Leases that expired while the server was down are due at
//! the first tick after unseal. The task stops when the core seals (its active state drops).

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
            let (Some(core), Some(active)) = (core.upgrade(), active.upgrade()) else { return };
            let now = coffer_types::unix_now();
            match active.tokens.expire_due(now).await {
                Ok(revoked) => {
                    if let Err(e) = core.after_token_revocation(&active, &revoked).await {
                        tracing::warn!(error = %e, "revoking the leases of expired tokens failed; retrying");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "token expiry failed; retrying"),
            }
            if let Err(e) = active.leases.expire_due(&active.mounts.load(), now).await {
                tracing::warn!(error = %e, "lease expiry failed; retrying");
            }
        }
    });
}
