//! The certificate and key we present: a server's from PEM files, or one made for the profile
//! (rcgen, self-signed) at first start and kept there. A made certificate names its server
//! (the first name as its common name, every name and address as a subject alternative name)
//! and is valid for two years; at start it is made again with the same key when it has less
//! than a month left or its names changed, so the key's fingerprint, which users pin, stays
//! the same as long as the key does.

use super::Fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read {path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("{0} holds no certificate")]
    NoCertificate(PathBuf),
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("cannot keep the certificate in {path}: {why}")]
    Write { path: PathBuf, why: String },
    #[error("the certificate and key do not go together: {0}")]
    Mismatch(String),
}

const CERT_FILE: &str = "tls-cert.pem";
const KEY_FILE: &str = "tls-key.pem";
/// How long a made certificate is valid, and how close to its end it is made again.
const VALIDITY_DAYS: i64 = 2 * 365;
const RENEW_WITHIN_DAYS: i64 = 30;

/// A self-signed certificate for `names` with `key`, valid from yesterday for `days`.
fn issue(
    names: &[String],
    key: &rcgen::KeyPair,
    days: i64,
) -> Result<rcgen::Certificate, IdentityError> {
    let generate = |e: rcgen::Error| IdentityError::Generate(e.to_string());
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(generate)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names.first().cloned().unwrap_or_else(|| "parley".into()),
    );
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
    params.self_signed(key).map_err(generate)
}

/// Whether a kept certificate still serves: valid for more than a month and naming exactly
/// `names`.
fn still_good(cert_der: &[u8], names: &[String]) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(cert_der) else {
        return false;
    };
    let left =
        cert.validity().not_after.timestamp() - time::OffsetDateTime::now_utc().unix_timestamp();
    let mut named: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    x509_parser::extensions::GeneralName::IPAddress(b) => ip_of(b),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut wanted = names.to_vec();
    named.sort();
    wanted.sort();
    left > RENEW_WITHIN_DAYS * 86_400 && named == wanted
}

fn ip_of(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}

impl Identity {
    /// A certificate chain and its key from PEM files.
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, IdentityError> {
        let read = |path: &Path, e: rustls::pki_types::pem::Error| IdentityError::Read {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| read(cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| read(cert, e))?;
        if chain.is_empty() {
            return Err(IdentityError::NoCertificate(cert.to_path_buf()));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| read(key, e))?;
        Ok(Identity { chain, key })
    }

    /// A self-signed certificate for `names`, kept nowhere.
    pub fn generate(names: &[String]) -> Result<Identity, IdentityError> {
        let key = rcgen::KeyPair::generate().map_err(|e| IdentityError::Generate(e.to_string()))?;
        let cert = issue(names, &key, VALIDITY_DAYS)?;
        let key = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| IdentityError::Generate(e.to_string()))?;
        Ok(Identity {
            chain: vec![cert.der().clone()],
            key,
        })
    }

    /// The profile's own identity kept in `dir` (see `own_in`), or one made for this run when
    /// there is no profile.
    pub fn of_profile(dir: Option<&Path>, names: &[String]) -> Result<Identity, IdentityError> {
        match dir {
            Some(dir) => Identity::own_in(dir, names),
            None => Identity::generate(names),
        }
    }

    /// The profile's own certificate for `names`, kept in `dir`: made on first use, and made
    /// again with the same key when close to its end or when the names changed.
    pub fn own_in(dir: &Path, names: &[String]) -> Result<Identity, IdentityError> {
        Identity::own_in_for(dir, names, VALIDITY_DAYS)
    }

    /// As `own_in`, a new certificate being valid for `days`.
    pub fn own_in_for(dir: &Path, names: &[String], days: i64) -> Result<Identity, IdentityError> {
        let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if cert.exists() && key.exists() {
            let kept = Identity::load(&cert, &key)?;
            if still_good(&kept.chain[0], names) {
                return Ok(kept);
            }
        }
        let write = |path: &Path, text: String, private: bool| {
            write_file(path, text.as_bytes(), private).map_err(|e| IdentityError::Write {
                path: path.to_path_buf(),
                why: e.to_string(),
            })
        };
        std::fs::create_dir_all(dir).map_err(|e| IdentityError::Write {
            path: dir.to_path_buf(),
            why: e.to_string(),
        })?;
        let signing_key = match std::fs::read_to_string(&key).ok() {
            Some(pem) => rcgen::KeyPair::from_pem(&pem).map_err(|e| IdentityError::Read {
                path: key.clone(),
                why: e.to_string(),
            })?,
            None => {
                let made = rcgen::KeyPair::generate()
                    .map_err(|e| IdentityError::Generate(e.to_string()))?;
                write(&key, made.serialize_pem(), true)?;
                made
            }
        };
        let made = issue(names, &signing_key, days)?;
        write(&cert, made.pem(), false)?;
        Identity::load(&cert, &key)
    }

    /// The fingerprint of the certificate we show (the first of the chain): what SDP's
    /// `a=fingerprint` names (RFC 8122).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.chain[0])
    }

    /// The fingerprint of our public key: what users pin, the same across renewals.
    pub fn key_fingerprint(&self) -> Fingerprint {
        Fingerprint::of_key(&self.chain[0]).unwrap_or_else(|| self.fingerprint())
    }

    /// A server config presenting this identity, asking nothing of clients.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, IdentityError> {
        let config = ServerConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| IdentityError::Mismatch(e.to_string()))?;
        Ok(Arc::new(config))
    }
}

/// Writes through a temporary file and a rename, so a kill never leaves half a key; a private
/// file is readable by its owner only.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    // A leftover from a kill keeps its old mode when opened again: start from nothing.
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_certificate_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string()];
        let first = Identity::own_in(dir.path(), &names).unwrap();
        let again = Identity::own_in(dir.path(), &names).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert!(first.server_config().is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is the owner's alone");
        }
    }

    #[test]
    fn the_certificate_names_its_server_and_is_renewed_with_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["company.com".to_string(), "192.0.2.1".to_string()];
        // A certificate a week from its end, as if made two years ago.
        let old = Identity::own_in_for(dir.path(), &names, 7).unwrap();
        let renewed = Identity::own_in(dir.path(), &names).unwrap();
        assert_ne!(renewed.fingerprint(), old.fingerprint(), "made again");
        assert_eq!(
            renewed.key_fingerprint(),
            old.key_fingerprint(),
            "with the same key"
        );
        let (_, cert) = x509_parser::parse_x509_certificate(&renewed.chain[0]).unwrap();
        let cn: Vec<_> = cert
            .subject()
            .iter_common_name()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(cn, ["company.com"]);
        let years = (cert.validity().not_after.timestamp()
            - cert.validity().not_before.timestamp())
            / 86_400
            / 365;
        assert_eq!(years, 2);
        assert!(still_good(&renewed.chain[0], &names));
        // Kept while good; made again (same key) when the names change.
        let again = Identity::own_in(dir.path(), &names).unwrap();
        assert_eq!(again.fingerprint(), renewed.fingerprint());
        let moved = Identity::own_in(dir.path(), &["company.com".to_string()]).unwrap();
        assert_ne!(moved.fingerprint(), renewed.fingerprint());
        assert_eq!(moved.key_fingerprint(), renewed.key_fingerprint());
    }

    #[test]
    fn a_missing_or_empty_file_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = Identity::load(&empty, &empty).err().unwrap();
        assert!(e.to_string().contains("empty.pem"), "{e}");
        let gone = dir.path().join("gone.pem");
        let e = Identity::load(&gone, &gone).err().unwrap();
        assert!(e.to_string().contains("gone.pem"), "{e}");
    }
}
