//! What every issue and sign request reads — its role, its issuer with the issuer's key, and
//! the AIA/CDP URLs — parsed once per mount and kept until a request that could change them.
//!
//! Reading and parsing these (JSON, PEM, a certificate, a private-key import) costs more than
//! signing the certificate, so the issue path takes them from here. Invalidation is by
//! generation: every write to the mount other than the issuing, revoking and tidying paths bumps
//! the generation before and after it runs (see [`changes_issuing`]), and an entry is only used
//! while the generation it was loaded under is current. Entries are loaded after reading the
//! generation, so a load racing with a write is never kept past that write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use coffer_framework::Req;
use coffer_types::{Operation, Result};

use crate::issuers::SigningIssuer;
use crate::issuing::effective_urls;
use crate::model::{self, UrlsConfig};
use crate::path_roles::{Role, load_role};

/// Entries kept per map before it is emptied (a mount has a handful of roles and issuers).
const LIMIT: usize = 1024;

/// An issuer ready to sign, with the URLs its certificates carry.
pub(crate) struct IssuingContext {
    /// The issuer, its certificate and its key.
    pub issuer: SigningIssuer,
    /// The effective AIA/CDP URLs (the issuer's own, else the mount's).
    pub urls: UrlsConfig,
}

/// Parsed roles and issuing contexts of one mount.
#[derive(Default)]
pub(crate) struct IssueCache {
    generation: AtomicU64,
    roles: RwLock<HashMap<String, (u64, Arc<Role>)>>,
    issuers: RwLock<HashMap<String, (u64, Arc<IssuingContext>)>>,
}

/// Whether a request may change roles, issuers, keys or configuration, so that the cache must
/// be dropped around it. Reads never do; issuing, signing, revoking certificates, OCSP and CRL
/// rotation never do. Everything else is assumed to.
pub(crate) fn changes_issuing(operation: Operation, path: &str) -> bool {
    if matches!(operation, Operation::Read | Operation::List) {
        return false;
    }
    let leaf_path =
        |p: &str| ["issue/", "sign/", "sign-verbatim"].iter().any(|prefix| p.starts_with(prefix));
    if leaf_path(path) {
        return false;
    }
    if let Some(rest) = path.strip_prefix("issuer/") {
        return !rest.split_once('/').is_some_and(|(_, tail)| leaf_path(tail));
    }
    !matches!(
        path,
        "revoke" | "revoke-with-key" | "ocsp" | "crl/rotate" | "crl/rotate-delta" | "tidy-cancel"
    ) && !path.starts_with("ocsp/")
}

fn lookup<T>(map: &RwLock<HashMap<String, (u64, Arc<T>)>>, key: &str, now: u64) -> Option<Arc<T>> {
    let map = map.read().ok()?;
    map.get(key).filter(|(generation, _)| *generation == now).map(|(_, value)| value.clone())
}

fn remember<T>(map: &RwLock<HashMap<String, (u64, Arc<T>)>>, key: &str, at: u64, value: &Arc<T>) {
    if let Ok(mut map) = map.write() {
        if map.len() >= LIMIT {
            map.clear();
        }
        map.insert(key.to_string(), (at, value.clone()));
    }
}

impl IssueCache {
    /// Drops every entry (and with it the issuers' private keys): called before and after
    /// anything that may change what is cached. The generation guards loads that race it.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut roles) = self.roles.write() {
            roles.clear();
        }
        if let Ok(mut issuers) = self.issuers.write() {
            issuers.clear();
        }
    }

    fn now(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The role `name`, from the cache or storage.
    pub(crate) async fn role(&self, req: &Req, name: &str) -> Result<Arc<Role>> {
        let at = self.now();
        if let Some(role) = lookup(&self.roles, name, at) {
            return Ok(role);
        }
        let role = Arc::new(load_role(req, name).await?);
        remember(&self.roles, name, at, &role);
        Ok(role)
    }

    /// The issuing context of an issuer reference (`default`, a name or an id), from the cache
    /// or storage; refuses issuers without the `issuing-certificates` usage.
    pub(crate) async fn issuing(&self, req: &Req, reference: &str) -> Result<Arc<IssuingContext>> {
        let at = self.now();
        if let Some(context) = lookup(&self.issuers, reference, at) {
            return Ok(context);
        }
        let issuer = crate::path_root::issuing_issuer(req, reference).await?;
        let mount_urls: UrlsConfig = model::get_config(req.storage(), "urls").await?;
        let urls = effective_urls(&mount_urls, &issuer.entry);
        let context = Arc::new(IssuingContext { issuer, urls });
        remember(&self.issuers, reference, at, &context);
        Ok(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_requests_invalidate() {
        use Operation::*;
        for (op, path, changes) in [
            (Read, "roles/web", false),
            (List, "roles/", false),
            (Update, "issue/web", false),
            (Update, "sign/web", false),
            (Update, "sign-verbatim", false),
            (Update, "sign-verbatim/web", false),
            (Update, "issuer/default/issue/web", false),
            (Update, "issuer/abc/sign/web", false),
            (Update, "revoke", false),
            (Update, "ocsp", false),
            (Update, "crl/rotate", false),
            (Update, "roles/web", true),
            (Create, "roles/web", true),
            (Delete, "roles/web", true),
            (Patch, "issuer/default", true),
            (Update, "issuer/default/revoke", true),
            (Update, "config/urls", true),
            (Update, "config/issuers", true),
            (Update, "root/generate/internal", true),
            (Delete, "root", true),
            (Update, "intermediate/set-signed", true),
            (Update, "tidy", true),
        ] {
            assert_eq!(changes_issuing(op, path), changes, "{op:?} {path}");
        }
    }
}
