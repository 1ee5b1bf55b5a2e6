//! DTLS-SRTP (RFC 5763, RFC 5764): a DTLS handshake on the call's RTP socket makes the SRTP
//! keys, so no key ever crosses the signalling. The peer's certificate must be the one whose
//! fingerprint its SDP gave (RFC 8122); anything else fails the handshake. rtc-dtls drives the
//! handshake (sans-IO, on ring like rtc-srtp; dimpl was measured too but does no RSA, which
//! baresip's certificates are).

use super::srtp::SrtpKeys;
use crate::sdp::crypto::{MasterKey, Suite};
use crate::tls::Fingerprint;
use bytes::BytesMut;
use rtc_dtls::config::{ClientAuthType, ConfigBuilder, ExtendedMasterSecretType};
use rtc_dtls::crypto::Certificate;
use rtc_dtls::endpoint::{Endpoint, EndpointEvent};
use rtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the SDP agreed for DTLS-SRTP, as the media layer needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct DtlsSetup {
    /// Our certificate (the profile's own, whose fingerprint we signalled).
    pub identity: Arc<MediaIdentity>,
    /// The fingerprint the peer's SDP gave for its certificate.
    pub theirs: Fingerprint,
    /// We start the handshake (`a=setup:active`), or wait for theirs.
    pub active: bool,
    /// The association's `a=tls-id`s, ours and theirs (RFC 8842): new ones, a new handshake.
    pub ids: (String, Option<String>),
}

impl std::fmt::Debug for DtlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        write!(
            f,
            "DtlsSetup(theirs {}, active {})",
            self.theirs, self.active
        )
    }
}

/// The certificate our handshakes show and its ECDSA P-256 key (PKCS#8), both DER.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaIdentity {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl MediaIdentity {
    pub fn of(identity: &crate::tls::identity::Identity) -> MediaIdentity {
        MediaIdentity {
            cert: identity.chain[0].to_vec(),
            key: identity.key.secret_der().to_vec(),
        }
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.cert)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DtlsError {
    #[error("our certificate cannot be used for DTLS: {0}")]
    Identity(String),
    #[error("the encryption handshake failed: {0}")]
    Handshake(String),
    #[error("the encryption handshake did not finish in time")]
    TimedOut,
    #[error("the other side chose no SRTP protection we have")]
    Profile,
}

/// How long a handshake may take, retransmissions included, before the call is given up.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(20);
const LABEL: &str = "EXTRACTOR-dtls_srtp";

/// One call's DTLS association with its peer.
pub struct Dtls {
    endpoint: Endpoint,
    /// The key the association is kept under (the peer as first known; packets go wherever
    /// the media path says).
    peer: SocketAddr,
    active: bool,
    started: Instant,
    done: bool,
}

fn config(setup: &DtlsSetup) -> Result<ConfigBuilder, DtlsError> {
    let provider = rtc_dtls::crypto_provider::default_provider()
        .map_err(|e| DtlsError::Identity(e.to_string()))?;
    let key = provider
        .crypto()
        .import_signing_key(
            rtc_dtls::crypto_provider::SignatureScheme::EcdsaP256Sha256,
            &setup.identity.key,
        )
        .map_err(|e| DtlsError::Identity(e.to_string()))?;
    let cert = rustls::pki_types::CertificateDer::from(setup.identity.cert.clone());
    let certificate = Certificate::from_signing_key(vec![cert], key);
    let expected = setup.theirs;
    // No CA stands behind a call's certificate: the SDP's fingerprint is what it must match.
    let verify = Arc::new(move |certs: &[Vec<u8>], _: &[_]| {
        match certs.first().map(|c| Fingerprint::of(c)) {
            Some(f) if f == expected => Ok(()),
            Some(f) => Err(rtc_shared::error::Error::Other(format!(
                "the other side's certificate ({f}) is not the one its call offer named"
            ))),
            None => Err(rtc_shared::error::Error::Other("no certificate".into())),
        }
    });
    Ok(ConfigBuilder::default()
        .with_crypto_provider(provider)
        .with_certificates(vec![certificate])
        .with_srtp_protection_profiles(vec![
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        ])
        .with_extended_master_secret(ExtendedMasterSecretType::Request)
        .with_client_auth(ClientAuthType::RequireAnyClientCert)
        .with_insecure_skip_verify(true)
        .with_verify_peer_certificate(Some(verify)))
}

impl Dtls {
    /// An association with `peer`; the active side sends its first flight at once.
    pub fn new(setup: &DtlsSetup, peer: SocketAddr, now: Instant) -> Result<Dtls, DtlsError> {
        let builder = config(setup)?;
        let build = |client: bool| {
            builder
                .clone()
                .build(client, Some(peer))
                .map(Arc::new)
                .map_err(|e| DtlsError::Identity(e.to_string()))
        };
        let local: SocketAddr = ([0, 0, 0, 0], 0).into();
        let proto = rtc_shared::TransportProtocol::UDP;
        let mut endpoint = match setup.active {
            true => Endpoint::new(local, proto, None),
            false => Endpoint::new(local, proto, Some(build(false)?)),
        };
        if setup.active {
            endpoint
                .connect(now, peer, build(true)?, None)
                .map_err(|e| DtlsError::Handshake(e.to_string()))?;
        }
        Ok(Dtls {
            endpoint,
            peer,
            active: setup.active,
            started: now,
            done: false,
        })
    }

    /// A DTLS record from the peer: the keys when it completes the handshake.
    pub fn take(&mut self, datagram: &[u8], now: Instant) -> Result<Option<SrtpKeys>, DtlsError> {
        let events = self
            .endpoint
            .read(now, self.peer, None, BytesMut::from(datagram))
            .map_err(|e| DtlsError::Handshake(e.to_string()))?;
        let complete = events
            .iter()
            .any(|e| matches!(e, EndpointEvent::HandshakeComplete));
        match complete && !self.done {
            true => {
                self.done = true;
                self.keys().map(Some)
            }
            false => Ok(None),
        }
    }

    /// Resends a lost flight when due; fails once the handshake has taken too long.
    pub fn tick(&mut self, now: Instant) -> Result<(), DtlsError> {
        if self.done {
            return Ok(());
        }
        if now.duration_since(self.started) > HANDSHAKE_LIMIT {
            return Err(DtlsError::TimedOut);
        }
        if self
            .endpoint
            .poll_timeout(&self.peer)
            .is_some_and(|t| t <= now)
        {
            self.endpoint
                .handle_timeout(self.peer, now)
                .map_err(|e| DtlsError::Handshake(e.to_string()))?;
        }
        Ok(())
    }

    /// The next record to send to the peer.
    pub fn transmit(&mut self) -> Option<BytesMut> {
        self.endpoint.poll_transmit().map(|t| t.message)
    }

    /// The SRTP keys the handshake made (RFC 5764 4.2): client key, server key, client salt,
    /// server salt; each side sends with its own.
    fn keys(&self) -> Result<SrtpKeys, DtlsError> {
        let state = self
            .endpoint
            .get_connection_state(self.peer)
            .ok_or_else(|| DtlsError::Handshake("the association is gone".into()))?;
        let suite = match state.srtp_protection_profile() {
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => Suite::AeadAes128Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => Suite::AesCm128HmacSha1_80,
            _ => return Err(DtlsError::Profile),
        };
        let (k, s) = (suite.key_len(), suite.salt_len());
        let material = state
            .export_keying_material(LABEL, &[], 2 * (k + s))
            .map_err(|e| DtlsError::Handshake(e.to_string()))?;
        let m = material.as_ref();
        let key = |key: &[u8], salt: &[u8]| MasterKey {
            suite,
            bytes: [key, salt].concat(),
            mki_len: 0,
        };
        let client = key(&m[..k], &m[2 * k..2 * k + s]);
        let server = key(&m[k..2 * k], &m[2 * k + s..]);
        Ok(match self.active {
            true => SrtpKeys {
                ours: client,
                theirs: server,
            },
            false => SrtpKeys {
                ours: server,
                theirs: client,
            },
        })
    }
}

/// A datagram that is a DTLS record (RFC 7983: first byte 20 to 63).
pub fn is_dtls(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(20..=63))
}

/// The short code two people read to each other to know nobody sits in between (what ZRTP's
/// SAS does, RFC 6189 5.1.6): from both fingerprints, in an order both sides agree on, four
/// characters of ZRTP's base32. A man in the middle has to show each side a fingerprint of
/// his own, so the two codes differ.
pub fn short_code(a: &Fingerprint, b: &Fingerprint) -> String {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let (lo, hi) = if a.0 <= b.0 { (a, b) } else { (b, a) };
    let digest = Sha256::new()
        .chain_update(b"parley short code")
        .chain_update(lo.0)
        .chain_update(hi.0)
        .finalize();
    let bits = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    (0..4)
        .map(|i| ALPHABET[((bits >> (27 - 5 * i)) & 31) as usize] as char)
        .collect::<String>()
        .to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::identity::Identity;

    fn setup(ours: &Identity, theirs: &Identity, active: bool) -> DtlsSetup {
        DtlsSetup {
            identity: Arc::new(MediaIdentity::of(ours)),
            theirs: theirs.fingerprint(),
            active,
            ids: ("ours".into(), None),
        }
    }

    /// Runs both sides to the end, datagrams handed across; each side's keys or error.
    fn handshake(
        a: &DtlsSetup,
        b: &DtlsSetup,
        tamper: impl Fn(&mut BytesMut),
    ) -> (Result<SrtpKeys, DtlsError>, Result<SrtpKeys, DtlsError>) {
        let (addr_a, addr_b): (SocketAddr, SocketAddr) = (
            "192.0.2.1:4000".parse().unwrap(),
            "192.0.2.2:4000".parse().unwrap(),
        );
        let now = Instant::now();
        let mut alice = Dtls::new(a, addr_b, now).unwrap();
        let mut bob = Dtls::new(b, addr_a, now).unwrap();
        let (mut ka, mut kb) = (None, None);
        for _ in 0..50 {
            while let Some(mut p) = alice.transmit() {
                tamper(&mut p);
                match bob.take(&p, now) {
                    Ok(None) => {}
                    // The first outcome counts (an alert may follow an error).
                    r => _ = kb.get_or_insert(r.map(Option::unwrap)),
                }
            }
            while let Some(p) = bob.transmit() {
                match alice.take(&p, now) {
                    Ok(None) => {}
                    r => _ = ka.get_or_insert(r.map(Option::unwrap)),
                }
            }
            if ka.is_some() && kb.is_some() {
                break;
            }
        }
        let none = || Err(DtlsError::TimedOut);
        (ka.unwrap_or_else(none), kb.unwrap_or_else(none))
    }

    #[test]
    fn both_sides_derive_the_same_keys_mirrored() {
        let (a, b) = (
            Identity::generate(&["alice".into()]).unwrap(),
            Identity::generate(&["bob".into()]).unwrap(),
        );
        let (ka, kb) = handshake(&setup(&a, &b, true), &setup(&b, &a, false), |_| {});
        let (ka, kb) = (ka.unwrap(), kb.unwrap());
        assert_eq!(ka.ours, kb.theirs);
        assert_eq!(ka.theirs, kb.ours);
        assert_ne!(ka.ours, ka.theirs);
        // The keys work: what Alice seals, Bob opens.
        let mut alice = super::super::srtp::Srtp::new(&ka).unwrap();
        let mut bob = super::super::srtp::Srtp::new(&kb).unwrap();
        let packet = [0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 9, 9, 9, 9];
        let sealed = alice.protect_rtp(&packet).unwrap();
        assert_eq!(bob.open_rtp(&sealed).unwrap(), packet);
    }

    #[test]
    fn a_certificate_other_than_the_signalled_one_fails_the_handshake() {
        let (a, b, mallory) = (
            Identity::generate(&["alice".into()]).unwrap(),
            Identity::generate(&["bob".into()]).unwrap(),
            Identity::generate(&["mallory".into()]).unwrap(),
        );
        // Alice expects Bob's certificate; Mallory answers with his own.
        let (ka, _) = handshake(&setup(&a, &b, true), &setup(&mallory, &a, false), |_| {});
        let Err(e) = ka else {
            panic!("Alice took Mallory's certificate")
        };
        assert!(e.to_string().contains("not the one"), "{e}");
    }

    #[test]
    fn garbage_records_neither_panic_nor_give_keys() {
        let (a, b) = (
            Identity::generate(&["alice".into()]).unwrap(),
            Identity::generate(&["bob".into()]).unwrap(),
        );
        let mut bob = Dtls::new(
            &setup(&b, &a, false),
            "192.0.2.1:4000".parse().unwrap(),
            Instant::now(),
        )
        .unwrap();
        for junk in [&[22u8][..], &[22, 254, 253, 0, 0], &[23; 40], &[63; 3]] {
            assert!(matches!(bob.take(junk, Instant::now()), Ok(None) | Err(_)));
        }
        assert!(!is_dtls(&[0x80, 0]) && !is_dtls(&[0, 1]) && is_dtls(&[22, 254]));
    }

    #[test]
    fn the_short_code_is_the_same_on_both_sides_and_differs_with_another_certificate() {
        let (a, b, m) = (
            Fingerprint([1; 32]),
            Fingerprint([2; 32]),
            Fingerprint([3; 32]),
        );
        let code = short_code(&a, &b);
        assert_eq!(code, short_code(&b, &a));
        assert_eq!(code.len(), 4);
        assert_ne!(code, short_code(&a, &m));
    }
}
