//! A test CA and leaf certificates made with rcgen.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA plus one leaf for `localhost` / 127.0.0.1, written to a temp dir.
pub struct TestPki {
    pub dir: PathBuf,
    pub ca_pem: String,
    pub leaf_cert_pem: String,
    pub leaf_key_pem: String,
}

impl TestPki {
    /// Makes a fresh CA and leaf.
    pub fn new(tag: &str) -> Self {
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "marketgate test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("leaf params");
        leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf cert");
        let dir = std::env::temp_dir().join(format!("marketgate-pki-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("pki dir");
        let pki =
            Self { dir, ca_pem: ca_cert.pem(), leaf_cert_pem: leaf.pem(), leaf_key_pem: leaf_key.serialize_pem() };
        std::fs::write(pki.ca_path(), &pki.ca_pem).expect("write ca");
        std::fs::write(pki.cert_path(), &pki.leaf_cert_pem).expect("write cert");
        std::fs::write(pki.key_path(), &pki.leaf_key_pem).expect("write key");
        pki
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("leaf.pem")
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("leaf-key.pem")
    }

    /// A rustls server config presenting the leaf (h2 and http/1.1).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        marketgate::tls::server_config(&self.cert_path(), &self.key_path()).expect("server config")
    }
}
