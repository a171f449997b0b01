//! Entry points for fuzzing the parsers of untrusted input: CSRs, certificates, private keys,
//! PEM bundles and OCSP requests. Each returns whether the input parsed; none may panic.
//! `fuzz/` (outside the workspace) and the property tests call them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Parses and verifies a DER CSR as `sign/:role` does.
pub fn csr(data: &[u8]) -> bool {
    crate::path_intermediate::parse_csr(&STANDARD.encode(data)).is_ok()
}

/// Parses a DER certificate as revocation and imports do.
pub fn certificate(data: &[u8]) -> bool {
    crate::certutil::CertInfo::parse(data).is_ok()
}

/// Parses a DER private key in any supported encoding.
pub fn private_key(data: &[u8]) -> bool {
    crate::keys::PrivateKey::from_der(data).is_ok()
}

/// Splits a PEM text into blocks.
pub fn pem_bundle(text: &str) -> bool {
    crate::pem::decode_all(text).is_ok()
}

/// Decodes a DER OCSP request.
pub fn ocsp_request(data: &[u8]) -> bool {
    crate::ocsp::parses(data)
}
