//! Private keys: generation (RSA off the async workers), import from PEM, export in the
//! formats Vault prints, and the signers rcgen needs.

use aws_lc_rs::encoding::{AsBigEndian, AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair,
};
use coffer_types::{Error, Result};
use der::asn1::{BitStringRef, ObjectIdentifier, OctetString, OctetStringRef};
use der::{Decode, Encode};
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

use crate::pem;

/// The algorithm family of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeyType {
    /// RSA with PKCS#1 v1.5 signatures.
    Rsa,
    /// ECDSA over a NIST curve.
    Ec,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// The name Vault uses (`rsa`, `ec`, `ed25519`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ec => "ec",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// Parses a key type name; `any` is handled by the callers that allow it.
    pub(crate) fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "rsa" | "" => Ok(KeyType::Rsa),
            "ec" => Ok(KeyType::Ec),
            "ed25519" => Ok(KeyType::Ed25519),
            other => Err(Error::invalid(format!("unknown key type: {other}"))),
        }
    }
}

/// A key type with its size: RSA modulus bits, EC curve bits (256/384/521), 0 for Ed25519.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeySpec {
    /// The family.
    pub kind: KeyType,
    /// The size in bits.
    pub bits: u32,
}

impl KeySpec {
    /// Validates `key_type`/`key_bits` as sent by a client; 0 bits picks the default
    /// (2048 for RSA, 256 for EC).
    pub(crate) fn parse(key_type: &str, key_bits: i64) -> Result<Self> {
        let kind = KeyType::parse(key_type)?;
        let bits = match (kind, key_bits) {
            (KeyType::Rsa, 0) => 2048,
            (KeyType::Rsa, b @ (2048 | 3072 | 4096 | 8192)) => b,
            (KeyType::Rsa, b) if b < 2048 => {
                return Err(Error::invalid(format!(
                    "RSA keys < 2048 bits are unsafe and not supported: got {b}"
                )));
            }
            (KeyType::Rsa, b) => {
                return Err(Error::invalid(format!("unsupported bit length for RSA key: {b}")));
            }
            (KeyType::Ec, 0) => 256,
            (KeyType::Ec, b @ (256 | 384 | 521)) => b,
            (KeyType::Ec, b) => {
                return Err(Error::invalid(format!("unsupported bit length for EC key: {b}")));
            }
            (KeyType::Ed25519, _) => 0,
        };
        Ok(KeySpec { kind, bits: bits as u32 })
    }

    fn ec_alg(self) -> Result<&'static EcdsaSigningAlgorithm> {
        match self.bits {
            256 => Ok(&ECDSA_P256_SHA256_ASN1_SIGNING),
            384 => Ok(&ECDSA_P384_SHA384_ASN1_SIGNING),
            521 => Ok(&ECDSA_P521_SHA512_ASN1_SIGNING),
            b => Err(Error::invalid(format!("unsupported bit length for EC key: {b}"))),
        }
    }

    /// The signature algorithm this key signs with; `signature_bits` (256/384/512, 0 = auto)
    /// picks the RSA digest; EC keys use the digest matching their curve.
    pub(crate) fn signature_alg(self, signature_bits: i64) -> &'static SignatureAlgorithm {
        match self.kind {
            KeyType::Rsa => match signature_bits {
                384 => &rcgen::PKCS_RSA_SHA384,
                512 => &rcgen::PKCS_RSA_SHA512,
                _ => &rcgen::PKCS_RSA_SHA256,
            },
            KeyType::Ec => match self.bits {
                384 => &rcgen::PKCS_ECDSA_P384_SHA384,
                521 => &rcgen::PKCS_ECDSA_P521_SHA512,
                _ => &rcgen::PKCS_ECDSA_P256_SHA256,
            },
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    /// The revocation signature algorithm a root generated with this key records (the
    /// reference's names); imported issuers record none.
    pub(crate) fn revocation_algorithm_name(self) -> &'static str {
        match (self.kind, self.bits) {
            (KeyType::Rsa, _) => "SHA256WithRSA",
            (KeyType::Ec, 384) => "ECDSAWithSHA384",
            (KeyType::Ec, 521) => "ECDSAWithSHA512",
            (KeyType::Ec, _) => "ECDSAWithSHA256",
            (KeyType::Ed25519, _) => "PureEd25519",
        }
    }

    /// The DER `AlgorithmIdentifier` of the signatures this key makes (for CRLs and OCSP).
    pub(crate) fn signature_oid(self, signature_bits: i64) -> (&'static str, bool) {
        match self.kind {
            KeyType::Rsa => match signature_bits {
                384 => ("1.2.840.113549.1.1.12", true),
                512 => ("1.2.840.113549.1.1.13", true),
                _ => ("1.2.840.113549.1.1.11", true),
            },
            KeyType::Ec => match self.bits {
                384 => ("1.2.840.10045.4.3.3", false),
                521 => ("1.2.840.10045.4.3.4", false),
                _ => ("1.2.840.10045.4.3.2", false),
            },
            KeyType::Ed25519 => ("1.3.101.112", false),
        }
    }
}

/// How a private key is printed: Vault's default is PKCS#1 for RSA and SEC1 for EC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFormat {
    /// `RSA PRIVATE KEY` / `EC PRIVATE KEY` (`PRIVATE KEY` for Ed25519).
    Traditional,
    /// `PRIVATE KEY` (PKCS#8).
    Pkcs8,
}

impl KeyFormat {
    /// Parses `private_key_format` (`""`, `der`, `pem`, `pkcs8`).
    pub(crate) fn parse(value: &str) -> Result<Self> {
        match value {
            "" | "der" | "pem" => Ok(KeyFormat::Traditional),
            "pkcs8" => Ok(KeyFormat::Pkcs8),
            other => Err(Error::invalid(format!("invalid private_key_format: {other}"))),
        }
    }
}

/// A private key held as PKCS#8 v1 DER, zeroized on drop.
#[derive(Clone)]
pub(crate) struct PrivateKey {
    /// Its type and size.
    pub spec: KeySpec,
    /// Set from the start, except for a generated EC key: most of those are printed in SEC1
    /// and never stored, so their PKCS#8 form is only encoded if asked for.
    pkcs8: OnceLock<Zeroizing<Vec<u8>>>,
    /// For a key generated here: its public key and traditional encoding, taken from the
    /// generated key pair so that issuing never parses the key back.
    generated: Option<Arc<Generated>>,
}

/// What key generation knows besides the PKCS#8 form.
struct Generated {
    public: PublicKey,
    /// SEC1 `EC PRIVATE KEY` DER (EC keys only).
    sec1: Option<Zeroizing<Vec<u8>>>,
    /// The EC key pair, to encode its PKCS#8 form on demand.
    ec: Option<EcdsaKeyPair>,
}

/// SEC1 `ECPrivateKey` (RFC 5915), with the curve and the public key.
#[derive(der::Sequence)]
struct EcPrivateKey<'a> {
    version: u8,
    private_key: &'a OctetStringRef,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    parameters: Option<ObjectIdentifier>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    public_key: Option<BitStringRef<'a>>,
}

/// The named curve of an EC key of `bits`.
fn curve_oid(bits: u32) -> ObjectIdentifier {
    match bits {
        384 => ObjectIdentifier::new_unwrap("1.3.132.0.34"),
        521 => ObjectIdentifier::new_unwrap("1.3.132.0.35"),
        _ => ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
    }
}

/// The SEC1 DER of a key pair given its big-endian scalar and uncompressed public point.
/// Encoded here rather than by aws-lc, which would convert the public point to affine
/// coordinates again (a field inversion per key).
fn sec1_der(bits: u32, scalar: &[u8], point: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let failed = |_| Error::internal("unable to encode the private key");
    let key = EcPrivateKey {
        version: 1,
        private_key: OctetStringRef::new(scalar).map_err(failed)?,
        parameters: Some(curve_oid(bits)),
        public_key: Some(BitStringRef::from_bytes(point).map_err(failed)?),
    };
    Ok(Zeroizing::new(key.to_der().map_err(failed)?))
}

/// A public key as rcgen puts it into a certificate.
#[derive(Debug, Clone)]
pub(crate) struct PublicKey {
    alg: &'static SignatureAlgorithm,
    bytes: Vec<u8>,
}

impl PublicKeyData for PublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("spec", &self.spec)
            .field("pkcs8", &"[redacted]")
            .finish()
    }
}

fn keygen_failed<E>(_: E) -> Error {
    Error::internal("key generation failed")
}

/// The minimal PKCS#8 v1 structure, to reach the traditional key inside.
#[derive(der::Sequence)]
struct PrivateKeyInfo {
    version: u8,
    algorithm: x509_cert::spki::AlgorithmIdentifierOwned,
    private_key: OctetString,
}

impl PrivateKey {
    /// Generates a key; RSA runs on the low-priority key generation threads (it takes ~100 ms
    /// per 2048-bit key).
    pub(crate) async fn generate(spec: KeySpec) -> Result<Self> {
        match spec.kind {
            KeyType::Rsa => crate::slow_keygen::run(move || Self::generate_now(spec)).await?,
            _ => Self::generate_now(spec),
        }
    }

    fn generate_now(spec: KeySpec) -> Result<Self> {
        let alg = spec.signature_alg(0);
        let public = |bytes: &[u8]| PublicKey { alg, bytes: bytes.to_vec() };
        let (pkcs8, generated) = match spec.kind {
            KeyType::Rsa => {
                let size = match spec.bits {
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    8192 => KeySize::Rsa8192,
                    _ => KeySize::Rsa2048,
                };
                let key = RsaKeyPair::generate(size).map_err(keygen_failed)?;
                let der: Pkcs8V1Der<'static> = key.as_der().map_err(keygen_failed)?;
                let public = public(key.public_key().as_ref());
                (Some(der.as_ref().to_vec()), Generated { public, sec1: None, ec: None })
            }
            KeyType::Ec => {
                let key = EcdsaKeyPair::generate(spec.ec_alg()?).map_err(keygen_failed)?;
                let scalar = key.private_key().as_be_bytes().map_err(keygen_failed)?;
                let point = key.public_key().as_ref();
                let sec1 = sec1_der(spec.bits, scalar.as_ref(), point)?;
                let public = public(point);
                (None, Generated { public, sec1: Some(sec1), ec: Some(key) })
            }
            KeyType::Ed25519 => {
                let key = Ed25519KeyPair::generate().map_err(keygen_failed)?;
                let public = public(key.public_key().as_ref());
                let pkcs8 = key.to_pkcs8v1().map_err(keygen_failed)?.as_ref().to_vec();
                (Some(pkcs8), Generated { public, sec1: None, ec: None })
            }
        };
        let cell = OnceLock::new();
        if let Some(pkcs8) = pkcs8 {
            let _ = cell.set(Zeroizing::new(pkcs8));
        }
        Ok(PrivateKey { spec, pkcs8: cell, generated: Some(Arc::new(generated)) })
    }

    /// A key from stored PKCS#8 DER whose type is known.
    pub(crate) fn from_pkcs8(spec: KeySpec, pkcs8: Vec<u8>) -> Self {
        PrivateKey { spec, pkcs8: OnceLock::from(Zeroizing::new(pkcs8)), generated: None }
    }

    /// Parses a private key from DER in any of the usual encodings: PKCS#8, PKCS#1 (RSA) or
    /// SEC1 (EC).
    pub(crate) fn from_der(der: &[u8]) -> Result<Self> {
        let bad = || Error::invalid("unable to parse the private key");
        if let Ok(key) = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der)) {
            let bits = (key.public_modulus_len() * 8) as u32;
            let pkcs8: Pkcs8V1Der<'static> = key.as_der().map_err(|_| bad())?;
            let spec = KeySpec { kind: KeyType::Rsa, bits };
            return Ok(Self::from_pkcs8(spec, pkcs8.as_ref().to_vec()));
        }
        for bits in [256u32, 384, 521] {
            let spec = KeySpec { kind: KeyType::Ec, bits };
            let alg = spec.ec_alg()?;
            let parsed = EcdsaKeyPair::from_pkcs8(alg, der)
                .or_else(|_| EcdsaKeyPair::from_private_key_der(alg, der));
            if let Ok(key) = parsed {
                let pkcs8 = key.to_pkcs8v1().map_err(|_| bad())?;
                return Ok(Self::from_pkcs8(spec, pkcs8.as_ref().to_vec()));
            }
        }
        if let Ok(key) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let pkcs8 = key.to_pkcs8v1().map_err(|_| bad())?;
            let spec = KeySpec { kind: KeyType::Ed25519, bits: 0 };
            return Ok(Self::from_pkcs8(spec, pkcs8.as_ref().to_vec()));
        }
        Err(bad())
    }

    /// Parses the first private key of a PEM text.
    pub(crate) fn from_pem(text: &str) -> Result<Self> {
        let der = Zeroizing::new(pem::decode_one(
            text,
            &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"],
        )?);
        Self::from_der(&der)
    }

    /// The PKCS#8 DER, for storage.
    pub(crate) fn pkcs8(&self) -> Result<&[u8]> {
        if let Some(der) = self.pkcs8.get() {
            return Ok(der);
        }
        let pair = self.generated.as_ref().and_then(|g| g.ec.as_ref());
        let pair = pair.ok_or_else(|| Error::internal("unable to encode the private key"))?;
        let der =
            pair.to_pkcs8v1().map_err(|_| Error::internal("unable to encode the private key"))?;
        Ok(self.pkcs8.get_or_init(|| Zeroizing::new(der.as_ref().to_vec())))
    }

    /// The key in `format` as DER, with the PEM label it goes under.
    pub(crate) fn to_der(&self, format: KeyFormat) -> Result<(&'static str, Zeroizing<Vec<u8>>)> {
        let failed = || Error::internal("unable to encode the private key");
        match (format, self.spec.kind) {
            (KeyFormat::Pkcs8, _) | (_, KeyType::Ed25519) => {
                Ok(("PRIVATE KEY", Zeroizing::new(self.pkcs8()?.to_vec())))
            }
            (KeyFormat::Traditional, KeyType::Rsa) => {
                let info = PrivateKeyInfo::from_der(self.pkcs8()?).map_err(|_| failed())?;
                let inner = Zeroizing::new(info.private_key.as_bytes().to_vec());
                Ok(("RSA PRIVATE KEY", inner))
            }
            (KeyFormat::Traditional, KeyType::Ec) => {
                if let Some(sec1) = self.generated.as_ref().and_then(|g| g.sec1.as_ref()) {
                    return Ok(("EC PRIVATE KEY", sec1.clone()));
                }
                let key = EcdsaKeyPair::from_pkcs8(self.spec.ec_alg()?, self.pkcs8()?)
                    .map_err(|_| failed())?;
                let der = key.private_key().as_der().map_err(|_| failed())?;
                Ok(("EC PRIVATE KEY", Zeroizing::new(der.as_ref().to_vec())))
            }
        }
    }

    /// The key as PEM in `format`.
    pub(crate) fn to_pem(&self, format: KeyFormat) -> Result<String> {
        let (label, der) = self.to_der(format)?;
        Ok(pem::encode(label, &der).trim_end().to_string())
    }

    /// An rcgen signer using the digest `signature_bits` asks for (0 = auto).
    pub(crate) fn signer(&self, signature_bits: i64) -> Result<KeyPair> {
        let der = PrivatePkcs8KeyDer::from(self.pkcs8()?);
        KeyPair::from_pkcs8_der_and_sign_algo(&der, self.spec.signature_alg(signature_bits))
            .map_err(|e| Error::internal(format!("unable to load the private key: {e}")))
    }

    /// The public key, for a certificate over this key.
    pub(crate) fn public_key(&self) -> Result<PublicKey> {
        if let Some(generated) = &self.generated {
            return Ok(generated.public.clone());
        }
        let signer = self.signer(0)?;
        Ok(PublicKey { alg: signer.algorithm(), bytes: signer.der_bytes().to_vec() })
    }

    /// The DER `SubjectPublicKeyInfo` of the key.
    pub(crate) fn spki(&self) -> Result<Vec<u8>> {
        Ok(self.signer(0)?.subject_public_key_info())
    }

    /// The subject key identifier the certificates made here carry for this key: the first
    /// 20 bytes of the SHA-256 of its `SubjectPublicKeyInfo` (rcgen's default method).
    pub(crate) fn subject_key_id(&self) -> Result<Vec<u8>> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.spki()?);
        Ok(digest.as_ref()[..20].to_vec())
    }
}

/// The type and size of a public key in a certificate or CSR.
pub(crate) fn spki_spec(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Result<KeySpec> {
    use x509_parser::public_key::PublicKey;
    let oid = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => Ok(KeySpec { kind: KeyType::Rsa, bits: rsa.key_size() as u32 }),
        Ok(PublicKey::EC(ec)) => {
            let bits = match ec.key_size() {
                b @ (256 | 384) => b as u32,
                528 | 521 => 521,
                other => return Err(Error::invalid(format!("unsupported EC key size {other}"))),
            };
            Ok(KeySpec { kind: KeyType::Ec, bits })
        }
        _ if oid == "1.3.101.112" => Ok(KeySpec { kind: KeyType::Ed25519, bits: 0 }),
        _ => Err(Error::invalid("unsupported public key type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn generate_export_and_reimport_every_type() {
        for (t, b) in [("ec", 256), ("ec", 384), ("ec", 521), ("ed25519", 0), ("rsa", 2048)] {
            let spec = KeySpec::parse(t, b).ok().unwrap_or(KeySpec { kind: KeyType::Rsa, bits: 1 });
            let key = PrivateKey::generate(spec).await.ok();
            let Some(key) = key else { panic!("generate {t}") };
            for format in [KeyFormat::Traditional, KeyFormat::Pkcs8] {
                let pem = key.to_pem(format).unwrap_or_default();
                let back = PrivateKey::from_pem(&pem).ok().map(|k| k.spec);
                assert_eq!(back, Some(spec), "{t} {b} {format:?}");
            }
            let signer = key.signer(0).ok();
            let reimported = signer.as_ref().map(|s| (s.der_bytes().to_vec(), s.algorithm()));
            let generated = key.public_key().ok().map(|p| (p.der_bytes().to_vec(), p.algorithm()));
            assert_eq!(generated, reimported, "{t} {b} public key");
            let traditional = key.to_der(KeyFormat::Traditional).ok().map(|(l, d)| (l, d.to_vec()));
            let stored = PrivateKey::from_pkcs8(spec, key.pkcs8().unwrap_or_default().to_vec());
            let reparsed = stored.to_der(KeyFormat::Traditional).ok().map(|(l, d)| (l, d.to_vec()));
            assert_eq!(traditional, reparsed, "{t} {b} traditional encoding");
        }
        assert!(KeySpec::parse("rsa", 1024).is_err());
        assert!(KeySpec::parse("ec", 255).is_err());
        assert!(KeySpec::parse("dsa", 0).is_err());
    }
}
