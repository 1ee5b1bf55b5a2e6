//! Routing decisions of the proxy core (RFC 3261 16.3-16.4, 16.6 step 8; RFC 5393): our own
//! Route entries, strict-routing previous hops, the Record-Route token that proves a dialog was
//! routed by us (so a forged To tag and Route cannot turn us into a relay), and the loop hash.

use crate::sip::headers::{NameAddr, SipUri};
use crate::sip::message::{self as msg, MessageExt, Request};
use sha2::{Digest, Sha256};

/// Keyed hashes only this server can make: it picks the key at start.
#[derive(Clone)]
pub struct Secret([u8; 16]);

impl Secret {
    pub fn random() -> Secret {
        Secret(rand::random())
    }

    /// A short keyed digest of `parts` (hex), for tokens in URIs and branches.
    pub fn token(&self, parts: &[&str]) -> String {
        let mut h = Sha256::new();
        h.update(self.0);
        for p in parts {
            h.update((p.len() as u32).to_be_bytes());
            h.update(p.as_bytes());
        }
        crate::msrp::digest::hex(&h.finalize()[..8])
    }

    /// The Record-Route parameter value for a dialog: bound to its Call-ID.
    pub fn dialog_token(&self, call_id: &str) -> String {
        self.token(&["rr", call_id])
    }
}

/// The Record-Route URI parameter carrying the dialog token.
pub const TOKEN_PARAM: &str = "ptk";

/// What preprocessing the Route set of a request found (16.4).
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// Our Route entry (or our Record-Route as the Request-URI) with a valid token: the dialog
    /// was record-routed here, so the request may go on to the next hop.
    ByUs,
    /// It named us, but without a token we made: someone wrote that Route by hand.
    Forged,
    /// Nothing of ours in the Route set.
    NotUs,
}

/// Removes our own entry from the route set (loose routing) or undoes a strict-routing
/// previous hop (the Request-URI is our Record-Route: the last Route becomes the
/// Request-URI), and says whether the request was routed by us.
pub fn preprocess(req: &mut Request, is_us: impl Fn(&SipUri) -> bool, secret: &Secret) -> Routed {
    let token = secret.dialog_token(&req.call_id());
    let token_ok = |u: &SipUri| u.params.get(TOKEN_PARAM) == Some(token.as_str());
    let ruri = SipUri::parse(&req.uri.to_string()).ok();
    if let Some(ruri) = ruri.filter(|u| is_us(u) && u.user.is_none() && u.params.has("lr")) {
        // A strict router before us put our Record-Route into the Request-URI (16.4).
        let routes = msg::get_all(&req.headers, "Route");
        let Some(last) = routes.last().and_then(|r| NameAddr::parse(r).ok()) else {
            return Routed::Forged;
        };
        let Ok(next) = SipUri::parse(&last.uri) else {
            return Routed::Forged;
        };
        req.uri = msg::request_uri(&next);
        msg::remove(&mut req.headers, "Route");
        for r in &routes[..routes.len() - 1] {
            msg::push(&mut req.headers, "Route", r.clone());
        }
        return if token_ok(&ruri) {
            Routed::ByUs
        } else {
            Routed::Forged
        };
    }
    let top = msg::get_all(&req.headers, "Route")
        .first()
        .and_then(|r| NameAddr::parse(r).ok())
        .and_then(|a| SipUri::parse(&a.uri).ok());
    match top {
        Some(u) if is_us(&u) => {
            msg::pop_first(&mut req.headers, "Route");
            if !token_ok(&u) {
                return Routed::Forged;
            }
            // Our second entry of a double Record-Route (RFC 5658) goes too.
            let next = msg::get_all(&req.headers, "Route")
                .first()
                .and_then(|r| NameAddr::parse(r).ok())
                .and_then(|a| SipUri::parse(&a.uri).ok());
            if next.is_some_and(|n| is_us(&n) && token_ok(&n)) {
                msg::pop_first(&mut req.headers, "Route");
            }
            Routed::ByUs
        }
        _ => Routed::NotUs,
    }
}

/// The loop-detection part of our branch (16.6 step 8, RFC 5393 4.2): a hash of what
/// identifies the request as it reached us. The topmost Via is left out: it is the previous
/// hop's, which differs on every pass of a loop and would hide it.
pub fn loop_hash(req: &Request, secret: &Secret) -> String {
    let ruri = req.uri.to_string();
    let routes = msg::get_all(&req.headers, "Route").join(",");
    let pr = msg::get_lines(&req.headers, "Proxy-Require").join(",");
    let pa = msg::get_lines(&req.headers, "Proxy-Authorization").join(",");
    secret.token(&[
        "loop",
        &ruri,
        &req.tag_from().unwrap_or_default(),
        &req.to_tag().unwrap_or_default(),
        &req.call_id(),
        &req.cseq().0.to_string(),
        &routes,
        &pr,
        &pa,
    ])
}

/// Our branches for forwarding `req`: unique, with the loop hash after the last dot.
pub fn branches(req: &Request, secret: &Secret) -> impl Fn(usize) -> String {
    let (unique, hash) = (msg::new_branch(), loop_hash(req, secret));
    move |i| format!("{unique}{i}.{hash}")
}

/// 16.3 step 4: a Via of ours whose loop part equals this request's hash means the request
/// came back unchanged: a loop, not a spiral.
pub fn looped(req: &Request, secret: &Secret, is_ours: impl Fn(&str) -> bool) -> bool {
    let ours: Vec<String> = msg::get_all(&req.headers, "Via")
        .iter()
        .skip(1)
        .filter_map(|v| crate::sip::headers::Via::parse(v).ok())
        .filter(|v| is_ours(&v.sent_by()))
        .filter_map(|v| Some(v.branch()?.rsplit_once('.')?.1.to_string()))
        .collect();
    // Most requests passed no proxy of ours before: no hash to make.
    if ours.is_empty() {
        return false;
    }
    let hash = loop_hash(req, secret);
    ours.contains(&hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{decode, Inbound};

    fn req(text: &str) -> Request {
        match decode(text.as_bytes()) {
            Inbound::Request(r) => r,
            other => panic!("{other:?}"),
        }
    }

    const HEAD: &str = "Via: SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKa\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\n";

    fn us(u: &SipUri) -> bool {
        u.host == "127.0.0.1" && u.port == Some(5060)
    }

    #[test]
    fn loose_route_with_our_token_is_ours_and_popped() {
        let s = Secret::random();
        let t = s.dialog_token("c1");
        let mut r = req(&format!("BYE sip:b@127.0.0.5 SIP/2.0\r\nRoute: <sip:127.0.0.1:5060;lr;ptk={t}>, <sip:127.0.0.7;lr>\r\n{HEAD}\r\n"));
        assert_eq!(preprocess(&mut r, us, &s), Routed::ByUs);
        assert_eq!(
            msg::get_all(&r.headers, "Route"),
            vec!["<sip:127.0.0.7;lr>"]
        );
        let mut forged = req(&format!(
            "BYE sip:b@127.0.0.5 SIP/2.0\r\nRoute: <sip:127.0.0.1:5060;lr>\r\n{HEAD}\r\n"
        ));
        assert_eq!(preprocess(&mut forged, us, &s), Routed::Forged);
        let mut other = req(&format!("BYE sip:b@127.0.0.5 SIP/2.0\r\n{HEAD}\r\n"));
        assert_eq!(preprocess(&mut other, us, &s), Routed::NotUs);
    }

    #[test]
    fn strict_routing_previous_hop_is_undone() {
        let s = Secret::random();
        let t = s.dialog_token("c1");
        let mut r = req(&format!("BYE sip:127.0.0.1:5060;lr;ptk={t} SIP/2.0\r\nRoute: <sip:127.0.0.7;lr>, <sip:b@127.0.0.5>\r\n{HEAD}\r\n"));
        assert_eq!(preprocess(&mut r, us, &s), Routed::ByUs);
        assert_eq!(r.uri.to_string(), "sip:b@127.0.0.5");
        assert_eq!(
            msg::get_all(&r.headers, "Route"),
            vec!["<sip:127.0.0.7;lr>"]
        );
    }

    #[test]
    fn loop_is_told_from_spiral() {
        let s = Secret::random();
        let first = req(&format!("BYE sip:b@x SIP/2.0\r\n{HEAD}\r\n"));
        let b = branches(&first, &s)(0);
        let ours = |sb: &str| sb == "127.0.0.1:5060";
        let back = |uri: &str| {
            req(&format!("BYE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.8;branch=z9hG4bKq\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={b}\r\n{HEAD}\r\n"))
        };
        assert!(looped(&back("sip:b@x"), &s, ours));
        assert!(!looped(&back("sip:b@elsewhere"), &s, ours));
    }
}
