//! Renewal of cert-auth tokens. Unless `config` sets `disable_binding`, a token renews only
//! over a connection presenting the very certificate it logged in with, still admitted by
//! its role; and never once the role's policies changed. A deleted role leaves the token
//! unrenewed with an empty answer, as Vault does.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use coffer_framework::{IssuedLogin, LoginRenewal, RenewTerms, Req};
use coffer_types::{Error, Map, Result};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::client_cert::ClientCert;
use crate::path_login::verify;
use crate::{path_certs, path_config};

/// The login's certificate (DER, base64) in the token's internal data.
const CERTIFICATE: &str = "certificate";

/// What a login stores to bind its token: the client certificate, and its key identifiers
/// (base64) as Vault keeps them.
pub(crate) fn binding(leaf: &[u8], cert: &ClientCert) -> Map {
    let mut out = Map::new();
    out.insert(CERTIFICATE.into(), Value::String(STANDARD.encode(leaf)));
    for (key, hex) in
        [("subject_key_id", &cert.subject_key_id), ("authority_key_id", &cert.authority_key_id)]
    {
        let bytes: Vec<u8> =
            hex.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok()).collect();
        out.insert(key.into(), Value::String(STANDARD.encode(bytes)));
    }
    out
}

/// Judges the renewal of a token issued by this mount's login.
pub(crate) async fn renew(_s: Arc<()>, req: Req, login: IssuedLogin) -> Result<LoginRenewal> {
    let config = path_config::load(&req).await?;
    let name = login.metadata_str("cert_name");
    let Some(role) = path_certs::load(&req, name).await? else {
        return Ok(LoginRenewal::Declined);
    };
    if !login.same_policies(&role.token.policies) {
        return Err(Error::internal("policies have changed, not renewing"));
    }
    if !config.disable_binding {
        let original = login.internal_str(CERTIFICATE);
        if original.is_empty() {
            return Err(Error::internal(
                "cannot validate renewal for cert auth for non-stored client certificate",
            ));
        }
        let original = STANDARD
            .decode(original)
            .map_err(|_| Error::internal("failed to base64-decode original certificate"))?;
        let chain = req.inner.peer_certificates.clone();
        verify(&req, &role.name, &chain).await?;
        let presented = chain.first().map(Vec::as_slice).unwrap_or_default();
        if !bool::from(original.as_slice().ct_eq(presented)) {
            tracing::info!(
                mount = %req.inner.mount_point, role = %role.name,
                "cert: renewal presented another certificate than the login"
            );
            return Err(Error::internal(
                "client identity during renewal not matching client identity used during login",
            ));
        }
    }
    Ok(LoginRenewal::Terms(RenewTerms::from(&role.token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_keeps_the_certificate_and_key_ids() {
        let cert = ClientCert {
            subject_key_id: "de:8e:01".into(),
            authority_key_id: String::new(),
            ..ClientCert::default()
        };
        let binding = binding(b"DER", &cert);
        assert_eq!(binding[CERTIFICATE], "REVS");
        assert_eq!(binding["subject_key_id"], STANDARD.encode([0xde, 0x8e, 0x01]));
        assert_eq!(binding["authority_key_id"], "");
    }
}
