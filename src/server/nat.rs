//! Users behind NATs, as Kamailio's `nathelper` and an RFC 5626 edge proxy reach them: a
//! binding remembers the flow its REGISTER came on, and requests for it go down that flow;
//! a Contact that cannot be reached as written (another address than its message came
//! from, or a TCP connection's) gets an `alias` parameter naming the flow, signed so that
//! nobody can point the proxy elsewhere, and requests to that target go down the flow again.

use super::Proxy;
use crate::sip::headers::{NameAddr, SipUri, Via};
use crate::sip::locate;
use crate::sip::message::{self as msg, Headers};
use crate::sip::transport::{Peer, Proto};
use std::net::{IpAddr, SocketAddr};

/// The URI parameter naming a flow: `ip~port~transport~token`.
const ALIAS: &str = "alias";

/// Where a request goes: a URI, and the flow to send it down when not the URI's own address.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub uri: SipUri,
    pub flow: Option<Peer>,
}

impl Target {
    pub fn direct(uri: SipUri) -> Target {
        Target { uri, flow: None }
    }

    /// The flow, else the URI's own address (RFC 3263).
    pub async fn peer(&self) -> Option<Peer> {
        match self.flow {
            Some(p) => Some(p),
            None => locate::resolve(&self.uri).await.ok(),
        }
    }
}

/// An IP literal's socket address (5060 when no port is given).
fn literal(host: &str, port: Option<u16>) -> Option<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(SocketAddr::new(
        host.parse::<IpAddr>().ok()?,
        port.unwrap_or(5060),
    ))
}

/// Where a request's sender says it is: its top Via's sent-by, when an IP literal.
pub(super) fn sent_by(via: Option<&Via>) -> Option<SocketAddr> {
    via.and_then(|v| literal(&v.host, v.port))
}

/// Whether `contact` cannot be reached as written, only down the flow its message came on:
/// the sender's Via names the contact's own address, yet the message came from elsewhere
/// (a NAT changed it, or a connection's port). With no Via to go by (a response on a flow
/// we sent down), whether the contact is not that flow's address. A contact that names
/// another host (a third-party registration) is reached as written.
pub(super) fn behind(contact: &SipUri, sent_by: Option<SocketAddr>, source: Peer) -> bool {
    let Some(at) = literal(&contact.host, contact.port) else {
        return false; // a name: reached by looking it up
    };
    match sent_by {
        Some(own) => at == own && own != source.addr,
        None => at != source.addr,
    }
}

impl Proxy {
    fn alias_token(&self, flow: Peer) -> String {
        self.secret
            .token(&[ALIAS, &flow.addr.to_string(), flow.proto.as_str()])
    }

    /// Adds the flow's alias to a Contact that cannot be reached as written (`sent_by`: see
    /// `behind`).
    pub(super) fn alias_contact(
        &self,
        headers: &mut Headers,
        sent_by: Option<SocketAddr>,
        source: Peer,
    ) {
        let Some(first) = msg::get_all(headers, "Contact").into_iter().next() else {
            return;
        };
        let Ok(mut addr) = NameAddr::parse(&first) else {
            return;
        };
        let Ok(mut uri) = SipUri::parse(&addr.uri) else {
            return;
        };
        if !behind(&uri, sent_by, source) || uri.params.has(ALIAS) {
            return;
        }
        let t = match source.proto {
            Proto::Udp => "u",
            Proto::Tcp => "t",
            Proto::Tls => "s",
        };
        let (ip, port) = (source.addr.ip(), source.addr.port());
        let value = format!("{ip}~{port}~{t}~{}", self.alias_token(source));
        uri.params.set(ALIAS, Some(value));
        addr.uri = uri.to_string();
        msg::set(headers, "Contact", addr.to_string());
    }

    /// A target whose URI carries our alias: the alias taken off, and its flow when the
    /// signature holds (a forged one is dropped and the URI used as written).
    pub(super) fn dealias(&self, mut uri: SipUri) -> Target {
        let Some(value) = uri.params.get(ALIAS).map(str::to_string) else {
            return Target::direct(uri);
        };
        uri.params.remove(ALIAS);
        let flow = parse_alias(&value).filter(|(p, token)| *token == self.alias_token(*p));
        Target {
            uri,
            flow: flow.map(|(p, _)| p),
        }
    }
}

fn parse_alias(value: &str) -> Option<(Peer, String)> {
    let mut parts = value.split('~');
    let ip: IpAddr = parts.next()?.parse().ok()?;
    let port: u16 = parts.next()?.parse().ok()?;
    let proto = match parts.next()? {
        "u" => Proto::Udp,
        "t" => Proto::Tcp,
        "s" => Proto::Tls,
        _ => return None,
    };
    let token = parts.next()?.to_string();
    let addr = SocketAddr::new(ip, port);
    Some((Peer { proto, addr }, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(proto: Proto, s: &str) -> Peer {
        Peer {
            proto,
            addr: s.parse().unwrap(),
        }
    }

    #[test]
    fn a_contact_is_behind_a_nat_when_its_own_address_is_not_where_it_came_from() {
        let own = Some("192.0.2.10:5062".parse().unwrap());
        let c = SipUri::parse("sip:bob@192.0.2.10:5062").unwrap();
        assert!(behind(&c, own, peer(Proto::Udp, "203.0.113.2:5062")));
        assert!(!behind(&c, own, peer(Proto::Udp, "192.0.2.10:5062")));
        assert!(behind(&c, own, peer(Proto::Tcp, "192.0.2.10:40000")));
        // A third party's contact is reached as written.
        let other = SipUri::parse("sip:bob@198.51.100.7:5060").unwrap();
        assert!(!behind(&other, own, peer(Proto::Udp, "203.0.113.2:5062")));
        let named = SipUri::parse("sip:bob@pc.example.com").unwrap();
        assert!(!behind(&named, own, peer(Proto::Udp, "203.0.113.2:5060")));
        // A response on a flow: the contact against the flow's address.
        assert!(behind(&c, None, peer(Proto::Udp, "203.0.113.2:5062")));
        let v6 = SipUri::parse("sip:bob@[2001:db8::1]:5060").unwrap();
        assert!(!behind(&v6, None, peer(Proto::Udp, "[2001:db8::1]:5060")));
    }

    #[test]
    fn aliases_parse_with_either_family() {
        let (p, t) = parse_alias("203.0.113.2~5062~u~abc").unwrap();
        assert_eq!(p, peer(Proto::Udp, "203.0.113.2:5062"));
        assert_eq!(t, "abc");
        let (p, _) = parse_alias("2001:db8::1~5060~t~x").unwrap();
        assert_eq!(p, peer(Proto::Tcp, "[2001:db8::1]:5060"));
        assert!(parse_alias("203.0.113.2~99999~u~x").is_none());
        let (p, _) = parse_alias("203.0.113.2~5060~s~x").unwrap();
        assert_eq!(p, peer(Proto::Tls, "203.0.113.2:5060"));
        assert!(parse_alias("203.0.113.2~5060~q~x").is_none());
        assert!(parse_alias("junk").is_none());
    }
}
