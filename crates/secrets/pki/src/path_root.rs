//! Root CAs: `root/generate/:type` (also `issuers/generate/root/:type`, `root/rotate/:type`),
//! `DELETE root`, `root/sign-intermediate` (also `issuer/:ref/sign-intermediate`) and
//! `root/sign-self-issued`.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_storage::WriteOp;
use coffer_types::{Error, Map, Response, Result, unix_now};
use der::{Decode, Encode};
use rcgen::KeyUsagePurpose;
use serde_json::json;

use crate::PkiState;
use crate::certutil::{CertInfo, serial_key};
use crate::issuers::{self, SigningIssuer};
use crate::issuing::{
    PastIssuer, Sans, Subject, Template, TtlInput, effective_urls, ttl_input, validity,
};
use crate::keys::{KeyFormat, KeySpec, PrivateKey};
use crate::model::{self, CertEntry, UrlsConfig, b64};
use crate::names::{valid_email, valid_hostname};
use crate::output::Format;
use crate::path_intermediate::parse_csr;

/// The fields every CA generation or signing path accepts.
pub(crate) fn ca_fields(path: Path<PkiState>) -> Path<PkiState> {
    let lists = [
        "alt_names",
        "ip_sans",
        "uri_sans",
        "other_sans",
        "permitted_dns_domains",
        "excluded_dns_domains",
    ];
    let subject =
        ["ou", "organization", "country", "locality", "province", "street_address", "postal_code"];
    let strings = [
        "common_name",
        "not_after",
        "format",
        "private_key_format",
        "key_type",
        "serial_number",
        "issuer_name",
        "key_name",
        "key_ref",
        "external_key_ref",
        "managed_key_name",
        "managed_key_id",
        "issuer_ref",
    ];
    let mut path = path;
    for name in lists.iter().chain(subject.iter()) {
        path = path.field(Field::list(name));
    }
    for name in strings {
        path = path.field(Field::string(name));
    }
    path.field(Field::duration("ttl"))
        .field(Field::int("key_bits"))
        .field(Field::int("max_path_length").default(-1))
        .field(Field::bool("exclude_cn_from_sans"))
        .field(Field::duration("not_before_duration").default(30))
        .field(Field::int("signature_bits"))
        .field(Field::bool("use_pss"))
        .field(Field::bool("add_basic_constraints"))
        .field(Field::bool("use_csr_values"))
        .field(Field::string("csr"))
        .field(Field::string("skid"))
        .field(Field::list("policy_identifiers"))
}

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    router
        .path(ca_fields(Path::new("root/generate/{type}")).write(generate_root))
        .path(ca_fields(Path::new("issuers/generate/root/{type}")).write(generate_root))
        .path(ca_fields(Path::new("root/rotate/{type}")).write(generate_root))
        .path(Path::new("root").delete(delete_root))
        .path(ca_fields(Path::new("root/sign-intermediate")).write(sign_intermediate))
        .path(ca_fields(Path::new("issuer/{ref}/sign-intermediate")).write(sign_intermediate))
        .path(
            Path::new("root/sign-self-issued")
                .field(Field::string("certificate"))
                .field(Field::bool("require_matching_certificate_algorithms"))
                .field(Field::string("issuer_ref"))
                .write(sign_self_issued),
        )
        .path(
            Path::new("issuer/{ref}/sign-self-issued")
                .field(Field::string("certificate"))
                .field(Field::bool("require_matching_certificate_algorithms"))
                .write(sign_self_issued),
        )
}

/// The key a generation request asks for: a new one (`internal`, `exported`) or a stored one
/// (`existing` with `key_ref`). Returns the key and whether it must be stored.
pub(crate) async fn key_for_generation(req: &Req) -> Result<(PrivateKey, Option<String>)> {
    match req.capture("type") {
        "internal" | "exported" => {
            let spec = KeySpec::parse(&req.str("key_type")?, req.int("key_bits")?)?;
            Ok((PrivateKey::generate(spec).await?, None))
        }
        "existing" => {
            let key = issuers::load_key(req.storage(), &req.str("key_ref")?).await?;
            Ok((key.private_key()?, Some(key.id)))
        }
        "kms" => {
            if req.str("external_key_ref")?.is_empty() {
                Err(Error::invalid(
                    "must specify \"external_key_ref\" on \"kms\"-typed generation requests",
                ))
            } else {
                Err(Error::invalid("external (kms) keys are not supported"))
            }
        }
        other => Err(Error::invalid(format!("invalid type: {other}"))),
    }
}

/// Adds the common name to the SANs unless told not to, when it is a hostname or email.
pub(crate) fn add_cn_to_sans(sans: &mut Sans, cn: &str, exclude: bool) {
    if exclude || cn.is_empty() {
        return;
    }
    if valid_email(cn) || (!cn.contains('@') && valid_hostname(cn.trim_start_matches("*."))) {
        sans.push_name(cn);
    }
}

/// The path length a new CA below `issuer` may have; refuses when the issuer allows none.
fn child_path_len(requested: i64, issuer: Option<&CertInfo>) -> Result<Option<u8>> {
    let parent = issuer.and_then(|c| c.path_len);
    if parent == Some(0) {
        return Err(Error::invalid(
            "the issuer's max path length is 0, so it cannot sign intermediate CAs",
        ));
    }
    let limit = parent.map(|p| i64::from(p) - 1);
    let value = match (requested, limit) {
        (r, Some(l)) if r < 0 || r > l => l,
        (r, _) if r < 0 => return Ok(None),
        (r, _) => r,
    };
    u8::try_from(value).map(Some).map_err(|_| Error::invalid("max_path_length is too large"))
}

async fn generate_root(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let format = Format::parse(&req.str("format")?)?;
    let key_format = KeyFormat::parse(&req.str("private_key_format")?)?;
    let subject = Subject::from_req(&req)?;
    if subject.common_name.is_empty() {
        return Err(Error::invalid("the common_name field is required"));
    }
    let mut sans = Sans::from_req(&req)?;
    add_cn_to_sans(&mut sans, &subject.common_name, req.bool("exclude_cn_from_sans")?);
    let issuer_name = req.str("issuer_name")?;
    let key_name = req.str("key_name")?;
    issuers::validate_name("issuer", &issuer_name)?;
    issuers::validate_name("key", &key_name)?;
    let ttl = TtlInput { backdate: req.duration("not_before_duration")?, ..ttl_input(&req)? };
    let window = validity(unix_now(), ttl, None, PastIssuer::Permit)?;
    let urls: UrlsConfig = model::get_config(req.storage(), "urls").await?;
    let template = Template {
        subject,
        sans,
        not_before: window.not_before,
        not_after: window.not_after,
        ca: Some(child_path_len(req.int("max_path_length")?, None)?),
        key_usage: vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
        permitted_dns_domains: req.list("permitted_dns_domains")?,
        urls: urls.clone(),
        policy_identifiers: req.list("policy_identifiers")?,
        ..Default::default()
    };
    let (key, existing_key) = key_for_generation(&req).await?;
    let der = template.self_sign(&key, req.int("signature_bits")?)?;
    let cert = CertInfo::parse(&der)?;

    let _guard = state.issuer_lock.lock().await;
    let key_entry = match existing_key {
        Some(id) => issuers::load_key(req.storage(), &id).await?,
        None => issuers::store_key(req.storage(), &key, &key_name).await?.0,
    };
    let algorithm = key.spec.revocation_algorithm_name();
    let issuer =
        issuers::store_issuer(req.storage(), &cert, &key_entry.id, &issuer_name, algorithm).await?;
    drop(_guard);

    let mut data = Map::new();
    let mut certificate = format.cert(&der);
    if req.capture("type") == "exported" {
        let private_key = format.key(&key, key_format)?;
        if format == Format::PemBundle {
            certificate = format!("{private_key}\n{certificate}");
        }
        data.insert("private_key".into(), json!(private_key));
        data.insert("private_key_type".into(), json!(key.spec.kind.as_str()));
    }
    data.insert("certificate".into(), json!(certificate));
    data.insert("expiration".into(), json!(cert.not_after));
    data.insert("issuer_id".into(), json!(issuer.id));
    data.insert("issuer_name".into(), json!(issuer.name));
    data.insert("issuing_ca".into(), json!(format.cert(&der)));
    data.insert("key_id".into(), json!(key_entry.id));
    data.insert("key_name".into(), json!(key_entry.name));
    data.insert("serial_number".into(), json!(cert.serial_colon()));
    let mut response = Response::data(data);
    response.warnings.extend(window.warnings);
    if urls.is_empty() {
        response.warnings.push(no_aia_warning(false));
    }
    Ok(Some(response))
}

/// The reference's warning when a mount makes or imports a CA without any authority
/// information access URLs configured; `intermediate` adds its advice for CSRs.
pub(crate) fn no_aia_warning(intermediate: bool) -> String {
    let mut text = String::from(
        "This mount hasn't configured any authority information access (AIA) fields; this may make it harder for \
         systems to find missing certificates in the chain or to validate revocation status of certificates. \
         Consider updating /config/urls or the newly generated issuer with this information.",
    );
    if intermediate {
        text.push_str(
            " Since this certificate is an intermediate, it might be useful to regenerate this certificate after \
             fixing this problem for the root mount.",
        );
    }
    text
}

async fn delete_root(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.issuer_lock.lock().await;
    let storage = req.storage();
    for prefix in ["issuer/", "key/", "issuer-name/", "key-name/", "crl/"] {
        storage.delete_prefix(prefix).await?;
    }
    storage
        .batch(vec![
            WriteOp::Delete { key: "config/issuers".into() },
            WriteOp::Delete { key: "config/keys".into() },
        ])
        .await?;
    let mut response = Response { status: Some(200), ..Default::default() };
    response.warnings.push(
        "DELETE /root deletes all keys and issuers; prefer the new DELETE /key/:key_ref and DELETE \
         /issuer/:issuer_ref for finer granularity, unless removal of all keys and issuers is desired."
            .into(),
    );
    Ok(Some(response))
}

/// The issuer reference of a signing path: the `{ref}` capture, else `issuer_ref`.
pub(crate) fn issuer_ref(req: &Req) -> Result<String> {
    let captured = req.capture("ref");
    if !captured.is_empty() {
        return Ok(captured.to_string());
    }
    let field = req.str("issuer_ref")?;
    Ok(if field.is_empty() { "default".into() } else { field })
}

/// Loads the signing issuer and checks it may issue.
pub(crate) async fn issuing_issuer(req: &Req, reference: &str) -> Result<SigningIssuer> {
    let issuer = issuers::load_signing(req.storage(), reference).await?;
    if !issuer.entry.has_usage("issuing-certificates") {
        return Err(Error::invalid(format!(
            "issuer {} is not allowed to issue certificates (usage: {})",
            issuer.entry.id, issuer.entry.usage
        )));
    }
    Ok(issuer)
}

/// Stores a certificate (`der`, with its serial and NotAfter) signed by `issuer_id`, with its
/// expiry index entry.
pub(crate) async fn store_cert(
    req: &Req,
    der: &[u8],
    serial: &[u8],
    not_after: i64,
    issuer_id: &str,
) -> Result<()> {
    let serial = serial_key(serial);
    let entry = CertEntry { der: b64(der), not_after, issuer_id: issuer_id.to_string() };
    req.storage()
        .batch(vec![
            model::put_op(model::cert_key(&serial), &entry)?,
            WriteOp::Put {
                key: model::index_entry(model::CERT_INDEX, not_after, &serial),
                value: Vec::new(),
            },
        ])
        .await?;
    Ok(())
}

async fn sign_intermediate(_state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let csr_text = req.str("csr")?;
    if csr_text.trim().is_empty() {
        return Err(Error::invalid("\"csr\" is empty"));
    }
    let format = Format::parse(&req.str("format")?)?;
    let csr = parse_csr(&csr_text)?;
    let issuer = issuing_issuer(&req, &issuer_ref(&req)?).await?;
    let use_csr_values = req.bool("use_csr_values")?;
    let mut subject = if use_csr_values { csr.subject.clone() } else { Subject::from_req(&req)? };
    if subject.common_name.is_empty() {
        subject.common_name = csr.subject.common_name.clone();
    }
    let mut sans = Sans::from_req(&req)?;
    if use_csr_values {
        for name in csr.sans.dns.iter().chain(csr.sans.email.iter()) {
            sans.push_name(name);
        }
        sans.ip.extend(csr.sans.ip.iter().copied());
        sans.uri.extend(csr.sans.uri.iter().cloned());
    }
    add_cn_to_sans(&mut sans, &subject.common_name, req.bool("exclude_cn_from_sans")?);
    let ttl = TtlInput { backdate: req.duration("not_before_duration")?, ..ttl_input(&req)? };
    let mut window = validity(unix_now(), ttl, None, PastIssuer::Permit)?;
    if window.not_after > issuer.cert.not_after {
        window.not_after = issuer.cert.not_after;
        window.warnings.push(format!(
            "The requested expiration is after the issuer's expiration ({}); the certificate expires with the issuer.",
            crate::certutil::rfc3339(issuer.cert.not_after)
        ));
    }
    let urls: UrlsConfig = model::get_config(req.storage(), "urls").await?;
    let template = Template {
        subject,
        sans,
        not_before: window.not_before,
        not_after: window.not_after,
        ca: Some(child_path_len(req.int("max_path_length")?, Some(&issuer.cert))?),
        key_usage: vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
        permitted_dns_domains: req.list("permitted_dns_domains")?,
        urls: effective_urls(&urls, &issuer.entry),
        policy_identifiers: req.list("policy_identifiers")?,
        ..Default::default()
    };
    let der = template.sign(&csr.public_key, &issuer, req.int("signature_bits")?)?;
    let cert = CertInfo::parse(&der)?;
    store_cert(&req, &cert.der, &cert.serial, cert.not_after, &issuer.entry.id).await?;
    let issuing_ca = format.cert_pem(&issuer.entry.certificate);
    let mut certificate = format.cert(&der);
    if format == Format::PemBundle {
        certificate = format!("{certificate}\n{issuing_ca}");
    }
    // The new CA heads its own chain, as the reference answers.
    let mut ca_chain = vec![format.cert(&der)];
    ca_chain.extend(issuer.entry.ca_chain.iter().map(|c| format.cert_pem(c)));
    let mut response = Response::json(json!({
        "certificate": certificate,
        "issuing_ca": issuing_ca,
        "ca_chain": ca_chain,
        "expiration": cert.not_after,
        "serial_number": cert.serial_colon(),
    }));
    response.warnings = window.warnings;
    Ok(Some(response))
}

/// Re-signs a self-issued CA certificate (root rollover): same subject, key and extensions,
/// issuer name and signature from this mount's issuer.
async fn sign_self_issued(_state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    use der::asn1::Any;
    let text = req.str("certificate")?;
    if text.trim().is_empty() {
        return Err(Error::invalid("\"certificate\" is empty"));
    }
    let given = CertInfo::from_pem(&text)?;
    if !given.self_issued() {
        return Err(Error::invalid("given certificate is not self-issued"));
    }
    if !given.is_ca {
        return Err(Error::invalid("given certificate is not a CA certificate"));
    }
    let issuer = issuing_issuer(&req, &issuer_ref(&req)?).await?;
    let bad = |e: der::Error| Error::invalid(format!("unable to re-encode the certificate: {e}"));
    let parts: Vec<Any> = Vec::from_der(&given.der).map_err(bad)?;
    let tbs = parts.first().ok_or_else(|| Error::invalid("malformed certificate"))?;
    let mut fields: Vec<Any> = Vec::from_der(&tbs.to_der().map_err(bad)?).map_err(bad)?;
    // TBSCertificate: [0] version, serial, signature, issuer, ...
    let offset =
        usize::from(fields.first().is_some_and(|f| der::Tagged::tag(f).is_context_specific()));
    let alg = crate::crl::signature_algorithm(&issuer)?;
    let alg_any = Any::from_der(&alg.to_der().map_err(bad)?).map_err(bad)?;
    let issuer_name = Any::from_der(&issuer.cert.subject).map_err(bad)?;
    if fields.len() < offset + 3 {
        return Err(Error::invalid("malformed certificate"));
    }
    if let Some(f) = fields.get_mut(offset + 1) {
        *f = alg_any.clone();
    }
    if let Some(f) = fields.get_mut(offset + 2) {
        *f = issuer_name;
    }
    if let Some(ski) = &issuer.cert.ski {
        replace_aki(&mut fields, ski).map_err(bad)?;
    }
    let tbs_der = fields.to_der().map_err(bad)?;
    let signature = crate::crl::sign(&issuer, &tbs_der)?;
    let cert = (Any::from_der(&tbs_der).map_err(bad)?, alg_any, signature);
    let der = encode_triple(cert).map_err(bad)?;
    Ok(Some(Response::json(json!({
        "certificate": crate::pem::cert(&der),
        "issuing_ca": issuer.entry.certificate,
    }))))
}

/// Points the authority key identifier of a TBSCertificate's extensions (`[3]`, the last
/// field) at the new issuer, so that chain builders that match key ids find it.
fn replace_aki(fields: &mut [der::asn1::Any], ski: &[u8]) -> der::Result<()> {
    use der::asn1::{Any, ContextSpecific, OctetString};
    use der::{TagMode, TagNumber, Tagged};
    use x509_cert::ext::Extension;
    use x509_cert::ext::pkix::AuthorityKeyIdentifier;
    let Some(last) = fields.last_mut() else { return Ok(()) };
    let tag = last.tag();
    if !(tag.is_context_specific() && tag.number() == TagNumber(3)) {
        return Ok(());
    }
    let mut extensions: Vec<Extension> = Vec::from_der(last.value())?;
    extensions.retain(|e| e.extn_id.to_string() != "2.5.29.35");
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(ski)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    extensions.push(Extension {
        extn_id: der::asn1::ObjectIdentifier::new_unwrap("2.5.29.35"),
        critical: false,
        extn_value: OctetString::new(aki.to_der()?)?,
    });
    let wrapped = ContextSpecific {
        tag_number: TagNumber(3),
        tag_mode: TagMode::Explicit,
        value: extensions,
    };
    *last = Any::from_der(&wrapped.to_der()?)?;
    Ok(())
}

fn encode_triple(
    (a, b, c): (der::asn1::Any, der::asn1::Any, der::asn1::BitString),
) -> der::Result<Vec<u8>> {
    #[derive(der::Sequence)]
    struct Triple {
        a: der::asn1::Any,
        b: der::asn1::Any,
        c: der::asn1::BitString,
    }
    Triple { a, b, c }.to_der()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lengths_without_a_constrained_parent() {
        assert_eq!(child_path_len(-1, None).ok(), Some(None));
        assert_eq!(child_path_len(2, None).ok(), Some(Some(2)));
        assert!(child_path_len(1000, None).is_err());
    }
}
