//! TLS for the client: one provider (aws-lc-rs), the system roots or a given CA, optional
//! client certificate, and a loudly named escape hatch that skips verification.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{ClientConfig, ClientError};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Tls(e.to_string())
}

fn add_pem_file(roots: &mut RootCertStore, path: &std::path::Path) -> Result<(), ClientError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err(format!("{}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(format!("{}: {e}", path.display())))?;
    for cert in certs {
        roots.add(cert).map_err(tls_err)?;
    }
    Ok(())
}

fn roots(config: &ClientConfig) -> Result<RootCertStore, ClientError> {
    let mut roots = RootCertStore::empty();
    if let Some(file) = &config.ca_cert {
        add_pem_file(&mut roots, file)?;
    }
    if let Some(dir) = &config.ca_path {
        let entries =
            std::fs::read_dir(dir).map_err(|e| tls_err(format!("{}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            if entry.path().is_file() {
                add_pem_file(&mut roots, &entry.path())?;
            }
        }
    }
    if config.ca_cert.is_none() && config.ca_path.is_none() {
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::debug!(%error, "skipping unreadable system CA certificates");
        }
        // A malformed system certificate is skipped rather than making every request fail.
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, "loaded the system CA certificates");
    }
    Ok(roots)
}

/// Builds the rustls client configuration for `config`.
pub(crate) fn client_config(config: &ClientConfig) -> Result<rustls::ClientConfig, ClientError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = if config.tls_skip_verify {
        tracing::warn!(
            "TLS verification is disabled (tls_skip_verify): the server's identity is not checked"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(DangerousAcceptAnyCertificate(provider())))
    } else {
        builder.with_root_certificates(roots(config)?)
    };
    match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .map_err(|e| tls_err(format!("{}: {e}", cert.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(tls_err)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls_err(format!("{}: {e}", key.display())))?;
            builder.with_client_auth_cert(certs, key).map_err(tls_err)
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(ClientError::Config("client_cert and client_key go together".into())),
    }
}

/// Accepts every server certificate while still checking handshake signatures. Only for
/// `tls_skip_verify`.
#[derive(Debug)]
struct DangerousAcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for DangerousAcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::CertificateDer;
    use crate::{Client, ClientConfig, ClientError};

    fn pem(label: &str, der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> =
            b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }

    fn or_panic<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A TLS server with a fresh self-signed certificate for 127.0.0.1 answering `answers`
    /// connections; with `client_ca`, it demands a client certificate issued by that CA.
    /// Returns its address and its certificate as PEM.
    async fn tls_server(
        answers: usize,
        client_ca: Option<CertificateDer<'static>>,
    ) -> (String, String) {
        let certified = or_panic(rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]));
        let cert_der = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        let builder = or_panic(
            rustls::ServerConfig::builder_with_provider(super::provider())
                .with_safe_default_protocol_versions(),
        );
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                or_panic(roots.add(ca));
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.into(),
                    super::provider(),
                )
                .build();
                builder.with_client_cert_verifier(or_panic(verifier))
            }
            None => builder.with_no_client_auth(),
        };
        let config = or_panic(builder.with_single_cert(vec![cert_der.clone()], key.into()));
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = or_panic(tokio::net::TcpListener::bind("127.0.0.1:0").await);
        let addr = or_panic(listener.local_addr());
        tokio::spawn(async move {
            for _ in 0..answers {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let Ok(mut tls) = acceptor.accept(tcp).await else { continue };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let body = r#"{"initialized":true}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        (format!("https://{addr}"), pem("CERTIFICATE", &cert_der))
    }

    async fn health(config: ClientConfig) -> Result<(u16, serde_json::Value), ClientError> {
        Client::new(config)?.raw_json("GET", "sys/init", None).await
    }

    #[tokio::test]
    async fn a_given_ca_is_trusted_and_unknown_ones_are_not() {
        let (address, ca) = tls_server(3, None).await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca).unwrap_or_else(|e| panic!("{e}"));

        let trusted =
            ClientConfig { address: address.clone(), ca_cert: Some(ca_file), ..Default::default() };
        assert_eq!(health(trusted).await.ok().map(|(s, _)| s), Some(200));

        let by_dir = ClientConfig {
            address: address.clone(),
            ca_path: Some(dir.path().into()),
            ..Default::default()
        };
        assert_eq!(health(by_dir).await.ok().map(|(s, _)| s), Some(200));

        let system = ClientConfig { address, ..Default::default() };
        let e = health(system).await.err();
        assert!(
            matches!(e, Some(ClientError::Transport(ref m)) if m.contains("certificate")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn skip_verify_accepts_any_certificate() {
        let (address, _) = tls_server(1, None).await;
        let config = ClientConfig { address, tls_skip_verify: true, ..Default::default() };
        assert_eq!(health(config).await.ok().map(|(s, _)| s), Some(200));
    }

    #[tokio::test]
    async fn client_certificates_are_presented() {
        let mut ca_params = or_panic(rcgen::CertificateParams::new(Vec::<String>::new()));
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = or_panic(rcgen::CertifiedIssuer::self_signed(
            ca_params,
            or_panic(rcgen::KeyPair::generate()),
        ));
        let client_key = or_panic(rcgen::KeyPair::generate());
        let mut params = or_panic(rcgen::CertificateParams::new(vec!["web".to_string()]));
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = or_panic(params.signed_by(&client_key, &ca));

        let (address, server_ca) = tls_server(2, Some(ca.der().clone())).await;
        let dir = or_panic(tempfile::tempdir());
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            or_panic(std::fs::write(&path, text));
            path
        };
        let server_ca = write("server-ca.pem", server_ca);
        let cert = write("client.pem", pem("CERTIFICATE", client_cert.der()));
        let key = write("client-key.pem", pem("PRIVATE KEY", &client_key.serialize_der()));

        let with_cert = ClientConfig {
            address: address.clone(),
            ca_cert: Some(server_ca.clone()),
            client_cert: Some(cert),
            client_key: Some(key),
            ..Default::default()
        };
        assert_eq!(health(with_cert).await.ok().map(|(s, _)| s), Some(200));
        let without = ClientConfig { address, ca_cert: Some(server_ca), ..Default::default() };
        assert!(matches!(health(without).await, Err(ClientError::Transport(_))));
    }

    #[test]
    fn bad_tls_settings_are_reported_when_the_client_is_built() {
        let missing = ClientConfig {
            address: "https://127.0.0.1:1".into(),
            ca_cert: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        assert!(matches!(Client::new(missing), Err(ClientError::Tls(_))));
        let half = ClientConfig {
            address: "https://127.0.0.1:1".into(),
            client_cert: Some("/tmp/c.pem".into()),
            ..Default::default()
        };
        assert!(matches!(Client::new(half), Err(ClientError::Config(_))));
    }
}
