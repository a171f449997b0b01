//! Building certificates: subject and SAN parameters as clients send them, validity windows
//! with Vault's TTL rules, usages, the AIA/CDP URLs, and signing with rcgen.

use coffer_framework::Req;
use coffer_types::{Error, Result, format_go_duration};
use der::Encode;
use der::asn1::{Ia5String, ObjectIdentifier, OctetString};
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyUsagePurpose, NameConstraints, PublicKeyData,
    SerialNumber,
};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

use crate::certutil::{new_serial, parse_rfc3339, to_datetime};
use crate::issuers::SigningIssuer;
use crate::keys::{KeyType, PrivateKey};
use crate::model::{IssuerEntry, UrlsConfig};
pub(crate) use crate::subject::{Sans, Subject, oid_arcs};

/// The lease TTL a mount gets when nothing else is set (Vault's system default, 768h).
pub(crate) const MOUNT_DEFAULT_TTL: i64 = 768 * 3600;

/// Parses key usage names as Vault accepts them (`DigitalSignature`, `digital_signature`...).
pub(crate) fn parse_key_usage(names: &[String]) -> Result<Vec<KeyUsagePurpose>> {
    let mut out = Vec::new();
    for name in names {
        let norm: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let usage = match norm.as_str() {
            "digitalsignature" => KeyUsagePurpose::DigitalSignature,
            "contentcommitment" | "nonrepudiation" => KeyUsagePurpose::ContentCommitment,
            "keyencipherment" => KeyUsagePurpose::KeyEncipherment,
            "dataencipherment" => KeyUsagePurpose::DataEncipherment,
            "keyagreement" => KeyUsagePurpose::KeyAgreement,
            "certsign" | "keycertsign" => KeyUsagePurpose::KeyCertSign,
            "crlsign" => KeyUsagePurpose::CrlSign,
            "encipheronly" => KeyUsagePurpose::EncipherOnly,
            "decipheronly" => KeyUsagePurpose::DecipherOnly,
            _ => return Err(Error::invalid(format!("unrecognized key usage: {name}"))),
        };
        if !out.contains(&usage) {
            out.push(usage);
        }
    }
    Ok(out)
}

/// Drops usages the leaf's key cannot serve: RFC 5480 forbids encipherment for EC keys,
/// Ed25519 keys only sign, and RSA keys do not do key agreement.
pub(crate) fn usages_for_key(usages: Vec<KeyUsagePurpose>, kind: KeyType) -> Vec<KeyUsagePurpose> {
    usages
        .into_iter()
        .filter(|u| match kind {
            KeyType::Rsa => !matches!(
                u,
                KeyUsagePurpose::KeyAgreement
                    | KeyUsagePurpose::EncipherOnly
                    | KeyUsagePurpose::DecipherOnly
            ),
            KeyType::Ec => {
                !matches!(u, KeyUsagePurpose::KeyEncipherment | KeyUsagePurpose::DataEncipherment)
            }
            KeyType::Ed25519 => !matches!(
                u,
                KeyUsagePurpose::KeyEncipherment
                    | KeyUsagePurpose::DataEncipherment
                    | KeyUsagePurpose::KeyAgreement
                    | KeyUsagePurpose::EncipherOnly
                    | KeyUsagePurpose::DecipherOnly
            ),
        })
        .collect()
}

/// Parses extended key usage names (`ServerAuth`...) and OIDs.
pub(crate) fn parse_ext_key_usage(
    names: &[String],
    oids: &[String],
) -> Result<Vec<ExtendedKeyUsagePurpose>> {
    let mut out = Vec::new();
    let mut push = |eku: ExtendedKeyUsagePurpose| {
        if !out.contains(&eku) {
            out.push(eku);
        }
    };
    for name in names {
        let norm: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let other = |arcs: &[u64]| ExtendedKeyUsagePurpose::Other(arcs.to_vec());
        push(match norm.as_str() {
            "any" => ExtendedKeyUsagePurpose::Any,
            "serverauth" => ExtendedKeyUsagePurpose::ServerAuth,
            "clientauth" => ExtendedKeyUsagePurpose::ClientAuth,
            "codesigning" => ExtendedKeyUsagePurpose::CodeSigning,
            "emailprotection" => ExtendedKeyUsagePurpose::EmailProtection,
            "timestamping" => ExtendedKeyUsagePurpose::TimeStamping,
            "ocspsigning" => ExtendedKeyUsagePurpose::OcspSigning,
            "ipsecendsystem" => other(&[1, 3, 6, 1, 5, 5, 7, 3, 5]),
            "ipsectunnel" => other(&[1, 3, 6, 1, 5, 5, 7, 3, 6]),
            "ipsecuser" => other(&[1, 3, 6, 1, 5, 5, 7, 3, 7]),
            "microsoftservergatedcrypto" => other(&[1, 3, 6, 1, 4, 1, 311, 10, 3, 3]),
            "netscapeservergatedcrypto" => other(&[2, 16, 840, 1, 113730, 4, 1]),
            "microsoftcommercialcodesigning" => other(&[1, 3, 6, 1, 4, 1, 311, 2, 1, 22]),
            "microsoftkernelcodesigning" => other(&[1, 3, 6, 1, 4, 1, 311, 61, 1, 1]),
            _ => return Err(Error::invalid(format!("unrecognized extended key usage: {name}"))),
        });
    }
    for oid in oids {
        push(ExtendedKeyUsagePurpose::Other(oid_arcs(oid)?));
    }
    Ok(out)
}

/// A validity window and the warnings computing it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validity {
    /// Start, unix seconds.
    pub not_before: i64,
    /// End, unix seconds.
    pub not_after: i64,
    /// Warnings for the response.
    pub warnings: Vec<String>,
}

/// Inputs of Vault's TTL rules.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TtlInput {
    /// The requested TTL (0 = none).
    pub requested: i64,
    /// An explicit `not_after` (0 = none).
    pub not_after: i64,
    /// The role's TTL (0 = none).
    pub role_ttl: i64,
    /// The role's max TTL (0 = none).
    pub role_max: i64,
    /// How far NotBefore is backdated.
    pub backdate: i64,
    /// The mount's default TTL (0 = Vault's system default, 768h).
    pub mount_default: i64,
    /// The mount's maximum TTL, the cap when the role has none (0 = no cap).
    pub mount_max: i64,
}

/// How a validity past the issuer's NotAfter is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PastIssuer {
    /// Refuse (400).
    Err,
    /// Cut at the issuer's NotAfter.
    Truncate,
    /// Allow.
    Permit,
}

impl PastIssuer {
    /// The issuer's `leaf_not_after_behavior`.
    pub(crate) fn of(issuer: &IssuerEntry) -> Self {
        match issuer.leaf_not_after_behavior.as_str() {
            "truncate" => PastIssuer::Truncate,
            "permit" => PastIssuer::Permit,
            _ => PastIssuer::Err,
        }
    }
}

/// Applies the TTL rules: requested TTL, else role TTL, else the mount default; capped at the
/// role's max (else the mount's) with a warning; `not_after` wins when given; then the issuer's
/// NotAfter.
pub(crate) fn validity(
    now: i64,
    input: TtlInput,
    issuer_not_after: Option<i64>,
    past: PastIssuer,
) -> Result<Validity> {
    let mut warnings = Vec::new();
    let mut ttl = if input.requested > 0 { input.requested } else { input.role_ttl };
    if ttl <= 0 {
        ttl = if input.mount_default > 0 { input.mount_default } else { MOUNT_DEFAULT_TTL };
    }
    let max = if input.role_max > 0 { input.role_max } else { input.mount_max };
    if max > 0 && ttl > max {
        warnings.push(format!(
            "TTL {:?} is longer than permitted maxTTL {:?}, so maxTTL is being used",
            format_go_duration(ttl),
            format_go_duration(max)
        ));
        ttl = max;
    }
    let mut not_after = if input.not_after > 0 { input.not_after } else { now.saturating_add(ttl) };
    if let Some(limit) = issuer_not_after {
        if not_after > limit {
            match past {
                PastIssuer::Err => {
                    return Err(Error::invalid(format!(
                        "cannot satisfy request, as TTL would result in notAfter of {} that is beyond the expiration of the CA certificate at {}",
                        crate::certutil::rfc3339(not_after),
                        crate::certutil::rfc3339(limit)
                    )));
                }
                PastIssuer::Truncate => not_after = limit,
                PastIssuer::Permit => {}
            }
        }
    }
    let not_before = now - input.backdate.max(0);
    if not_after <= not_before {
        return Err(Error::invalid("the requested validity ends before it starts"));
    }
    Ok(Validity { not_before, not_after, warnings })
}

/// Reads `ttl` and `not_after` of a request, and its mount's TTLs, into a [`TtlInput`].
pub(crate) fn ttl_input(req: &Req) -> Result<TtlInput> {
    let not_after = req.str("not_after")?;
    Ok(TtlInput {
        requested: req.duration("ttl")?,
        not_after: if not_after.is_empty() { 0 } else { parse_rfc3339(&not_after)? },
        mount_default: req.inner.default_lease_ttl,
        mount_max: req.inner.max_lease_ttl,
        ..Default::default()
    })
}

/// Everything a certificate is made of, before rcgen turns it into DER.
#[derive(Debug, Clone, Default)]
pub(crate) struct Template {
    /// Subject.
    pub subject: Subject,
    /// SANs.
    pub sans: Sans,
    /// Validity.
    pub not_before: i64,
    /// Validity.
    pub not_after: i64,
    /// `Some(path_len)` for a CA (`None` path length = unconstrained).
    pub ca: Option<Option<u8>>,
    /// Add `CA:FALSE` basic constraints to a leaf.
    pub leaf_basic_constraints: bool,
    /// Key usages.
    pub key_usage: Vec<KeyUsagePurpose>,
    /// Extended key usages.
    pub ext_key_usage: Vec<ExtendedKeyUsagePurpose>,
    /// Name constraints (permitted DNS subtrees).
    pub permitted_dns_domains: Vec<String>,
    /// AIA and CDP URLs.
    pub urls: UrlsConfig,
    /// Certificate policy OIDs.
    pub policy_identifiers: Vec<String>,
    /// The serial; a fresh random one when empty.
    pub serial: Vec<u8>,
}

/// The URLs an issuer's certificates carry: its own overrides, else the mount's.
pub(crate) fn effective_urls(mount: &UrlsConfig, issuer: &IssuerEntry) -> UrlsConfig {
    let pick = |own: &Vec<String>, global: &Vec<String>| {
        if own.is_empty() { global.clone() } else { own.clone() }
    };
    let mut urls = UrlsConfig {
        issuing_certificates: pick(&issuer.issuing_certificates, &mount.issuing_certificates),
        crl_distribution_points: pick(
            &issuer.crl_distribution_points,
            &mount.crl_distribution_points,
        ),
        delta_crl_distribution_points: pick(
            &issuer.delta_crl_distribution_points,
            &mount.delta_crl_distribution_points,
        ),
        ocsp_servers: pick(&issuer.ocsp_servers, &mount.ocsp_servers),
        enable_templating: mount.enable_templating || issuer.enable_aia_url_templating,
    };
    if urls.enable_templating {
        let expand = |list: &mut Vec<String>| {
            for url in list.iter_mut() {
                *url = url.replace("{{issuer_id}}", &issuer.id);
            }
        };
        expand(&mut urls.issuing_certificates);
        expand(&mut urls.crl_distribution_points);
        expand(&mut urls.delta_crl_distribution_points);
        expand(&mut urls.ocsp_servers);
    }
    urls
}

fn ext(oid: &[u64], critical: bool, value: Vec<u8>) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, value);
    ext.set_criticality(critical);
    ext
}

fn der_error(e: der::Error) -> Error {
    Error::invalid(format!("unable to encode extension: {e}"))
}

fn aia_extension(urls: &UrlsConfig) -> Result<Option<CustomExtension>> {
    let mut access = Vec::new();
    for (method, list) in [
        ("1.3.6.1.5.5.7.48.1", &urls.ocsp_servers),
        ("1.3.6.1.5.5.7.48.2", &urls.issuing_certificates),
    ] {
        for url in list {
            access.push(AccessDescription {
                access_method: ObjectIdentifier::new(method)
                    .map_err(|_| Error::internal("bad OID"))?,
                access_location: GeneralName::UniformResourceIdentifier(
                    Ia5String::new(url)
                        .map_err(|_| Error::invalid(format!("invalid URL: {url}")))?,
                ),
            });
        }
    }
    if access.is_empty() {
        return Ok(None);
    }
    let value = AuthorityInfoAccessSyntax(access).to_der().map_err(der_error)?;
    Ok(Some(ext(&[1, 3, 6, 1, 5, 5, 7, 1, 1], false, value)))
}

/// Freshest CRL (RFC 5280 4.2.1.15): where delta CRLs are published.
fn freshest_crl_extension(urls: &[String]) -> Result<Option<CustomExtension>> {
    use x509_cert::ext::pkix::FreshestCrl;
    use x509_cert::ext::pkix::crl::dp::DistributionPoint;
    use x509_cert::ext::pkix::name::DistributionPointName;
    if urls.is_empty() {
        return Ok(None);
    }
    let mut points = Vec::new();
    for url in urls {
        let name = GeneralName::UniformResourceIdentifier(
            Ia5String::new(url).map_err(|_| Error::invalid(format!("invalid URL: {url}")))?,
        );
        points.push(DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![name])),
            reasons: None,
            crl_issuer: None,
        });
    }
    let value = FreshestCrl(points).to_der().map_err(der_error)?;
    Ok(Some(ext(&[2, 5, 29, 46], false, value)))
}

fn policies_extension(oids: &[String]) -> Result<Option<CustomExtension>> {
    use x509_cert::ext::pkix::CertificatePolicies;
    use x509_cert::ext::pkix::certpolicy::PolicyInformation;
    if oids.is_empty() {
        return Ok(None);
    }
    let mut policies = Vec::new();
    for oid in oids {
        let policy_identifier = ObjectIdentifier::new(oid.trim())
            .map_err(|_| Error::invalid(format!("invalid policy OID: {oid}")))?;
        policies.push(PolicyInformation { policy_identifier, policy_qualifiers: None });
    }
    let value = CertificatePolicies(policies).to_der().map_err(der_error)?;
    Ok(Some(ext(&[2, 5, 29, 32], false, value)))
}

/// A `CA:TRUE` basic constraints extension, for CSRs (`add_basic_constraints`).
pub(crate) fn ca_basic_constraints_extension() -> Result<CustomExtension> {
    let value = x509_cert::ext::pkix::BasicConstraints { ca: true, path_len_constraint: None }
        .to_der()
        .map_err(der_error)?;
    Ok(ext(&[2, 5, 29, 19], true, value))
}

/// A leaf just signed, with the facts its response and its stored entry need (so it is not
/// parsed back).
#[derive(Debug, Clone)]
pub(crate) struct SignedLeaf {
    /// The certificate.
    pub der: Vec<u8>,
    /// Its serial, without leading zero bytes.
    pub serial: Vec<u8>,
    /// Validity start, unix seconds.
    pub not_before: i64,
    /// Validity end, unix seconds.
    pub not_after: i64,
}

impl Template {
    /// The rcgen parameters for a certificate over `public_key`.
    pub(crate) fn to_params(&self, public_key: &impl PublicKeyData) -> Result<CertificateParams> {
        let serial = if self.serial.is_empty() { new_serial() } else { self.serial.clone() };
        self.to_params_with_serial(public_key, &serial)
    }

    fn to_params_with_serial(
        &self,
        public_key: &impl PublicKeyData,
        serial: &[u8],
    ) -> Result<CertificateParams> {
        let mut params = CertificateParams::default();
        params.distinguished_name = self.subject.to_dn()?;
        params.subject_alt_names = self.sans.to_rcgen()?;
        params.not_before = to_datetime(self.not_before)?;
        params.not_after = to_datetime(self.not_after)?;
        params.serial_number = Some(SerialNumber::from_slice(serial));
        params.key_usages = self.key_usage.clone();
        params.extended_key_usages = self.ext_key_usage.clone();
        params.is_ca = match self.ca {
            Some(Some(n)) => IsCa::Ca(BasicConstraints::Constrained(n)),
            Some(None) => IsCa::Ca(BasicConstraints::Unconstrained),
            None if self.leaf_basic_constraints => IsCa::ExplicitNoCa,
            None => IsCa::NoCa,
        };
        if !self.permitted_dns_domains.is_empty() {
            params.name_constraints = Some(NameConstraints {
                permitted_subtrees: self
                    .permitted_dns_domains
                    .iter()
                    .map(|d| GeneralSubtree::DnsName(d.clone()))
                    .collect(),
                excluded_subtrees: Vec::new(),
            });
        }
        params.crl_distribution_points = self
            .urls
            .crl_distribution_points
            .iter()
            .map(|u| CrlDistributionPoint { uris: vec![u.clone()] })
            .collect();
        if let Some(aia) = aia_extension(&self.urls)? {
            params.custom_extensions.push(aia);
        }
        if let Some(freshest) = freshest_crl_extension(&self.urls.delta_crl_distribution_points)? {
            params.custom_extensions.push(freshest);
        }
        if let Some(policies) = policies_extension(&self.policy_identifiers)? {
            params.custom_extensions.push(policies);
        }
        // rcgen writes the subject key identifier for CA certificates only; leaves get it here.
        if !matches!(params.is_ca, IsCa::Ca(_) | IsCa::ExplicitNoCa) {
            let id = params.key_identifier(public_key);
            let value = OctetString::new(id).and_then(|o| o.to_der()).map_err(der_error)?;
            params.custom_extensions.push(ext(&[2, 5, 29, 14], false, value));
        }
        Ok(params)
    }

    /// Signs a certificate over `public_key` with `issuer`.
    pub(crate) fn sign(
        &self,
        public_key: &impl PublicKeyData,
        issuer: &SigningIssuer,
        signature_bits: i64,
    ) -> Result<Vec<u8>> {
        Ok(self.sign_leaf(public_key, issuer, signature_bits)?.der)
    }

    /// Signs a certificate over `public_key` with `issuer`, returning its serial and validity
    /// along with it.
    pub(crate) fn sign_leaf(
        &self,
        public_key: &impl PublicKeyData,
        issuer: &SigningIssuer,
        signature_bits: i64,
    ) -> Result<SignedLeaf> {
        let serial = if self.serial.is_empty() { new_serial() } else { self.serial.clone() };
        let mut params = self.to_params_with_serial(public_key, &serial)?;
        params.use_authority_key_identifier_extension = true;
        let signer = issuer.rcgen(signature_bits)?;
        let cert = params
            .signed_by(public_key, &*signer)
            .map_err(|e| Error::internal(format!("unable to sign certificate: {e}")))?;
        Ok(SignedLeaf {
            der: cert.der().to_vec(),
            serial: crate::certutil::strip_zeros(&serial).to_vec(),
            not_before: self.not_before,
            not_after: self.not_after,
        })
    }

    /// A self-signed certificate for `key`.
    pub(crate) fn self_sign(&self, key: &PrivateKey, signature_bits: i64) -> Result<Vec<u8>> {
        let signer = key.signer(signature_bits)?;
        let mut params = self.to_params(&signer)?;
        // Vault's roots name themselves as their authority; it also lets a cross-signed copy
        // (root/sign-self-issued) keep working with strict verifiers.
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .self_signed(&signer)
            .map_err(|e| Error::internal(format!("unable to sign certificate: {e}")))?;
        Ok(cert.der().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rules() {
        let now = 1_000_000;
        let input = TtlInput { requested: 3600, role_max: 600, backdate: 30, ..Default::default() };
        let v = validity(now, input, None, PastIssuer::Err).ok();
        assert_eq!(v.as_ref().map(|v| v.not_after), Some(now + 600));
        assert_eq!(v.as_ref().map(|v| v.not_before), Some(now - 30));
        assert_eq!(
            v.map(|v| v.warnings),
            Some(vec![
                "TTL \"1h0m0s\" is longer than permitted maxTTL \"10m0s\", so maxTTL is being used"
                    .to_string()
            ])
        );
        let input = TtlInput { role_ttl: 300, ..Default::default() };
        assert_eq!(
            validity(now, input, None, PastIssuer::Err).ok().map(|v| v.not_after),
            Some(now + 300)
        );
        let input = TtlInput { requested: 7200, ..Default::default() };
        assert!(validity(now, input, Some(now + 3600), PastIssuer::Err).is_err());
        let v = validity(now, input, Some(now + 3600), PastIssuer::Truncate).ok();
        assert_eq!(v.map(|v| v.not_after), Some(now + 3600));
        let v = validity(now, TtlInput::default(), None, PastIssuer::Err).ok();
        assert_eq!(v.map(|v| v.not_after), Some(now + MOUNT_DEFAULT_TTL));
        let tuned = TtlInput { mount_default: 60, mount_max: 120, ..Default::default() };
        let v = validity(now, tuned, None, PastIssuer::Err).ok();
        assert_eq!(v.map(|v| (v.not_after, v.warnings.len())), Some((now + 60, 0)));
        let v = validity(now, TtlInput { requested: 600, ..tuned }, None, PastIssuer::Err).ok();
        assert_eq!(v.map(|v| (v.not_after, v.warnings.len())), Some((now + 120, 1)));
        let role = TtlInput { requested: 600, role_max: 300, ..tuned };
        let v = validity(now, role, None, PastIssuer::Err).ok();
        assert_eq!(v.map(|v| v.not_after), Some(now + 300));
    }

    #[test]
    fn usages() {
        use crate::subject::{parse_ip, parse_other_san};
        let all = parse_key_usage(&[
            "DigitalSignature".into(),
            "KeyAgreement".into(),
            "key_encipherment".into(),
        ])
        .ok();
        let all = all.unwrap_or_default();
        assert_eq!(all.len(), 3);
        assert_eq!(
            usages_for_key(all.clone(), KeyType::Ec),
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyAgreement]
        );
        assert_eq!(
            usages_for_key(all.clone(), KeyType::Rsa),
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment]
        );
        assert_eq!(usages_for_key(all, KeyType::Ed25519), vec![KeyUsagePurpose::DigitalSignature]);
        assert!(parse_key_usage(&["Bogus".into()]).is_err());
        assert_eq!(
            parse_ext_key_usage(&["ServerAuth".into()], &["1.2.3".into()]).ok().map(|v| v.len()),
            Some(2)
        );
        assert_eq!(
            parse_other_san("1.3.6.1.4.1.311.20.2.3;UTF8:a@b").ok(),
            Some(("1.3.6.1.4.1.311.20.2.3".into(), "a@b".into()))
        );
        assert!(parse_other_san("nonsense").is_err());
        assert!(parse_ip("10.0.0.1/32").is_ok());
        assert!(parse_ip("nope").is_err());
    }
}
