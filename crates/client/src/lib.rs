//! A typed Vault-API HTTP client, used by the `coffer` CLI (and by the agent, the benchmarks
//! and tests). It speaks to Coffer, OpenBao or Vault alike: it sends `X-Vault-Token` and
//! `X-Vault-Request: true`, reads the response envelope leniently and turns error statuses
//! into [`ClientError::Api`] with the server's `errors` list.
//!
//! ```no_run
//! # async fn demo() -> Result<(), coffer_client::ClientError> {
//! use coffer_client::{Client, ClientConfig};
//! use coffer_types::SecretString;
//!
//! let client = Client::new(ClientConfig {
//!     address: "https://127.0.0.1:8200".into(),
//!     token: Some(SecretString::new("s.example")),
//!     ..ClientConfig::default()
//! })?;
//! if let Some(secret) = client.read("secret/data/app", &[]).await? {
//!     println!("{:?}", secret.data);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! TLS uses rustls with the aws-lc-rs provider: the system roots, or the CA given by
//! `ca_cert`/`ca_path`; `tls_skip_verify` is the loud escape hatch.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod secret;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use coffer_types::SecretString;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub use error::ClientError;
pub use secret::{ApiResponse, Secret};

/// The default request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How to reach the server. `Debug` never shows the token.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// `https://host:port` or `http://host:port`.
    pub address: String,
    /// The token sent as `X-Vault-Token`.
    pub token: Option<SecretString>,
    /// A PEM file of CA certificates to trust instead of the system's.
    pub ca_cert: Option<PathBuf>,
    /// A directory of PEM CA certificates to trust instead of the system's.
    pub ca_path: Option<PathBuf>,
    /// Accept any server certificate. Dangerous: logs a warning when the client is built.
    pub tls_skip_verify: bool,
    /// Client certificate (PEM) presented for TLS certificate auth.
    pub client_cert: Option<PathBuf>,
    /// Key (PEM) of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Timeout of one request, body included ([`DEFAULT_TIMEOUT`] when `None`).
    pub timeout: Option<Duration>,
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client for one server address. Cheap to clone: clones share the connection pool.
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
    /// Builds a client: TLS is set up once, connections are kept alive.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let address = config.address.trim().trim_end_matches('/').to_string();
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
            timeout: config.timeout.unwrap_or(DEFAULT_TIMEOUT),
        })
    }

    /// The server address, without a trailing slash.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A copy of this client that sends another token (`None`: no token).
    pub fn with_token(&self, token: Option<SecretString>) -> Client {
        Client { token, ..self.clone() }
    }

    /// The URL of `path` (below `/v1/`) with `query`, path characters percent-encoded.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}/v1/{}", self.address, encode_path(path.trim_start_matches('/')));
        if !query.is_empty() {
            url.push('?');
            url.push_str(
                &form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish(),
            );
        }
        url
    }

    /// Sends one request and returns the answer whatever its status. `path` is below `/v1/`;
    /// a JSON `body` is sent as `application/json` unless `extra_headers` set a Content-Type.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        extra_headers: &[(&str, &str)],
    ) -> Result<ApiResponse, ClientError> {
        let url = self.url(path, query);
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|e| ClientError::Config(format!("invalid method {method:?}: {e}")))?;
        let mut builder =
            Request::builder().method(method.clone()).uri(&url).header("X-Vault-Request", "true");
        if let Some(token) = self.token.as_ref().filter(|t| !t.is_empty()) {
            let mut value = HeaderValue::from_str(token.expose())
                .map_err(|_| ClientError::Config("the token contains invalid characters".into()))?;
            value.set_sensitive(true);
            builder = builder.header("X-Vault-Token", value);
        }
        let has_content_type =
            extra_headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        for (k, v) in extra_headers {
            builder = builder.header(*k, *v);
        }
        let bytes = match body {
            Some(v) => {
                if !has_content_type {
                    builder = builder.header(header::CONTENT_TYPE, "application/json");
                }
                Bytes::from(serde_json::to_vec(v).map_err(|e| ClientError::Decode(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let request =
            builder.body(Full::new(bytes)).map_err(|e| ClientError::Config(e.to_string()))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| ClientError::Transport(transport_message(&method, &url, &e)))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Transport(format!("{method} {url}: {e}")))?
                .to_bytes();
            Ok::<_, ClientError>(ApiResponse { status, headers, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Transport(format!("{method} {url}: timed out")))?
    }

    fn api_error(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        r: &ApiResponse,
    ) -> ClientError {
        ClientError::Api {
            method: method.to_string(),
            url: self.url(path, query),
            status: r.status,
            errors: r.errors(),
        }
    }

    async fn checked(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Option<Secret>, ClientError> {
        let r = self.request(method, path, query, body, headers).await?;
        if r.status >= 400 {
            return Err(self.api_error(method, path, query, &r));
        }
        Secret::from_body(&r.body)
    }

    /// GET as `Logical().Read` does: a 404 is `None`, unless its body carries data or
    /// warnings (a soft-deleted KV v2 version), which is returned like a success.
    async fn get_secret(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Secret>, ClientError> {
        let r = self.request("GET", path, query, None, &[]).await?;
        match r.status {
            404 => Ok(Secret::from_body(&r.body)
                .ok()
                .flatten()
                .filter(|s| s.data.as_ref().is_some_and(|d| !d.is_empty()) || s.has_warnings())),
            status if status >= 400 => Err(self.api_error("GET", path, query, &r)),
            _ => Secret::from_body(&r.body),
        }
    }

    /// Reads `path` (GET with `query`). A 404 is `None` unless its body has data or warnings.
    pub async fn read(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Secret>, ClientError> {
        self.get_secret(path, query).await
    }

    /// Lists `path` (GET `?list=true`, trailing slash stripped, as Vault's CLI sends it).
    /// A 404 (no keys) is `None`.
    pub async fn list(&self, path: &str) -> Result<Option<Secret>, ClientError> {
        self.get_secret(path.trim_end_matches('/'), &[("list", "true")]).await
    }

    /// Writes (PUT) a JSON body; `Value::Null` sends `null` (`write -f`).
    pub async fn write(&self, path: &str, body: &Value) -> Result<Option<Secret>, ClientError> {
        self.checked("PUT", path, &[], Some(body), &[]).await
    }

    /// Writes with POST instead of PUT (same operation; Vault's CLI uses it for `sys/mounts`).
    pub async fn post(&self, path: &str, body: &Value) -> Result<Option<Secret>, ClientError> {
        self.checked("POST", path, &[], Some(body), &[]).await
    }

    /// Writes (PUT) with no body at all (`sys/seal`, `sys/rotate`).
    pub async fn write_empty(&self, path: &str) -> Result<Option<Secret>, ClientError> {
        self.checked("PUT", path, &[], None, &[]).await
    }

    /// Patches (PATCH, `application/merge-patch+json`).
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Option<Secret>, ClientError> {
        let headers = [("Content-Type", "application/merge-patch+json")];
        self.checked("PATCH", path, &[], Some(body), &headers).await
    }

    /// Deletes (DELETE with `query`).
    pub async fn delete(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Secret>, ClientError> {
        self.checked("DELETE", path, query, None, &[]).await
    }

    /// Calls an endpoint that answers bare JSON (`sys/init`, `sys/unseal`, `sys/leader`) and
    /// returns its body (`Null` when empty); error statuses are [`ClientError::Api`].
    pub async fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let r = self.request(method, path, &[], body, &[]).await?;
        if r.status >= 400 {
            return Err(self.api_error(method, path, &[], &r));
        }
        r.json()
    }

    /// Calls an endpoint that answers bare JSON (`sys/seal-status`, `sys/init`, `sys/health`)
    /// and returns its status and body whatever the status.
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

/// Percent-encodes what may not appear raw in a URL path; `/` and RFC 3986 path characters
/// stay as they are, so `a b` becomes `a%20b` like Go's `url.URL` does.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn transport_message(method: &Method, url: &str, e: &hyper_util::client::legacy::Error) -> String {
    let mut msg = format!("{method} {url}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests;
