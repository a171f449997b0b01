//! The TokenReview call: the API server says whether a service-account JWT is still valid
//! (its account and, for projected tokens, its pod still exist) and whose it is. Any doubt is
//! a refusal; the reason is logged for the operator, the caller only sees `permission denied`.

use coffer_jwt::http::HttpClient;
use coffer_types::SecretString;
use serde_json::{Value, json};

/// The path of the TokenReview API below the API server's URL.
const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

/// Who the API server says the token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reviewed {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) uid: String,
}

/// Why a review did not vouch for the token (for the log; never shown to the caller).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ReviewError {
    /// The API server could not be reached or answered garbage.
    #[error("lookup failed: {0}")]
    Transport(String),
    /// The reviewer's own token was refused.
    #[error(
        "lookup failed: service account unauthorized; this could mean it has been deleted or recreated with a new token"
    )]
    Unauthorized,
    /// Another non-success status.
    #[error("lookup failed: the API server answered {0}")]
    Status(u16),
    /// `status.error` was set.
    #[error("lookup failed: {0}")]
    Reported(String),
    /// `status.authenticated` was not true.
    #[error("lookup failed: service account jwt not valid")]
    NotAuthenticated,
    /// The token is valid for other audiences.
    #[error("lookup failed: service account jwt valid for other audiences")]
    Audience,
    /// The user is not `system:serviceaccount:<ns>:<name>`.
    #[error("lookup failed: username returned is not a service account")]
    NotServiceAccount,
}

/// The request body: the token and, when any, the audiences it must be valid for.
fn body(jwt: &SecretString, audiences: &[String]) -> Value {
    let mut spec = json!({ "token": jwt.expose() });
    if !audiences.is_empty() {
        spec["audiences"] = json!(audiences);
    }
    json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "metadata": {},
        "spec": spec,
        "status": {"user": {}},
    })
}

/// Reads a TokenReview answer.
fn read_answer(status: u16, answer: &Value, audiences: &[String]) -> Result<Reviewed, ReviewError> {
    if status == 401 {
        return Err(ReviewError::Unauthorized);
    }
    if !(200..300).contains(&status) {
        return Err(ReviewError::Status(status));
    }
    if answer.get("kind").and_then(Value::as_str) == Some("Status") {
        let reason = answer.get("message").and_then(Value::as_str).unwrap_or("failure status");
        return Err(ReviewError::Reported(reason.to_string()));
    }
    let review = answer.get("status").cloned().unwrap_or(Value::Null);
    if let Some(error) = review.get("error").and_then(Value::as_str).filter(|e| !e.is_empty()) {
        return Err(ReviewError::Reported(error.to_string()));
    }
    if review.get("authenticated").and_then(Value::as_bool) != Some(true) {
        return Err(ReviewError::NotAuthenticated);
    }
    if !audiences.is_empty() {
        let granted: Vec<&str> = review
            .get("audiences")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !audiences.iter().any(|a| granted.contains(&a.as_str())) {
            return Err(ReviewError::Audience);
        }
    }
    let user = review.get("user").cloned().unwrap_or(Value::Null);
    let username = user.get("username").and_then(Value::as_str).unwrap_or("");
    let parts: Vec<&str> = username.split(':').collect();
    let [system, kind, namespace, name] = parts.as_slice() else {
        return Err(ReviewError::NotServiceAccount);
    };
    if *system != "system" || *kind != "serviceaccount" {
        return Err(ReviewError::NotServiceAccount);
    }
    Ok(Reviewed {
        namespace: (*namespace).to_string(),
        name: (*name).to_string(),
        uid: user.get("uid").and_then(Value::as_str).unwrap_or("").to_string(),
    })
}

/// Asks the API server at `base_url` to review `jwt`, authenticating with `bearer`.
pub(crate) async fn review(
    client: &HttpClient,
    base_url: &str,
    bearer: &SecretString,
    jwt: &SecretString,
    audiences: &[String],
) -> Result<Reviewed, ReviewError> {
    let url = format!("{base_url}{TOKEN_REVIEWS}");
    let answer = client
        .post_json(&url, bearer, &body(jwt, audiences))
        .await
        .map_err(|e| ReviewError::Transport(e.to_string()))?;
    read_answer(answer.status, &answer.body, audiences)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(user: &str) -> Value {
        json!({"status": {"authenticated": true, "audiences": ["vault"],
                          "user": {"username": user, "uid": "u-1"}}})
    }

    #[test]
    fn requests_carry_the_token_and_audiences() {
        let jwt = SecretString::new("t.o.k");
        let b = body(&jwt, &["vault".into()]);
        assert_eq!(b["spec"]["token"], "t.o.k");
        assert_eq!(b["spec"]["audiences"], json!(["vault"]));
        assert_eq!(b["kind"], "TokenReview");
        assert!(body(&jwt, &[])["spec"].get("audiences").is_none());
    }

    #[test]
    fn answers_are_read_strictly() {
        let aud = ["vault".to_string()];
        let reviewed = read_answer(200, &ok("system:serviceaccount:prod:app"), &aud);
        assert_eq!(
            reviewed,
            Ok(Reviewed { namespace: "prod".into(), name: "app".into(), uid: "u-1".into() })
        );
        assert_eq!(read_answer(401, &Value::Null, &aud), Err(ReviewError::Unauthorized));
        assert_eq!(read_answer(500, &Value::Null, &aud), Err(ReviewError::Status(500)));
        let no = json!({"status": {"authenticated": false}});
        assert_eq!(read_answer(201, &no, &aud), Err(ReviewError::NotAuthenticated));
        let err = json!({"status": {"authenticated": true, "error": "boom"}});
        assert_eq!(read_answer(201, &err, &aud), Err(ReviewError::Reported("boom".into())));
        assert_eq!(
            read_answer(200, &ok("system:serviceaccount:prod:app"), &["other".into()]),
            Err(ReviewError::Audience)
        );
        assert_eq!(read_answer(200, &ok("alice"), &aud), Err(ReviewError::NotServiceAccount));
        assert_eq!(
            read_answer(200, &ok("system:node:prod:app"), &aud),
            Err(ReviewError::NotServiceAccount)
        );
        let status = json!({"kind": "Status", "status": "Failure", "message": "forbidden"});
        assert!(read_answer(200, &status, &aud).is_err());
    }
}
