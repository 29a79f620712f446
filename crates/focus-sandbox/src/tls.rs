//! HTTPS with a generated self-signed certificate, as the real ingress has.

use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The PEM could not be read back.
    #[error("cannot read the generated PEM: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, and its PEM.
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The server configuration.
    pub config: RustlsConfig,
}

/// Installs rustls' `ring` provider as the process default, once. reqwest is built
/// without a provider of its own (aws-lc-rs costs minutes of a cold build) and takes
/// the process default; kube-rs takes it too.
pub fn install_ring() {
    // Err only when a provider is installed already: that one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Generates a self-signed certificate and a rustls server configuration (ring).
pub fn self_signed() -> Result<SelfSigned, TlsError> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let cert_pem = certified.cert.pem();
    let key_pem = certified.signing_key.serialize_pem();
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(SelfSigned {
        cert_pem,
        config: RustlsConfig::from_config(Arc::new(server)),
    })
}
