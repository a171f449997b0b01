//! The one error enum of the request path and its single mapping to HTTP status codes.

/// Everything that can go wrong while serving a request. The HTTP status comes from
/// [`Error::status`], never from the message text; only the server renders the body.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// No token, an unknown or expired token, or an ACL denial (403).
    #[error("permission denied")]
    PermissionDenied,
    /// A 403 with a specific message (preflight checks, `bad token`).
    #[error("{0}")]
    Forbidden(String),
    /// Bad input: a missing or malformed parameter, a failed check-and-set (400).
    #[error("{0}")]
    InvalidRequest(String),
    /// No mount serves the path (404).
    #[error("no handler for route \"{0}\". route entry not found.")]
    NoRoute(String),
    /// The mount exists but has no route for the path (404).
    #[error("unsupported path")]
    UnsupportedPath,
    /// The item does not exist (404 with an empty `errors` list).
    #[error("")]
    NotFound,
    /// The route exists but not for this operation (405).
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// The server is sealed (503). The text is what clients match on.
    #[error("Vault is sealed")]
    Sealed,
    /// The request body is larger than the configured limit (413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// PATCH without `application/merge-patch+json` (415).
    #[error("PATCH requires the application/merge-patch+json content type")]
    UnsupportedMediaType,
    /// An unknown namespace in `X-Vault-Namespace` (404).
    #[error("namespace not found")]
    NamespaceNotFound,
    /// Storage or another internal failure (500). The message must not contain secrets.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status code of this error: the single mapping used by the server.
    pub fn status(&self) -> u16 {
        match self {
            Error::PermissionDenied | Error::Forbidden(_) => 403,
            Error::InvalidRequest(_) => 400,
            Error::NoRoute(_)
            | Error::UnsupportedPath
            | Error::NotFound
            | Error::NamespaceNotFound => 404,
            Error::UnsupportedOperation => 405,
            Error::PayloadTooLarge => 413,
            Error::UnsupportedMediaType => 415,
            Error::Internal(_) => 500,
            Error::Sealed => 503,
        }
    }

    /// The messages for the `{"errors":[...]}` body; empty for a plain not-found.
    pub fn messages(&self) -> Vec<String> {
        match self {
            Error::NotFound => Vec::new(),
            other => {
                let msg = other.to_string();
                if msg.is_empty() { Vec::new() } else { vec![msg] }
            }
        }
    }

    /// Shorthand for [`Error::InvalidRequest`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidRequest(msg.into())
    }

    /// Shorthand for [`Error::Internal`].
    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(Error::PermissionDenied.status(), 403);
        assert_eq!(Error::invalid("x").status(), 400);
        assert_eq!(Error::NotFound.status(), 404);
        assert!(Error::NotFound.messages().is_empty());
        assert_eq!(Error::Sealed.messages(), vec!["Vault is sealed".to_string()]);
        assert_eq!(Error::UnsupportedOperation.status(), 405);
        assert_eq!(
            Error::NoRoute("foo/bar".into()).to_string(),
            "no handler for route \"foo/bar\". route entry not found."
        );
    }
}
