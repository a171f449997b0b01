//! A role's trust anchors and the check of a presented chain against them.
//!
//! A role whose first certificate is a CA trusts every chain that webpki (with aws-lc-rs's
//! signature algorithms) builds from the client's leaf, through the intermediates the client
//! sent, up to one of the role's certificates, for client authentication (an extended key
//! usage, when present, must allow it). A role whose first certificate is not a CA pins that
//! exact certificate: the client must present it, byte for byte, within its validity period.

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use subtle::ConstantTimeEq;
use webpki::aws_lc_rs as algs;
use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;

use coffer_types::{Error, Result};

/// The signature algorithms chains may use: aws-lc-rs's, named one by one so that another
/// crate turning on webpki's `ring` feature cannot add a second provider here.
static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    algs::ECDSA_P256_SHA256,
    algs::ECDSA_P256_SHA384,
    algs::ECDSA_P384_SHA256,
    algs::ECDSA_P384_SHA384,
    algs::ECDSA_P521_SHA256,
    algs::ECDSA_P521_SHA384,
    algs::ECDSA_P521_SHA512,
    algs::ED25519,
    algs::RSA_PKCS1_2048_8192_SHA256,
    algs::RSA_PKCS1_2048_8192_SHA384,
    algs::RSA_PKCS1_2048_8192_SHA512,
    algs::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    algs::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    algs::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    algs::RSA_PKCS1_3072_8192_SHA384,
    algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// Why a role does not trust a presented chain: for the log, never for the client.
#[derive(Debug)]
pub(crate) enum Distrust {
    /// The role pins a leaf and the client presented another certificate.
    NotPinned,
    /// The pinned leaf was presented outside its validity period.
    PinnedOutOfValidity,
    /// webpki found no valid path to the role's certificates.
    Chain(webpki::Error),
}

impl std::fmt::Display for Distrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Distrust::NotPinned => f.write_str("not the pinned certificate"),
            Distrust::PinnedOutOfValidity => f.write_str("pinned certificate not valid now"),
            Distrust::Chain(e) => write!(f, "chain does not verify: {e}"),
        }
    }
}

/// The DER certificates of a PEM text: every `CERTIFICATE` (or `TRUSTED CERTIFICATE`) block
/// that holds a parsable certificate, up to the first malformed block, as Go's decoder does.
pub(crate) fn parse_pem(text: &str) -> Vec<Vec<u8>> {
    Pem::iter_from_buffer(text.as_bytes())
        .map_while(|block| block.ok())
        .filter(|block| matches!(block.label.as_str(), "CERTIFICATE" | "TRUSTED CERTIFICATE"))
        .filter(|block| X509Certificate::from_der(&block.contents).is_ok())
        .map(|block| block.contents)
        .collect()
}

/// The parsed trust anchors of one role.
pub(crate) struct Trusted {
    certs: Vec<CertificateDer<'static>>,
    is_ca: bool,
}

impl Trusted {
    /// Parses a role's `certificate`; none at all is Vault's `failed to parse certificate`.
    pub(crate) fn parse(pem: &str) -> Result<Trusted> {
        let certs: Vec<CertificateDer<'static>> =
            parse_pem(pem).into_iter().map(CertificateDer::from).collect();
        let first = certs
            .first()
            .and_then(|der| X509Certificate::from_der(der).ok())
            .ok_or_else(|| Error::invalid("failed to parse certificate"))?;
        let is_ca = first.1.is_ca();
        Ok(Trusted { certs, is_ca })
    }

    /// A pinned leaf must be usable for client authentication (when it restricts its usage).
    pub(crate) fn check_leaf_usage(&self) -> Result<()> {
        if self.is_ca {
            return Ok(());
        }
        let Some((_, leaf)) = self.certs.first().and_then(|d| X509Certificate::from_der(d).ok())
        else {
            return Err(Error::invalid("failed to parse certificate"));
        };
        match leaf.extended_key_usage() {
            Ok(Some(eku)) if !(eku.value.client_auth || eku.value.any) => Err(Error::invalid(
                "nonCA certificates should have TLS client authentication set as an extended key usage",
            )),
            Ok(_) => Ok(()),
            Err(_) => Err(Error::invalid("failed to parse certificate")),
        }
    }

    /// Checks the client's chain (leaf first, then the intermediates it sent) at `now`.
    pub(crate) fn verify(&self, chain: &[Vec<u8>], now: UnixTime) -> Result<(), Distrust> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(Distrust::NotPinned);
        };
        if !self.is_ca {
            return self.verify_pinned(leaf, now);
        }
        let anchors: Vec<_> =
            self.certs.iter().filter_map(|der| anchor_from_trusted_cert(der).ok()).collect();
        let leaf = CertificateDer::from(leaf.as_slice());
        let end_entity = EndEntityCert::try_from(&leaf).map_err(Distrust::Chain)?;
        let intermediates: Vec<CertificateDer<'_>> =
            intermediates.iter().map(|der| CertificateDer::from(der.as_slice())).collect();
        end_entity
            .verify_for_usage(
                ALGORITHMS,
                &anchors,
                &intermediates,
                now,
                KeyUsage::client_auth(),
                None,
                None,
            )
            .map(drop)
            .map_err(Distrust::Chain)
    }

    fn verify_pinned(&self, leaf: &[u8], now: UnixTime) -> Result<(), Distrust> {
        let Some(pinned) = self.certs.first() else { return Err(Distrust::NotPinned) };
        let pinned: &[u8] = pinned.as_ref();
        if pinned.len() != leaf.len() || !bool::from(pinned.ct_eq(leaf)) {
            return Err(Distrust::NotPinned);
        }
        let now = i64::try_from(now.as_secs()).ok().and_then(|s| ASN1Time::from_timestamp(s).ok());
        match (X509Certificate::from_der(leaf), now) {
            (Ok((_, cert)), Some(now)) if cert.validity().is_valid_at(now) => Ok(()),
            _ => Err(Distrust::PinnedOutOfValidity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_is_refused() {
        assert!(parse_pem("nope").is_empty());
        assert!(
            parse_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_empty()
        );
        assert!(Trusted::parse("").is_err());
        let err = Trusted::parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        assert_eq!(err.err(), Some(Error::invalid("failed to parse certificate")));
    }

    #[test]
    fn an_empty_chain_is_not_trusted() {
        let trusted = Trusted { certs: Vec::new(), is_ca: true };
        assert!(trusted.verify(&[], UnixTime::now()).is_err());
        let pinned = Trusted { certs: vec![CertificateDer::from(vec![1, 2, 3])], is_ca: false };
        assert!(matches!(pinned.verify(&[vec![1, 2]], UnixTime::now()), Err(Distrust::NotPinned)));
    }
}
