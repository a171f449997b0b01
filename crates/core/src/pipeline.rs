//! The request pipeline, top to bottom: lifecycle endpoints → resolve the mount →
//! authenticate → authorize (create vs update by the existence check) → audit the request
//! (fail closed) → dispatch → issue a login token → audit the response → map empty answers
//! to Vault's statuses.

use std::sync::Arc;

use coffer_framework::{BackendRequest, Caller, SpecialPaths};
use coffer_types::{Error, Operation, Request, Response, Result};

use crate::acl::{AccessRequest, authorize};
use crate::audit::{audit_request, record, response_entry};
use crate::mounts::Mounted;
use crate::token::TokenEntry;
use crate::{Active, Core};

impl Core {
    /// Serves one logical request.
    pub async fn handle(&self, req: Request) -> Result<Response> {
        if let Some(result) = self.handle_lifecycle(&req).await {
            return result;
        }
        // As the reference, for every mount: a write names an item, never a folder.
        if req.path.ends_with('/')
            && matches!(req.operation, Operation::Create | Operation::Update | Operation::Patch)
        {
            return Err(Error::invalid("cannot write to a path ending in '/'"));
        }
        let active = self.active()?;
        let (mounted, relative) = {
            let table = active.mounts.load();
            let (mounted, relative) =
                table.resolve(&req.path).ok_or_else(|| Error::NoRoute(req.path.clone()))?;
            (mounted.clone(), relative.to_string())
        };
        let token_hash =
            req.token.as_ref().filter(|t| !t.is_empty()).map(|t| active.tokens.hash(t.expose()));
        let token = match &token_hash {
            // A token whose last use is being served is spent for every other request.
            Some(hash) => active
                .tokens
                .lookup_hash(hash)
                .await?
                .filter(|t| t.num_uses != crate::token::REVOCATION_PENDING),
            None => None,
        };
        let audit =
            (!active.audit.is_empty()).then(|| audit_request(&req, &mounted, token.as_deref()));
        let wrap_ttl = req.wrap_ttl;

        let checked = self
            .check_access(&active, &mounted, req, relative, token.as_deref(), token_hash.as_deref())
            .await;
        let (backend_request, last_use) = match checked {
            Ok(r) => r,
            Err(e) => {
                if let Some(a) = &audit {
                    record(
                        &active.audit,
                        coffer_audit::AuditEntry::request(a).with_error(e.to_string()),
                    )
                    .await?;
                }
                return Err(e);
            }
        };
        if let Some(a) = &audit {
            record(&active.audit, coffer_audit::AuditEntry::request(a)).await?;
        }

        let operation = backend_request.operation;
        let path = format!("{}{}", mounted.prefix, backend_request.path);
        let outcome =
            self.dispatch(&active, &mounted, backend_request, &path, token_hash.as_deref()).await;
        if let (true, Some(hash)) = (last_use, &token_hash) {
            self.revoke_spent_token(&active, hash).await;
        }
        let mut outcome = outcome.and_then(|r| finish(operation, r));
        if let (Some(ttl), Ok(response)) = (wrap_ttl, &outcome) {
            if !response.is_empty() && response.raw.is_none() && response.wrap_info.is_none() {
                let wrapped = self.wrap(&active, response, ttl, &path).await;
                outcome = wrapped;
            }
        }
        if let Some(a) = &audit {
            record(&active.audit, response_entry(a, &mounted, &outcome)).await?;
        }
        outcome
    }

    /// Revokes a token after the request that used it for the last time. A failure is
    /// logged, not returned: the token is already refused to every request.
    async fn revoke_spent_token(&self, active: &Active, hash: &str) {
        let revoked = match active.tokens.revoke_tree(hash).await {
            Ok(revoked) => revoked,
            Err(e) => {
                tracing::error!(error = %e, "revoking a token after its last use failed");
                return;
            }
        };
        if let Err(e) = self.after_token_revocation(active, &revoked).await {
            tracing::error!(error = %e, "revoking the leases of a spent token failed");
        }
    }

    /// Authenticates and authorizes; returns the request for the backend and whether this
    /// was the token's last use (then the caller revokes it after the request).
    async fn check_access(
        &self,
        active: &Active,
        mounted: &Arc<Mounted>,
        req: Request,
        relative: String,
        token: Option<&TokenEntry>,
        token_hash: Option<&str>,
    ) -> Result<(BackendRequest, bool)> {
        let unauthenticated = SpecialPaths::matches(&mounted.special.unauthenticated, &relative);
        if !unauthenticated && token.is_none() {
            return Err(Error::PermissionDenied);
        }
        // The token store and sys (capabilities-self) see the caller's own token; engines never.
        let sees_token = matches!(mounted.entry.engine_type.as_str(), "token" | "system");
        let mut backend_request = BackendRequest {
            operation: req.operation,
            path: relative,
            data: req.data,
            storage: mounted.storage.clone(),
            mount_point: mounted.prefix.clone(),
            request_id: req.id,
            caller: Caller::default(),
            client_token: if sees_token { req.token } else { None },
            remote_addr: req.remote_addr,
            wrap_requested: req.wrap_ttl.is_some(),
            peer_certificates: req.peer_certificates,
            default_lease_ttl: mounted.entry.config.effective_default_ttl(),
            max_lease_ttl: mounted.entry.config.effective_max_ttl(),
        };
        let Some(entry) = token else { return Ok((backend_request, false)) };
        if !unauthenticated
            && !crate::cidr::allowed(
                &entry.bound_cidrs,
                backend_request.remote_addr.map(|a| a.ip()),
            )
        {
            return Err(Error::PermissionDenied);
        }
        let mut sudo = entry.is_root();
        if !unauthenticated && !entry.is_root() {
            if backend_request.operation == Operation::Update
                && mounted.backend.exists(&backend_request).await? == Some(false)
            {
                backend_request.operation = Operation::Create;
            }
            let acl = crate::acl::acl_for(active, &entry.policies, &entry.entity_id).await?;
            let access = AccessRequest {
                path: &req.path,
                operation: backend_request.operation,
                sudo_required: SpecialPaths::matches(&mounted.special.sudo, &backend_request.path),
                data: &backend_request.data,
            };
            sudo = authorize(&acl, &access)?;
        }
        // A wrapping token's single use is its unwrap, which revokes it itself.
        let mut last_use = false;
        if !unauthenticated && entry.num_uses > 0 && !entry.is_wrapping() {
            if let Some(hash) = token_hash {
                last_use = active.tokens.use_once(hash).await?;
            }
        }
        backend_request.caller = Caller {
            accessor: entry.accessor.clone(),
            display_name: entry.display_name.clone(),
            policies: entry.policies.clone(),
            entity_id: entry.entity_id.clone(),
            sudo,
            token_id: token_hash.unwrap_or_default().to_string(),
        };
        Ok((backend_request, last_use))
    }

    /// Runs the engine and turns a login into a token.
    async fn dispatch(
        &self,
        active: &Active,
        mounted: &Mounted,
        backend_request: BackendRequest,
        path: &str,
        token_hash: Option<&str>,
    ) -> Result<Option<Response>> {
        let mut response = mounted.backend.handle(backend_request).await?;
        if let Some(secret) = response.as_mut().and_then(|r| r.secret.take()) {
            // Persisted before the response leaves: a secret nobody can revoke never escapes.
            let lease =
                active.leases.register(mounted, path, secret, token_hash.unwrap_or("")).await?;
            response.get_or_insert_with(Response::default).lease = Some(lease);
        }
        if let Some(login) = response.as_mut().and_then(|r| r.login.take()) {
            if !mounted.is_auth {
                return Err(Error::internal("a secrets engine answered with a login"));
            }
            let auth = self.issue_login_token(active, mounted, path, login).await?;
            response.get_or_insert_with(Response::default).auth = Some(auth);
        }
        Ok(response)
    }
}

/// Vault's mapping of empty answers: a read of nothing and a list without keys are 404.
fn finish(operation: Operation, response: Option<Response>) -> Result<Response> {
    match (operation, response) {
        (Operation::Read, None) | (Operation::List, None) => Err(Error::NotFound),
        (Operation::List, Some(r)) if r.warnings.is_empty() && r.status.is_none() => {
            let empty = r
                .data
                .as_ref()
                .and_then(|d| d.get("keys"))
                .and_then(|k| k.as_array())
                .is_none_or(|k| k.is_empty());
            if empty { Err(Error::NotFound) } else { Ok(r) }
        }
        (_, Some(r)) => Ok(r),
        (_, None) => Ok(Response::default()),
    }
}
