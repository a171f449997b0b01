//! The API as a value: `App::serve` takes an HTTP request and returns the HTTP response, so
//! tests can call it without a socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use coffer_core::Core;
use coffer_types::Error;
use http::{HeaderValue, Method};
use http_body_util::{BodyExt, Full, Limited};

use crate::http_request::{build_request, check_namespace, parse_head};
use crate::http_response::{HttpResponse, render, render_error};

/// Default maximum request body: 32 MiB, as Vault.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;

/// The HTTP API over a core.
#[derive(Clone)]
pub struct App {
    core: Arc<Core>,
    max_request_size: usize,
}

impl App {
    /// The API over `core`.
    pub fn new(core: Arc<Core>) -> Self {
        App { core, max_request_size: DEFAULT_MAX_REQUEST_SIZE }
    }

    /// Sets the request body limit (builder style).
    pub fn with_max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// The core behind the API.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Serves one HTTP request.
    pub async fn serve<B>(
        &self,
        request: http::Request<B>,
        remote: Option<SocketAddr>,
    ) -> HttpResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.serve_tls(request, remote, Arc::new(Vec::new())).await
    }

    /// Serves one HTTP request that arrived on a TLS connection with these peer certificates.
    pub async fn serve_tls<B>(
        &self,
        request: http::Request<B>,
        remote: Option<SocketAddr>,
        peer_certificates: Arc<Vec<Vec<u8>>>,
    ) -> HttpResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let method = request.method().clone();
        let namespace = request.headers().get("x-vault-namespace").cloned();
        let (parts, body) = request.into_parts();
        let result = self.serve_parts(&parts, body, remote, peer_certificates).await;
        let (mut response, request_id) = match result {
            Ok((response, request_id, is_head)) => {
                let mut rendered = render(response, &request_id);
                if is_head {
                    *rendered.body_mut() = Full::new(Bytes::new());
                }
                (rendered, request_id)
            }
            Err(error) => {
                if error.status() >= 500 && error != Error::Sealed {
                    tracing::error!(error = %error, "request failed");
                }
                (render_error(&error), String::new())
            }
        };
        if let Some(ns) = namespace {
            response.headers_mut().insert("x-vault-namespace", ns);
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            if !request_id.is_empty() {
                response.headers_mut().insert("x-request-id", v);
            }
        }
        tracing::debug!(
            request_id = %request_id,
            method = %method,
            path = %parts.uri.path(),
            status = response.status().as_u16(),
            duration_us = started.elapsed().as_micros() as u64,
            "request"
        );
        response
    }

    async fn serve_parts<B>(
        &self,
        parts: &http::request::Parts,
        body: B,
        remote: Option<SocketAddr>,
        peer_certificates: Arc<Vec<Vec<u8>>>,
    ) -> Result<(coffer_types::Response, String, bool), Error>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if parts.method == Method::OPTIONS {
            return Err(Error::invalid(""));
        }
        let head = parse_head(&parts.method, &parts.uri, &parts.headers)?;
        check_namespace(&parts.headers)?;
        let bytes = Limited::new(body, self.max_request_size)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    Error::PayloadTooLarge
                } else {
                    Error::invalid(format!("failed to read the request body: {e}"))
                }
            })?
            .to_bytes();
        let mut request = build_request(&head, &parts.uri, &parts.headers, &bytes, remote)?;
        request.peer_certificates = peer_certificates;
        let request_id = request.id.clone();
        let response = self.core.handle(request).await?;
        Ok((response, request_id, head.is_head))
    }
}
