//! What a login needs to know about the client's leaf certificate, read once: the names a
//! role's constraints match, its extensions as strings, and the fields of the token metadata.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// The facts of a client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientCert {
    /// The subject's common name (the last one, as Go reads it), "" when none.
    pub(crate) common_name: String,
    /// The subject's organizational units.
    pub(crate) organizational_units: Vec<String>,
    /// DNS names of the subject alternative names.
    pub(crate) dns_sans: Vec<String>,
    /// E-mail addresses of the subject alternative names.
    pub(crate) email_sans: Vec<String>,
    /// URIs of the subject alternative names.
    pub(crate) uri_sans: Vec<String>,
    /// Every extension as (dotted OID, value read as an ASN.1 string, "" when it is not one).
    pub(crate) extensions: Vec<(String, String)>,
    /// The serial number in decimal.
    pub(crate) serial_number: String,
    /// The subject key identifier, colon-separated lower-case hex ("" when absent).
    pub(crate) subject_key_id: String,
    /// The authority key identifier, colon-separated lower-case hex ("" when absent).
    pub(crate) authority_key_id: String,
}

impl ClientCert {
    /// Reads a DER certificate; `None` when it does not parse.
    pub(crate) fn parse(der: &[u8]) -> Option<ClientCert> {
        let (rest, cert) = X509Certificate::from_der(der).ok()?;
        if !rest.is_empty() {
            return None;
        }
        let subject = cert.subject();
        let mut out = ClientCert {
            common_name: subject
                .iter_common_name()
                .filter_map(|a| a.as_str().ok())
                .last()
                .unwrap_or_default()
                .to_string(),
            organizational_units: subject
                .iter_organizational_unit()
                .filter_map(|a| a.as_str().ok().map(str::to_string))
                .collect(),
            serial_number: cert.tbs_certificate.serial.to_string(),
            ..ClientCert::default()
        };
        for ext in cert.extensions() {
            let value = asn1_string(ext.value).unwrap_or_default();
            out.extensions.push((ext.oid.to_id_string(), value));
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(s) => out.dns_sans.push((*s).to_string()),
                            GeneralName::RFC822Name(s) => out.email_sans.push((*s).to_string()),
                            GeneralName::URI(s) => out.uri_sans.push((*s).to_string()),
                            _ => {}
                        }
                    }
                }
                ParsedExtension::SubjectKeyIdentifier(id) => out.subject_key_id = hex_colon(id.0),
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    if let Some(id) = &aki.key_identifier {
                        out.authority_key_id = hex_colon(id.0);
                    }
                }
                _ => {}
            }
        }
        Some(out)
    }

    /// The value of the extension `oid`, `None` when the certificate does not carry it.
    pub(crate) fn extension(&self, oid: &str) -> Option<&str> {
        self.extensions.iter().find(|(id, _)| id == oid).map(|(_, v)| v.as_str())
    }
}

/// `de:8e:..`: Vault's formatting of key identifiers.
fn hex_colon(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Reads a DER string (UTF8String, PrintableString, IA5String, NumericString, T61String or
/// BMPString), as Go's `asn1.Unmarshal` into a string does for extension values. Anything
/// else, or malformed input, is `None`.
pub(crate) fn asn1_string(der: &[u8]) -> Option<String> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(count);
        (len_bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)), rest)
    };
    let content = rest.get(..len)?;
    match tag {
        0x0c | 0x12 | 0x13 | 0x14 | 0x16 => String::from_utf8(content.to_vec()).ok(),
        0x1e if content.len() % 2 == 0 => {
            let units: Vec<u16> = content
                .chunks_exact(2)
                .filter_map(|pair| <[u8; 2]>::try_from(pair).ok())
                .map(u16::from_be_bytes)
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_in_extension_values() {
        assert_eq!(asn1_string(b"\x0c\x05hello").as_deref(), Some("hello"));
        assert_eq!(asn1_string(b"\x13\x02ab").as_deref(), Some("ab"));
        assert_eq!(asn1_string(b"\x16\x81\x03abc").as_deref(), Some("abc"));
        assert_eq!(asn1_string(b"\x1e\x04\x00h\x00i").as_deref(), Some("hi"));
        assert_eq!(asn1_string(b"\x04\x02ab"), None, "an OCTET STRING is not a string");
        assert_eq!(asn1_string(b"\x0c\x05hel"), None, "truncated");
        assert_eq!(asn1_string(b"\x0c\x85\xff\xff\xff\xff\xff"), None);
        assert_eq!(asn1_string(b""), None);
        assert_eq!(asn1_string(b"\x0c"), None);
    }

    #[test]
    fn key_ids_as_vault_prints_them() {
        assert_eq!(hex_colon(&[0xde, 0x8e, 0x01]), "de:8e:01");
        assert_eq!(hex_colon(&[]), "");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(ClientCert::parse(b"not a certificate"), None);
        assert_eq!(ClientCert::parse(&[]), None);
    }
}
