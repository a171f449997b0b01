//! Authorization of a request against the caller's token. Deny by default: today only the
//! root policy grants access; compiled ACL policies plug in here (same code for every mount).

use coffer_types::{Error, Operation, Result};

use crate::mounts::Mounted;
use crate::token::TokenEntry;

/// What is being asked for: the full path, the operation, and whether the path needs `sudo`.
pub(crate) struct AccessRequest<'a> {
    pub path: &'a str,
    pub operation: Operation,
    pub sudo: bool,
}

/// Allows or denies `access` for `token`. Root may do everything; every other token is
/// denied until policies grant it something.
pub(crate) fn authorize(token: &TokenEntry, _mount: &Mounted, access: &AccessRequest<'_>) -> Result<()> {
    if token.is_root() {
        return Ok(());
    }
    tracing::debug!(path = access.path, operation = access.operation.as_str(), sudo = access.sudo, "acl: denied");
    Err(Error::PermissionDenied)
}
