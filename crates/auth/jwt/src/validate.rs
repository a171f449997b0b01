//! JWT validation as Vault's `cap/jwt` does it: the compact JWS is split and its header read,
//! the signature is checked against candidate keys, then the registered claims (`iss`, `sub`,
//! `aud`, `nbf`, `exp`, `iat`) are checked with Vault's leeways. Messages match Vault's, and
//! never contain the token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_types::Map;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::keys::{self, VerificationKey};

/// Default leeway for `exp` and `nbf` when a token lacks the claim (seconds).
pub const DEFAULT_CLAIM_LEEWAY: i64 = 150;

/// Default clock-skew leeway for every time claim (seconds).
pub const DEFAULT_CLOCK_SKEW: i64 = 60;

/// Why a token is refused. The texts are Vault's, prefixed by the caller.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts with a JSON header and a JSON object payload.
    #[error("malformed token")]
    Malformed,
    /// `none`, HMAC or an unknown algorithm in the header.
    #[error("invalid algorithm (alg) header parameter: unsupported signing algorithm")]
    UnsupportedAlgorithm,
    /// A supported algorithm the configuration does not allow.
    #[error("invalid algorithm (alg) header parameter: token signed with unexpected algorithm")]
    UnexpectedAlgorithm,
    /// A `crit` header this server does not understand.
    #[error("unsupported critical header parameters")]
    CriticalHeader,
    /// No key verifies the signature.
    #[error("error verifying token signature: failed to verify id token signature")]
    Signature,
    /// The keys could not be fetched.
    #[error("error verifying token signature: fetching keys: {0}")]
    KeyFetch(String),
    /// `iss` differs from the bound issuer.
    #[error("invalid issuer (iss) claim")]
    Issuer,
    /// `sub` differs from the bound subject.
    #[error("invalid subject (sub) claim")]
    Subject,
    /// `aud` contains none of the bound audiences.
    #[error("invalid audience (aud) claim: audience claim does not match any expected audience")]
    Audience,
    /// None of `iat`, `nbf`, `exp`.
    #[error("no issued at (iat), not before (nbf), or expiration time (exp) claims in token")]
    NoTimeClaims,
    /// `nbf` in the future.
    #[error("invalid not before (nbf) claim: token not yet valid")]
    NotYetValid,
    /// `exp` in the past.
    #[error("invalid expiration time (exp) claim: token is expired")]
    Expired,
    /// `iat` in the future.
    #[error("invalid issued at (iat) claim: token issued in the future")]
    IssuedInFuture,
}

/// The leeways of a role, as configured: 0 means the default, a negative value none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leeways {
    /// Applied to every time claim (`clock_skew_leeway`).
    pub clock_skew: i64,
    /// Lifetime given to a token without `exp` (`expiration_leeway`).
    pub expiration: i64,
    /// Validity before `exp` of a token without `nbf` nor `iat` (`not_before_leeway`).
    pub not_before: i64,
}

fn effective(value: i64, default: i64) -> i64 {
    match value {
        0 => default,
        v if v < 0 => 0,
        v => v,
    }
}

/// What the claims must satisfy.
#[derive(Debug, Clone, Default)]
pub struct Expected<'a> {
    /// Required `iss` ("" = any).
    pub issuer: &'a str,
    /// Required `sub` ("" = any).
    pub subject: &'a str,
    /// `aud` must contain one of these (empty = no check).
    pub audiences: &'a [String],
    /// Accept tokens with none of `iat`, `nbf`, `exp` (Kubernetes legacy tokens).
    pub allow_missing_times: bool,
    /// The leeways.
    pub leeways: Leeways,
}

/// A token split into its parts, header read, payload decoded; nothing verified yet.
#[derive(Debug, Clone)]
pub struct ParsedToken {
    /// The signing algorithm of the header.
    pub alg: Algorithm,
    /// The key ID of the header.
    pub kid: Option<String>,
    /// The claims (unverified until [`ParsedToken::verify`] succeeds).
    pub claims: Map,
    signing_input: String,
    signature: String,
}

fn decode_json(part: &str) -> Result<Value, TokenError> {
    let bytes =
        URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

impl ParsedToken {
    /// Splits and decodes a compact JWS. `none`, HMAC and unknown algorithms are refused
    /// here, as are algorithms outside `allowed`, before any key is looked at.
    pub fn parse(token: &str, allowed: &[Algorithm]) -> Result<ParsedToken, TokenError> {
        let mut parts = token.trim().split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let Value::Object(header_json) = decode_json(header)? else {
            return Err(TokenError::Malformed);
        };
        let alg = header_json.get("alg").and_then(Value::as_str).ok_or(TokenError::Malformed)?;
        let alg = keys::algorithm(alg).ok_or(TokenError::UnsupportedAlgorithm)?;
        if !allowed.contains(&alg) {
            return Err(TokenError::UnexpectedAlgorithm);
        }
        if header_json.contains_key("crit") {
            return Err(TokenError::CriticalHeader);
        }
        if signature.is_empty() {
            return Err(TokenError::Signature);
        }
        let kid = header_json.get("kid").and_then(Value::as_str).map(str::to_string);
        let Value::Object(claims) = decode_json(payload)? else {
            return Err(TokenError::Malformed);
        };
        Ok(ParsedToken {
            alg,
            kid,
            claims,
            signing_input: format!("{header}.{payload}"),
            signature: signature.to_string(),
        })
    }

    /// Whether one of `keys` verifies the signature. With a `kid` in the header only keys
    /// with that ID (or none) are tried.
    pub fn verify(&self, keys: &[VerificationKey]) -> Result<(), TokenError> {
        let verified = keys
            .iter()
            .filter(|k| match (&self.kid, &k.kid) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            })
            .any(|k| k.verify(self.alg, self.signing_input.as_bytes(), &self.signature));
        if verified { Ok(()) } else { Err(TokenError::Signature) }
    }

    /// Whether a key with the header's `kid` is among `keys` (always true without a `kid`).
    pub fn kid_known(&self, keys: &[VerificationKey]) -> bool {
        match &self.kid {
            None => true,
            Some(kid) => keys.iter().any(|k| k.kid.as_deref() == Some(kid.as_str())),
        }
    }

    /// Checks the registered claims against `expected` at `now` (Unix seconds).
    pub fn check_claims(&self, expected: &Expected<'_>, now: i64) -> Result<(), TokenError> {
        check_claims(&self.claims, expected, now)
    }
}

/// The `aud` claim as a list (a single string counts as a list of one).
pub fn audiences(claims: &Map) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => {
            items.iter().filter_map(Value::as_str).map(str::to_string).collect()
        }
        _ => Vec::new(),
    }
}

fn numeric_date(claims: &Map, name: &str) -> Result<i64, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => {
            n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).ok_or(TokenError::Malformed)
        }
        Some(_) => Err(TokenError::Malformed),
    }
}

fn string_claim<'a>(claims: &'a Map, name: &str) -> &'a str {
    claims.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Checks the registered claims of `claims` against `expected` at `now` (Unix seconds).
pub fn check_claims(claims: &Map, expected: &Expected<'_>, now: i64) -> Result<(), TokenError> {
    if !expected.issuer.is_empty() && string_claim(claims, "iss") != expected.issuer {
        return Err(TokenError::Issuer);
    }
    if !expected.subject.is_empty() && string_claim(claims, "sub") != expected.subject {
        return Err(TokenError::Subject);
    }
    if !expected.audiences.is_empty() {
        let have = audiences(claims);
        if !expected.audiences.iter().any(|a| have.contains(a)) {
            return Err(TokenError::Audience);
        }
    }
    let iat = numeric_date(claims, "iat")?;
    let mut exp = numeric_date(claims, "exp")?;
    let mut nbf = numeric_date(claims, "nbf")?;
    if iat == 0 && exp == 0 && nbf == 0 {
        return if expected.allow_missing_times { Ok(()) } else { Err(TokenError::NoTimeClaims) };
    }
    let leeways = expected.leeways;
    if exp == 0 {
        exp = iat.max(nbf) + effective(leeways.expiration, DEFAULT_CLAIM_LEEWAY);
    }
    if nbf == 0 {
        nbf =
            if iat != 0 { iat } else { exp - effective(leeways.not_before, DEFAULT_CLAIM_LEEWAY) };
    }
    let skew = effective(leeways.clock_skew, DEFAULT_CLOCK_SKEW);
    if now + skew < nbf {
        return Err(TokenError::NotYetValid);
    }
    if now - skew > exp {
        return Err(TokenError::Expired);
    }
    if iat != 0 && now + skew < iat {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default())
    }

    fn token(header: Value, claims: Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&claims))
    }

    fn claims(v: Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    const ALL: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

    #[test]
    fn refuses_none_hmac_and_unexpected_algorithms() {
        let none = token(json!({"alg": "none"}), json!({}));
        assert_eq!(ParsedToken::parse(&none, ALL).err(), Some(TokenError::UnsupportedAlgorithm));
        let hs = token(json!({"alg": "HS256"}), json!({}));
        assert_eq!(ParsedToken::parse(&hs, ALL).err(), Some(TokenError::UnsupportedAlgorithm));
        let ps = token(json!({"alg": "PS256"}), json!({}));
        assert_eq!(ParsedToken::parse(&ps, ALL).err(), Some(TokenError::UnexpectedAlgorithm));
        let crit = token(json!({"alg": "RS256", "crit": ["x"]}), json!({}));
        assert_eq!(ParsedToken::parse(&crit, ALL).err(), Some(TokenError::CriticalHeader));
        let unsigned = format!("{}.{}.", b64(&json!({"alg": "RS256"})), b64(&json!({})));
        assert_eq!(ParsedToken::parse(&unsigned, ALL).err(), Some(TokenError::Signature));
        assert_eq!(ParsedToken::parse("a.b", ALL).err(), Some(TokenError::Malformed));
        assert_eq!(ParsedToken::parse("a.b.c.d", ALL).err(), Some(TokenError::Malformed));
        let array = token(json!({"alg": "RS256"}), json!([1]));
        assert_eq!(ParsedToken::parse(&array, ALL).err(), Some(TokenError::Malformed));
        let ok = token(json!({"alg": "RS256", "kid": "k1"}), json!({"sub": "x"}));
        let parsed = ParsedToken::parse(&ok, ALL).ok();
        assert_eq!(parsed.as_ref().and_then(|p| p.kid.clone()).as_deref(), Some("k1"));
        assert_eq!(parsed.map(|p| p.verify(&[])), Some(Err(TokenError::Signature)));
    }

    #[test]
    fn registered_claims() {
        let now = 1_000_000;
        let aud = vec!["api".to_string()];
        let exp = Expected { issuer: "iss", subject: "sub", audiences: &aud, ..Default::default() };
        let good = claims(json!({"iss": "iss", "sub": "sub", "aud": "api", "exp": now + 10}));
        assert_eq!(check_claims(&good, &exp, now), Ok(()));
        let c = claims(json!({"iss": "other", "sub": "sub", "aud": ["api"], "exp": now + 10}));
        assert_eq!(check_claims(&c, &exp, now), Err(TokenError::Issuer));
        let c = claims(json!({"iss": "iss", "sub": "x", "aud": ["api"], "exp": now + 10}));
        assert_eq!(check_claims(&c, &exp, now), Err(TokenError::Subject));
        let c = claims(json!({"iss": "iss", "sub": "sub", "aud": ["web", "x"], "exp": now}));
        assert_eq!(check_claims(&c, &exp, now), Err(TokenError::Audience));
        let c = claims(json!({"iss": "iss", "sub": "sub", "aud": ["web", "api"], "exp": now}));
        assert_eq!(check_claims(&c, &exp, now), Ok(()));
    }

    #[test]
    fn time_claims_and_leeways() {
        let now = 1_000_000;
        let exp = Expected::default();
        let check = |c: Value| check_claims(&claims(c), &exp, now);
        assert_eq!(check(json!({})), Err(TokenError::NoTimeClaims));
        let lenient = Expected { allow_missing_times: true, ..Default::default() };
        assert_eq!(check_claims(&Map::new(), &lenient, now), Ok(()));
        assert_eq!(check(json!({"exp": now - 3600})), Err(TokenError::Expired));
        assert_eq!(check(json!({"exp": now - 30})), Ok(()), "within the 60s clock skew");
        assert_eq!(
            check(json!({"exp": now + 3600, "nbf": now + 600})),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            check(json!({"iat": now + 600, "exp": now + 3600})),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(check(json!({"iat": now - 100})), Ok(()), "exp defaults to iat + 150");
        assert_eq!(check(json!({"iat": now - 400})), Err(TokenError::Expired));
        assert_eq!(check(json!({"exp": 1_000_010.5})), Ok(()), "fractional dates");
        assert_eq!(check(json!({"exp": "soon"})), Err(TokenError::Malformed));
        let strict = Expected {
            leeways: Leeways { clock_skew: -1, expiration: -1, not_before: -1 },
            ..Default::default()
        };
        assert_eq!(
            check_claims(&claims(json!({"exp": now - 1})), &strict, now),
            Err(TokenError::Expired)
        );
    }

    proptest::proptest! {
        /// The parser of untrusted tokens never panics, whatever it is fed.
        #[test]
        fn parsing_arbitrary_input_never_panics(input in ".{0,400}") {
            let _ = ParsedToken::parse(&input, ALL);
        }

        /// Nor does it on well-formed base64 parts holding arbitrary bytes.
        #[test]
        fn parsing_arbitrary_parts_never_panics(
            header in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..128),
            signature in "[A-Za-z0-9_-]{0,64}",
        ) {
            let token = format!("{}.{}.{signature}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
            let _ = ParsedToken::parse(&token, ALL);
        }
    }
}
