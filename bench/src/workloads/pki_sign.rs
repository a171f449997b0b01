//! `pki-sign-ec`: signing a CSR (EC P-256, made once here), so the server does no keygen.

use anyhow::{Context, Result};
use base64::Engine as _;
use http::Method;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::json;

use super::{Prepared, scoped};
use crate::client::{Api, Call};

/// Prepares the workload.
pub async fn prepare(root: &Api) -> Result<Prepared> {
    super::pki_issue::pki_mount(root).await?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating the CSR key")?;
    let mut params = CertificateParams::new(vec!["svc.bench.internal".to_string()])?;
    // rcgen's default subject is "rcgen self signed cert", which the role would refuse.
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "svc.bench.internal");
    let csr = params.serialize_request(&key).context("making the CSR")?;
    let csr = pem("CERTIFICATE REQUEST", csr.der());
    let policy = r#"path "bench-pki/sign/ec" { capabilities = ["create", "update"] }"#;
    let (api, scope) = scoped(root, "bench-pki-sign-ec", policy).await?;
    let body = json!({ "csr": csr, "common_name": "svc.bench.internal", "ttl": "5m" });
    let call = Call::json(Method::PUT, "bench-pki/sign/ec", &body);
    Ok(Prepared::new(api, scope, move |_| call.clone()))
}

/// PEM armour: base64 in 64-column lines between BEGIN and END.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
