//! STUN binding requests and responses (RFC 8489) on top of `stun-types`: what a SIP or media
//! socket needs to learn its public address, keep a NAT mapping open and answer others' asks.

use std::net::SocketAddr;
use stun_types::attribute::{Software, XorMappedAddress};
use stun_types::message::MessageWrite;
use stun_types::message::{
    Message, MessageClass, MessageWriteExt, MessageWriteVec, TransactionId, BINDING,
};

/// A STUN transaction, as the bytes of its ID (what matches a response to its request).
pub type TxId = u128;

/// What a datagram that looked like STUN turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Stun {
    /// A binding request: send `reply` back where it came from.
    Request { reply: Vec<u8> },
    /// A binding response: the public address the server saw us at.
    Response { id: TxId, mapped: SocketAddr },
    /// A binding error response, or something we do not use.
    Other,
}

/// Whether `b` can be a STUN message: the two top bits zero and the magic cookie in place
/// (RFC 8489 5), which no SIP message, RTP packet or CRLF keepalive has.
pub fn looks_like_stun(b: &[u8]) -> bool {
    b.len() >= 20 && b[0] & 0xC0 == 0 && b[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

/// A new binding request, with its transaction ID.
pub fn binding_request() -> (TxId, Vec<u8>) {
    let mut msg = Message::builder_request(BINDING, MessageWriteVec::new());
    let id: TxId = msg.transaction_id().into();
    let _ = msg.add_fingerprint();
    (id, msg.finish())
}

/// Reads a datagram that `looks_like_stun`; `from` is where it came from (what a binding
/// request is answered with). Anything malformed is `None`.
pub fn read(bytes: &[u8], from: SocketAddr) -> Option<Stun> {
    let msg = Message::from_bytes(bytes).ok()?;
    if !msg.has_method(BINDING) {
        return Some(Stun::Other);
    }
    match msg.class() {
        MessageClass::Request => Some(Stun::Request {
            reply: success(&msg, from),
        }),
        MessageClass::Success => {
            let id = msg.transaction_id();
            let mapped = msg.attribute::<XorMappedAddress>().ok()?.addr(id);
            Some(Stun::Response {
                id: id.into(),
                mapped,
            })
        }
        _ => Some(Stun::Other),
    }
}

fn success(req: &Message, from: SocketAddr) -> Vec<u8> {
    let mut out = Message::builder_success(req, MessageWriteVec::new());
    let id: TransactionId = req.transaction_id();
    let _ = out.add_attribute(&XorMappedAddress::new(from, id));
    if let Ok(sw) = Software::new(crate::engine::USER_AGENT) {
        let _ = out.add_attribute(&sw);
    }
    let _ = out.add_fingerprint();
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun_types::attribute::{AttributeStaticType, Fingerprint};

    fn has_fingerprint(bytes: &[u8]) -> bool {
        Message::from_bytes(bytes).is_ok_and(|m| m.has_attribute(Fingerprint::TYPE))
    }

    #[test]
    fn a_request_is_answered_with_where_it_came_from() {
        let (id, req) = binding_request();
        assert!(looks_like_stun(&req));
        assert!(has_fingerprint(&req));
        let from: SocketAddr = "203.0.113.2:40000".parse().unwrap();
        let Some(Stun::Request { reply }) = read(&req, from) else {
            panic!("not read as a request");
        };
        assert_eq!(
            read(&reply, from),
            Some(Stun::Response { id, mapped: from })
        );
        let v6: SocketAddr = "[2001:db8::7]:5062".parse().unwrap();
        let Some(Stun::Request { reply }) = read(&req, v6) else {
            panic!("not read as a request");
        };
        assert_eq!(read(&reply, v6), Some(Stun::Response { id, mapped: v6 }));
    }

    #[test]
    fn sip_rtp_and_keepalives_are_not_stun() {
        assert!(!looks_like_stun(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"
        ));
        assert!(!looks_like_stun(b"\r\n\r\n"));
        let mut rtp = vec![0x80u8, 0, 0, 1, 0x21, 0x12, 0xA4, 0x42];
        rtp.resize(40, 0);
        assert!(!looks_like_stun(&rtp));
    }

    #[test]
    fn garbage_with_the_cookie_is_refused_without_panicking() {
        let (_, mut req) = binding_request();
        for cut in [20, 21, 24, req.len() - 1] {
            let _ = read(&req[..cut], "192.0.2.1:1".parse().unwrap());
        }
        // A length field pointing past the end.
        req[2] = 0xFF;
        assert_eq!(read(&req, "192.0.2.1:1".parse().unwrap()), None);
    }
}
