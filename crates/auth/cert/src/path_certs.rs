//! Trusted certificates (`certs/`, `certs/:name`): a PEM trust anchor (a CA, or a client's
//! own certificate pinned as a leaf), the names and extensions a client certificate must
//! carry, and the settings of the issued tokens.

use std::sync::Arc;

use coffer_framework::token_fields::{self, TokenFields, sorted};
use coffer_framework::{Field, LegacyNames, Path, Req, Router, read_json};
use coffer_types::{Error, Map, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::trust::Trusted;

/// Storage prefix of the roles, as Vault lays them out.
pub(crate) const PREFIX: &str = "cert/";

/// Lists a role may constrain logins with: `None` until set, so that reads show `null`.
const LISTS: &[&str] = &[
    "allowed_names",
    "allowed_common_names",
    "allowed_dns_sans",
    "allowed_email_sans",
    "allowed_uri_sans",
    "allowed_organizational_units",
    "required_extensions",
    "allowed_metadata_extensions",
    "ocsp_servers_override",
];

/// The legacy names of token settings a role accepts and echoes.
const LEGACY: &[&str] = &["policies", "ttl", "max_ttl", "period", "bound_cidrs"];

/// A stored trusted certificate (a "cert role").
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct CertRole {
    /// The name, lower-cased.
    pub(crate) name: String,
    /// The PEM trust anchor(s) as given.
    pub(crate) certificate: String,
    /// Shown in the token's display name (`cert-<display_name>`); defaults to the name.
    pub(crate) display_name: String,
    /// The constraint lists by field name; absent = never set.
    pub(crate) lists: std::collections::BTreeMap<String, Vec<String>>,
    /// Stored for compatibility; enabling it is refused (no OCSP client yet).
    pub(crate) ocsp_enabled: bool,
    pub(crate) ocsp_ca_certificates: String,
    pub(crate) ocsp_fail_open: bool,
    pub(crate) ocsp_query_all_servers: bool,
    /// Legacy names (`policies`, `ttl`...) used to set token settings, echoed on reads.
    pub(crate) legacy: LegacyNames,
    pub(crate) token: TokenFields,
}

impl CertRole {
    /// A constraint list, empty when unset.
    pub(crate) fn list(&self, name: &str) -> &[String] {
        self.lists.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("certificate".into(), json!(self.certificate));
        out.insert("display_name".into(), json!(self.display_name));
        for name in LISTS {
            out.insert((*name).into(), json!(self.lists.get(*name)));
        }
        out.insert("ocsp_enabled".into(), json!(self.ocsp_enabled));
        out.insert("ocsp_ca_certificates".into(), json!(self.ocsp_ca_certificates));
        out.insert("ocsp_fail_open".into(), json!(self.ocsp_fail_open));
        out.insert("ocsp_query_all_servers".into(), json!(self.ocsp_query_all_servers));
        self.token.write_json(&mut out);
        self.legacy.echo(&self.token, &mut out);
        Value::Object(sorted(out))
    }
}

fn key(name: &str) -> String {
    format!("{PREFIX}{}", name.to_lowercase())
}

/// Loads a role by name (case-insensitive).
pub(crate) async fn load(req: &Req, name: &str) -> Result<Option<CertRole>> {
    read_json(req.storage(), &key(name)).await
}

pub(crate) fn routes(router: Router<()>) -> Router<()> {
    let mut cert = token_fields::declare(Path::new("certs/{name}"))
        .field(Field::string("certificate").describe("PEM CA or client certificate to trust."))
        .field(Field::string("display_name").describe("Display name of the issued tokens."))
        .field(Field::bool("ocsp_enabled").describe("Check OCSP (not supported)."))
        .field(Field::string("ocsp_ca_certificates").describe("PEM CAs of OCSP responders."))
        .field(Field::bool("ocsp_fail_open").describe("Accept when OCSP cannot answer."))
        .field(Field::bool("ocsp_query_all_servers").describe("Ask every OCSP server."))
        .field(Field::int("lease").describe("Deprecated: use token_ttl."))
        .field(Field::duration("ttl").describe("Deprecated: use token_ttl."))
        .field(Field::duration("max_ttl").describe("Deprecated: use token_max_ttl."))
        .field(Field::list("bound_cidrs").describe("Deprecated: use token_bound_cidrs."));
    for name in LISTS {
        let what = if name.starts_with("ocsp") {
            "OCSP servers to ask instead of the certificate's."
        } else {
            "Patterns the client certificate must match."
        };
        cert = cert.field(Field::list(name).describe(what));
    }
    let cert = cert.read(read_cert).write(write_cert).delete(delete_cert).existence(
        |_s: Arc<()>, req: Req| async move { Ok(load(&req, req.capture("name")).await?.is_some()) },
    );
    router.path(Path::new("certs/").list(list_certs)).path(cert)
}

async fn list_certs(_s: Arc<()>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": req.storage().list(PREFIX).await? }))))
}

async fn read_cert(_s: Arc<()>, req: Req) -> Result<Option<Response>> {
    Ok(load(&req, req.capture("name")).await?.map(|r| Response::json(r.to_json())))
}

async fn delete_cert(_s: Arc<()>, req: Req) -> Result<Option<Response>> {
    req.storage().delete(&key(req.capture("name"))).await?;
    Ok(None)
}

/// Applies the legacy token names (and `lease`, older still, for `ttl`) onto the current
/// ones and remembers them so that reads echo them, as Vault does.
fn upgrade_legacy(role: &mut CertRole, req: &mut Req) {
    if !req.has("token_ttl") && !req.has("ttl") {
        if let Some(value) = req.inner.data.get("lease").cloned() {
            req.inner.data.insert("token_ttl".into(), value);
            role.legacy.mark("ttl");
        }
    }
    role.legacy.upgrade(req, LEGACY);
}

/// Applies the request to `role` (fields not sent keep their value) and checks the result.
fn apply(role: &mut CertRole, req: &mut Req) -> Result<()> {
    upgrade_legacy(role, req);
    role.token.update(req)?;
    role.legacy.retain_in_use(&role.token);
    if req.has("certificate") {
        role.certificate = req.str("certificate")?;
    }
    if req.has("display_name") {
        role.display_name = req.str("display_name")?;
    }
    if role.display_name.is_empty() {
        role.display_name = role.name.clone();
    }
    for name in LISTS {
        if req.has(name) {
            role.lists.insert((*name).to_string(), req.list(name)?);
        }
    }
    for flag in ["ocsp_enabled", "ocsp_fail_open", "ocsp_query_all_servers"] {
        if req.has(flag) {
            let value = req.bool(flag)?;
            match flag {
                "ocsp_enabled" => role.ocsp_enabled = value,
                "ocsp_fail_open" => role.ocsp_fail_open = value,
                _ => role.ocsp_query_all_servers = value,
            }
        }
    }
    if req.has("ocsp_ca_certificates") {
        role.ocsp_ca_certificates = req.str("ocsp_ca_certificates")?;
    }
    if role.ocsp_enabled {
        return Err(Error::invalid(
            "OCSP checking is not supported by this server: ocsp_enabled must be false",
        ));
    }
    for entry in role.list("required_extensions") {
        if !entry.contains(':') {
            return Err(Error::invalid(format!(
                "invalid required_extensions entry {entry:?}: expected <oid>:<value>"
            )));
        }
    }
    Trusted::parse(&role.certificate)?.check_leaf_usage()
}

async fn write_cert(_s: Arc<()>, mut req: Req) -> Result<Option<Response>> {
    let name = req.capture("name").to_lowercase();
    let mut role = load(&req, &name)
        .await?
        .unwrap_or_else(|| CertRole { name: name.clone(), ..CertRole::default() });
    apply(&mut role, &mut req)?;
    let bytes = serde_json::to_vec(&role).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(&key(&name), &bytes).await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_lists_read_as_null_and_set_ones_as_arrays() {
        let mut role = CertRole { name: "web".into(), ..CertRole::default() };
        role.lists.insert("allowed_common_names".into(), Vec::new());
        let read = role.to_json();
        assert_eq!(read["allowed_dns_sans"], Value::Null);
        assert_eq!(read["allowed_common_names"], json!([]));
        assert_eq!(read["token_policies"], json!([]));
        assert!(read.get("policies").is_none());
    }

    #[test]
    fn legacy_names_echo_the_current_value() {
        let mut role = CertRole::default();
        role.token.policies = vec!["a".into()];
        role.legacy.mark("policies");
        let read = role.to_json();
        assert_eq!(read["policies"], json!(["a"]));
        assert!(read.get("ttl").is_none());
    }
}
