//! A lean HTTP/1.1 client for the Vault API: one keep-alive pool shared by every worker and
//! every token, request bodies serialised once, and on the load path response bodies drained
//! and dropped (parsed only during setup), so the load generator spends its CPU on sending.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A request that fails to complete within this long counts as a `timeout` error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One request of a workload.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: Method,
    /// Path below `/v1/`.
    pub path: String,
    /// JSON body, already serialised.
    pub body: Option<Bytes>,
}

impl Call {
    /// A request without a body.
    pub fn new(method: Method, path: impl Into<String>) -> Call {
        Call { method, path: path.into(), body: None }
    }

    /// A request with a JSON body.
    pub fn json(method: Method, path: impl Into<String>, body: &Value) -> Call {
        Call { method, path: path.into(), body: Some(Bytes::from(body.to_string())) }
    }
}

/// A parsed answer (setup only).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// The JSON body, `Null` when empty or not JSON.
    pub body: Value,
}

impl Reply {
    /// The body if the status is 2xx, else an error quoting the server's `errors`.
    pub fn ok(self, what: &str) -> Result<Value> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        let detail = match self.body.get("errors") {
            Some(Value::Array(errors)) if !errors.is_empty() => errors
                .iter()
                .map(|e| e.as_str().map(String::from).unwrap_or_else(|| e.to_string()))
                .collect::<Vec<_>>()
                .join("; "),
            _ => self.body.to_string(),
        };
        bail!("{what}: status {}: {detail}", self.status.as_u16())
    }

    /// A string field of `data` (or of `auth` for logins).
    pub fn field(body: &Value, section: &str, name: &str) -> Result<String> {
        body.get(section)
            .and_then(|s| s.get(name))
            .and_then(Value::as_str)
            .map(String::from)
            .with_context(|| format!("the answer has no {section}.{name}"))
    }
}

/// A client bound to one server and at most one token; clones share the connection pool.
#[derive(Clone)]
pub struct Api {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    base: String,
    token: Option<HeaderValue>,
}

impl Api {
    /// A client for `addr` (`http://host:port`), with `token` if given.
    pub fn new(addr: &str, token: Option<&str>) -> Result<Api> {
        let addr = addr.trim_end_matches('/');
        if !addr.starts_with("http://") {
            bail!("{addr}: the load generator speaks plain HTTP only (http://host:port)");
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(usize::MAX)
            .build(connector);
        let api = Api { http, base: format!("{addr}/v1/"), token: None };
        api.with_token(token)
    }

    /// The same server and pool with another token (`None`: unauthenticated).
    pub fn with_token(&self, token: Option<&str>) -> Result<Api> {
        let token = match token {
            Some(t) => {
                let mut v = HeaderValue::from_str(t).context("the token is not a valid header")?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Api { http: self.http.clone(), base: self.base.clone(), token })
    }

    fn request(&self, call: &Call) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut builder = Request::builder()
            .method(call.method.clone())
            .uri(format!("{}{}", self.base, call.path));
        if let Some(token) = &self.token {
            builder = builder.header("x-vault-token", token.clone());
        }
        match &call.body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone())),
            None => builder.body(Full::new(Bytes::new())),
        }
    }

    /// Sends `call` on the load path: the status, or the kind of transport failure. The body
    /// is read to the end (so the connection goes back to the pool) and dropped.
    pub async fn send(&self, call: &Call) -> Result<StatusCode, &'static str> {
        let request = self.request(call).map_err(|_| "bad request")?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| {
                if e.is_connect() { "transport: connect" } else { "transport: send" }
            })?;
            let status = response.status();
            let mut body = response.into_body();
            while let Some(frame) = body.frame().await {
                frame.map_err(|_| "transport: body")?;
            }
            Ok(status)
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.unwrap_or(Err("timeout"))
    }

    /// Sends `call` and parses the answer (setup only).
    pub async fn call(&self, call: &Call) -> Result<Reply> {
        let request = self.request(call)?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.http.request(request))
            .await
            .with_context(|| format!("{} {}: timed out", call.method, call.path))?
            .with_context(|| format!("{} {}", call.method, call.path))?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }

    /// GET a path (setup only).
    pub async fn get(&self, path: &str) -> Result<Reply> {
        self.call(&Call::new(Method::GET, path)).await
    }

    /// PUT a JSON body to a path (setup only).
    pub async fn put(&self, path: &str, body: &Value) -> Result<Reply> {
        self.call(&Call::json(Method::PUT, path, body)).await
    }
}
