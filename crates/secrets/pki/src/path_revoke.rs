//! Revocation and the certificate store: `revoke`, `revoke-with-key`, `certs/` and
//! `certs/revoked/` (lists).

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Response, Result, unix_now};
use serde_json::json;

use crate::PkiState;
use crate::certutil::{CertInfo, parse_serial, rfc3339, serial_colon, serial_key};
use crate::crl;
use crate::issuers;
use crate::keys::PrivateKey;
use crate::model::{
    self, CertEntry, CrlConfig, REVOKED_INDEX, RevokedEntry, b64, cert_key, index_entry,
    revoked_key,
};

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    let revoke_path = |p: &str| {
        Path::new(p).field(Field::string("serial_number")).field(Field::string("certificate"))
    };
    router
        .path(revoke_path("revoke").write(revoke))
        .path(
            revoke_path("revoke-with-key")
                .field(Field::string("private_key"))
                .write(revoke_with_key),
        )
        .path(
            Path::new("certs/")
                .field(Field::string("after"))
                .field(Field::int("limit"))
                .list(list_certs),
        )
        .path(
            Path::new("certs/revoked/")
                .field(Field::string("after"))
                .field(Field::int("limit"))
                .list(list_revoked),
        )
}

fn revoked_response(entry: &RevokedEntry) -> Response {
    Response::json(json!({
        "revocation_time": entry.revocation_time,
        "revocation_time_rfc3339": rfc3339(entry.revocation_time),
        "state": "revoked",
    }))
}

/// The certificate a revoke request names, by serial or as PEM.
async fn target(req: &Req) -> Result<(Vec<u8>, Option<CertInfo>)> {
    let serial = req.str("serial_number")?;
    let certificate = req.str("certificate")?;
    match (serial.trim().is_empty(), certificate.trim().is_empty()) {
        (false, false) => Err(Error::invalid(
            "must provide either the certificate or the serial number, not both",
        )),
        (true, true) => {
            Err(Error::invalid("the serial number or certificate to revoke must be provided"))
        }
        (false, true) => Ok((parse_serial(&serial)?, None)),
        (true, false) => {
            let cert = CertInfo::from_pem(&certificate)?;
            Ok((cert.serial.clone(), Some(cert)))
        }
    }
}

async fn revoke(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let (serial, given) = target(&req).await?;
    revoke_cert(&state, req.storage(), &serial, given, false).await.map(Some)
}

async fn revoke_with_key(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let (serial, given) = target(&req).await?;
    let key_text = req.str("private_key")?;
    if key_text.trim().is_empty() {
        return Err(Error::invalid("the private key of the certificate must be provided"));
    }
    let key = PrivateKey::from_pem(&key_text)?;
    let cert = match &given {
        Some(cert) => cert.clone(),
        None => stored_cert(req.storage(), &serial).await?.ok_or_else(|| not_found(&serial))?,
    };
    if key.spki()? != cert.spki {
        return Err(Error::invalid("failed to validate private key match with certificate"));
    }
    revoke_cert(&state, req.storage(), &serial, Some(cert), false).await.map(Some)
}

fn not_found(serial: &[u8]) -> Error {
    Error::invalid(format!("certificate with serial {} not found.", serial_colon(serial)))
}

/// The stored certificate with this serial.
pub(crate) async fn stored_cert(
    storage: &SharedStorage,
    serial: &[u8],
) -> Result<Option<CertInfo>> {
    match model::get::<CertEntry>(storage, &cert_key(&serial_key(serial))).await? {
        Some(entry) => Ok(Some(CertInfo::parse(&entry.der()?)?)),
        None => Ok(None),
    }
}

/// Revokes by serial text (lease revocation). `quiet` skips the checks a lease revocation
/// must not fail on (expired certificates).
pub(crate) async fn revoke_serial(
    state: &PkiState,
    storage: &SharedStorage,
    serial: &str,
    quiet: bool,
) -> Result<Response> {
    let serial = parse_serial(serial)?;
    revoke_cert(state, storage, &serial, None, quiet).await
}

async fn revoke_cert(
    state: &PkiState,
    storage: &SharedStorage,
    serial: &[u8],
    given: Option<CertInfo>,
    quiet: bool,
) -> Result<Response> {
    let key = serial_key(serial);
    if let Some(existing) = model::get::<RevokedEntry>(storage, &revoked_key(&key)).await? {
        return Ok(revoked_response(&existing));
    }
    let stored: Option<CertEntry> = model::get(storage, &cert_key(&key)).await?;
    let (cert, mut issuer_id) = match (&stored, given) {
        (Some(entry), _) => (CertInfo::parse(&entry.der()?)?, entry.issuer_id.clone()),
        (None, Some(cert)) => (cert, String::new()),
        (None, None) => return Err(not_found(serial)),
    };
    let all_issuers = issuers::list_issuers(storage).await?;
    if let Some(issuer) = all_issuers.iter().find(|i| i.serial_number == cert.serial_colon()) {
        return Err(Error::invalid(format!(
            "adding issuer (id: {}) to its own CRL is not allowed",
            issuer.id
        )));
    }
    if issuer_id.is_empty() || stored.is_none() {
        let signer = all_issuers
            .iter()
            .find(|i| CertInfo::from_pem(&i.certificate).is_ok_and(|c| cert.issued_by(&c)));
        match signer {
            Some(issuer) => issuer_id = issuer.id.clone(),
            None => {
                return Err(Error::invalid(
                    "the certificate was not issued by an issuer of this mount",
                ));
            }
        }
    }
    let now = unix_now();
    let config: CrlConfig = model::get_config(storage, "crl").await?;
    if cert.not_after < now && !config.allow_expired_cert_revocation {
        if quiet {
            return Ok(Response::default());
        }
        return Ok(Response::default().with_warning(format!(
            "certificate with serial {} has already expired; refusing to add it to the CRL",
            cert.serial_colon()
        )));
    }
    let entry = RevokedEntry {
        serial_number: cert.serial_colon(),
        revocation_time: now,
        not_after: cert.not_after,
        issuer_id: issuer_id.clone(),
        der: b64(&cert.der),
    };
    storage
        .batch(vec![
            model::put_op(revoked_key(&key), &entry)?,
            WriteOp::Put {
                key: index_entry(REVOKED_INDEX, cert.not_after, &key),
                value: Vec::new(),
            },
        ])
        .await?;
    crl::after_revocation(state, storage, &issuer_id).await?;
    Ok(revoked_response(&entry))
}

/// Lists serials below `prefix`, honouring OpenBao's `after` and `limit` pagination.
async fn list_serials(req: &Req, prefix: &str) -> Result<Option<Response>> {
    let after = req.str("after")?;
    let after = if after.is_empty() { None } else { Some(serial_key(&parse_serial(&after)?)) };
    let limit = usize::try_from(req.int("limit")?).ok().filter(|l| *l > 0);
    let keys: Vec<String> = req
        .storage()
        .list_page(prefix, after.as_deref(), limit)
        .await?
        .into_iter()
        .map(|k| k.replace('-', ":"))
        .collect();
    Ok(Some(Response::json(json!({ "keys": keys }))))
}

async fn list_certs(_state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    list_serials(&req, "certs/").await
}

async fn list_revoked(_state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    list_serials(&req, "revoked/").await
}
