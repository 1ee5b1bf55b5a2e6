//! Digest authentication by the server (RFC 3261 22, RFC 7616, RFC 8760): SHA-256 offered beside
//! MD5, nonces that expire and are single-use per nonce-count, the digest `uri` checked against
//! the Request-URI, and a source that keeps failing answered more slowly each time.

use super::Proxy;
use crate::sip::digest::{Challenge, Credentials};
use crate::sip::endpoint::Incoming;
use crate::sip::headers::SipUri;
use crate::sip::message::{self as msg, MessageExt, Request};
use std::time::{Duration, Instant};

pub(super) const NONCE_LIFETIME: Duration = Duration::from_secs(300);

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
    /// A challenge header per configured algorithm, in the configured order, one nonce for all.
    pub(super) fn challenges(&self, stale: bool) -> Vec<String> {
        let nonce = msg::random_token(24);
        let mut nonces = self.nonces.lock().unwrap();
        let now = Instant::now();
        nonces.retain(|_, (t, _)| now.duration_since(*t) < NONCE_LIFETIME);
        nonces.insert(nonce.clone(), (now, 0));
        Challenge::offers(&self.config.domain, &nonce, &self.config.digest, stale)
    }

    /// Checks credentials of `user` in `header` (Authorization or Proxy-Authorization).
    pub(super) fn check(&self, req: &Request, header: &str, user: &str) -> AuthResult {
        let Some(password) = self.config.users.get(user) else {
            return AuthResult::Refused(403, "Unknown user");
        };
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
        if !same_uri(&creds.uri, req) {
            return AuthResult::Refused(400, "Digest uri does not match the Request-URI");
        }
        if !self.fresh(&creds) {
            return AuthResult::Challenge { stale: true };
        }
        if creds.username != user || !creds.verify(req.method.to_string().as_str(), password) {
            return AuthResult::Refused(403, "Wrong password");
        }
        AuthResult::Ok
    }

    /// A nonce we issued, not expired, with a nonce-count higher than any seen (no replay).
    fn fresh(&self, creds: &Credentials) -> bool {
        let mut nonces = self.nonces.lock().unwrap();
        match nonces.get_mut(&creds.nonce) {
            Some((issued, last_nc)) if issued.elapsed() < NONCE_LIFETIME => {
                let nc = creds.nonce_count();
                let ok = creds.qop.is_none() || nc > *last_nc;
                if ok {
                    *last_nc = nc;
                }
                ok
            }
            _ => false,
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
        for ch in self.challenges(stale) {
            msg::push(&mut r.headers, header, ch);
        }
        self.endpoint.respond(key, r);
    }

    pub(super) async fn refuse_slowly(&self, inc: &Incoming, code: u16, reason: &str) {
        let n = {
            let mut f = self.failures.lock().unwrap();
            let n = f.entry(inc.source.addr.ip()).or_insert(0);
            *n += 1;
            *n
        };
        // Guessing gets slower with every failure from the same source.
        tokio::time::sleep(Duration::from_millis(100 * u64::from(n.min(20)))).await;
        self.reply(inc, code, Some(reason));
    }

    /// Whether an out-of-dialog request may go on, and who sent it: calls from our own users
    /// must prove who they are (Proxy-Authorization); calls from elsewhere to our users are
    /// not ours to check, and go on unasserted. `None`: answered already, stop.
    pub(super) async fn authorize(&self, inc: &Incoming) -> Option<Caller> {
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
        match self.check(&inc.request, "Proxy-Authorization", user) {
            AuthResult::Ok => return Some(Caller::Ours(user.to_string())),
            AuthResult::Challenge { stale } => self.send_challenge(inc, 407, stale),
            AuthResult::Refused(400, why) => self.reply(inc, 400, Some(why)),
            AuthResult::Refused(code, why) => self.refuse_slowly(inc, code, why).await,
        }
        None
    }
}
