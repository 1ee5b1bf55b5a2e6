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
    /// Bytes of MKI in their packets.
    mki: usize,
}

fn profile(suite: Suite) -> ProtectionProfile {
    match suite {
        Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        Suite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
    }
}

/// Packets remembered against replays (RFC 3711 3.3.2 asks for at least 64).
const REPLAY_WINDOW: usize = 128;

/// A context for one direction's key; the receiving one checks replays.
fn context(k: &MasterKey, receiving: bool) -> Result<Context, SrtpError> {
    let provider =
        rtc_srtp::crypto::default_provider().map_err(|e| SrtpError::Key(e.to_string()))?;
    let (rtp, rtcp) = match receiving {
        true => (
            Some(rtc_srtp::option::srtp_replay_protection(REPLAY_WINDOW)),
            Some(rtc_srtp::option::srtcp_replay_protection(REPLAY_WINDOW)),
        ),
        false => (None, None),
    };
    Context::new(
        k.key(),
        k.salt(),
        profile(k.suite),
        rtp,
        rtcp,
        provider.crypto(),
    )
    .map_err(|e| SrtpError::Key(e.to_string()))
}

/// The tag that ends an AES-CM packet (HMAC-SHA1-80), which an MKI precedes (RFC 3711 3.1).
const TAG: usize = 10;

/// `packet` without its `mki` bytes (between the authenticated part and the tag): the MKI is
/// not authenticated, and with one key there is nothing to choose by it.
fn without_mki(packet: &[u8], mki: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
    if mki == 0 {
        return Some(std::borrow::Cow::Borrowed(packet));
    }
    let end = packet.len().checked_sub(TAG + mki)?;
    Some(std::borrow::Cow::Owned(
        [&packet[..end], &packet[end + mki..]].concat(),
    ))
}

impl Srtp {
    pub fn new(keys: &SrtpKeys) -> Result<Srtp, SrtpError> {
        if keys.ours.suite != keys.theirs.suite {
            return Err(SrtpError::Mixed);
        }
        Ok(Srtp {
            tx: context(&keys.ours, false)?,
            rx: context(&keys.theirs, true)?,
            mki: keys.theirs.mki_len.into(),
        })
    }

    /// New keys from a re-offer: only a direction whose key changed starts again. Ours kept
    /// keeps its rollover counter in step with our sequence numbers (RFC 3711 9.1: restarting
    /// it would reuse keystream after the next wrap, and the peer would stop hearing us).
    pub fn rekey(&mut self, old: &SrtpKeys, new: &SrtpKeys) -> Result<(), SrtpError> {
        if new.ours.suite != new.theirs.suite {
            return Err(SrtpError::Mixed);
        }
        if new.ours != old.ours {
            self.tx = context(&new.ours, false)?;
        }
        if new.theirs != old.theirs {
            self.rx = context(&new.theirs, true)?;
            self.mki = new.theirs.mki_len.into();
        }
        Ok(())
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
        let packet = without_mki(packet, self.mki)?;
        self.rx.decrypt_rtp(&packet).map(Vec::from).ok()
    }

    pub fn open_rtcp(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        let packet = without_mki(packet, self.mki)?;
        self.rx.decrypt_rtcp(&packet).map(Vec::from).ok()
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

    /// The peer re-keys after our sequence numbers wrapped: our context goes on with its
    /// rollover counter, so the peer still opens what we send. A context made anew (what
    /// happened before) starts the counter at 0 and is refused.
    #[test]
    fn their_new_key_leaves_our_rollover_counter_alone() {
        let suite = Suite::AesCm128HmacSha1_80;
        let (a, b) = (MasterKey::random(suite), MasterKey::random(suite));
        let old = SrtpKeys {
            ours: a.clone(),
            theirs: b.clone(),
        };
        let mut alice = Srtp::new(&old).unwrap();
        let mut bob = Srtp::new(&SrtpKeys {
            ours: b,
            theirs: a.clone(),
        })
        .unwrap();
        for seq in (65_530..=u16::MAX).chain(0..5) {
            let sealed = alice.protect_rtp(&packet(seq, b"voice")).unwrap();
            assert!(bob.open_rtp(&sealed).is_some(), "packet {seq}");
        }
        let new = SrtpKeys {
            ours: a,
            theirs: MasterKey::random(suite),
        };
        let mut remade = Srtp::new(&new).unwrap();
        alice.rekey(&old, &new).unwrap();
        let sealed = alice.protect_rtp(&packet(5, b"voice")).unwrap();
        assert!(bob.open_rtp(&sealed).is_some(), "after their re-key");
        let restarted = remade.protect_rtp(&packet(6, b"voice")).unwrap();
        assert!(bob.open_rtp(&restarted).is_none(), "a restarted counter");
    }

    /// Their key came with a 4-byte MKI (RFC 4568 `|1:4`): its packets carry it before the tag.
    #[test]
    fn packets_with_an_mki_are_opened() {
        let suite = Suite::AesCm128HmacSha1_80;
        let (a, b) = (MasterKey::random(suite), MasterKey::random(suite));
        let mut alice = Srtp::new(&SrtpKeys {
            ours: a.clone(),
            theirs: b.clone(),
        })
        .unwrap();
        let with_mki = MasterKey { mki_len: 4, ..a };
        let mut bob = Srtp::new(&SrtpKeys {
            ours: b,
            theirs: with_mki,
        })
        .unwrap();
        let plain = packet(9, b"voice");
        let sealed = alice.protect_rtp(&plain).unwrap();
        let at = sealed.len() - TAG;
        let tagged = [&sealed[..at], &[0, 0, 0, 1], &sealed[at..]].concat();
        assert_eq!(bob.open_rtp(&tagged).unwrap(), plain);
        assert!(
            bob.open_rtp(&[0x80; 12]).is_none(),
            "too short for its MKI and tag"
        );
    }
}
