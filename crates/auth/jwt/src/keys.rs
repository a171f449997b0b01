//! Public keys that verify JWT signatures: parsed once from PEM (`PUBLIC KEY`, `RSA PUBLIC KEY`
//! or a `CERTIFICATE`) or from a JWK, and the signing algorithms this server accepts. HMAC
//! (`HS*`) and `none` are never accepted: a public-key method has no shared secret, and
//! letting a token pick HMAC is the classic key-confusion attack.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

/// Every algorithm a JWT may be signed with, by its JOSE name.
pub const SUPPORTED: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// The algorithm named `name`, when it is one this server accepts.
pub fn algorithm(name: &str) -> Option<Algorithm> {
    SUPPORTED.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// The key family an algorithm needs.
fn family(alg: Algorithm) -> AlgorithmFamily {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => AlgorithmFamily::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => AlgorithmFamily::Ec,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => AlgorithmFamily::Rsa,
    }
}

/// A key that verifies signatures, with the key ID and algorithm its publisher gave it.
#[derive(Clone)]
pub struct VerificationKey {
    /// The `kid` of a JWK; `None` for PEM keys.
    pub kid: Option<String>,
    /// The algorithm a JWK is restricted to (its `alg`), when given.
    pub alg: Option<Algorithm>,
    key: DecodingKey,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.key.family())
            .finish()
    }
}

/// A PEM value that is not a supported public key.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "error parsing public key: the value is not a PEM RSA, ECDSA or Ed25519 public key or certificate"
)]
pub struct KeyError;

impl VerificationKey {
    /// Parses a PEM public key or certificate (RSA, ECDSA P-256/P-384 or Ed25519).
    pub fn from_pem(pem: &str) -> Result<VerificationKey, KeyError> {
        let bytes = pem.trim().as_bytes();
        let key = DecodingKey::from_rsa_pem(bytes)
            .or_else(|_| DecodingKey::from_ec_pem(bytes))
            .or_else(|_| DecodingKey::from_ed_pem(bytes))
            .map_err(|_| KeyError)?;
        Ok(VerificationKey { kid: None, alg: None, key })
    }

    /// A key from one JWK of a key set, or `None` when it is not a usable signing key
    /// (encryption keys, symmetric keys, unknown types or algorithms).
    pub fn from_jwk(value: &Value) -> Option<VerificationKey> {
        let object = value.as_object()?;
        if object.get("use").and_then(Value::as_str).is_some_and(|u| u != "sig") {
            return None;
        }
        let alg = match object.get("alg").and_then(Value::as_str) {
            Some(name) => Some(algorithm(name)?),
            None => None,
        };
        let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        if key.family() == AlgorithmFamily::Hmac {
            return None;
        }
        let kid = object.get("kid").and_then(Value::as_str).map(str::to_string);
        Some(VerificationKey { kid, alg, key })
    }

    /// Whether this key may verify a signature made with `alg`.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.key.family() == family(alg) && self.alg.is_none_or(|a| a == alg)
    }

    /// Whether `signature` (base64url) over `message` is valid for this key under `alg`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        self.fits(alg)
            && jsonwebtoken::crypto::verify(signature, message, &self.key, alg).unwrap_or(false)
    }
}

/// Parses a list of PEM keys, failing on the first bad one.
pub fn parse_pem_list(pems: &[String]) -> Result<Vec<VerificationKey>, KeyError> {
    pems.iter().map(|p| VerificationKey::from_pem(p)).collect()
}

/// The signing keys of a JWKS document (`{"keys":[...]}`); unusable entries are skipped.
pub fn parse_jwks(document: &Value) -> Vec<VerificationKey> {
    document
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(VerificationKey::from_jwk).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_public_key_algorithms_are_supported() {
        assert_eq!(algorithm("RS256"), Some(Algorithm::RS256));
        assert_eq!(algorithm("EdDSA"), Some(Algorithm::EdDSA));
        assert_eq!(algorithm("HS256"), None);
        assert_eq!(algorithm("none"), None);
        assert_eq!(algorithm("rs256"), None);
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert_eq!(VerificationKey::from_pem("hello").err(), Some(KeyError));
        assert!(parse_pem_list(&["".into()]).is_err());
    }

    #[test]
    fn symmetric_and_encryption_jwks_are_skipped() {
        let set = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "EC", "crv": "P-256", "use": "enc", "kid": "enc",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "sig", "alg": "ES256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "hs", "alg": "HS256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            "not an object"
        ]});
        let keys = parse_jwks(&set);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("sig"));
        assert!(keys[0].fits(Algorithm::ES256));
        assert!(!keys[0].fits(Algorithm::ES384), "the JWK's alg restricts it");
        assert!(!keys[0].fits(Algorithm::RS256));
        assert!(parse_jwks(&json!({"nokeys": 1})).is_empty());
    }
}
