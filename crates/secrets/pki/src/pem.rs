//! PEM armour: the `-----BEGIN LABEL-----` blocks clients send and expect.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_types::{Error, Result};

/// One PEM block: its label and the DER bytes inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// `CERTIFICATE`, `EC PRIVATE KEY`, `CERTIFICATE REQUEST`...
    pub label: String,
    /// The decoded contents.
    pub der: Vec<u8>,
}

/// Encodes `der` as a PEM block with 64-character lines and a final newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// A certificate as PEM without the trailing newline, the way Vault prints it in JSON.
pub(crate) fn cert(der: &[u8]) -> String {
    encode("CERTIFICATE", der).trim_end().to_string()
}

/// Decodes every PEM block of `text`, in order. Text between blocks is ignored; a block that
/// does not close or whose body is not base64 is an error.
pub(crate) fn decode_all(text: &str) -> Result<Vec<Block>> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end =
            after.find("-----").ok_or_else(|| Error::invalid("malformed PEM header"))?;
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_start
            .find(&end_marker)
            .ok_or_else(|| Error::invalid(format!("unterminated PEM block {label}")))?;
        let body: String = body_start[..body_end]
            .lines()
            .filter(|line| !line.contains(':'))
            .flat_map(|line| line.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| Error::invalid(format!("invalid base64 in PEM block {label}")))?;
        blocks.push(Block { label: label.to_string(), der });
        rest = &body_start[body_end + end_marker.len()..];
    }
    Ok(blocks)
}

/// The DER of the first block of `text` labelled one of `labels`; raw base64 DER (no armour)
/// is accepted too, as some clients send it.
pub(crate) fn decode_one(text: &str, labels: &[&str]) -> Result<Vec<u8>> {
    let blocks = decode_all(text)?;
    if blocks.is_empty() {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        return STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| Error::invalid("no PEM data found"));
    }
    blocks
        .into_iter()
        .find(|b| labels.contains(&b.label.as_str()))
        .map(|b| b.der)
        .ok_or_else(|| Error::invalid(format!("no PEM block of type {}", labels.join(" or "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let der: Vec<u8> = (0..200u8).collect();
        let text = encode("CERTIFICATE", &der);
        assert!(text.lines().all(|l| l.len() <= 64));
        let two = format!("junk\n{text}\nmore\n{}", encode("EC PRIVATE KEY", &[1, 2, 3]));
        let blocks = decode_all(&two).ok().unwrap_or_default();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks.first().map(|b| b.der.clone()), Some(der.clone()));
        assert_eq!(decode_one(&two, &["EC PRIVATE KEY"]).ok(), Some(vec![1, 2, 3]));
        assert!(decode_all("-----BEGIN X-----\nAAA").is_err());
    }
}
