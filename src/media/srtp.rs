//! SRTP and SRTCP (RFC 3711; RFC 7714 for GCM) on a call's packets, through rtc-srtp: ours
//! protected with our master key, theirs checked and opened with theirs. A packet that fails
//! its check (a stranger's, a replay, a corrupted one) is dropped, so nobody without the key
//! can be heard in the call or take it over.

use crate::sdp::crypto::{MasterKey, Suite};
use rtc_srtp::context::Context;
use rtc_srtp::protection_profile::ProtectionProfile;

/// The two keys of a call's SRTP: what we send with, and what they send with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    pub ours: MasterKey,
    pub theirs: MasterKey,
}

#[derive(Debug, thiserror::Error)]
pub enum SrtpError {
    #[error("SRTP key: {0}")]
    Key(String),
    #[error("the two keys are of different suites")]
    Mixed,
}

pub struct Srtp {
    tx: Context,
    rx: Context,
}

fn profile(suite: Suite) -> ProtectionProfile {
    match suite {
        Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        Suite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
    }
}

/// Packets remembered against replays (RFC 3711 3.3.2 asks for at least 64).
const REPLAY_WINDOW: usize = 128;

impl Srtp {
    pub fn new(keys: &SrtpKeys) -> Result<Srtp, SrtpError> {
        if keys.ours.suite != keys.theirs.suite {
            return Err(SrtpError::Mixed);
        }
        let provider =
            rtc_srtp::crypto::default_provider().map_err(|e| SrtpError::Key(e.to_string()))?;
        let crypto = provider.crypto();
        let context = |k: &MasterKey, replay: bool| {
            let (rtp, rtcp) = match replay {
                true => (
                    Some(rtc_srtp::option::srtp_replay_protection(REPLAY_WINDOW)),
                    Some(rtc_srtp::option::srtcp_replay_protection(REPLAY_WINDOW)),
                ),
                false => (None, None),
            };
            Context::new(k.key(), k.salt(), profile(k.suite), rtp, rtcp, crypto)
                .map_err(|e| SrtpError::Key(e.to_string()))
        };
        Ok(Srtp {
            tx: context(&keys.ours, false)?,
            rx: context(&keys.theirs, true)?,
        })
    }

    /// Our RTP packet, encrypted and authenticated; `None` if it could not be (never sent
    /// in the clear instead).
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        self.tx.encrypt_rtp(packet).map(Vec::from).ok()
    }

    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        self.tx.encrypt_rtcp(packet).map(Vec::from).ok()
    }

    /// Their RTP packet opened, or `None` when it fails its check.
    pub fn open_rtp(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        self.rx.decrypt_rtp(packet).map(Vec::from).ok()
    }

    pub fn open_rtcp(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        self.rx.decrypt_rtcp(packet).map(Vec::from).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp;

    fn pair(suite: Suite) -> (Srtp, Srtp) {
        let (a, b) = (MasterKey::random(suite), MasterKey::random(suite));
        let alice = SrtpKeys {
            ours: a.clone(),
            theirs: b.clone(),
        };
        let bob = SrtpKeys { ours: b, theirs: a };
        (Srtp::new(&alice).unwrap(), Srtp::new(&bob).unwrap())
    }

    fn packet(seq: u16, payload: &[u8]) -> Vec<u8> {
        let p = rtp::Packet {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 0x1234_5678,
            payload,
        };
        let mut out = Vec::new();
        rtp::build(&p, &mut out);
        out
    }

    #[test]
    fn each_side_opens_what_the_other_sealed_and_the_payload_is_hidden() {
        for suite in Suite::ALL {
            let (mut alice, mut bob) = pair(suite);
            let voice = b"hello bob, this is voice".to_vec();
            let plain = packet(1, &voice);
            let sealed = alice.protect_rtp(&plain).unwrap();
            assert!(sealed.len() > plain.len(), "an authentication tag is added");
            assert!(!sealed.windows(voice.len()).any(|w| w == voice.as_slice()));
            assert_eq!(bob.open_rtp(&sealed).unwrap(), plain);
            // Replayed: refused.
            assert!(bob.open_rtp(&sealed).is_none());
        }
    }

    #[test]
    fn a_stranger_or_a_flipped_bit_is_refused() {
        let (mut alice, mut bob) = pair(Suite::AesCm128HmacSha1_80);
        let (mut mallory, _) = pair(Suite::AesCm128HmacSha1_80);
        let forged = mallory.protect_rtp(&packet(5, b"take over")).unwrap();
        assert!(bob.open_rtp(&forged).is_none());
        let mut sealed = alice.protect_rtp(&packet(6, b"voice")).unwrap();
        sealed[14] ^= 1;
        assert!(bob.open_rtp(&sealed).is_none());
        // Plain RTP is not SRTP either.
        assert!(bob.open_rtp(&packet(7, b"plain")).is_none());
        assert!(bob.open_rtp(&[0x80]).is_none());
    }

    #[test]
    fn rtcp_is_sealed_and_opened_too() {
        let (mut alice, mut bob) = pair(Suite::AeadAes128Gcm);
        let report = crate::media::rtcp::Report {
            ssrc: 7,
            sender: None,
            blocks: Vec::new(),
        };
        let mut plain = Vec::new();
        crate::media::rtcp::build(&report, "parley-test", &mut plain);
        let sealed = alice.protect_rtcp(&plain).unwrap();
        assert_eq!(bob.open_rtcp(&sealed).unwrap(), plain);
    }

    #[test]
    fn keys_of_two_suites_do_not_make_a_context() {
        let keys = SrtpKeys {
            ours: MasterKey::random(Suite::AeadAes128Gcm),
            theirs: MasterKey::random(Suite::AesCm128HmacSha1_80),
        };
        assert!(Srtp::new(&keys).is_err());
    }
}
