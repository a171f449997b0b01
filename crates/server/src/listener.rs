//! Accept loops: plain TCP or TLS (rustls, TLS 1.2+), HTTP/1.1 with a header read timeout, and
//! graceful shutdown that lets in-flight requests finish.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::ListenerConfig;
use crate::{App, ServerError};

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the rustls server configuration from PEM files.
pub fn tls_config(
    cert_file: &std::path::Path,
    key_file: &std::path::Path,
) -> Result<Arc<ServerConfig>, ServerError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| ServerError::Config(format!("{what}: {e}"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| bad(&format!("cannot read tls_cert_file {}", cert_file.display()), &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&format!("invalid certificate in {}", cert_file.display()), &e))?;
    if certs.is_empty() {
        return Err(ServerError::Config(format!("no certificate in {}", cert_file.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        bad(&format!("cannot read a private key from tls_key_file {}", key_file.display()), &e)
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| bad("TLS setup", &e))?
        .with_client_cert_verifier(Arc::new(crate::client_cert::RequestClientCertificate::new()))
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate and key do not match", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A bound listener, ready to serve.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    app: App,
}

impl Listener {
    /// Binds `config.address`.
    pub async fn bind(config: &ListenerConfig, app: App) -> Result<Listener, ServerError> {
        let tls = if config.tls_disable {
            None
        } else {
            match (&config.tls_cert_file, &config.tls_key_file) {
                (Some(c), Some(k)) => Some(TlsAcceptor::from(tls_config(c, k)?)),
                _ => {
                    return Err(ServerError::Config(
                        "TLS needs tls_cert_file and tls_key_file".into(),
                    ));
                }
            }
        };
        let tcp = TcpListener::bind(&config.address)
            .await
            .map_err(|e| ServerError::Io(format!("cannot listen on {}: {e}", config.address)))?;
        let app = app.with_max_request_size(config.max_request_size);
        Ok(Listener { tcp, tls, app })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, ServerError> {
        self.tcp.local_addr().map_err(|e| ServerError::Io(e.to_string()))
    }

    /// Whether this listener speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` turns true, then drains in-flight connections.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) {
        let graceful = GracefulShutdown::new();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => {
                    let (stream, remote) = match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let app = self.app.clone();
                    let service = service_fn(move |req| {
                        let app = app.clone();
                        async move { Ok::<_, std::convert::Infallible>(app.serve(req, Some(remote)).await) }
                    });
                    match &self.tls {
                        None => {
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            let conn = graceful.watch(conn);
                            tokio::spawn(async move { let _ = conn.await; });
                        }
                        Some(acceptor) => {
                            let acceptor = acceptor.clone();
                            let app_for_tls = self.app.clone();
                            drop(service);
                            let builder = builder.clone();
                            let watcher = graceful.watcher();
                            tokio::spawn(async move {
                                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(tls)) => tls,
                                    Ok(Err(e)) => { tracing::debug!(error = %e, "TLS handshake failed"); return; }
                                    Err(_) => { tracing::debug!("TLS handshake timed out"); return; }
                                };
                                // Unverified here: auth methods check the chain against their CAs.
                                let peer: Arc<Vec<Vec<u8>>> = Arc::new(
                                    tls.get_ref().1.peer_certificates().map(|c| c.iter().map(|d| d.to_vec()).collect()).unwrap_or_default(),
                                );
                                let tls_app = app_for_tls.clone();
                                let service = service_fn(move |req| {
                                    let (app, peer) = (tls_app.clone(), peer.clone());
                                    async move { Ok::<_, std::convert::Infallible>(app.serve_tls(req, Some(remote), peer).await) }
                                });
                                let conn = builder.serve_connection(TokioIo::new(tls), service);
                                let _ = watcher.watch(conn).await;
                            });
                        }
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
        drop(self.tcp);
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
            tracing::warn!("shutdown: some connections did not finish in time");
        }
    }
}
