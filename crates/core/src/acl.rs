//! Authorization of a request against the caller's token: the compiled ACL of its policies
//! decides, deny by default; `sudo` is required in addition on root-protected paths. The same
//! code runs for every mount.

use coffer_policy::Acl;
use coffer_types::{Error, Map, Operation, Result};

/// What is being asked for.
pub(crate) struct AccessRequest<'a> {
    /// The full request path.
    pub path: &'a str,
    /// The operation after the create/update decision.
    pub operation: Operation,
    /// Whether the path is root-protected.
    pub sudo_required: bool,
    /// The request data (for parameter constraints).
    pub data: &'a Map,
}

/// The ACL of a token: its policies, its entity's and its entity's groups'
/// (`identity_policies`), templated paths rendered for the entity. A disabled entity's tokens
/// are refused.
pub(crate) async fn acl_for(
    active: &crate::Active,
    policies: &[String],
    entity_id: &str,
) -> Result<std::sync::Arc<Acl>> {
    if entity_id.is_empty() {
        return Ok(active.policies.acl(policies));
    }
    let Some(entity) = active.identity.entity(entity_id).await? else {
        return Ok(active.policies.acl(policies));
    };
    if entity.disabled {
        return Err(Error::PermissionDenied);
    }
    let from_groups = active.identity.groups.policies_of(entity_id).await?;
    let with_entity: Vec<String>;
    let all = if entity.policies.is_empty() && from_groups.is_empty() {
        policies
    } else {
        let mut merged = policies.to_vec();
        for extra in entity.policies.iter().chain(from_groups.iter()) {
            if !merged.contains(extra) {
                merged.push(extra.clone());
            }
        }
        merged.sort();
        with_entity = merged;
        &with_entity
    };
    if active.policies.any_templated(all) {
        return Ok(active.policies.acl_for_entity(all, &entity));
    }
    Ok(active.policies.acl(all))
}

/// Allows or denies `access`; on success returns whether the caller holds `sudo` there.
pub(crate) fn authorize(acl: &Acl, access: &AccessRequest<'_>) -> Result<bool> {
    let decision = acl.check(access.path, access.operation, access.data);
    if !decision.allowed || (access.sudo_required && !decision.sudo) {
        tracing::debug!(path = access.path, operation = access.operation.as_str(), "acl: denied");
        return Err(Error::PermissionDenied);
    }
    Ok(decision.sudo)
}
