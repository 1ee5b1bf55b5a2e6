//! The certificate and key we present: a server's from PEM files, or one made for the profile
//! (rcgen, self-signed) at first start and kept there, so its fingerprint stays the same for
//! the people who pinned it.

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
        let made = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| IdentityError::Generate(e.to_string()))?;
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
            .map_err(|e| IdentityError::Generate(e.to_string()))?;
        Ok(Identity {
            chain: vec![made.cert.der().clone()],
            key,
        })
    }

    /// The profile's own certificate, made on first use for `names` and kept in `dir`.
    pub fn own_in(dir: &Path, names: &[String]) -> Result<Identity, IdentityError> {
        let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if cert.exists() && key.exists() {
            return Identity::load(&cert, &key);
        }
        let made = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| IdentityError::Generate(e.to_string()))?;
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
        write(&key, made.signing_key.serialize_pem(), true)?;
        write(&cert, made.cert.pem(), false)?;
        Identity::load(&cert, &key)
    }

    /// The fingerprint of the certificate we show (the first of the chain).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.chain[0])
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
