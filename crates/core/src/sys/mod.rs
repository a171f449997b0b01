//! The `sys/` backend (everything but the lifecycle endpoints, which answer while sealed),
//! declared as routes like any engine. One file per path group.

mod audit;
mod keys;
mod leases;
mod metrics;
mod mounts;
mod plugins;
mod policies;
mod remount;
mod ui_mounts;
mod wrapping;

use std::sync::{Arc, Weak};

use coffer_framework::{Backend, Router, SpecialPaths};
use coffer_types::{Error, Result};

use crate::Core;

/// The state behind the sys routes: a weak handle on the core that owns them.
pub(crate) struct SysState {
    core: Weak<Core>,
    /// Finished mount moves by migration id: (source, target), for `remount/status`.
    migrations: std::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
}

impl SysState {
    fn core(&self) -> Result<Arc<Core>> {
        self.core.upgrade().ok_or_else(|| Error::internal("core is shutting down"))
    }
}

/// Builds the sys backend.
pub(crate) fn backend(core: Weak<Core>) -> Arc<dyn Backend> {
    let state = Arc::new(SysState { core, migrations: Default::default() });
    let router = Router::new(state).special_paths(SpecialPaths {
        unauthenticated: vec![
            "internal/ui/mounts".into(),
            "internal/ui/mounts/*".into(),
            "wrapping/lookup".into(),
        ],
        sudo: vec![
            "auth/*".into(),
            "seal".into(),
            "rotate".into(),
            "rotate/keyring".into(),
            "audit".into(),
            "audit/*".into(),
            "raw".into(),
            "raw/*".into(),
            "remount".into(),
            "leases/revoke-prefix/*".into(),
            "leases/revoke-force/*".into(),
            "leases/lookup/*".into(),
            "revoke-prefix/*".into(),
            "revoke-force/*".into(),
        ],
    });
    let router = mounts::routes(router);
    let router = keys::routes(router);
    let router = ui_mounts::routes(router);
    let router = policies::routes(router);
    let router = audit::routes(router);
    let router = leases::routes(router);
    let router = wrapping::routes(router);
    let router = coffer_framework::tools::routes(router, "tools/");
    let router = remount::routes(router);
    let router = plugins::routes(router);
    let router = metrics::routes(router);
    Arc::new(router)
}
