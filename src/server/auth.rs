//! Digest authentication by the server (RFC 3261 22, RFC 7616, RFC 8760): SHA-256 offered beside
//! MD5, qop=auth required, nonces bound to the client and single-use per nonce-count (see
//! `nonce`), the digest `uri` checked against the Request-URI, and guessing held back (see
//! `guard`). A user we do not have is challenged and refused exactly as one we have with a
//! wrong password (the same statuses, headers and work), so nobody can list our users.

use super::guard::{Guess, Service, Verdict};
use super::Proxy;
use crate::sip::digest::{Challenge, Credentials};
use crate::sip::endpoint::Incoming;
use crate::sip::headers::SipUri;
use crate::sip::message::{self as msg, MessageExt, Request};
use std::time::Instant;

/// Who sent a request the proxy lets through.
pub(super) enum Caller {
    /// One of our users, who proved it: the proxy asserts this identity.
    Ours(String),
    /// Someone we do not vouch for (another domain's user, or anyone on an open server).
    Unchecked,
}

pub(super) enum AuthResult {
    Ok,
    Challenge { stale: bool },
    Refused(u16, &'static str),
}

/// What every refused guess is answered: a wrong password, a user we do not have, a guess
/// held back.
const REFUSED: AuthResult = AuthResult::Refused(403, "Forbidden");

/// Whether the digest `uri` names the Request-URI (RFC 7616 3.4.6): the same URI, compared
/// as URIs (case of scheme and host, parameter order) rather than as text.
fn same_uri(digest_uri: &str, req: &Request) -> bool {
    let ruri = req.uri.to_string();
    if digest_uri == ruri {
        return true;
    }
    match (SipUri::parse(digest_uri), SipUri::parse(&ruri)) {
        (Ok(a), Ok(b)) => {
            a.scheme == b.scheme
                && a.user == b.user
                && a.host.eq_ignore_ascii_case(&b.host)
                && a.port == b.port
        }
        _ => false,
    }
}

impl Proxy {
    /// A challenge header per configured algorithm, in the configured order, one nonce for
    /// all, bound to the client.
    pub(super) fn challenges(&self, inc: &Incoming, stale: bool) -> Vec<String> {
        let nonce = self.nonces.issue(inc.source.addr.ip(), Instant::now());
        Challenge::offers(&self.config.domain, &nonce, &self.config.digest, stale)
    }

    /// Checks credentials of `user` in `header` (Authorization or Proxy-Authorization).
    pub(super) fn check(&self, inc: &Incoming, header: &str, user: &str) -> AuthResult {
        let req = &inc.request;
        let Some(creds) = msg::get_lines(&req.headers, header)
            .iter()
            .find_map(|v| Credentials::parse(v).filter(|c| c.realm == self.config.domain))
        else {
            return AuthResult::Challenge { stale: false };
        };
        if !self.config.digest.contains(&creds.algorithm) {
            // An algorithm the admin turned off: ask again with the ones offered.
            return AuthResult::Challenge { stale: false };
        }
        if creds.qop.is_none() {
            // RFC 2069's digest has no nonce-count: it could be replayed.
            return AuthResult::Refused(400, "Digest needs qop=auth");
        }
        if !same_uri(&creds.uri, req) {
            return AuthResult::Refused(400, "Digest uri does not match the Request-URI");
        }
        let method = req.method.to_string();
        let guess = Guess {
            creds: &creds,
            method: &method,
            user,
            password: self.config.users.get(user).map(String::as_str),
            source: inc.source.addr.ip(),
        };
        match self.guard.judge(&self.nonces, Service::Sip, guess) {
            Verdict::Right => AuthResult::Ok,
            Verdict::Stale => AuthResult::Challenge { stale: true },
            Verdict::Wrong => REFUSED,
        }
    }

    /// Sends a 401/407 with our challenges.
    pub(super) fn send_challenge(&self, inc: &Incoming, code: u16, stale: bool) {
        let Some(key) = &inc.key else { return };
        let header = if code == 407 {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        let mut r = msg::response_to(&inc.request, code, None, Some(&msg::new_tag()));
        for ch in self.challenges(inc, stale) {
            msg::push(&mut r.headers, header, ch);
        }
        self.endpoint.respond(key, r);
    }

    /// Answers what `check` found that is not a pass.
    pub(super) fn refuse(&self, inc: &Incoming, result: AuthResult, challenge: u16) {
        match result {
            AuthResult::Ok => {}
            AuthResult::Challenge { stale } => self.send_challenge(inc, challenge, stale),
            AuthResult::Refused(code, why) => self.reply(inc, code, Some(why)),
        }
    }

    /// Whether an out-of-dialog request may go on, and who sent it: calls from our own users
    /// must prove who they are (Proxy-Authorization); calls from elsewhere to our users are
    /// not ours to check, and go on unasserted. `None`: answered already, stop.
    pub(super) fn authorize(&self, inc: &Incoming) -> Option<Caller> {
        if self.config.open {
            return Some(Caller::Unchecked);
        }
        let Some(from) = inc
            .request
            .addr_from()
            .and_then(|a| SipUri::parse(&a.uri).ok())
        else {
            self.reply(inc, 400, Some("Bad From"));
            return None;
        };
        if !self.is_us(&from) {
            return Some(Caller::Unchecked);
        }
        let user = from.user.as_deref().unwrap_or("");
        match self.check(inc, "Proxy-Authorization", user) {
            AuthResult::Ok => Some(Caller::Ours(user.to_string())),
            refused => {
                self.refuse(inc, refused, 407);
                None
            }
        }
    }
}
