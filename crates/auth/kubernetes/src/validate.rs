//! Reading a service-account JWT: its signature against the configured keys (when any), its
//! registered claims, and who it names, in both the legacy secret-token form
//! (`kubernetes.io/serviceaccount/...` claims) and the projected form (`kubernetes.io` object).

use coffer_jwt::keys::VerificationKey;
use coffer_jwt::validate::{Expected, Leeways, ParsedToken, TokenError};
use coffer_types::{Error, Map, unix_now};
use jsonwebtoken::Algorithm;
use serde_json::Value;

/// Algorithms Kubernetes signs service-account tokens with.
const ALGORITHMS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::ES256, Algorithm::ES384];

/// The service account a token names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServiceAccount {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    /// The secret of a legacy token ("" for projected tokens).
    pub(crate) secret_name: String,
    /// The token's `aud`.
    pub(crate) audiences: Vec<String>,
}

fn text(claims: &Map, key: &str) -> String {
    claims.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

impl ServiceAccount {
    /// The account named by `claims`, preferring the projected form.
    pub(crate) fn from_claims(claims: &Map) -> ServiceAccount {
        let audiences = coffer_jwt::validate::audiences(claims);
        let legacy = ServiceAccount {
            namespace: text(claims, "kubernetes.io/serviceaccount/namespace"),
            name: text(claims, "kubernetes.io/serviceaccount/service-account.name"),
            uid: text(claims, "kubernetes.io/serviceaccount/service-account.uid"),
            secret_name: text(claims, "kubernetes.io/serviceaccount/secret.name"),
            audiences,
        };
        let Some(Value::Object(projected)) = claims.get("kubernetes.io") else { return legacy };
        let account = projected.get("serviceaccount").and_then(Value::as_object);
        let field = |k: &str| account.map(|a| text(a, k)).unwrap_or_default();
        ServiceAccount {
            namespace: text(projected, "namespace"),
            name: field("name"),
            uid: field("uid"),
            ..legacy
        }
    }
}

/// Parses and checks `jwt`: the signature when `keys` is non-empty (else TokenReview is the
/// check), the issuer when asked, the audience when the role has one, the time claims when
/// present. Failures are 403s, as in Vault; a bad signature is a bare `permission denied`.
pub(crate) fn check(
    jwt: &str,
    keys: &[VerificationKey],
    issuer: &str,
    audience: &str,
) -> Result<ServiceAccount, Error> {
    let forbidden = |e: TokenError| match e {
        TokenError::Signature => Error::PermissionDenied,
        other => Error::Forbidden(other.to_string()),
    };
    let token = ParsedToken::parse(jwt, ALGORITHMS).map_err(forbidden)?;
    if !keys.is_empty() {
        token.verify(keys).map_err(forbidden)?;
    }
    let audiences: Vec<String> =
        if audience.is_empty() { Vec::new() } else { vec![audience.to_string()] };
    let expected = Expected {
        issuer,
        subject: "",
        audiences: &audiences,
        allow_missing_times: true,
        leeways: Leeways::default(),
    };
    token.check_claims(&expected, unix_now()).map_err(forbidden)?;
    Ok(ServiceAccount::from_claims(&token.claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_claim_forms() {
        let legacy = json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": "prod",
            "kubernetes.io/serviceaccount/secret.name": "app-token-x",
            "kubernetes.io/serviceaccount/service-account.name": "app",
            "kubernetes.io/serviceaccount/service-account.uid": "u-1",
        });
        let sa = ServiceAccount::from_claims(legacy.as_object().unwrap_or(&Map::new()));
        assert_eq!((sa.namespace.as_str(), sa.name.as_str()), ("prod", "app"));
        assert_eq!((sa.uid.as_str(), sa.secret_name.as_str()), ("u-1", "app-token-x"));
        let projected = json!({
            "aud": ["vault"],
            "kubernetes.io": {"namespace": "dev", "pod": {"name": "p", "uid": "p-1"},
                              "serviceaccount": {"name": "web", "uid": "u-2"}},
        });
        let sa = ServiceAccount::from_claims(projected.as_object().unwrap_or(&Map::new()));
        assert_eq!(
            sa,
            ServiceAccount {
                namespace: "dev".into(),
                name: "web".into(),
                uid: "u-2".into(),
                secret_name: String::new(),
                audiences: vec!["vault".into()],
            }
        );
    }
}
