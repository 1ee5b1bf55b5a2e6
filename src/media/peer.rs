//! Which datagrams are the peer's (RFC 3550 A.1, 8.2; symmetric RTP as RFC 4961 and NAT need
//! it), so a stranger who learns our port cannot take over the call's sound or where ours goes.
//! The address in the peer's SDP is trusted after A.1's two packets in order. Another source
//! (the peer behind a NAT) is taken only after a longer probation with one SSRC, only while no
//! valid stream is flowing and the peer is meant to be sending, and never over the SDP address.
//! RTCP is taken only from the address the RTP comes from or the one the SDP named for it.

use super::sequence::{SeqVerdict, Sequence};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// In-order packets before the SDP's own address is trusted (A.1's MIN_SEQUENTIAL).
const PROBATION_SDP: u32 = 2;
/// In-order packets with one SSRC before another address may stand in for the SDP's.
const PROBATION_OTHER: u32 = 5;
/// How long the current source must have been silent before another may replace it.
const QUIET: Duration = Duration::from_secs(1);

struct Source {
    addr: SocketAddr,
    ssrc: u32,
    seq: Sequence,
    last: Instant,
}

/// What to do with one RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The peer's: play it.
    Accept,
    /// The peer's, from a new address (or a new stream): play it; from now on send there.
    Switched(SocketAddr),
    /// A candidate on probation, a stray sequence number, or a stranger: drop it.
    Drop,
}

/// The sans-IO filter for one call's media, driven by `(packet, now)`.
pub struct PeerFilter {
    expected: SocketAddr,
    expected_rtcp: Option<SocketAddr>,
    /// Whether the SDP says the peer sends to us at all.
    peer_sends: bool,
    current: Option<Source>,
    /// On probation: a trusted source (the SDP address, or a new SSRC at the current one) and
    /// any other, apart, so a stranger's packets cannot keep resetting the peer's probation.
    trusted: Option<Source>,
    other: Option<Source>,
}

impl PeerFilter {
    pub fn new(expected: SocketAddr, rtcp: Option<SocketAddr>, peer_sends: bool) -> PeerFilter {
        PeerFilter {
            expected,
            expected_rtcp: rtcp,
            peer_sends,
            current: None,
            trusted: None,
            other: None,
        }
    }

    /// A re-INVITE named a new address or direction: a new address starts over.
    pub fn repoint(&mut self, expected: SocketAddr, rtcp: Option<SocketAddr>, peer_sends: bool) {
        if expected != self.expected {
            self.current = None;
            (self.trusted, self.other) = (None, None);
        }
        (self.expected, self.expected_rtcp, self.peer_sends) = (expected, rtcp, peer_sends);
    }

    /// The source taken, if any: where its RTP comes from and its SSRC.
    pub fn source(&self) -> Option<(SocketAddr, u32)> {
        self.current.as_ref().map(|s| (s.addr, s.ssrc))
    }

    fn flowing(&self, now: Instant) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| now.saturating_duration_since(s.last) < QUIET)
    }

    /// One RTP packet's source, SSRC and sequence number.
    pub fn on_rtp(&mut self, from: SocketAddr, ssrc: u32, seq: u16, now: Instant) -> Verdict {
        if let Some(cur) = self
            .current
            .as_mut()
            .filter(|c| c.addr == from && c.ssrc == ssrc)
        {
            return match cur.seq.update(seq) {
                SeqVerdict::Valid | SeqVerdict::Restarted => {
                    cur.last = now;
                    Verdict::Accept
                }
                SeqVerdict::Probation | SeqVerdict::Invalid => Verdict::Drop,
            };
        }
        let from_sdp = from == self.expected;
        let same_place = self.current.as_ref().is_some_and(|c| c.addr == from);
        // The SDP address and a new SSRC at the current address (a restarted sender) may always
        // try; anyone else only while nothing valid flows and the peer should be sending.
        let may_try = from_sdp || same_place || (self.peer_sends && !self.flowing(now));
        if !may_try {
            return Verdict::Drop;
        }
        self.probation(from, ssrc, seq, now, from_sdp || same_place)
    }

    fn probation(
        &mut self,
        from: SocketAddr,
        ssrc: u32,
        seq: u16,
        now: Instant,
        trusted: bool,
    ) -> Verdict {
        let needed = if trusted {
            PROBATION_SDP
        } else {
            PROBATION_OTHER
        };
        let slot = if trusted {
            &mut self.trusted
        } else {
            &mut self.other
        };
        let passed = match slot.as_mut().filter(|c| c.addr == from && c.ssrc == ssrc) {
            Some(c) => c.seq.update(seq) == SeqVerdict::Valid,
            None => {
                let first = Sequence::new(seq, needed);
                let passed = !first.on_probation();
                *slot = Some(Source {
                    addr: from,
                    ssrc,
                    seq: first,
                    last: now,
                });
                passed
            }
        };
        if !passed {
            return Verdict::Drop;
        }
        let mut taken = slot.take().expect("a candidate just passed");
        taken.last = now;
        self.current = Some(taken);
        Verdict::Switched(from)
    }

    /// Whether an RTCP datagram from `from` is the peer's: from the address the SDP named for
    /// RTP or RTCP, or from the host the peer's RTP comes from (a NAT maps its RTCP port apart).
    pub fn rtcp_ok(&self, from: SocketAddr) -> bool {
        Some(from) == self.expected_rtcp || from == self.expected || self.rtcp_follows(from)
    }

    /// Whether RTCP from `from` should be answered there: only when it comes from the taken
    /// RTP source's host.
    pub fn rtcp_follows(&self, from: SocketAddr) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.addr.ip() == from.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_sdp_address_is_taken_after_two_in_order() {
        let t = Instant::now();
        let mut f = PeerFilter::new(addr("192.0.2.1:4000"), None, true);
        assert_eq!(f.on_rtp(addr("192.0.2.1:4000"), 7, 10, t), Verdict::Drop);
        assert_eq!(
            f.on_rtp(addr("192.0.2.1:4000"), 7, 11, t),
            Verdict::Switched(addr("192.0.2.1:4000"))
        );
        assert_eq!(f.on_rtp(addr("192.0.2.1:4000"), 7, 12, t), Verdict::Accept);
    }

    #[test]
    fn a_stranger_cannot_take_a_flowing_call() {
        let t = Instant::now();
        let peer = addr("192.0.2.1:4000");
        let mut f = PeerFilter::new(peer, None, true);
        f.on_rtp(peer, 7, 10, t);
        f.on_rtp(peer, 7, 11, t);
        for seq in 0..100 {
            let at = t + Duration::from_millis(u64::from(seq) * 20);
            assert_eq!(
                f.on_rtp(addr("198.51.100.9:5000"), 9, seq, at),
                Verdict::Drop
            );
            assert_eq!(f.on_rtp(peer, 7, 12 + seq, at), Verdict::Accept);
        }
        assert_eq!(f.source(), Some((peer, 7)));
    }

    #[test]
    fn a_peer_behind_nat_is_taken_after_probation_and_the_sdp_address_wins_back() {
        let t = Instant::now();
        let (sdp, nat) = (addr("192.0.2.10:4000"), addr("203.0.113.5:61000"));
        let mut f = PeerFilter::new(sdp, None, true);
        let verdicts: Vec<_> = (0..5).map(|s| f.on_rtp(nat, 3, s, t)).collect();
        assert_eq!(&verdicts[..4], [Verdict::Drop; 4]);
        assert_eq!(verdicts[4], Verdict::Switched(nat));
        // The real SDP address starts sending: it takes over after A.1's two packets.
        f.on_rtp(sdp, 4, 100, t);
        assert_eq!(f.on_rtp(sdp, 4, 101, t), Verdict::Switched(sdp));
        assert_eq!(f.on_rtp(nat, 3, 5, t), Verdict::Drop);
    }

    #[test]
    fn a_stranger_racing_from_the_start_cannot_hold_back_the_peer() {
        let t = Instant::now();
        let peer = addr("192.0.2.1:4000");
        let mut f = PeerFilter::new(peer, None, true);
        for seq in 0..3 {
            f.on_rtp(addr("198.51.100.9:5000"), 9, seq, t);
            f.on_rtp(peer, 7, 100 + seq, t);
        }
        assert_eq!(f.source(), Some((peer, 7)));
    }

    #[test]
    fn no_new_source_while_the_peer_is_not_meant_to_send() {
        let t = Instant::now();
        let mut f = PeerFilter::new(addr("192.0.2.1:4000"), None, false);
        for s in 0..20 {
            assert_eq!(f.on_rtp(addr("198.51.100.9:5000"), 9, s, t), Verdict::Drop);
        }
    }

    #[test]
    fn a_quiet_source_can_be_replaced_and_rtcp_comes_only_from_the_peer() {
        let t = Instant::now();
        let (sdp, a, b) = (
            addr("192.0.2.10:4000"),
            addr("203.0.113.5:61000"),
            addr("203.0.113.5:62000"),
        );
        let mut f = PeerFilter::new(sdp, Some(addr("192.0.2.10:4001")), true);
        for s in 0..5 {
            f.on_rtp(a, 3, s, t);
        }
        assert_eq!(f.source(), Some((a, 3)));
        // The NAT rebinds: the old mapping goes silent, the new one passes probation.
        let later = t + QUIET;
        let v: Vec<_> = (5..10).map(|s| f.on_rtp(b, 3, s, later)).collect();
        assert_eq!(v[4], Verdict::Switched(b));
        assert!(f.rtcp_ok(b) && f.rtcp_ok(addr("192.0.2.10:4001")));
        assert!(!f.rtcp_ok(addr("198.51.100.9:5001")));
        assert!(f.rtcp_follows(b) && !f.rtcp_follows(addr("198.51.100.9:5001")));
    }
}
