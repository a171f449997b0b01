//! Certificate revocation lists: one per issuer, full and delta, numbered in one sequence,
//! rebuilt on revocation (or on a schedule with `auto_rebuild`) and on demand when stale.
//!
//! The revocations are read from the expiry index starting at the present, so a build costs
//! what is still unexpired, not everything ever revoked.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_storage::SharedStorage;
use coffer_types::{Error, Result, unix_now};
use der::asn1::{Any, BitString, GeneralizedTime, ObjectIdentifier, OctetString, Uint, UtcTime};
use der::{Decode, Encode, Sequence};
use rcgen::SigningKey;
use serde::{Deserialize, Serialize};
use x509_cert::crl::RevokedCert;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

use crate::PkiState;
use crate::certutil::parse_serial;
use crate::issuers::{self, SigningIssuer};
use crate::model::{
    self, CrlConfig, IssuerEntry, REVOKED_INDEX, RevokedEntry, parse_index_entry, revoked_key,
};

/// The stored CRLs of one issuer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct CrlState {
    /// The next number of the shared full/delta sequence.
    pub next_number: u64,
    /// The full CRL, DER base64.
    pub full: String,
    /// Its number.
    pub full_number: u64,
    /// Its thisUpdate.
    pub full_this_update: i64,
    /// Its nextUpdate.
    pub full_next_update: i64,
    /// The delta CRL, DER base64 ("" when none).
    pub delta: String,
    /// Its nextUpdate.
    pub delta_next_update: i64,
    /// Revocations since the last build are not on the CRL yet.
    pub dirty: bool,
}

fn crl_key(issuer_id: &str) -> String {
    format!("crl/{issuer_id}")
}

fn der_error(e: der::Error) -> Error {
    Error::internal(format!("unable to encode CRL: {e}"))
}

/// An `AlgorithmIdentifier` for a signature OID, with NULL parameters for RSA.
pub(crate) fn algorithm_identifier(
    oid: &str,
    null_params: bool,
) -> Result<AlgorithmIdentifierOwned> {
    let oid = ObjectIdentifier::new(oid).map_err(|_| Error::internal("bad OID"))?;
    let parameters = if null_params { Some(Any::from(der::asn1::Null)) } else { None };
    Ok(AlgorithmIdentifierOwned { oid, parameters })
}

/// Unix seconds as an X.509 `Time` (UTCTime through 2049, GeneralizedTime after).
pub(crate) fn x509_time(unix: i64) -> Result<Time> {
    let since = Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    if unix < 2_524_608_000 {
        UtcTime::from_unix_duration(since).map(Time::UtcTime).map_err(der_error)
    } else {
        GeneralizedTime::from_unix_duration(since).map(Time::GeneralTime).map_err(der_error)
    }
}

fn extension(oid: &str, critical: bool, value: &impl Encode) -> Result<Extension> {
    Ok(Extension {
        extn_id: ObjectIdentifier::new(oid).map_err(|_| Error::internal("bad OID"))?,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(der_error)?).map_err(der_error)?,
    })
}

/// `TBSCertList` with the issuer kept as the exact bytes of the CA's subject, so relying
/// parties that compare names byte for byte match it.
#[derive(Sequence)]
struct TbsCrl {
    version: u8,
    signature: AlgorithmIdentifierOwned,
    issuer: Any,
    this_update: Time,
    next_update: Option<Time>,
    revoked: Option<Vec<RevokedCert>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

#[derive(Sequence)]
struct SignedCrl {
    tbs: Any,
    algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

fn revocation_bits(issuer: &SigningIssuer) -> i64 {
    match issuer.entry.revocation_signature_algorithm.as_str() {
        "SHA384WithRSA" | "ECDSAWithSHA384" => 384,
        "SHA512WithRSA" | "ECDSAWithSHA512" => 512,
        _ => 0,
    }
}

/// The algorithm the issuer signs CRLs and OCSP responses with.
pub(crate) fn signature_algorithm(issuer: &SigningIssuer) -> Result<AlgorithmIdentifierOwned> {
    let (oid, null) = issuer.key.spec.signature_oid(revocation_bits(issuer));
    algorithm_identifier(oid, null)
}

/// Signs `tbs` (a to-be-signed CRL or OCSP response) with the issuer's key.
pub(crate) fn sign(issuer: &SigningIssuer, tbs: &[u8]) -> Result<BitString> {
    let signature = issuer
        .key
        .signer(revocation_bits(issuer))?
        .sign(tbs)
        .map_err(|e| Error::internal(format!("signing failed: {e}")))?;
    BitString::from_bytes(&signature).map_err(der_error)
}

/// Builds and signs one CRL. `base` is `Some(full number)` for a delta CRL.
fn build(
    issuer: &SigningIssuer,
    entries: &[RevokedEntry],
    number: u64,
    base: Option<u64>,
    now: i64,
    expiry: i64,
) -> Result<Vec<u8>> {
    let mut revoked = Vec::new();
    for entry in entries {
        let serial = parse_serial(&entry.serial_number)?;
        revoked.push(RevokedCert {
            serial_number: SerialNumber::new(&serial).map_err(der_error)?,
            revocation_date: x509_time(entry.revocation_time)?,
            crl_entry_extensions: None,
        });
    }
    let mut extensions = Vec::new();
    if let Some(ski) = &issuer.cert.ski {
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(ski.clone()).map_err(der_error)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        extensions.push(extension("2.5.29.35", false, &aki)?);
    }
    let uint = |n: u64| Uint::new(&n.to_be_bytes()).map_err(der_error);
    extensions.push(extension("2.5.29.20", false, &CrlNumber(uint(number)?))?);
    if let Some(base) = base {
        extensions.push(extension("2.5.29.27", true, &uint(base)?)?);
    }
    let tbs = TbsCrl {
        version: 1,
        signature: signature_algorithm(issuer)?,
        issuer: Any::from_der(&issuer.cert.subject).map_err(der_error)?,
        this_update: x509_time(now)?,
        next_update: Some(x509_time(now.saturating_add(expiry))?),
        revoked: if revoked.is_empty() { None } else { Some(revoked) },
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(der_error)?;
    let signature = sign(issuer, &tbs_der)?;
    let algorithm = signature_algorithm(issuer)?;
    SignedCrl { tbs: Any::from_der(&tbs_der).map_err(der_error)?, algorithm, signature }
        .to_der()
        .map_err(der_error)
}

/// Every revocation whose certificate has not expired, oldest expiry first, read page by
/// page from the expiry index.
pub(crate) async fn unexpired_revocations(
    storage: &SharedStorage,
    now: i64,
) -> Result<Vec<RevokedEntry>> {
    let mut out = Vec::new();
    let mut cursor = format!("{now:020}");
    loop {
        let page = storage.list_page(REVOKED_INDEX, Some(&cursor), Some(1000)).await?;
        let Some(last) = page.last().cloned() else { break };
        for name in &page {
            let Some((_, serial)) = parse_index_entry(name) else { continue };
            if let Some(entry) = model::get::<RevokedEntry>(storage, &revoked_key(serial)).await? {
                out.push(entry);
            }
        }
        if page.len() < 1000 {
            break;
        }
        cursor = last;
    }
    Ok(out)
}

/// Rebuilds the CRLs of every issuer that has a key and may sign CRLs (or only `only`).
pub(crate) async fn rebuild(
    state: &PkiState,
    storage: &SharedStorage,
    only: Option<&str>,
    delta_only: bool,
) -> Result<()> {
    let _guard = state.crl_lock.lock().await;
    let config: CrlConfig = model::get_config(storage, "crl").await?;
    let now = unix_now();
    let revocations =
        if config.disable { Vec::new() } else { unexpired_revocations(storage, now).await? };
    for entry in issuers::list_issuers(storage).await? {
        if only.is_some_and(|id| id != entry.id)
            || entry.key_id.is_empty()
            || !entry.has_usage("crl-signing")
        {
            continue;
        }
        let issuer = issuers::signing_from_entry(storage, entry).await?;
        let mut crl: CrlState =
            model::get(storage, &crl_key(&issuer.entry.id)).await?.unwrap_or_default();
        let mine: Vec<RevokedEntry> =
            revocations.iter().filter(|r| r.issuer_id == issuer.entry.id).cloned().collect();
        let rebuild_full = !delta_only || crl.full.is_empty();
        if rebuild_full {
            crl.next_number += 1;
            let der = build(&issuer, &mine, crl.next_number, None, now, config.expiry)?;
            crl.full = STANDARD.encode(der);
            crl.full_number = crl.next_number;
            crl.full_this_update = now;
            crl.full_next_update = now.saturating_add(config.expiry);
            crl.dirty = false;
        }
        if config.enable_delta {
            let since: Vec<RevokedEntry> =
                mine.into_iter().filter(|r| r.revocation_time >= crl.full_this_update).collect();
            crl.next_number += 1;
            let der = build(
                &issuer,
                &since,
                crl.next_number,
                Some(crl.full_number),
                now,
                config.delta_rebuild_interval.max(60),
            )?;
            crl.delta = STANDARD.encode(der);
            crl.delta_next_update = now.saturating_add(config.delta_rebuild_interval.max(60));
        } else if rebuild_full {
            // As the reference: with delta CRLs off, each full CRL still has an empty delta
            // beside it (numbered next, based on it, valid as long), so `crl/delta` answers.
            crl.next_number += 1;
            let der =
                build(&issuer, &[], crl.next_number, Some(crl.full_number), now, config.expiry)?;
            crl.delta = STANDARD.encode(der);
            crl.delta_next_update = crl.full_next_update;
        }
        model::put(storage, &crl_key(&issuer.entry.id), &crl).await?;
    }
    Ok(())
}

/// What a revocation does to the CRLs: an immediate rebuild, unless `auto_rebuild` defers it
/// (then only the delta CRL is rebuilt, when enabled).
pub(crate) async fn after_revocation(
    state: &PkiState,
    storage: &SharedStorage,
    issuer_id: &str,
) -> Result<()> {
    let config: CrlConfig = model::get_config(storage, "crl").await?;
    if !config.auto_rebuild {
        return rebuild(state, storage, Some(issuer_id), false).await;
    }
    if config.enable_delta {
        return rebuild(state, storage, Some(issuer_id), true).await;
    }
    let key = crl_key(issuer_id);
    let mut crl: CrlState = model::get(storage, &key).await?.unwrap_or_default();
    crl.dirty = true;
    model::put(storage, &key, &crl).await
}

/// The issuer's current CRL (full or delta) as DER, built first when missing or stale;
/// `None` when the issuer cannot sign CRLs.
pub(crate) async fn current(
    state: &PkiState,
    storage: &SharedStorage,
    issuer: &IssuerEntry,
    delta: bool,
) -> Result<Option<Vec<u8>>> {
    if issuer.key_id.is_empty() || !issuer.has_usage("crl-signing") {
        return Ok(None);
    }
    let config: CrlConfig = model::get_config(storage, "crl").await?;
    let now = unix_now();
    let key = crl_key(&issuer.id);
    let crl: CrlState = model::get(storage, &key).await?.unwrap_or_default();
    let grace = if config.auto_rebuild { config.auto_rebuild_grace_period } else { 0 };
    let stale = crl.full.is_empty()
        || crl.full_next_update - grace <= now
        || (config.auto_rebuild
            && crl.dirty
            && crl.full_this_update + config.delta_rebuild_interval <= now)
        || (delta && (crl.delta.is_empty() || crl.delta_next_update <= now));
    let crl = if stale {
        rebuild(state, storage, Some(&issuer.id), false).await?;
        model::get(storage, &key).await?.unwrap_or(crl)
    } else {
        crl
    };
    let text = if delta { &crl.delta } else { &crl.full };
    if text.is_empty() {
        return Ok(None);
    }
    STANDARD.decode(text).map(Some).map_err(|_| Error::internal("corrupt stored CRL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_switch_encoding_in_2050() {
        assert!(matches!(x509_time(1_700_000_000), Ok(Time::UtcTime(_))));
        assert!(matches!(x509_time(2_600_000_000), Ok(Time::GeneralTime(_))));
        assert!(algorithm_identifier("1.2.840.10045.4.3.2", false).is_ok());
    }
}
