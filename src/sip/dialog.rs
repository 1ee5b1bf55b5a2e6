//! Dialog state (RFC 3261 section 12): Call-ID, tags, CSeq, remote target and route set, and the
//! in-dialog requests (ACK, BYE, re-INVITE) built from them.

use super::headers::{NameAddr, SipUri};
use super::message::{self as msg, Headers, MessageExt, Method, Request, Response, Version};

#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our From (UAC) or To (UAS) value, with our tag.
    pub local: String,
    pub remote: String,
    pub local_tag: String,
    pub remote_tag: String,
    pub local_cseq: u32,
    pub remote_target: String,
    pub route_set: Vec<String>,
}

impl Dialog {
    /// The caller's side, from our INVITE and the 2xx (12.1.2): routes are reversed.
    pub fn uac(invite: &Request, resp: &Response) -> Dialog {
        let mut route_set = msg::get_all(&resp.headers, "Record-Route");
        route_set.reverse();
        Dialog {
            call_id: invite.call_id(),
            local: invite.header("From").unwrap_or_default(),
            remote: resp.header("To").unwrap_or_default(),
            local_tag: invite.tag_from().unwrap_or_default(),
            remote_tag: resp.to_tag().unwrap_or_default(),
            local_cseq: invite.cseq().0,
            remote_target: resp
                .contact()
                .map(|c| c.uri)
                .unwrap_or_else(|| invite.uri.to_string()),
            route_set,
        }
    }

    /// The caller's side of a dialog known only from its 2xx (a late answer for a call we no
    /// longer hold): the response repeats our From, Call-ID and CSeq.
    pub fn from_2xx(resp: &Response) -> Option<Dialog> {
        let mut route_set = msg::get_all(&resp.headers, "Record-Route");
        route_set.reverse();
        Some(Dialog {
            call_id: resp.call_id(),
            local: resp.header("From")?,
            remote: resp.header("To")?,
            local_tag: resp.tag_from()?,
            remote_tag: resp.to_tag()?,
            local_cseq: resp.cseq().0,
            remote_target: resp.contact()?.uri,
            route_set,
        })
    }

    /// The callee's side, from the INVITE (12.1.1): routes in order.
    pub fn uas(invite: &Request, local_tag: &str) -> Dialog {
        let to = invite.header("To").unwrap_or_default();
        Dialog {
            call_id: invite.call_id(),
            local: format!("{to};tag={local_tag}"),
            remote: invite.header("From").unwrap_or_default(),
            local_tag: local_tag.to_string(),
            remote_tag: invite.tag_from().unwrap_or_default(),
            local_cseq: rand::random::<u16>() as u32,
            remote_target: invite.contact().map(|c| c.uri).unwrap_or_default(),
            route_set: msg::get_all(&invite.headers, "Record-Route"),
        }
    }

    /// Whether a request belongs to this dialog (its To tag is ours, its From tag theirs).
    pub fn matches(&self, req: &Request) -> bool {
        req.call_id() == self.call_id
            && req.to_tag().as_deref() == Some(&self.local_tag)
            && req.tag_from().unwrap_or_default() == self.remote_tag
    }

    /// Where in-dialog requests go first: the top route, else the remote target.
    pub fn next_hop(&self) -> Option<SipUri> {
        match self.route_set.first() {
            Some(r) => NameAddr::parse(r)
                .ok()
                .and_then(|a| SipUri::parse(&a.uri).ok()),
            None => SipUri::parse(&self.remote_target).ok(),
        }
    }

    /// A new in-dialog request; `cseq` is taken from the dialog unless given (ACK reuses it).
    pub fn request(&mut self, method: Method, cseq: Option<u32>, contact: &str) -> Request {
        let n = match cseq {
            Some(n) => n,
            None => {
                self.local_cseq += 1;
                self.local_cseq
            }
        };
        let mut h = Headers::default();
        msg::push(&mut h, "From", self.local.clone());
        msg::push(&mut h, "To", self.remote.clone());
        msg::push(&mut h, "Call-ID", self.call_id.clone());
        msg::push(&mut h, "CSeq", format!("{n} {method}"));
        for r in &self.route_set {
            msg::push(&mut h, "Route", r.clone());
        }
        msg::push(&mut h, "Contact", contact.to_string());
        // A target that does not parse was refused when the dialog was made (see `uac`/`uas`);
        // never fall back to some default host.
        let uri = msg::parse_uri(&self.remote_target).unwrap_or_else(|_| {
            let host = rsip::Domain::new("invalid.invalid".to_string());
            rsip::Uri {
                host_with_port: host.into(),
                ..Default::default()
            }
        });
        Request {
            method,
            uri,
            version: Version::V2,
            headers: h,
            body: Vec::new(),
        }
    }
}
