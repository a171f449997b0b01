//! Unauthenticated distribution of CA certificates, chains, CRLs and single certificates:
//! `ca`, `ca/pem`, `ca_chain`, `crl[/pem]`, `crl/delta[/pem]`, `cert/:serial[/raw[/pem]]` and
//! `issuer/:ref/{der,pem,json,crl...}`. Raw bodies carry Vault's content types.

use std::sync::Arc;

use coffer_framework::{Path, Req, Router};
use coffer_types::{Error, RawBody, Response, Result};
use serde_json::json;

use crate::PkiState;
use crate::certutil::{parse_serial, rfc3339, serial_key};
use crate::crl;
use crate::issuers;
use crate::model::{self, CertEntry, IssuerEntry, RevokedEntry, cert_key, revoked_key};
use crate::pem;

const PKIX_CERT: &str = "application/pkix-cert";
const PEM_CHAIN: &str = "application/pem-certificate-chain";
const PKIX_CRL: &str = "application/pkix-crl";
const PEM_FILE: &str = "application/x-pem-file";

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    router
        .path(Path::new("ca").read(ca_der))
        .path(Path::new("ca/pem").read(ca_pem))
        .path(Path::new("ca_chain").read(ca_chain))
        .path(Path::new("cert/ca_chain").read(cert_ca_chain))
        .path(Path::new("crl").read(|s, r| crl_raw(s, r, false, false)))
        .path(Path::new("crl/pem").read(|s, r| crl_raw(s, r, false, true)))
        .path(Path::new("crl/delta").read(|s, r| crl_raw(s, r, true, false)))
        .path(Path::new("crl/delta/pem").read(|s, r| crl_raw(s, r, true, true)))
        .path(Path::new("cert/{serial}").read(cert_json))
        .path(Path::new("cert/{serial}/raw").read(|s, r| cert_raw(s, r, false)))
        .path(Path::new("cert/{serial}/raw/pem").read(|s, r| cert_raw(s, r, true)))
        .path(Path::new("issuer/{ref}/der").read(|s, r| issuer_raw(s, r, false)))
        .path(Path::new("issuer/{ref}/pem").read(|s, r| issuer_raw(s, r, true)))
        .path(Path::new("issuer/{ref}/json").read(issuer_json))
        .path(Path::new("issuer/{ref}/crl").read(|s, r| crl_json(s, r, false)))
        .path(Path::new("issuer/{ref}/crl/der").read(|s, r| crl_raw(s, r, false, false)))
        .path(Path::new("issuer/{ref}/crl/pem").read(|s, r| crl_raw(s, r, false, true)))
        .path(Path::new("issuer/{ref}/crl/delta").read(|s, r| crl_json(s, r, true)))
        .path(Path::new("issuer/{ref}/crl/delta/der").read(|s, r| crl_raw(s, r, true, false)))
        .path(Path::new("issuer/{ref}/crl/delta/pem").read(|s, r| crl_raw(s, r, true, true)))
}

/// A raw body with its content type.
pub(crate) fn raw(content_type: &str, body: Vec<u8>) -> Response {
    Response {
        raw: Some(RawBody { content_type: content_type.to_string(), body }),
        ..Default::default()
    }
}

/// An empty raw answer (Vault's 204 for a CA read on a mount without issuers).
fn empty() -> Response {
    Response { status: Some(204), ..raw(PEM_CHAIN, Vec::new()) }
}

/// The issuer `{ref}` names, or the default one; `None` when the mount has no default.
async fn issuer_of(req: &Req) -> Result<Option<IssuerEntry>> {
    let reference = req.capture("ref");
    if reference.is_empty() || reference == "default" {
        let config: model::IssuersConfig = model::get_config(req.storage(), "issuers").await?;
        if config.default.is_empty() {
            return Ok(None);
        }
        return model::get(req.storage(), &model::issuer_key(&config.default)).await;
    }
    match issuers::load_issuer(req.storage(), reference).await {
        Ok(entry) => Ok(Some(entry)),
        Err(Error::InvalidRequest(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn cert_der(entry: &IssuerEntry) -> Result<Vec<u8>> {
    pem::decode_one(&entry.certificate, &["CERTIFICATE"])
}

fn chain_text(entry: &IssuerEntry) -> String {
    let mut text = String::new();
    for cert in &entry.ca_chain {
        text.push_str(cert.trim());
        text.push('\n');
    }
    text
}

async fn ca_der(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(match issuer_of(&req).await? {
        Some(entry) => raw(PKIX_CERT, cert_der(&entry)?),
        None => empty(),
    }))
}

async fn ca_pem(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(match issuer_of(&req).await? {
        Some(entry) => raw(PEM_CHAIN, format!("{}\n", entry.certificate.trim()).into_bytes()),
        None => empty(),
    }))
}

async fn ca_chain(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    // Vault serves the PEM chain under the DER content type; clients expect exactly that.
    Ok(Some(match issuer_of(&req).await? {
        Some(entry) => raw(PKIX_CERT, chain_text(&entry).into_bytes()),
        None => empty(),
    }))
}

async fn cert_ca_chain(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let Some(entry) = issuer_of(&req).await? else { return Ok(None) };
    let chain = chain_text(&entry);
    Ok(Some(Response::json(json!({
        "ca_chain": chain,
        "certificate": chain,
        "revocation_time": 0,
        "revocation_time_rfc3339": "",
    }))))
}

async fn crl_der(state: &PkiState, req: &Req, delta: bool) -> Result<Option<Vec<u8>>> {
    let Some(entry) = issuer_of(req).await? else { return Ok(None) };
    crl::current(state, req.storage(), &entry, delta).await
}

fn crl_pem(der: &[u8]) -> String {
    pem::encode("X509 CRL", der)
}

async fn crl_raw(
    state: Arc<PkiState>,
    req: Req,
    delta: bool,
    as_pem: bool,
) -> Result<Option<Response>> {
    let Some(der) = crl_der(&state, &req, delta).await? else { return Err(Error::NotFound) };
    Ok(Some(if as_pem { raw(PEM_FILE, crl_pem(&der).into_bytes()) } else { raw(PKIX_CRL, der) }))
}

async fn crl_json(state: Arc<PkiState>, req: Req, delta: bool) -> Result<Option<Response>> {
    let Some(der) = crl_der(&state, &req, delta).await? else { return Ok(None) };
    Ok(Some(Response::json(json!({ "crl": crl_pem(&der).trim_end() }))))
}

/// A stored certificate (or, after tidy, the copy kept with its revocation) and its
/// revocation, by serial.
async fn lookup(req: &Req, serial_text: &str) -> Result<Option<(Vec<u8>, Option<RevokedEntry>)>> {
    let Ok(serial) = parse_serial(serial_text) else { return Ok(None) };
    let key = serial_key(&serial);
    let revoked: Option<RevokedEntry> = model::get(req.storage(), &revoked_key(&key)).await?;
    if let Some(entry) = model::get::<CertEntry>(req.storage(), &cert_key(&key)).await? {
        return Ok(Some((entry.der()?, revoked)));
    }
    match revoked {
        Some(r) if !r.der.is_empty() => {
            use base64::Engine as _;
            let der = base64::engine::general_purpose::STANDARD
                .decode(&r.der)
                .map_err(|_| Error::internal("corrupt stored certificate"))?;
            Ok(Some((der, Some(r))))
        }
        _ => Ok(None),
    }
}

async fn cert_json(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let serial = req.capture("serial").to_string();
    let special = match serial.as_str() {
        "ca" => issuer_of(&req).await?.map(|e| e.certificate),
        "crl" => crl_der(&state, &req, false).await?.map(|d| crl_pem(&d).trim_end().to_string()),
        "delta-crl" | "delta_crl" => {
            crl_der(&state, &req, true).await?.map(|d| crl_pem(&d).trim_end().to_string())
        }
        _ => None,
    };
    if matches!(serial.as_str(), "ca" | "crl" | "delta-crl" | "delta_crl") {
        return Ok(special.map(|certificate| {
            Response::json(json!({"certificate": certificate, "revocation_time": 0, "revocation_time_rfc3339": ""}))
        }));
    }
    let Some((der, revoked)) = lookup(&req, &serial).await? else { return Ok(None) };
    let mut data = json!({
        "certificate": pem::cert(&der),
        "revocation_time": 0,
        "revocation_time_rfc3339": "",
    });
    if let (Some(r), Some(map)) = (revoked, data.as_object_mut()) {
        map.insert("revocation_time".into(), json!(r.revocation_time));
        map.insert("revocation_time_rfc3339".into(), json!(rfc3339(r.revocation_time)));
        map.insert("issuer_id".into(), json!(r.issuer_id));
    }
    Ok(Some(Response::json(data)))
}

async fn cert_raw(_s: Arc<PkiState>, req: Req, as_pem: bool) -> Result<Option<Response>> {
    let serial = req.capture("serial").to_string();
    let der = if serial == "ca" {
        match issuer_of(&req).await? {
            Some(entry) => cert_der(&entry)?,
            None => return Ok(None),
        }
    } else {
        match lookup(&req, &serial).await? {
            Some((der, _)) => der,
            None => return Ok(None),
        }
    };
    Ok(Some(if as_pem {
        raw(PEM_CHAIN, pem::encode("CERTIFICATE", &der).into_bytes())
    } else {
        raw(PKIX_CERT, der)
    }))
}

async fn issuer_raw(_s: Arc<PkiState>, req: Req, as_pem: bool) -> Result<Option<Response>> {
    let Some(entry) = issuer_of(&req).await? else { return Ok(None) };
    Ok(Some(if as_pem {
        raw(PEM_CHAIN, format!("{}\n", entry.certificate.trim()).into_bytes())
    } else {
        raw(PKIX_CERT, cert_der(&entry)?)
    }))
}

async fn issuer_json(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let Some(entry) = issuer_of(&req).await? else { return Ok(None) };
    Ok(Some(Response::json(json!({
        "ca_chain": entry.ca_chain,
        "certificate": entry.certificate,
        "issuer_id": entry.id,
        "issuer_name": entry.name,
    }))))
}
