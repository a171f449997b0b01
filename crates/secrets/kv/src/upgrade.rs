//! Upgrading a v1 mount to v2 in place (a tune of `options.version` to 2, as
//! `bao kv enable-versioning` sends): when the v2 engine starts over storage that still holds
//! v1 objects, each becomes version 1 of the same key, one atomic batch per key. Runs on
//! every start of a v2 mount, so an upgrade cut short resumes; with nothing left it is one
//! empty listing.

use std::time::SystemTime;

use coffer_framework::read_json;
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Map, Result};

use crate::store;

/// Moves every v1 object (`data/<key>`) to the v2 layout.
pub(crate) async fn from_v1(storage: SharedStorage) -> Result<()> {
    let config = store::read_config(&storage).await?;
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        for child in storage.list(&crate::v1::storage_key(&folder)).await? {
            let key = format!("{folder}{child}");
            if child.ends_with('/') {
                folders.push(key);
                continue;
            }
            let old = crate::v1::storage_key(&key);
            let Some(data) = read_json::<Map>(&storage, &old).await? else { continue };
            let mut meta = store::read_metadata(&storage, &key).await?.unwrap_or_default();
            let (version, pruned) = meta.add_version(&config, SystemTime::now());
            let mut ops = vec![
                store::put_metadata(&key, &meta)?,
                store::put_version(&key, version, &data)?,
                WriteOp::Delete { key: old },
            ];
            ops.extend(
                pruned.into_iter().map(|n| WriteOp::Delete { key: store::version_key(&key, n) }),
            );
            storage.batch(ops).await?;
        }
    }
    Ok(())
}
