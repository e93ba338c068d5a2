//! The simulator's own certificate authority and server certificate, so the official
//! SDKs can talk HTTPS to it unchanged: trust the CA file with `SSL_CERT_FILE`,
//! `REQUESTS_CA_BUNDLE` (Python) or `NODE_EXTRA_CA_CERTS` (Node).

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and a server certificate it signed, for `localhost` and `127.0.0.1`.
#[derive(Debug)]
pub struct Certificates {
    pub ca_pem: String,
    server_der: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl Certificates {
    /// Generates a new CA and server certificate for `names` (DNS names or IPs).
    pub fn generate(names: &[String]) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Switchboard ACS simulator CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(names.to_vec())?;
        server
            .distinguished_name
            .push(DnType::CommonName, "Switchboard ACS simulator");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let server_cert = server.signed_by(&server_key, &issuer)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server_der: server_cert.der().clone(),
            server_key: server_key.serialize_der(),
        })
    }

    /// Writes the CA certificate (what clients trust) to `path`.
    pub fn write_ca(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &self.ca_pem)
    }

    /// A rustls server configuration presenting the server certificate.
    pub fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![self.server_der.clone()], key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
