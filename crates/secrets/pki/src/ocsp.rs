//! The OCSP responder (RFC 6960): `POST ocsp` (DER body, passed base64 in `http_raw_body`)
//! and `GET ocsp/<base64 DER>`. One request per query; answers `good`, `revoked` (with the
//! time) or `unknown` (issuer not ours, signed by the default issuer), signed by the issuer.
//!
//! The ASN.1 structures are defined here with `der` derives; `x509-ocsp` depends on an older
//! `der` than `x509-cert` 0.3.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use coffer_framework::{Field, Path, Req, Router};
use coffer_storage::SharedStorage;
use coffer_types::{Error, Response, Result, unix_now};
use der::asn1::{Any, BitString, GeneralizedTime, Int, Null, ObjectIdentifier, OctetString};
use der::{Choice, Decode, Encode, Enumerated, Sequence};
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::PkiState;
use crate::certutil::{CertInfo, serial_key};
use crate::issuers::{self, SigningIssuer};
use crate::model::{self, CrlConfig, IssuerEntry, IssuersConfig, RevokedEntry, revoked_key};
use crate::path_fetch::raw;

const CONTENT_TYPE: &str = "application/ocsp-response";
const BASIC_RESPONSE: &str = "1.3.6.1.5.5.7.48.1.1";

/// `CertID`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct CertId {
    hash_algorithm: AlgorithmIdentifierOwned,
    issuer_name_hash: OctetString,
    issuer_key_hash: OctetString,
    serial_number: Int,
}

/// `Request`.
#[derive(Clone, Debug, Sequence)]
struct SingleRequest {
    req_cert: CertId,
    #[asn1(context_specific = "0", optional = "true")]
    single_request_extensions: Option<Any>,
}

/// `TBSRequest`.
#[derive(Clone, Debug, Sequence)]
struct TbsRequest {
    #[asn1(context_specific = "0", optional = "true")]
    version: Option<u8>,
    #[asn1(context_specific = "1", optional = "true")]
    requestor_name: Option<Any>,
    request_list: Vec<SingleRequest>,
    #[asn1(context_specific = "2", optional = "true")]
    request_extensions: Option<Any>,
}

/// `OCSPRequest`.
#[derive(Clone, Debug, Sequence)]
struct OcspRequest {
    tbs_request: TbsRequest,
    #[asn1(context_specific = "0", optional = "true")]
    optional_signature: Option<Any>,
}

/// `OCSPResponseStatus`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Enumerated)]
#[repr(u32)]
enum Status {
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    Unauthorized = 6,
}

/// `ResponseBytes`.
#[derive(Clone, Debug, Sequence)]
struct ResponseBytes {
    response_type: ObjectIdentifier,
    response: OctetString,
}

/// `OCSPResponse`.
#[derive(Clone, Debug, Sequence)]
struct OcspResponse {
    response_status: Status,
    #[asn1(context_specific = "0", optional = "true")]
    response_bytes: Option<ResponseBytes>,
}

/// `RevokedInfo`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct RevokedInfo {
    revocation_time: GeneralizedTime,
}

/// `CertStatus`.
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
enum CertStatus {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// `SingleResponse`.
#[derive(Clone, Debug, Sequence)]
struct SingleResponse {
    cert_id: CertId,
    cert_status: CertStatus,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", optional = "true")]
    next_update: Option<GeneralizedTime>,
}

/// `ResponseData` with the responder identified by key (`[2] KeyHash`, the CHOICE's
/// explicit tag written as the field's).
#[derive(Clone, Debug, Sequence)]
struct ResponseData {
    #[asn1(context_specific = "2")]
    responder_key_hash: OctetString,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponse>,
}

/// `BasicOCSPResponse` (no certificates: the issuer signs its own answers).
#[derive(Clone, Debug, Sequence)]
struct BasicOcspResponse {
    tbs_response_data: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    router
        .path(Path::new("ocsp").field(Field::string("http_raw_body")).write(post))
        .path(Path::new("ocsp/{request*}").read(get))
}

fn der_error(e: der::Error) -> Error {
    Error::internal(format!("unable to encode OCSP response: {e}"))
}

/// An unsigned answer (`malformedRequest`, `unauthorized`...) with its HTTP status.
fn status_only(status: Status, http: u16) -> Response {
    let body =
        OcspResponse { response_status: status, response_bytes: None }.to_der().unwrap_or_default();
    Response { status: Some(http), ..raw(CONTENT_TYPE, body) }
}

async fn post(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let body = req.str("http_raw_body")?;
    Ok(Some(match STANDARD.decode(body.trim()) {
        Ok(der) if !der.is_empty() => answer(&state, req.storage(), &der).await,
        _ => status_only(Status::MalformedRequest, 400),
    }))
}

async fn get(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let text = req.capture("request").replace("%2B", "+").replace("%2F", "/").replace("%3D", "=");
    let decoded = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(text.trim()).ok());
    Ok(Some(match decoded {
        Some(der) if !der.is_empty() => answer(&state, req.storage(), &der).await,
        _ => status_only(Status::MalformedRequest, 400),
    }))
}

/// Answers one DER request; failures become OCSP error responses, never JSON errors.
async fn answer(state: &PkiState, storage: &SharedStorage, der: &[u8]) -> Response {
    let Ok(request) = OcspRequest::from_der(der) else {
        return status_only(Status::MalformedRequest, 400);
    };
    let [single] = request.tbs_request.request_list.as_slice() else {
        return status_only(Status::MalformedRequest, 400);
    };
    match respond(state, storage, &single.req_cert).await {
        Ok(Some(body)) => raw(CONTENT_TYPE, body),
        Ok(None) => status_only(Status::Unauthorized, 401),
        Err(_) => status_only(Status::InternalError, 500),
    }
}

/// Whether `der` is a well-formed OCSP request (fuzzing entry point).
pub(crate) fn parses(der: &[u8]) -> bool {
    OcspRequest::from_der(der).is_ok()
}

fn hash_alg(oid: &ObjectIdentifier) -> Option<&'static digest::Algorithm> {
    match oid.to_string().as_str() {
        "1.3.14.3.2.26" => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
        "2.16.840.1.101.3.4.2.1" => Some(&digest::SHA256),
        "2.16.840.1.101.3.4.2.2" => Some(&digest::SHA384),
        "2.16.840.1.101.3.4.2.3" => Some(&digest::SHA512),
        _ => None,
    }
}

/// Whether `id` names `cert` as its issuer.
fn matches(id: &CertId, cert: &CertInfo) -> bool {
    let Some(alg) = hash_alg(&id.hash_algorithm.oid) else { return false };
    digest::digest(alg, &cert.subject).as_ref() == id.issuer_name_hash.as_bytes()
        && digest::digest(alg, &cert.public_key_bits).as_ref() == id.issuer_key_hash.as_bytes()
}

/// The signed response, or `None` for `unauthorized` (responder off, issuer not allowed).
async fn respond(
    state: &PkiState,
    storage: &SharedStorage,
    id: &CertId,
) -> Result<Option<Vec<u8>>> {
    let _ = state;
    let config: CrlConfig = model::get_config(storage, "crl").await?;
    if config.ocsp_disable {
        return Ok(None);
    }
    let all = issuers::list_issuers(storage).await?;
    let parsed: Vec<(IssuerEntry, CertInfo)> = all
        .into_iter()
        .filter_map(|e| CertInfo::from_pem(&e.certificate).ok().map(|c| (e, c)))
        .collect();
    let found = parsed.iter().find(|(e, c)| !e.key_id.is_empty() && matches(id, c));
    let (entry, status) = match found {
        Some((entry, _)) => {
            let serial: Vec<u8> =
                id.serial_number.as_bytes().iter().copied().skip_while(|b| *b == 0).collect();
            let revoked: Option<RevokedEntry> =
                model::get(storage, &revoked_key(&serial_key(&serial))).await?;
            let status = match revoked.filter(|r| r.issuer_id == entry.id) {
                Some(r) => CertStatus::Revoked(RevokedInfo {
                    revocation_time: generalized(r.revocation_time)?,
                }),
                None => CertStatus::Good(Null),
            };
            (entry.clone(), status)
        }
        None => {
            let config: IssuersConfig = model::get_config(storage, "issuers").await?;
            match parsed.iter().find(|(e, _)| e.id == config.default && !e.key_id.is_empty()) {
                Some((entry, _)) => (entry.clone(), CertStatus::Unknown(Null)),
                None => return Ok(None),
            }
        }
    };
    if !entry.has_usage("ocsp-signing") {
        return Ok(None);
    }
    let issuer = issuers::signing_from_entry(storage, entry).await?;
    build(&issuer, id, status, config.ocsp_expiry).map(Some)
}

fn generalized(unix: i64) -> Result<GeneralizedTime> {
    GeneralizedTime::from_unix_duration(Duration::from_secs(u64::try_from(unix).unwrap_or(0)))
        .map_err(der_error)
}

fn build(issuer: &SigningIssuer, id: &CertId, status: CertStatus, expiry: i64) -> Result<Vec<u8>> {
    let now = unix_now();
    let key_hash = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &issuer.cert.public_key_bits);
    let data = ResponseData {
        responder_key_hash: OctetString::new(key_hash.as_ref()).map_err(der_error)?,
        produced_at: generalized(now)?,
        responses: vec![SingleResponse {
            cert_id: id.clone(),
            cert_status: status,
            this_update: generalized(now)?,
            next_update: if expiry > 0 {
                Some(generalized(now.saturating_add(expiry))?)
            } else {
                None
            },
        }],
    };
    let tbs = data.to_der().map_err(der_error)?;
    let signature = crate::crl::sign(issuer, &tbs)?;
    let basic = BasicOcspResponse {
        tbs_response_data: Any::from_der(&tbs).map_err(der_error)?,
        signature_algorithm: crate::crl::signature_algorithm(issuer)?,
        signature,
    };
    let response = OcspResponse {
        response_status: Status::Successful,
        response_bytes: Some(ResponseBytes {
            response_type: ObjectIdentifier::new(BASIC_RESPONSE)
                .map_err(|_| Error::internal("bad OID"))?,
            response: OctetString::new(basic.to_der().map_err(der_error)?).map_err(der_error)?,
        }),
    };
    response.to_der().map_err(der_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_answers_encode() {
        let r = status_only(Status::MalformedRequest, 400);
        assert_eq!(r.status, Some(400));
        assert_eq!(r.raw.map(|b| b.body), Some(vec![0x30, 0x03, 0x0a, 0x01, 0x01]));
    }
}
