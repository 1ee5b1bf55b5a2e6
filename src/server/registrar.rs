//! The registrar (RFC 3261 10.3) and location lookup: several contacts per user, each with its
//! own expiry, `Contact: *` to clear, 423 with Min-Expires; a binding that points back at this
//! server is never a target (it could only make the request come back here).

use super::auth::AuthResult;
use super::nat::{behind, sent_by, Target};
use super::Proxy;
use crate::sip::endpoint::Incoming;
use crate::sip::headers::{NameAddr, SipUri};
use crate::sip::message::{self as msg, MessageExt};
use crate::sip::transport::Peer;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(super) struct Binding {
    pub contact: String,
    pub expires_at: Instant,
    /// The flow its REGISTER came on, when the contact cannot be reached as written (a NAT)
    /// or the client asked for outbound (RFC 5626): requests for it go down this flow.
    pub flow: Option<Peer>,
    /// `+sip.instance` and `reg-id` (RFC 5626): a new flow of the same pair replaces it.
    pub instance: Option<String>,
}

/// The instance and registration ID of an outbound Contact.
fn outbound_key(addr: &NameAddr) -> Option<String> {
    let instance = addr.params.get("+sip.instance")?;
    let reg_id = addr.params.get("reg-id")?;
    Some(format!("{instance} {reg_id}"))
}

impl Proxy {
    /// Every live contact of a user of ours, newest first, or the status to answer.
    pub(super) fn lookup(&self, ruri: &SipUri) -> Result<Vec<Target>, u16> {
        let user = ruri.user.clone().unwrap_or_default();
        let mut loc = self.location.lock().unwrap();
        let now = Instant::now();
        // Looked up, never created: requests to made-up users must not grow the table.
        let mut targets = Vec::new();
        if let Some(bindings) = loc.get_mut(&user) {
            bindings.retain(|b| b.expires_at > now);
            let had = !bindings.is_empty();
            targets = bindings
                .iter()
                .rev()
                .filter_map(|b| Some((SipUri::parse(&b.contact).ok()?, b.flow)))
                .filter(|(u, flow)| flow.is_some() || !self.is_us(u))
                .map(|(uri, flow)| Target { uri, flow })
                .collect();
            if !had {
                loc.remove(&user);
            }
        }
        // A user we do not have is as unavailable as one who is not signed in: a 404 would
        // tell a scanner which users exist.
        match targets.is_empty() {
            false => Ok(targets),
            true => Err(480),
        }
    }

    pub(super) async fn register(&self, inc: &Incoming, ruri: &SipUri) {
        let req = &inc.request;
        if !self.is_us(ruri) {
            return self.reply(inc, 403, Some("Not our domain"));
        }
        let Some(to) = req.to_addr().and_then(|a| SipUri::parse(&a.uri).ok()) else {
            return self.reply(inc, 400, Some("Bad To"));
        };
        let user = to.user.clone().unwrap_or_default();
        if !self.config.open {
            match self.check(inc, "Authorization", &user) {
                AuthResult::Ok => {}
                refused => return self.refuse(inc, refused, 401),
            }
        }
        if let Err((code, why)) = self.bind(inc, &user) {
            self.reply(inc, code, Some(why));
        }
    }

    /// Applies the REGISTER's contacts and answers 200 (or 423) itself; other refusals are
    /// returned for the caller to send.
    fn bind(&self, inc: &Incoming, user: &str) -> Result<(), (u16, &'static str)> {
        let req = &inc.request;
        let default_exp = req
            .header("Expires")
            .and_then(|e| e.parse::<u32>().ok())
            .unwrap_or(3600);
        let contacts = msg::get_all(&req.headers, "Contact");
        let now = Instant::now();
        let mut loc = self.location.lock().unwrap();
        if !loc.contains_key(user) && loc.len() >= self.config.max_users {
            return Err((503, "Registrar Full"));
        }
        let bindings = loc.entry(user.to_string()).or_default();
        bindings.retain(|b| b.expires_at > now);
        if contacts.iter().any(|c| c.trim() == "*") {
            if default_exp != 0 || contacts.len() != 1 {
                return Err((400, "Wildcard Contact needs Expires: 0"));
            }
            bindings.clear();
        }
        let mut wanted = Vec::new();
        for c in contacts.iter().filter(|c| c.trim() != "*") {
            let addr = NameAddr::parse(c).map_err(|_| (400, "Bad Contact"))?;
            let exp = addr
                .params
                .get("expires")
                .and_then(|e| e.parse::<u32>().ok())
                .unwrap_or(default_exp)
                .min(self.config.max_expires);
            if exp != 0 && exp < self.config.min_expires {
                drop(loc);
                self.interval_too_brief(inc);
                return Ok(());
            }
            wanted.push((addr.uri.clone(), exp, outbound_key(&addr)));
        }
        let outbound = wanted.iter().any(|w| w.2.is_some())
            && req.header("Supported").is_some_and(|v| {
                v.split(',')
                    .any(|o| o.trim().eq_ignore_ascii_case("outbound"))
            });
        let replaced = |b: &Binding, (c, _, key): &(String, u32, Option<String>)| {
            *c == b.contact || key.is_some() && *key == b.instance
        };
        let kept = bindings
            .iter()
            .filter(|b| !wanted.iter().any(|w| replaced(b, w)))
            .count();
        let added = wanted.iter().filter(|(_, exp, _)| *exp > 0).count();
        if kept + added > self.config.max_bindings {
            return Err((403, "Too Many Registered Contacts"));
        }
        for w in wanted {
            bindings.retain(|b| !replaced(b, &w));
            let (contact, exp, instance) = w;
            if exp > 0 {
                let flow = flow_of(&contact, inc, outbound);
                bindings.push(Binding {
                    contact,
                    expires_at: now + Duration::from_secs(exp.into()),
                    flow,
                    instance,
                });
            }
        }
        tracing::info!("{user}: {} binding(s)", bindings.len());
        let mut resp = msg::response_to(req, 200, None, Some(&msg::new_tag()));
        for b in bindings.iter() {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            msg::push(
                &mut resp.headers,
                "Contact",
                format!("<{}>;expires={left}", b.contact),
            );
        }
        if bindings.is_empty() {
            loc.remove(user); // an unregistered user takes no room
        }
        if outbound {
            msg::push(&mut resp.headers, "Require", "outbound");
        }
        if let Some(key) = &inc.key {
            self.endpoint.respond(key, resp);
        }
        Ok(())
    }

    fn interval_too_brief(&self, inc: &Incoming) {
        let Some(key) = &inc.key else { return };
        let mut r = msg::response_to(
            &inc.request,
            423,
            Some("Interval Too Brief"),
            Some(&msg::new_tag()),
        );
        msg::push(
            &mut r.headers,
            "Min-Expires",
            self.config.min_expires.to_string(),
        );
        self.endpoint.respond(key, r);
    }
}

/// The flow to reach a new binding by: the REGISTER's own when outbound was asked for or the
/// contact cannot be reached as written.
fn flow_of(contact: &str, inc: &Incoming, outbound: bool) -> Option<Peer> {
    let uri = SipUri::parse(contact).ok()?;
    let own = sent_by(inc.request.top_via().as_ref());
    (outbound || behind(&uri, own, inc.source)).then_some(inc.source)
}
