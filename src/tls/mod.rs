//! TLS for Parley's connections (SIP, and MSRP between parties by fingerprint): rustls
//! with ring. `trust` decides whom we believe (the system's roots, a user's CA, a pinned
//! fingerprint); `identity` holds the certificates we present.

pub mod identity;
pub mod peer;
pub mod trust;

pub use identity::{Identity, IdentityError};
pub use trust::{CertRefused, Fingerprint, Trust, TrustError};

use std::sync::Arc;

/// The one crypto provider every TLS config here is built with.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
