//! RFC 8445 7.3.1.5 seen from the controlled side, kept beside the agent as a backstop: a
//! pair is nominated once the controlling side's check with USE-CANDIDATE came in on it and
//! our own check on it was answered, in whichever order. rice-proto 0.4.3 loses the
//! nomination when the nominating check arrives while our plain check on the pair is still
//! out and that plain check's answer comes back first, behind a NAT ("unknown nomination");
//! with DTLS-SRTP, where each side waits for the other, no media would then ever flow.

use rice_stun_types::attribute::UseCandidate;
use std::net::SocketAddr;
use stun_types::attribute::AttributeStaticType;
use stun_types::message::{
    Message, MessageClass, MessageIntegrityCredentials, ShortTermCredentials, BINDING,
};
use turn_client_proto::types::attribute::{Data, XorPeerAddress};

/// What a datagram says about nomination, and of which peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The controlling side's check with USE-CANDIDATE, signed with our password.
    Nominating(SocketAddr),
    /// An answer to one of our checks, signed with theirs.
    Answered(SocketAddr),
}

/// Both ICE passwords: ours (the other side signs its checks with it) and theirs.
#[derive(Debug, Clone, Copy)]
pub struct Passwords<'a> {
    pub local: &'a str,
    pub remote: &'a str,
}

/// `datagram`, from `from`, as a check or an answer: straight from the peer, or relayed by
/// our TURN server (`from == turn`) in a Data indication (RFC 8656 11.6).
pub fn seen(
    datagram: &[u8],
    from: SocketAddr,
    turn: Option<SocketAddr>,
    pwds: Passwords,
) -> Option<Seen> {
    // RTP, RTCP and DTLS (first byte below 4 is STUN's) are most datagrams: no parse.
    if datagram.first().is_none_or(|b| *b > 3) {
        return None;
    }
    let msg = Message::from_bytes(datagram).ok()?;
    if turn == Some(from) {
        let peer = relayed_from(&msg)?;
        let inner = msg.attribute::<Data>().ok()?;
        return classify(&Message::from_bytes(inner.data()).ok()?, peer, pwds);
    }
    classify(&msg, from, pwds)
}

fn classify(msg: &Message, peer: SocketAddr, pwds: Passwords) -> Option<Seen> {
    if !msg.has_method(BINDING) {
        return None;
    }
    match msg.class() {
        MessageClass::Request
            if msg.has_attribute(UseCandidate::TYPE) && signed_with(msg, pwds.local) =>
        {
            Some(Seen::Nominating(peer))
        }
        _ if answers(msg, pwds.remote) => Some(Seen::Answered(peer)),
        _ => None,
    }
}

/// Whether `msg` answers one of our checks: a success signed with their password.
pub(super) fn answers(msg: &Message, remote_pwd: &str) -> bool {
    msg.has_class(MessageClass::Success) && signed_with(msg, remote_pwd)
}

fn signed_with(msg: &Message, pwd: &str) -> bool {
    let creds = MessageIntegrityCredentials::ShortTerm(ShortTermCredentials::new(pwd.into()));
    msg.validate_integrity(&creds).is_ok()
}

/// The peer a TURN server's Data indication (RFC 8656 11.6) carries a datagram from.
pub(super) fn relayed_from(msg: &Message) -> Option<SocketAddr> {
    let peer = msg.attribute::<XorPeerAddress>().ok()?;
    Some(peer.addr(msg.transaction_id()))
}

/// The peers seen nominating and answering, until one has done both.
#[derive(Debug, Default)]
pub struct Nomination {
    nominating: Vec<SocketAddr>,
    answered: Vec<SocketAddr>,
}

/// A peer has only a few candidates: more addresses than this are not worth remembering.
const REMEMBERED: usize = 16;

impl Nomination {
    /// Notes `seen`; the peer whose pair it completes the nomination of, if it does.
    pub fn note(&mut self, seen: Seen) -> Option<SocketAddr> {
        let (peer, ours, theirs) = match seen {
            Seen::Nominating(p) => (p, &mut self.nominating, &self.answered),
            Seen::Answered(p) => (p, &mut self.answered, &self.nominating),
        };
        if !ours.contains(&peer) && ours.len() < REMEMBERED {
            ours.push(peer);
        }
        theirs.contains(&peer).then_some(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "203.0.113.12:4000";

    #[test]
    fn a_nomination_needs_the_check_and_our_answered_check_in_either_order() {
        let (p, q) = (PEER.parse().unwrap(), "203.0.113.13:4000".parse().unwrap());
        let mut n = Nomination::default();
        assert_eq!(n.note(Seen::Nominating(p)), None);
        assert_eq!(n.note(Seen::Answered(q)), None, "another peer's answer");
        assert_eq!(n.note(Seen::Answered(p)), Some(p));
        let mut n = Nomination::default();
        assert_eq!(n.note(Seen::Answered(p)), None);
        assert_eq!(n.note(Seen::Nominating(p)), Some(p));
    }

    const OURS: &str = "ours-ours-ours-ours-ou";
    const THEIRS: &str = "theirs-theirs-theirs-t";
    const PWDS: Passwords = Passwords {
        local: OURS,
        remote: THEIRS,
    };

    /// A binding request as the other side's agent sends it, signed with `pwd`.
    fn check(nominating: bool, pwd: &str) -> Vec<u8> {
        use stun_types::message::MessageWriteVec;
        use stun_types::message::{IntegrityAlgorithm, MessageWrite, MessageWriteExt};
        let mut msg = Message::builder_request(BINDING, MessageWriteVec::new());
        if nominating {
            msg.add_attribute(&UseCandidate::new()).unwrap();
        }
        let creds = MessageIntegrityCredentials::ShortTerm(ShortTermCredentials::new(pwd.into()));
        msg.add_message_integrity(&creds, IntegrityAlgorithm::Sha1)
            .unwrap();
        msg.finish()
    }

    #[test]
    fn only_a_signed_check_with_use_candidate_nominates() {
        let from = PEER.parse().unwrap();
        assert_eq!(
            seen(&check(true, OURS), from, None, PWDS),
            Some(Seen::Nominating(from))
        );
        assert_eq!(seen(&check(false, OURS), from, None, PWDS), None);
        assert_eq!(seen(&check(true, THEIRS), from, None, PWDS), None, "forged");
        assert_eq!(seen(b"\x80\x00rtp", from, None, PWDS), None);
        assert_eq!(seen(b"\x00\x01", from, None, PWDS), None, "cut short");
    }
}
