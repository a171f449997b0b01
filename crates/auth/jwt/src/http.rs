//! A small HTTPS client for the calls auth methods make to identity providers: JWKS and OIDC
//! discovery documents, the Kubernetes TokenReview API. TLS uses the one crypto provider
//! (aws-lc-rs) and trusts either the given CA bundle or the system roots. Answers are capped
//! in size and time, and errors never carry request headers or bodies (they hold tokens).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

/// Largest answer read from a provider (JWKS, discovery document, TokenReview).
const MAX_BODY: usize = 1024 * 1024;

/// How long one call may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(15);

/// What can go wrong talking to a provider. Messages name the URL at most, never a token.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    /// The URL does not parse or is neither `http` nor `https`.
    #[error("invalid URL {0:?}")]
    InvalidUrl(String),
    /// The CA bundle holds no usable certificate.
    #[error("could not parse CA PEM value successfully")]
    InvalidCa,
    /// TLS could not be set up.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The connection or the exchange failed.
    #[error("request to {url} failed: {reason}")]
    Transport {
        /// The URL called.
        url: String,
        /// Why, from the transport.
        reason: String,
    },
    /// No answer in time.
    #[error("request to {0} timed out")]
    Timeout(String),
    /// The answer is larger than the limit.
    #[error("answer from {0} is too large")]
    TooLarge(String),
    /// The answer is not the JSON expected.
    #[error("answer from {0} is not valid JSON")]
    NotJson(String),
    /// A non-success status.
    #[error("{url} answered {status}")]
    Status {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
    },
}

/// An answer: its status and its body parsed as JSON (`Null` when empty or not JSON and the
/// caller accepts that).
#[derive(Debug, Clone)]
pub struct JsonAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON.
    pub body: Value,
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client for one trust configuration; cheap to clone, connections are pooled.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<Connector, Full<Bytes>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

/// The trust anchors: the PEM bundle when given, else the system's roots.
fn roots(ca_pem: &str) -> Result<RootCertStore, HttpError> {
    let mut roots = RootCertStore::empty();
    if ca_pem.trim().is_empty() {
        for cert in rustls_native_certs::load_native_certs().certs {
            // A system root rustls cannot use is skipped, as every TLS client does.
            let _ = roots.add(cert);
        }
        return Ok(roots);
    }
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|_| HttpError::InvalidCa)?;
        roots.add(cert).map_err(|_| HttpError::InvalidCa)?;
    }
    if roots.is_empty() {
        return Err(HttpError::InvalidCa);
    }
    Ok(roots)
}

fn check_url(url: &str) -> Result<http::Uri, HttpError> {
    let uri: http::Uri = url.parse().map_err(|_| HttpError::InvalidUrl(url.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(uri),
        _ => Err(HttpError::InvalidUrl(url.to_string())),
    }
}

impl HttpClient {
    /// A client trusting `ca_pem` (PEM certificates), or the system roots when it is empty.
    pub fn new(ca_pem: &str) -> Result<HttpClient, HttpError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpError::Tls(e.to_string()))?
            .with_root_certificates(roots(ca_pem)?)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpClient { inner: Client::builder(TokioExecutor::new()).build(connector) })
    }

    /// `GET url`, expecting a 200 with a JSON body.
    pub async fn get_json(&self, url: &str) -> Result<Value, HttpError> {
        let answer = self.send(Method::GET, url, None, None).await?;
        if answer.status != 200 {
            return Err(HttpError::Status { url: url.to_string(), status: answer.status });
        }
        Ok(answer.body)
    }

    /// `GET url` with a bearer token; any status is returned to the caller.
    pub async fn get_json_with_bearer(
        &self,
        url: &str,
        bearer: &coffer_types::SecretString,
    ) -> Result<JsonAnswer, HttpError> {
        self.send(Method::GET, url, Some(bearer), None).await
    }

    /// `POST url` with a JSON body and a bearer token; any status is returned to the caller.
    /// The token travels only in the `Authorization` header.
    pub async fn post_json(
        &self,
        url: &str,
        bearer: &coffer_types::SecretString,
        body: &Value,
    ) -> Result<JsonAnswer, HttpError> {
        let bytes = serde_json::to_vec(body).map_err(|_| HttpError::NotJson(url.to_string()))?;
        self.send(Method::POST, url, Some(bearer), Some(bytes)).await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&coffer_types::SecretString>,
        body: Option<Vec<u8>>,
    ) -> Result<JsonAnswer, HttpError> {
        let uri = check_url(url)?;
        let mut builder =
            Request::builder().method(method).uri(uri).header(header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            let mut value = http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| HttpError::InvalidUrl(url.to_string()))?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|_| HttpError::InvalidUrl(url.to_string()))?;
        let transport = |e: &dyn std::fmt::Display| HttpError::Transport {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let exchange = async {
            let response = self.inner.request(request).await.map_err(|e| transport(&e))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|_| HttpError::TooLarge(url.to_string()))?
                .to_bytes();
            Ok::<_, HttpError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| HttpError::Timeout(url.to_string()))??;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) if !(200..300).contains(&status) => Value::Null,
                Err(_) => return Err(HttpError::NotJson(url.to_string())),
            }
        };
        Ok(JsonAnswer { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_or_https() {
        assert!(check_url("https://example.com/keys").is_ok());
        assert!(check_url("http://127.0.0.1:8080/keys").is_ok());
        assert!(check_url("file:///etc/passwd").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url("/relative").is_err());
    }

    #[test]
    fn a_bad_ca_bundle_is_refused() {
        assert_eq!(roots("not a pem").err(), Some(HttpError::InvalidCa));
        assert!(roots("").is_ok());
    }
}
