//! Session timers (RFC 4028): a call whose other side vanished (a crash, a lost network, a
//! NAT that forgot it) is ended instead of left open. Both sides agree on an interval; the
//! refresher re-INVITEs at half of it, and the other side ends the call with BYE when no
//! refresh came by the interval less a third (at most 32 s).

use super::{CallId, Core, Ctx};
use crate::sdp;
use crate::sip::message::{self as msg, MessageExt, Request, Response};
use std::time::{Duration, Instant};

/// The interval we ask for, and the shortest we take (RFC 4028 4: 1800 s and 90 s).
pub const DEFAULT_INTERVAL: u32 = 1800;
pub const DEFAULT_MIN_SE: u32 = 90;

/// Who refreshes: the caller (`uac`) or the callee (`uas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A call's session timer. Who refreshes is kept as us or them: `refresher=uac` or `uas`
/// names a role in one transaction (RFC 4028 4), so it is written for each request or answer
/// anew, never copied from the first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionTimer {
    pub interval: u32,
    /// Whether we are the refresher.
    pub ours: bool,
    /// When to refresh (ours) or give up (theirs).
    pub due: Instant,
}

impl SessionTimer {
    pub fn new(interval: u32, ours: bool, now: Instant) -> SessionTimer {
        let mut t = SessionTimer {
            interval,
            ours,
            due: now,
        };
        t.refreshed(now);
        t
    }

    /// A refresh went through (either way): the interval starts again.
    pub fn refreshed(&mut self, now: Instant) {
        let interval = Duration::from_secs(self.interval.into());
        let slack = (interval / 3).min(Duration::from_secs(32));
        self.due = match self.ours {
            true => now + interval / 2,
            false => now + interval - slack,
        };
    }

    /// The Session-Expires header value in a request of ours (`as_uac`) or in our answer.
    pub fn header(&self, as_uac: bool) -> String {
        let refresher = match self.ours == as_uac {
            true => Refresher::Uac,
            false => Refresher::Uas,
        };
        format!("{};refresher={}", self.interval, refresher.as_str())
    }
}

/// `Session-Expires: 1800;refresher=uac` (or its compact `x`): the interval and refresher.
pub(crate) fn parse(value: &str) -> Option<(u32, Option<Refresher>)> {
    let mut parts = value.split(';');
    let secs = parts.next()?.trim().parse().ok()?;
    let refresher = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("refresher"))
        .and_then(|(_, v)| match v.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Uac),
            "uas" => Some(Refresher::Uas),
            _ => None,
        });
    Some((secs, refresher))
}

fn session_expires(m: &impl MessageExt) -> Option<(u32, Option<Refresher>)> {
    m.header("Session-Expires")
        .or_else(|| m.header("x"))
        .and_then(|v| parse(&v))
}

fn supports_timer(req: &Request) -> bool {
    msg::get_all(&req.headers, "Supported")
        .iter()
        .flat_map(|v| v.split(','))
        .any(|o| o.trim().eq_ignore_ascii_case("timer"))
}

impl Core {
    /// What our INVITE asks for (RFC 4028 7.1).
    pub(super) fn ask_session_timer(&self, req: &mut Request) {
        msg::push(&mut req.headers, "Supported", "timer");
        let (interval, min) = (self.config.session_interval, self.config.min_se);
        msg::push(&mut req.headers, "Session-Expires", interval.to_string());
        // Absent means 90 s (RFC 4028 5); every byte counts under UDP's 1300 (RFC 3261 18.1.1).
        if min != DEFAULT_MIN_SE {
            msg::push(&mut req.headers, "Min-SE", min.to_string());
        }
    }

    /// An INVITE asking for an interval shorter than we take: 422 with our Min-SE (RFC 4028 8.1).
    pub(super) fn too_brief(&self, req: &Request) -> Option<Response> {
        let (secs, _) = session_expires(req)?;
        if secs >= self.config.min_se {
            return None;
        }
        let mut r = self.reply_for(req, 422);
        msg::push(&mut r.headers, "Min-SE", self.config.min_se.to_string());
        Some(r)
    }

    /// The callee's side (RFC 4028 9): the interval asked for (or ours), the refresher asked
    /// for (else the caller when it supports timers, else us), written into our 2xx.
    pub(super) fn grant_session_timer(&mut self, id: CallId, ok: &mut Response, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let asked = session_expires(&c.invite);
        let interval = asked.map_or(self.config.session_interval, |(s, _)| s);
        let refresher = match asked.and_then(|(_, r)| r) {
            Some(r) => r,
            None if supports_timer(&c.invite) => Refresher::Uac,
            None => Refresher::Uas,
        };
        let t = SessionTimer::new(interval, refresher == Refresher::Uas, now);
        msg::push(&mut ok.headers, "Session-Expires", t.header(false));
        // RFC 4028 9: a UAC that supports timers is told they are in use, whoever refreshes.
        if supports_timer(&c.invite) {
            msg::push(&mut ok.headers, "Require", "timer");
        }
        c.session_timer = Some(t);
    }

    /// The caller's side: what the callee's 2xx says (none: the callee keeps no timer).
    pub(super) fn accept_session_timer(&mut self, id: CallId, ok: &Response, now: Instant) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.session_timer = session_expires(ok).map(|(secs, r)| {
            SessionTimer::new(secs, r.unwrap_or(Refresher::Uac) == Refresher::Uac, now)
        });
    }

    /// A refresh went through: a re-INVITE answered 2xx, either way.
    pub(super) fn session_refreshed(&mut self, id: CallId) {
        if let Some(t) = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.session_timer.as_mut())
        {
            t.refreshed(Instant::now());
        }
    }

    /// The Session-Expires our refresh re-INVITE carries.
    pub(super) fn session_header(&self, id: CallId) -> Option<String> {
        let t = self.calls.get(&id)?.session_timer?;
        Some(t.header(true))
    }

    /// Their re-INVITE refreshes the session (RFC 4028 10) and may change its interval and
    /// refresher; our 2xx says what now holds, with `Require: timer` for a UAC that has them.
    pub(super) fn renew_session_timer(&mut self, id: CallId, req: &Request, ok: &mut Response) {
        let min_se = self.config.min_se;
        let Some(t) = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.session_timer.as_mut())
        else {
            return;
        };
        if let Some((secs, refresher)) = session_expires(req) {
            t.interval = secs.max(min_se);
            t.ours = match refresher {
                Some(r) => r == Refresher::Uas,
                None => t.ours,
            };
        }
        t.refreshed(Instant::now());
        msg::push(&mut ok.headers, "Session-Expires", t.header(false));
        if supports_timer(req) {
            msg::push(&mut ok.headers, "Require", "timer");
        }
    }

    pub(super) fn next_session_timer(&self) -> Option<Instant> {
        self.calls
            .values()
            .filter_map(|c| c.session_timer.map(|t| t.due))
            .min()
    }

    /// Refreshes due go out; a call whose refresh never came is ended.
    pub(super) async fn session_timers(&mut self, now: Instant) {
        let due: Vec<(CallId, bool)> = self
            .calls
            .iter()
            .filter_map(|(id, c)| {
                c.session_timer
                    .filter(|t| t.due <= now)
                    .map(|t| (*id, t.ours))
            })
            .collect();
        for (id, ours) in due {
            match ours {
                true => self.refresh_session(id).await,
                false => {
                    tracing::info!("call {id}: no session refresh came; ending it");
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.session_timer = None;
                    }
                    self.dialog_gone(id, 408, SESSION_EXPIRED).await;
                }
            }
        }
    }

    /// A refresh re-INVITE with the SDP as it stands; with another re-INVITE under way, that
    /// one's answer refreshes, so this waits a second.
    pub(super) async fn refresh_session(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let busy = c.reinvite.is_some() || c.reinvite_retry_at.is_some() || c.reinvite_unacked;
        if busy {
            if let Some(t) = c.session_timer.as_mut() {
                t.due = Instant::now() + Duration::from_secs(1);
            }
            if c.reoffer_owed && c.reinvite_retry_at.is_none() {
                // Asked again in a second, by the glare retry, until the other one is done.
                c.reinvite_retry_at = Some(Instant::now() + Duration::from_secs(1));
            }
            return;
        }
        c.reoffer_owed = false;
        let hold = c.local_hold;
        let offer = match &c.local_sdp {
            Some(prev) => sdp::reoffer(prev, &c.media, hold),
            None => sdp::offer(&c.media, 1, hold),
        };
        let body = offer.to_string();
        c.local_sdp = Some(offer);
        if let Some(t) = c.session_timer.as_mut() {
            // Until it is answered: a refresh that never is ends the call by its 408.
            t.due = Instant::now() + Duration::from_secs(u64::from(t.interval));
        }
        let expires = self.session_header(id);
        let req = self
            .send_in_dialog(id, Ctx::ReInvite(id), |req| {
                msg::push(&mut req.headers, "Content-Type", "application/sdp");
                msg::push(&mut req.headers, "Supported", "timer");
                if let Some(e) = expires {
                    msg::push(&mut req.headers, "Session-Expires", e);
                }
                req.body = body.into_bytes();
            })
            .await;
        if let (Some(request), Some(c)) = (req, self.calls.get_mut(&id)) {
            c.reinvite = Some(super::reinvite::Pending::refresh(request, hold));
        }
    }
}

/// Our INVITE again after a 422 (RFC 4028 7.4): with the interval the other side's Min-SE
/// asks for, once; `None` when it asks for nothing longer than we already did.
pub(crate) fn after_too_brief(invite: &Request, resp: &Response) -> Option<Request> {
    let min: u32 = resp
        .header("Min-SE")?
        .split(';')
        .next()?
        .trim()
        .parse()
        .ok()?;
    let asked = session_expires(invite).map_or(0, |(s, _)| s);
    if min <= asked {
        return None;
    }
    let mut again = invite.clone();
    msg::set(&mut again.headers, "Session-Expires", min.to_string());
    msg::set(&mut again.headers, "Min-SE", min.to_string());
    let n = invite.cseq().0 + 1;
    msg::set(&mut again.headers, "CSeq", format!("{n} INVITE"));
    Some(again)
}

/// The reason phrase a call ended by its session timer carries.
pub(crate) const SESSION_EXPIRED: &str = "Session Timer Expired";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_is_read_with_its_refresher() {
        assert_eq!(
            parse("1800;refresher=uac"),
            Some((1800, Some(Refresher::Uac)))
        );
        assert_eq!(
            parse(" 90 ; refresher = UAS"),
            Some((90, Some(Refresher::Uas)))
        );
        assert_eq!(parse("600"), Some((600, None)));
        assert_eq!(parse("soon"), None);
    }

    #[test]
    fn the_refresher_refreshes_at_half_and_the_other_gives_up_before_the_end() {
        let now = Instant::now();
        let ours = SessionTimer::new(1800, true, now);
        assert_eq!(ours.due, now + Duration::from_secs(900));
        let theirs = SessionTimer::new(1800, false, now);
        assert_eq!(theirs.due, now + Duration::from_secs(1800 - 32));
        let short = SessionTimer::new(90, false, now);
        assert_eq!(short.due, now + Duration::from_secs(60));
    }

    /// `refresher=` names a role in the transaction at hand: the same refresher is `uac` in
    /// its own re-INVITE and `uas` in the answer to the other side's.
    #[test]
    fn the_refresher_is_named_by_its_role_in_each_transaction() {
        let now = Instant::now();
        let ours = SessionTimer::new(90, true, now);
        assert_eq!(ours.header(true), "90;refresher=uac");
        assert_eq!(ours.header(false), "90;refresher=uas");
        let theirs = SessionTimer::new(90, false, now);
        assert_eq!(theirs.header(true), "90;refresher=uas");
        assert_eq!(theirs.header(false), "90;refresher=uac");
    }
}
