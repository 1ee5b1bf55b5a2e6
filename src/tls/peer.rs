//! TLS between two parties that know each other only by the fingerprints their SDP gave
//! (RFC 4572, RFC 4975 14.1): both show their profile's self-signed certificate, and each
//! takes the other's only if it is the one signalled. No CA, no name: the fingerprint is all.

use super::Fingerprint;
use crate::media::dtls::MediaIdentity;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig,
    SignatureScheme,
};
use std::sync::Arc;

/// Takes the one certificate whose fingerprint was signalled.
#[derive(Debug)]
struct Expected {
    theirs: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl Expected {
    fn check(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        match Fingerprint::of(cert) == self.theirs {
            true => Ok(()),
            false => {
                tracing::info!(
                    "TLS peer's certificate ({}) is not the signalled one ({})",
                    Fingerprint::of(cert),
                    self.theirs
                );
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn tls12(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn tls13(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ServerCertVerifier for Expected {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|_| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(m, c, d)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(m, c, d)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

impl ClientCertVerifier for Expected {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|_| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(m, c, d)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(m, c, d)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("our certificate cannot be used for TLS: {0}")]
pub struct PeerTlsError(String);

fn ours(identity: &MediaIdentity) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = PrivatePkcs8KeyDer::from(identity.key.clone());
    (
        vec![CertificateDer::from(identity.cert.clone())],
        key.into(),
    )
}

fn expected(theirs: Fingerprint) -> Arc<Expected> {
    Arc::new(Expected {
        theirs,
        provider: super::provider(),
    })
}

/// The connecting side: shows our certificate, takes only `theirs`.
pub fn client(
    identity: &MediaIdentity,
    theirs: Fingerprint,
) -> Result<Arc<ClientConfig>, PeerTlsError> {
    let (chain, key) = ours(identity);
    let config = ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PeerTlsError(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(expected(theirs))
        .with_client_auth_cert(chain, key)
        .map_err(|e| PeerTlsError(e.to_string()))?;
    Ok(Arc::new(config))
}

/// The listening side: shows our certificate, and asks the connecting side for `theirs`.
pub fn server(
    identity: &MediaIdentity,
    theirs: Fingerprint,
) -> Result<Arc<ServerConfig>, PeerTlsError> {
    let (chain, key) = ours(identity);
    let config = ServerConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PeerTlsError(e.to_string()))?
        .with_client_cert_verifier(expected(theirs))
        .with_single_cert(chain, key)
        .map_err(|e| PeerTlsError(e.to_string()))?;
    Ok(Arc::new(config))
}
