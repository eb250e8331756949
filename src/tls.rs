//! rustls configs: the upstream client's (web PKI roots plus an optional extra CA) and
//! the client listener's (PEM certificate and key). The ring provider is installed once
//! by [`install_crypto_provider`]; nothing else here is process-wide.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A TLS file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// rustls refused the material.
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Installs ring as the process-wide rustls provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Client config trusting the built-in web PKI roots and, optionally, a PEM CA file.
pub fn client_config(extra_ca: Option<&Path>) -> Result<ClientConfig, TlsError> {
    install_crypto_provider();
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        for cert in certs(path)? {
            roots.add(cert).map_err(|e| pem_err(path, format!("not a usable CA certificate: {e}")))?;
        }
    }
    // ALPN (h2, http/1.1) is set by the hyper-rustls connector builder.
    Ok(ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
}

/// Server config from a PEM certificate chain and key, offering h2 and http/1.1.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    install_crypto_provider();
    let chain = certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, format!("no usable private key: {e}")))?;
    let mut cfg = ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| pem_err(path, format!("cannot read: {e}")))?;
    let certs: Vec<_> = iter.collect::<Result<_, _>>().map_err(|e| pem_err(path, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

fn pem_err(path: &Path, message: String) -> TlsError {
    TlsError::Pem { path: path.display().to_string(), message }
}
