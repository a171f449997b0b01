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
        for cert in native.certs {
            let _ = roots.add(cert);
        }
    }
    Ok(roots)
}

/// Builds the rustls client configuration for `config`.
pub(crate) fn client_config(config: &ClientConfig) -> Result<rustls::ClientConfig, ClientError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = if config.tls_skip_verify {
        tracing_warn();
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

fn tracing_warn() {
    eprintln!(
        "WARNING: TLS verification is disabled (tls_skip_verify): the server's identity is not checked"
    );
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
