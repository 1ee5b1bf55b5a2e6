//! Certificates made by the tests themselves: a test CA, server certificates it signs for the
//! names a test chooses, and self-signed ones; written as PEM files into a temporary folder.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};

pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and key as files, the certificate's SHA-256 fingerprint and its key's.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub fingerprint: parley::tls::Fingerprint,
    pub key_fingerprint: parley::tls::Fingerprint,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Parley test CA");
        let cert = params.self_signed(&key).unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, cert.pem()).unwrap();
        TestCa {
            dir,
            cert: path,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub fn leaf(&self, file: &str, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        write_leaf(
            self.dir.path(),
            file,
            &cert.pem(),
            &key.serialize_pem(),
            cert.der(),
        )
    }
}

/// A self-signed certificate for `names`, in `dir`.
pub fn self_signed(dir: &Path, file: &str, names: &[&str]) -> Leaf {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names).unwrap();
    let der = made.cert.der().clone();
    write_leaf(
        dir,
        file,
        &made.cert.pem(),
        &made.signing_key.serialize_pem(),
        &der,
    )
}

fn write_leaf(dir: &Path, file: &str, cert: &str, key: &str, der: &[u8]) -> Leaf {
    let (cert_path, key_path) = (
        dir.join(format!("{file}.pem")),
        dir.join(format!("{file}.key")),
    );
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    Leaf {
        cert: cert_path,
        key: key_path,
        fingerprint: parley::tls::Fingerprint::of(der),
        key_fingerprint: parley::tls::Fingerprint::of_key(der).unwrap(),
    }
}

impl Leaf {
    pub fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        parley::tls::Identity::load(&self.cert, &self.key)
            .unwrap()
            .server_config()
            .unwrap()
    }
}
