//! How certificates and keys appear in responses: `format` (pem, der, pem_bundle) and
//! `private_key_format`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_types::{Error, Result};

use crate::keys::{KeyFormat, PrivateKey};
use crate::pem;

/// The `format` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// PEM text.
    Pem,
    /// Base64 DER.
    Der,
    /// PEM, with the key and issuing CA bundled into `certificate`.
    PemBundle,
}

impl Format {
    /// Parses `format` ("" means pem).
    pub(crate) fn parse(value: &str) -> Result<Self> {
        match value {
            "" | "pem" => Ok(Format::Pem),
            "der" => Ok(Format::Der),
            "pem_bundle" => Ok(Format::PemBundle),
            other => Err(Error::invalid(format!("invalid format specified: {other}"))),
        }
    }

    /// A certificate in this format.
    pub(crate) fn cert(self, der: &[u8]) -> String {
        match self {
            Format::Der => STANDARD.encode(der),
            _ => pem::cert(der),
        }
    }

    /// A PEM certificate (as stored) in this format.
    pub(crate) fn cert_pem(self, text: &str) -> String {
        match self {
            Format::Der => pem::decode_one(text, &["CERTIFICATE"])
                .map(|d| STANDARD.encode(d))
                .unwrap_or_default(),
            _ => text.trim().to_string(),
        }
    }

    /// A private key in this format and `key_format`.
    pub(crate) fn key(self, key: &PrivateKey, key_format: KeyFormat) -> Result<String> {
        match self {
            Format::Der => Ok(STANDARD.encode(key.to_der(key_format)?.1.as_slice())),
            _ => key.to_pem(key_format),
        }
    }
}

/// A CSR in this format.
pub(crate) fn csr(format: Format, der: &[u8]) -> String {
    match format {
        Format::Der => STANDARD.encode(der),
        _ => pem::encode("CERTIFICATE REQUEST", der).trim_end().to_string(),
    }
}
