//! The one error type of the client. API errors render the way Vault's CLI prints them, so a
//! user sees the same text whichever tool they used; tokens never appear in any variant.

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status (its `errors` list, possibly empty).
    #[error("Error making API request.\n\nURL: {method} {url}\nCode: {status}. Errors:\n\n{}", bullets(.errors))]
    Api {
        /// HTTP method of the failed request.
        method: String,
        /// Full URL of the failed request, query included.
        url: String,
        /// Status code.
        status: u16,
        /// The `errors` list of the body.
        errors: Vec<String>,
    },
    /// Connecting, sending or receiving failed, or the request timed out.
    #[error("{0}")]
    Transport(String),
    /// The TLS configuration could not be built (unreadable CA, bad client certificate).
    #[error("TLS configuration error: {0}")]
    Tls(String),
    /// The body was not what the API promises.
    #[error("failed to decode the response: {0}")]
    Decode(String),
    /// The client configuration or a request argument is invalid.
    #[error("{0}")]
    Config(String),
}

fn bullets(errors: &[String]) -> String {
    errors.iter().map(|e| format!("* {e}")).collect::<Vec<_>>().join("\n")
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error messages of an API error (empty otherwise).
    pub fn errors(&self) -> &[String] {
        match self {
            ClientError::Api { errors, .. } => errors,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_render_like_vault() {
        let e = ClientError::Api {
            method: "GET".into(),
            url: "http://127.0.0.1:8200/v1/x".into(),
            status: 403,
            errors: vec!["permission denied".into(), "second".into()],
        };
        assert_eq!(
            e.to_string(),
            "Error making API request.\n\nURL: GET http://127.0.0.1:8200/v1/x\nCode: 403. \
             Errors:\n\n* permission denied\n* second"
        );
        assert_eq!(e.status(), Some(403));
        assert_eq!(e.errors().len(), 2);
        assert_eq!(ClientError::Transport("x".into()).status(), None);
    }
}
