//! TLS for Parley's connections (SIP now; MSRP and DTLS-SRTP reuse the identities): rustls
//! with ring. `trust` decides whom we believe (the system's roots, a user's CA, a pinned
//! fingerprint); `identity` holds the certificates we present.

pub mod identity;
pub mod trust;

pub use identity::{Identity, IdentityError};
pub use trust::{CertRefused, Fingerprint, Trust, TrustError};

use std::sync::Arc;

/// The one crypto provider every TLS config here is built with.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
