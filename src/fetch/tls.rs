//! Which certificates a fetch trusts: the system's roots, plus the roots named in
//! `fetch.ca_certificates` (an internal CA); and for a feed with `allow_self_signed`, a
//! server's own self-signed certificate too, but only one that is in date and names
//! the host, so the opt-in waives the issuer and nothing else.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

use crate::model::{ErrorKind, FeedError};

/// The certificates of the PEM files at `paths`.
pub fn load_roots(paths: &[PathBuf]) -> Result<Vec<CertificateDer<'static>>, FeedError> {
    let mut roots = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| {
            FeedError::new(
                ErrorKind::Internal,
                format!("cannot read fetch.ca_certificates file {}: {e}", path.display()),
            )
        })?;
        let before = roots.len();
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            roots.push(cert.map_err(|e| {
                FeedError::new(ErrorKind::Internal, format!("{}: not a PEM certificate: {e:?}", path.display()))
            })?);
        }
        if roots.len() == before {
            return Err(FeedError::new(ErrorKind::Internal, format!("{}: no certificate in it", path.display())));
        }
    }
    Ok(roots)
}

/// The verifier every fetch uses: the platform's, with `extra` roots beside the system's.
fn platform(
    extra: &[CertificateDer<'static>],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, FeedError> {
    let verifier = if extra.is_empty() {
        rustls_platform_verifier::Verifier::new(provider)
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra.iter().cloned(), provider)
    };
    let verifier =
        verifier.map_err(|e| FeedError::new(ErrorKind::Internal, format!("cannot set up certificate checks: {e}")))?;
    Ok(Arc::new(verifier))
}

/// A client configuration that trusts what [`platform`] does, and a self-signed
/// certificate in date for the host (`allow_self_signed`).
pub fn self_signed_config(extra: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig, FeedError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = SelfSigned { normal: platform(extra, provider.clone())?, provider: provider.clone() };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FeedError::new(ErrorKind::Internal, format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The platform's checks, and when they fail only because nobody known issued the
/// certificate, the same checks with the certificate as its own root: a self-signed
/// certificate passes if it is in date and names the host; an expired one, one for
/// another host, or one signed by an unknown CA does not.
#[derive(Debug)]
struct SelfSigned {
    normal: Arc<dyn ServerCertVerifier>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SelfSigned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self.normal.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)) if intermediates.is_empty() => {
                let mut own = RootCertStore::empty();
                own.add(end_entity.clone().into_owned())
                    .map_err(|_| Error::InvalidCertificate(CertificateError::UnknownIssuer))?;
                let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(own), self.provider.clone())
                    .build()
                    .map_err(|e| Error::General(e.to_string()))?;
                verifier.verify_server_cert(end_entity, &[], server_name, ocsp, now)
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.normal.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.normal.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.normal.supported_verify_schemes()
    }
}
