//! `login` (unauthenticated): the client certificate of the TLS connection becomes a token.
//!
//! With `name`, only that role is tried; without, every role in name order, and the first
//! that trusts the chain and whose constraints the certificate meets wins. Refusals are 400s
//! with Vault's messages; why a role refused is logged, not told to the client.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router, cidr};
use coffer_types::{Error, Map, Response, Result};
use rustls_pki_types::UnixTime;
use serde_json::Value;

use crate::client_cert::ClientCert;
use crate::path_certs::{self, CertRole, PREFIX};
use crate::trust::Trusted;
use crate::{constraints, path_config, renewal};

/// No certificate on the connection.
pub(crate) const NO_CERT: &str = "no client certificate found";
/// No role trusts the chain.
pub(crate) const UNTRUSTED: &str = "invalid certificate or no client certificate supplied";
/// A role trusts the chain but the certificate fails its constraints.
pub(crate) const NO_MATCH: &str =
    "no chain matching all constraints could be found for this login certificate";

pub(crate) fn routes(router: Router<()>) -> Router<()> {
    router.path(
        Path::new("login")
            .field(Field::string("name").describe("The trusted certificate to log in against."))
            .write(login),
    )
}

/// The outcome of trying the roles.
enum Outcome {
    /// The role that admits the certificate.
    Matched(Box<CertRole>),
    /// Some role trusted the chain, none admitted the certificate.
    Constrained,
    /// No role trusted the chain.
    Untrusted,
}

/// The role among `name` (every role when "") that admits the chain, or the error to answer.
pub(crate) async fn verify(req: &Req, name: &str, chain: &[Vec<u8>]) -> Result<Box<CertRole>> {
    let Some(leaf) = chain.first() else { return Err(Error::invalid(NO_CERT)) };
    let Some(cert) = ClientCert::parse(leaf) else {
        tracing::debug!(mount = %req.inner.mount_point, "cert: client certificate does not parse");
        return Err(Error::invalid(UNTRUSTED));
    };
    match find_role(req, name, chain, &cert).await? {
        Outcome::Matched(role) => Ok(role),
        Outcome::Constrained => Err(Error::invalid(NO_MATCH)),
        Outcome::Untrusted => Err(Error::invalid(UNTRUSTED)),
    }
}

async fn find_role(req: &Req, name: &str, chain: &[Vec<u8>], cert: &ClientCert) -> Result<Outcome> {
    let name = name.trim().to_lowercase();
    let names = if name.is_empty() { req.storage().list(PREFIX).await? } else { vec![name] };
    let mount = &req.inner.mount_point;
    let now = UnixTime::now();
    let mut trusted_somewhere = false;
    for name in names {
        let Some(role) = path_certs::load(req, &name).await? else { continue };
        let trusted = match Trusted::parse(&role.certificate) {
            Ok(trusted) => trusted,
            Err(_) => {
                tracing::warn!(%mount, role = %name, "cert: stored certificate does not parse");
                continue;
            }
        };
        if let Err(reason) = trusted.verify(chain, now) {
            tracing::debug!(%mount, role = %name, %reason, "cert: role does not trust the chain");
            continue;
        }
        trusted_somewhere = true;
        if constraints::matches(&role, cert) {
            return Ok(Outcome::Matched(Box::new(role)));
        }
        tracing::debug!(%mount, role = %name, "cert: certificate fails the role's constraints");
    }
    Ok(if trusted_somewhere { Outcome::Constrained } else { Outcome::Untrusted })
}

/// The token metadata: the certificate's identity and the role's name, plus the allowed
/// metadata extensions under their OIDs with dashes (`1-2-3-4`), usable in ACL templates.
fn metadata(role: &CertRole, cert: &ClientCert) -> Map {
    let mut out = Map::new();
    for (key, value) in [
        ("authority_key_id", &cert.authority_key_id),
        ("cert_name", &role.name),
        ("common_name", &cert.common_name),
        ("serial_number", &cert.serial_number),
        ("subject_key_id", &cert.subject_key_id),
    ] {
        out.insert(key.into(), Value::String(value.clone()));
    }
    for oid in role.list("allowed_metadata_extensions") {
        if let Some(value) = cert.extension(oid) {
            out.insert(oid.replace('.', "-"), Value::String(value.to_string()));
        }
    }
    out
}

async fn login(_s: Arc<()>, req: Req) -> Result<Option<Response>> {
    let chain = req.inner.peer_certificates.clone();
    let role = verify(&req, &req.str("name")?, &chain).await?;
    // `verify` parsed the leaf already: it is there and parses.
    let Some((leaf, cert)) = chain.first().and_then(|leaf| Some((leaf, ClientCert::parse(leaf)?)))
    else {
        return Err(Error::invalid(UNTRUSTED));
    };
    cidr::check_source(req.inner.remote_addr, &role.token.bound_cidrs, "the role")
        .map_err(|_| Error::PermissionDenied)?;
    let config = path_config::load(&req).await?;

    let metadata = metadata(&role, &cert);
    let mut login = role.token.login();
    let who = if role.display_name.is_empty() { &role.name } else { &role.display_name };
    login.display_name = who.clone();
    if config.enable_identity_alias_metadata {
        login.alias_metadata = metadata.clone();
    }
    login.metadata = metadata;
    login.internal = renewal::binding(leaf, &cert);
    login.alias_name = cert.common_name;
    Ok(Some(Response { login: Some(login), ..Response::default() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_shape() {
        let mut role = CertRole { name: "web".into(), ..CertRole::default() };
        role.lists
            .insert("allowed_metadata_extensions".into(), vec!["1.2.3.4".into(), "5.6".into()]);
        let cert = ClientCert {
            common_name: "web.client.test".into(),
            serial_number: "42".into(),
            subject_key_id: "aa:bb".into(),
            extensions: vec![("1.2.3.4".into(), "hello".into())],
            ..ClientCert::default()
        };
        let got = Value::Object(metadata(&role, &cert));
        let expected = serde_json::json!({
            "authority_key_id": "", "cert_name": "web", "common_name": "web.client.test",
            "serial_number": "42", "subject_key_id": "aa:bb", "1-2-3-4": "hello",
        });
        assert_eq!(got, expected);
    }
}
