//! Whom a TLS client believes: the system's roots (rustls-platform-verifier), plus a user's CA
//! file, or one certificate pinned by its SHA-256 fingerprint, as SSH pins host keys. The name
//! checked is the one the user typed (RFC 5922 7.2: the SIP domain, not what DNS led to).
//! A refusal says which certificate and why (`CertRefused`), so the window can offer to trust it.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A certificate's SHA-256 fingerprint (RFC 4572's form: `AB:CD:...`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// The SHA-256 of a certificate's public key (its SubjectPublicKeyInfo): the same for
    /// every certificate made for one key, so a pin on it survives a renewal.
    pub fn of_key(cert_der: &[u8]) -> Option<Fingerprint> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
        Some(Fingerprint::of(cert.public_key().raw))
    }

    /// Reads `AB:CD:...` or plain hex, any case, with an optional `sha-256 ` in front.
    pub fn parse(s: &str) -> Option<Fingerprint> {
        let s = s.trim();
        let s = s
            .strip_prefix("sha-256 ")
            .or_else(|| s.strip_prefix("SHA-256 "))
            .unwrap_or(s);
        let hex: String = s.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok()?;
        }
        Some(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Fingerprint::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("not a SHA-256 fingerprint"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// What a user chose to trust beyond the system's roots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// A PEM file of CA certificates (a company's own CA).
    pub ca_file: Option<PathBuf>,
    /// One server certificate believed as it is, whatever its issuer or names.
    pub pinned: Option<Fingerprint>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the CA file {path}: {why}")]
    CaFile { path: PathBuf, why: String },
    #[error("the CA file {0} holds no certificate")]
    EmptyCaFile(PathBuf),
}

/// Why a server's certificate was refused, with what a person needs to decide to trust it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the server's certificate for {name} was refused: {why} (SHA-256 {fingerprint})")]
pub struct CertRefused {
    pub name: String,
    pub why: String,
    pub fingerprint: Fingerprint,
    /// Whether pinning this fingerprint would let it through (not when it replaced a pin).
    pub can_pin: bool,
}

impl CertRefused {
    /// The refusal inside an I/O error from a TLS handshake, if that is what it was.
    pub fn within(e: &std::io::Error) -> Option<&CertRefused> {
        let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
        match tls {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<CertRefused>()
            }
            _ => None,
        }
    }
}

impl Trust {
    /// A client config that checks servers this way.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TrustError> {
        let provider = super::provider();
        let extra = self.extra_roots()?;
        // No system roots at all (a bare container) leaves the CA file and the pin.
        let system = rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra.clone(),
            provider.clone(),
        )
        .map_err(|e| tracing::info!("no system trust roots: {e}"))
        .ok();
        let fallback = match (&system, extra.is_empty()) {
            (None, false) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add_parsable_certificates(extra);
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    roots.into(),
                    provider.clone(),
                )
                .build()
                .ok()
            }
            _ => None,
        };
        let verifier = Verifier {
            system,
            own: fallback,
            pinned: self.pinned,
            provider: provider.clone(),
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    fn extra_roots(&self) -> Result<Vec<CertificateDer<'static>>, TrustError> {
        let Some(path) = &self.ca_file else {
            return Ok(Vec::new());
        };
        let bad = |why: String| TrustError::CaFile {
            path: path.clone(),
            why,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        match certs.is_empty() {
            true => Err(TrustError::EmptyCaFile(path.clone())),
            false => Ok(certs),
        }
    }
}

/// The client config of the system's roots alone, built once: reading the roots takes a
/// moment, and every connection that names no other trust uses it.
pub fn system_config() -> Arc<ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Trust::default()
                .client_config()
                .expect("no CA file to read, so nothing can fail")
        })
        .clone()
}

/// The name to check a server's certificate against: a host name, or an IP address's.
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).ok()
}

/// The roots' verdict, unless the certificate is the pinned one.
#[derive(Debug)]
struct Verifier {
    system: Option<rustls_platform_verifier::Verifier>,
    own: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    pinned: Option<Fingerprint>,
    provider: Arc<CryptoProvider>,
}

/// A webpki verdict in words a user can act on.
fn describe(e: &rustls::Error, name: &str) -> String {
    use CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => {
                "it is not signed by an authority this computer trusts (self-signed, or from a private CA)".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("it was made for another name, not {name}")
            }
            C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
            C::Revoked => "it was revoked by its issuer".into(),
            C::BadSignature => "its signature does not check out".into(),
            C::BadEncoding => "it cannot be read".into(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use CertificateError as C;
        // A pin names the key (what a user is told now) or, from before, the certificate.
        let key = Fingerprint::of_key(end_entity);
        let seen = key.unwrap_or_else(|| Fingerprint::of(end_entity));
        let pinned = self.pinned.is_some();
        if pinned && (self.pinned == key || self.pinned == Some(Fingerprint::of(end_entity))) {
            return Ok(ServerCertVerified::assertion());
        }
        let name = server_name.to_str().into_owned();
        let verdict = match (&self.system, &self.own) {
            (Some(v), _) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            (None, Some(v)) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
            (None, None) => Err(rustls::Error::InvalidCertificate(C::UnknownIssuer)),
        };
        let refusal = match (verdict, self.pinned) {
            // A pin is a promise about this server: another certificate breaks it, even one
            // a CA vouches for (the pin was set because the user meant this one).
            (Ok(_), Some(pin)) => CertRefused {
                name: name.clone(),
                why: format!("it is not the certificate trusted before ({pin}): it was replaced, or someone is in between"),
                fingerprint: seen,
                can_pin: false,
            },
            (Ok(ok), None) => return Ok(ok),
            (Err(e), pinned) => CertRefused {
                why: match pinned {
                    Some(pin) => format!("it is not the certificate trusted before ({pin}), and {}", describe(&e, &name)),
                    None => describe(&e, &name),
                },
                name,
                fingerprint: seen,
                can_pin: pinned.is_none(),
            },
        };
        tracing::info!("{refusal}");
        Err(rustls::Error::InvalidCertificate(C::Other(OtherError(
            Arc::new(refusal),
        ))))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_as_written_and_in_other_forms() {
        let f = Fingerprint::of(b"certificate");
        let text = f.to_string();
        assert_eq!(text.len(), 32 * 3 - 1);
        assert_eq!(Fingerprint::parse(&text), Some(f));
        assert_eq!(
            Fingerprint::parse(&text.to_lowercase().replace(':', "")),
            Some(f)
        );
        assert_eq!(Fingerprint::parse(&format!("sha-256 {text}")), Some(f));
        assert_eq!(Fingerprint::parse("AB:CD"), None);
        assert_eq!(Fingerprint::parse(&"zz".repeat(32)), None);
        assert_eq!(Fingerprint::parse(&"é".repeat(32)), None);
    }
}
