//! A typed Vault-API HTTP client, used by the `coffer` CLI (and later the agent and tests).
//! It speaks to Coffer, OpenBao or Vault alike: `X-Vault-Token`, the envelope, `errors`.
#![forbid(unsafe_code)]

mod tls;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use coffer_types::{Map, SecretString};
use http::{HeaderMap, HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::Value;

/// How to reach the server.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// `https://host:port` or `http://host:port`.
    pub address: String,
    /// The token sent as `X-Vault-Token`.
    pub token: Option<SecretString>,
    /// A PEM file of CA certificates to trust instead of the system's.
    pub ca_cert: Option<PathBuf>,
    /// A directory of PEM CA certificates to trust.
    pub ca_path: Option<PathBuf>,
    /// Accept any server certificate. Dangerous: logs a warning.
    pub tls_skip_verify: bool,
    /// Client certificate (PEM) for TLS certificate auth.
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM) for TLS certificate auth.
    pub client_key: Option<PathBuf>,
    /// Request timeout (default 60 s).
    pub timeout: Option<Duration>,
}

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("Error making API request.\n\nURL: {method} {url}\nCode: {status}. Errors:\n\n{}", format_errors(.errors))]
    Api {
        /// HTTP method.
        method: String,
        /// Full URL.
        url: String,
        /// Status code.
        status: u16,
        /// The `errors` list.
        errors: Vec<String>,
    },
    /// Connecting or sending failed.
    #[error("{0}")]
    Transport(String),
    /// TLS setup failed.
    #[error("TLS configuration error: {0}")]
    Tls(String),
    /// The answer was not what the API promises.
    #[error("failed to decode the response: {0}")]
    Decode(String),
    /// The client configuration is invalid.
    #[error("{0}")]
    Config(String),
}

fn format_errors(errors: &[String]) -> String {
    errors.iter().map(|e| format!("* {e}")).collect::<Vec<_>>().join("\n")
}

impl ClientError {
    /// The HTTP status for API errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The Vault response envelope, read leniently.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Secret {
    /// Request id.
    pub request_id: String,
    /// Lease id ("" when not leased).
    pub lease_id: String,
    /// Whether the lease renews.
    pub renewable: bool,
    /// Lease seconds.
    pub lease_duration: i64,
    /// The data.
    pub data: Option<Map>,
    /// Warnings.
    pub warnings: Option<Vec<String>>,
    /// The auth block.
    pub auth: Option<Value>,
    /// Wrapping information.
    pub wrap_info: Option<Value>,
}

/// A raw answer: status, headers and body.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl ApiResponse {
    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Result<Value, ClientError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Decode(e.to_string()))
    }
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client for one server address.
#[derive(Clone)]
pub struct Client {
    address: String,
    token: Option<SecretString>,
    http: HyperClient<Connector, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client (TLS set up once, connections kept alive).
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let address = config.address.trim_end_matches('/').to_string();
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "invalid address {address:?}: must start with http:// or https://"
            )));
        }
        let tls = tls::client_config(&config)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let http = HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(Client {
            address,
            token: config.token,
            http,
            timeout: config.timeout.unwrap_or(Duration::from_secs(60)),
        })
    }

    /// The server address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A copy using another token.
    pub fn with_token(&self, token: Option<SecretString>) -> Client {
        Client { token, ..self.clone() }
    }

    /// Sends one request. `path` is below `/v1/`.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        extra_headers: &[(&str, &str)],
    ) -> Result<ApiResponse, ClientError> {
        let mut url = format!("{}/v1/{}", self.address, path.trim_start_matches('/'));
        if !query.is_empty() {
            let encoded: String =
                form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
            url.push('?');
            url.push_str(&encoded);
        }
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let mut builder =
            Request::builder().method(method.clone()).uri(&url).header("X-Vault-Request", "true");
        if let Some(token) = self.token.as_ref().filter(|t| !t.is_empty()) {
            let value = HeaderValue::from_str(token.expose())
                .map_err(|_| ClientError::Config("the token contains invalid characters".into()))?;
            builder = builder.header("X-Vault-Token", value);
        }
        for (k, v) in extra_headers {
            builder = builder.header(*k, *v);
        }
        let bytes = match body {
            Some(v) => {
                Bytes::from(serde_json::to_vec(v).map_err(|e| ClientError::Decode(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        if body.is_some()
            && !extra_headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request =
            builder.body(Full::new(bytes)).map_err(|e| ClientError::Config(e.to_string()))?;
        let send = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| ClientError::Transport(transport_message(&url, &e)))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            Ok::<_, ClientError>(ApiResponse { status, headers, body })
        };
        tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| ClientError::Transport(format!("{method} {url}: timed out")))?
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<ApiResponse, ClientError> {
        let response = self.request(method, path, query, body, headers).await?;
        if response.status >= 400 {
            let errors = response
                .json()
                .ok()
                .and_then(|v| v.get("errors").cloned())
                .and_then(|e| serde_json::from_value::<Vec<String>>(e).ok())
                .unwrap_or_default();
            return Err(ClientError::Api {
                method: method.to_string(),
                url: format!("{}/v1/{}", self.address, path.trim_start_matches('/')),
                status: response.status,
                errors,
            });
        }
        Ok(response)
    }

    fn secret(response: &ApiResponse) -> Result<Option<Secret>, ClientError> {
        if response.body.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&response.body)
            .map(Some)
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// GET. A 404 is `None`, unless its body carries `data` or `warnings` (KV v2 deleted
    /// versions), which is returned like a success.
    pub async fn read(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Secret>, ClientError> {
        match self.call("GET", path, query, None, &[]).await {
            Ok(r) => Self::secret(&r),
            Err(ClientError::Api { status: 404, .. }) => {
                let raw = self.request("GET", path, query, None, &[]).await?;
                let secret = Self::secret(&raw).ok().flatten();
                Ok(secret.filter(|s| {
                    s.data.is_some() || s.warnings.as_ref().is_some_and(|w| !w.is_empty())
                }))
            }
            Err(e) => Err(e),
        }
    }

    /// LIST (as `GET ?list=true`). A 404 is `None`.
    pub async fn list(&self, path: &str) -> Result<Option<Secret>, ClientError> {
        match self.call("GET", path.trim_end_matches('/'), &[("list", "true")], None, &[]).await {
            Ok(r) => Self::secret(&r),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// PUT with a JSON body (`Value::Null` sends `null`).
    pub async fn write(&self, path: &str, body: &Value) -> Result<Option<Secret>, ClientError> {
        let r = self.call("PUT", path, &[], Some(body), &[]).await?;
        Self::secret(&r)
    }

    /// PATCH with a JSON merge-patch body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Option<Secret>, ClientError> {
        let r = self
            .call(
                "PATCH",
                path,
                &[],
                Some(body),
                &[("Content-Type", "application/merge-patch+json")],
            )
            .await?;
        Self::secret(&r)
    }

    /// DELETE.
    pub async fn delete(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Secret>, ClientError> {
        let r = self.call("DELETE", path, query, None, &[]).await?;
        Self::secret(&r)
    }

    /// GET of an endpoint that answers bare JSON (`sys/seal-status`, `sys/health`...), any status.
    pub async fn raw_json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        let r = self.request(method, path, &[], body, &[]).await?;
        Ok((r.status, r.json()?))
    }
}

fn transport_message(url: &str, e: &hyper_util::client::legacy::Error) -> String {
    let mut msg = format!("{url}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_render_like_vault() {
        let e = ClientError::Api {
            method: "GET".into(),
            url: "http://x/v1/a".into(),
            status: 403,
            errors: vec!["permission denied".into()],
        };
        let text = e.to_string();
        assert!(text.contains("Code: 403. Errors:\n\n* permission denied"), "{text}");
    }

    #[test]
    fn addresses_need_a_scheme() {
        let bad =
            Client::new(ClientConfig { address: "127.0.0.1:8200".into(), ..Default::default() });
        assert!(matches!(bad, Err(ClientError::Config(_))));
    }

    #[test]
    fn tokens_stay_out_of_debug() {
        let config =
            ClientConfig { token: Some(SecretString::new("s.secret")), ..Default::default() };
        assert!(!format!("{config:?}").contains("s.secret"));
    }
}
