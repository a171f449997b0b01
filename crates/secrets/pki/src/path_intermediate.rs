//! Intermediate CAs and imports: `intermediate/generate/:type` (a CSR and its key),
//! `intermediate/set-signed`, `config/ca` and `issuers/import/{bundle,cert}`.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Map, Response, Result};
use rcgen::CertificateParams;
use serde_json::json;
use x509_parser::prelude::{
    FromDer, GeneralName, ParsedExtension, X509CertificationRequest, X509Name,
};

use crate::PkiState;
use crate::issuers;
use crate::issuing::{Sans, Subject, ca_basic_constraints_extension};
use crate::keys::{KeyFormat, KeySpec, spki_spec};
use crate::model::{self, UrlsConfig};
use crate::output::{Format, csr};
use crate::path_root::{add_cn_to_sans, ca_fields, key_for_generation, no_aia_warning};
use crate::pem;

/// A verified CSR, reduced to what the signing paths use.
pub(crate) struct Csr {
    /// Its subject.
    pub subject: Subject,
    /// Its requested SANs.
    pub sans: Sans,
    /// Its public key.
    pub public_key: rcgen::SubjectPublicKeyInfo,
    /// Type and size of that key.
    pub key: KeySpec,
    /// Whether it asks for `CA:TRUE`.
    pub requests_ca: bool,
}

/// The subject fields of a parsed name (attributes rcgen cannot reproduce are dropped).
pub(crate) fn subject_from_name(name: &X509Name<'_>) -> Subject {
    let mut subject = Subject::default();
    for attr in name.iter_attributes() {
        let Ok(value) = attr.as_str() else { continue };
        let value = value.to_string();
        match attr.attr_type().to_id_string().as_str() {
            "2.5.4.3" => subject.common_name = value,
            "2.5.4.6" => subject.country.push(value),
            "2.5.4.8" => subject.province.push(value),
            "2.5.4.7" => subject.locality.push(value),
            "2.5.4.9" => subject.street_address.push(value),
            "2.5.4.17" => subject.postal_code.push(value),
            "2.5.4.10" => subject.organization.push(value),
            "2.5.4.11" => subject.ou.push(value),
            "2.5.4.5" => subject.serial_number = value,
            "0.9.2342.19200300.100.1.1" => subject.user_id = value,
            _ => {}
        }
    }
    subject
}

/// Parses and verifies a PEM (or base64 DER) CSR.
pub(crate) fn parse_csr(text: &str) -> Result<Csr> {
    let der = pem::decode_one(text, &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"])
        .map_err(|_| Error::invalid("csr contains no data"))?;
    let (_, parsed) = X509CertificationRequest::from_der(&der)
        .map_err(|e| Error::invalid(format!("certificate request could not be parsed: {e}")))?;
    parsed
        .verify_signature()
        .map_err(|_| Error::invalid("certificate request signature could not be verified"))?;
    let info = &parsed.certification_request_info;
    let key = spki_spec(&info.subject_pki)?;
    let public_key = rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw)
        .map_err(|e| Error::invalid(format!("unsupported public key in the request: {e}")))?;
    let mut sans = Sans::default();
    let mut requests_ca = false;
    if let Some(extensions) = parsed.requested_extensions() {
        for ext in extensions {
            match ext {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => sans.push_name(d),
                            GeneralName::RFC822Name(e) => sans.push_name(e),
                            GeneralName::URI(u) => sans.uri.push((*u).to_string()),
                            GeneralName::IPAddress(bytes) => {
                                if let Some(ip) = ip_from_bytes(bytes) {
                                    sans.ip.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) => requests_ca = bc.ca,
                _ => {}
            }
        }
    }
    Ok(Csr { subject: subject_from_name(&info.subject), sans, public_key, key, requests_ca })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    let import = |path: &str| {
        Path::new(path).field(Field::string("pem_bundle")).field(Field::string("certificate"))
    };
    router
        .path(ca_fields(Path::new("intermediate/generate/{type}")).write(generate_intermediate))
        .path(
            ca_fields(Path::new("issuers/generate/intermediate/{type}"))
                .write(generate_intermediate),
        )
        .path(import("intermediate/set-signed").write(set_signed))
        .path(import("config/ca").write(import_with_keys))
        .path(import("issuers/import/bundle").write(import_with_keys))
        .path(import("issuers/import/cert").write(import_certs_only))
}

async fn generate_intermediate(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let format = Format::parse(&req.str("format")?)?;
    let key_format = KeyFormat::parse(&req.str("private_key_format")?)?;
    let subject = Subject::from_req(&req)?;
    let mut sans = Sans::from_req(&req)?;
    add_cn_to_sans(&mut sans, &subject.common_name, req.bool("exclude_cn_from_sans")?);
    let key_name = req.str("key_name")?;
    issuers::validate_name("key", &key_name)?;
    let (key, existing_key) = key_for_generation(&req).await?;
    let signer = key.signer(req.int("signature_bits")?)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.to_dn()?;
    params.subject_alt_names = sans.to_rcgen()?;
    if req.bool("add_basic_constraints")? {
        params.custom_extensions.push(ca_basic_constraints_extension()?);
    }
    let request = params
        .serialize_request(&signer)
        .map_err(|e| Error::internal(format!("unable to create the CSR: {e}")))?;

    let _guard = state.issuer_lock.lock().await;
    let key_entry = match existing_key {
        Some(id) => issuers::load_key(req.storage(), &id).await?,
        None => issuers::store_key(req.storage(), &key, &key_name).await?.0,
    };
    drop(_guard);

    let mut data = Map::new();
    data.insert("csr".into(), json!(csr(format, request.der())));
    data.insert("key_id".into(), json!(key_entry.id));
    if req.capture("type") == "exported" {
        data.insert("private_key".into(), json!(format.key(&key, key_format)?));
        data.insert("private_key_type".into(), json!(key.spec.kind.as_str()));
    }
    let mut response = Response::data(data);
    let urls: UrlsConfig = model::get_config(req.storage(), "urls").await?;
    if urls.is_empty() {
        response.warnings.push(no_aia_warning(true));
    }
    Ok(Some(response))
}

/// The answer to an import: the result, with the reference's warning when new issuers came
/// in while the mount has no AIA URLs.
async fn import_response(req: &Req, result: &issuers::ImportResult) -> Result<Response> {
    let mut response = Response::json(result.to_json());
    let urls: UrlsConfig = model::get_config(req.storage(), "urls").await?;
    if !result.imported_issuers.is_empty() && urls.is_empty() {
        response.warnings.push(no_aia_warning(false));
    }
    Ok(response)
}

fn bundle_text(req: &Req) -> Result<String> {
    let text = req.str("pem_bundle")?;
    let text = if text.trim().is_empty() { req.str("certificate")? } else { text };
    if text.trim().is_empty() {
        return Err(Error::invalid("\"pem_bundle\" must be provided"));
    }
    Ok(text)
}

async fn set_signed(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let text = req.str("certificate")?;
    if text.trim().is_empty() {
        return Err(Error::invalid("no certificate provided in the \"certificate\" parameter"));
    }
    let _guard = state.issuer_lock.lock().await;
    let result = issuers::import_bundle(req.storage(), &text, false).await?;
    let mut response = import_response(&req, &result).await?;
    if result.mapping.values().all(|k| k.as_str().is_some_and(str::is_empty)) {
        response
            .warnings
            .push("none of the imported certificates matches a key of this mount".into());
    }
    Ok(Some(response))
}

async fn import_with_keys(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let text = bundle_text(&req)?;
    let _guard = state.issuer_lock.lock().await;
    let result = issuers::import_bundle(req.storage(), &text, true).await?;
    Ok(Some(import_response(&req, &result).await?))
}

async fn import_certs_only(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let text = bundle_text(&req)?;
    let _guard = state.issuer_lock.lock().await;
    let result = issuers::import_bundle(req.storage(), &text, false).await?;
    Ok(Some(import_response(&req, &result).await?))
}
