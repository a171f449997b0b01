//! Certificate plumbing shared by the paths: serial numbers, times, and the facts about a
//! parsed certificate or CSR that the engine needs.

use coffer_types::{Error, Result, random_bytes};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// A random 159-bit serial: 20 bytes, top bit clear so the DER INTEGER stays 20 bytes and
/// positive, first byte non-zero so the printed form is always 20 bytes long.
pub(crate) fn new_serial() -> Vec<u8> {
    loop {
        let mut bytes = random_bytes(20);
        if let Some(first) = bytes.first_mut() {
            *first &= 0x7f;
            if *first != 0 {
                return bytes;
            }
        }
    }
}

pub(crate) fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    bytes.get(start..).unwrap_or(bytes)
}

/// The serial as Vault prints it: lower-case hex bytes joined by `:`, no leading zero bytes.
pub(crate) fn serial_colon(bytes: &[u8]) -> String {
    serial_hex(bytes, ':')
}

/// The serial as it appears in storage keys (`aa-bb-...`).
pub(crate) fn serial_key(bytes: &[u8]) -> String {
    serial_hex(bytes, '-')
}

/// Lower-case hex pairs without leading zero bytes, joined by `separator`.
fn serial_hex(bytes: &[u8], separator: char) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = strip_zeros(bytes);
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(separator);
        }
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Parses a serial as clients send it: colon- or hyphen-separated hex, or plain hex.
pub(crate) fn parse_serial(text: &str) -> Result<Vec<u8>> {
    let bad = || Error::invalid(format!("invalid serial number: {text}"));
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad());
    }
    let mut bytes = Vec::new();
    if trimmed.contains([':', '-']) {
        for part in trimmed.split([':', '-']) {
            if part.is_empty() || part.len() > 2 {
                return Err(bad());
            }
            bytes.push(u8::from_str_radix(part, 16).map_err(|_| bad())?);
        }
    } else {
        let padded =
            if trimmed.len() % 2 == 1 { format!("0{trimmed}") } else { trimmed.to_string() };
        bytes = hex::decode(padded).map_err(|_| bad())?;
    }
    Ok(strip_zeros(&bytes).to_vec())
}

/// Unix seconds as a `time` value.
pub(crate) fn to_datetime(unix: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| Error::invalid("time out of range"))
}

/// Unix seconds as RFC 3339 (`2026-11-28T16:43:47Z`), "" for 0.
pub(crate) fn rfc3339(unix: i64) -> String {
    if unix == 0 {
        return String::new();
    }
    to_datetime(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// Parses `not_after` as sent by clients (`2026-01-01T00:00:00Z`).
pub(crate) fn parse_rfc3339(text: &str) -> Result<i64> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| Error::invalid(format!("unable to parse not_after as RFC 3339: {text}")))
}

/// The facts about a certificate the engine uses, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    /// The whole certificate.
    pub der: Vec<u8>,
    /// Serial bytes without leading zeros.
    pub serial: Vec<u8>,
    /// Validity end, unix seconds.
    pub not_after: i64,
    /// DER of the subject name.
    pub subject: Vec<u8>,
    /// DER of the issuer name.
    pub issuer: Vec<u8>,
    /// Basic constraints CA flag.
    pub is_ca: bool,
    /// Basic constraints path length.
    pub path_len: Option<u32>,
    /// Subject key identifier.
    pub ski: Option<Vec<u8>>,
    /// Authority key identifier (key id part).
    pub aki: Option<Vec<u8>>,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// The subjectPublicKey BIT STRING contents (OCSP key hashes).
    pub public_key_bits: Vec<u8>,
    /// DNS SANs.
    pub dns_sans: Vec<String>,
}

impl CertInfo {
    /// Parses a DER certificate.
    pub(crate) fn parse(der: &[u8]) -> Result<Self> {
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::invalid(format!("unable to parse certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(Error::invalid("unable to parse certificate: trailing data"));
        }
        let mut info = CertInfo {
            der: der.get(..der.len() - rest.len()).unwrap_or(der).to_vec(),
            serial: strip_zeros(cert.raw_serial()).to_vec(),
            not_after: cert.validity().not_after.timestamp(),
            subject: cert.subject().as_raw().to_vec(),
            issuer: cert.issuer().as_raw().to_vec(),
            is_ca: false,
            path_len: None,
            ski: None,
            aki: None,
            spki: cert.public_key().raw.to_vec(),
            public_key_bits: cert.public_key().subject_public_key.data.to_vec(),
            dns_sans: Vec::new(),
        };
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => {
                    info.is_ca = bc.ca;
                    info.path_len = bc.path_len_constraint;
                }
                ParsedExtension::SubjectKeyIdentifier(id) => info.ski = Some(id.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    info.aki = aki.key_identifier.as_ref().map(|k| k.0.to_vec());
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        if let GeneralName::DNSName(dns) = name {
                            info.dns_sans.push((*dns).to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// Parses the first certificate of a PEM text.
    pub(crate) fn from_pem(text: &str) -> Result<Self> {
        Self::parse(&crate::pem::decode_one(text, &["CERTIFICATE"])?)
    }

    /// The certificate as PEM (no trailing newline).
    pub(crate) fn pem(&self) -> String {
        crate::pem::cert(&self.der)
    }

    /// The serial as Vault prints it.
    pub(crate) fn serial_colon(&self) -> String {
        serial_colon(&self.serial)
    }

    /// Whether the certificate is self-issued (subject equals issuer).
    pub(crate) fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// Whether `parent` plausibly issued this certificate: names chain, key ids agree when
    /// both are present, and the signature verifies with the parent's key.
    pub(crate) fn issued_by(&self, parent: &CertInfo) -> bool {
        if self.issuer != parent.subject {
            return false;
        }
        if let (Some(aki), Some(ski)) = (&self.aki, &parent.ski) {
            if aki != ski {
                return false;
            }
        }
        let (Ok((_, child)), Ok((_, parent_cert))) =
            (X509Certificate::from_der(&self.der), X509Certificate::from_der(&parent.der))
        else {
            return false;
        };
        child.verify_signature(Some(parent_cert.public_key())).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials() {
        let s = new_serial();
        assert_eq!(s.len(), 20);
        assert!(s.first().is_some_and(|b| *b < 0x80 && *b != 0));
        assert_eq!(serial_colon(&[0, 0x0a, 0xff]), "0a:ff");
        assert_eq!(serial_key(&[0x0a, 0xff]), "0a-ff");
        assert_eq!(parse_serial("0a:ff").ok(), Some(vec![0x0a, 0xff]));
        assert_eq!(parse_serial("0a-FF").ok(), Some(vec![0x0a, 0xff]));
        assert_eq!(parse_serial("aff").ok(), Some(vec![0x0a, 0xff]));
        assert!(parse_serial("zz").is_err());
        assert!(parse_serial("").is_err());
        assert_eq!(rfc3339(0), "");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z").ok(), Some(1_700_000_000));
    }
}
