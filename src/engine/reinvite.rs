//! Re-INVITEs (RFC 3261 14, RFC 3264 8): hold and resume as offers of our own, one INVITE at a
//! time in either direction, glare answered with 491 and our own retried after the 14.1 wait,
//! a re-INVITE too early answered 500 with Retry-After, digest challenges answered, and a 481
//! or 408 taken as the end of the dialog (12.2.1.2).

use super::{CallId, CallState, Core, Ctx, Direction, Event};
use crate::sdp::{self, Session};
use crate::sip::endpoint::Incoming;
use crate::sip::message::{self as msg, MessageExt, Request, Response};
use rand::Rng;
use std::time::{Duration, Instant};

/// Digest answers tried for one in-dialog request before giving up.
const MAX_AUTH_TRIES: u8 = 2;

/// A re-INVITE of ours still waiting for its final response.
pub(crate) struct Pending {
    pub(super) request: Request,
    pub(super) hold: bool,
    auth_tries: u8,
}

impl Pending {
    /// A session refresh (RFC 4028): the hold state as it is.
    pub(super) fn refresh(request: Request, hold: bool) -> Pending {
        Pending {
            request,
            hold,
            auth_tries: 0,
        }
    }
}

/// RFC 3261 14.1: after a 491 the Call-ID's owner waits 2.1-4 s, the other side 0-2 s, in
/// units of 10 ms, so the two retries do not collide again.
fn glare_wait(owner: bool) -> Duration {
    let units = match owner {
        true => rand::thread_rng().gen_range(210..=400),
        false => rand::thread_rng().gen_range(0..=200),
    };
    Duration::from_millis(units * 10)
}

impl Core {
    pub(super) async fn hold(&mut self, id: CallId, on: bool) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.want_hold = on;
        self.offer_hold(id).await;
    }

    /// Sends the re-INVITE that brings our hold state to what the user wants, unless an
    /// INVITE is under way in either direction (14.1): then it goes when that one ends.
    pub(super) async fn offer_hold(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let busy = c.reinvite.is_some() || c.reinvite_retry_at.is_some() || c.reinvite_unacked;
        if c.state != CallState::Connected || busy || c.local_hold == c.want_hold {
            return;
        }
        let on = c.want_hold;
        let offer = match &c.local_sdp {
            Some(prev) => sdp::reoffer(prev, &c.media, on),
            None => sdp::offer(&c.media, 1, on),
        };
        let body = offer.to_string();
        c.local_sdp = Some(offer);
        let req = self
            .send_in_dialog(id, Ctx::ReInvite(id), |req| {
                msg::push(&mut req.headers, "Content-Type", "application/sdp");
                req.body = body.into_bytes();
            })
            .await;
        match (req, self.calls.get_mut(&id)) {
            (Some(request), Some(c)) => {
                c.reinvite = Some(Pending {
                    request,
                    hold: on,
                    auth_tries: 0,
                })
            }
            _ => {
                let message = "Cannot reach the other side to change hold".to_string();
                self.emit(Event::Error { message }).await;
            }
        }
    }

    pub(super) async fn reinvite_response(&mut self, id: CallId, resp: Response) {
        let code = msg::code_of(&resp);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(p) = c.reinvite.as_ref() else { return };
        if code < 200 || resp.cseq().0 != p.request.cseq().0 {
            return;
        }
        let (on, owner) = (p.hold, c.direction == Direction::Outgoing);
        match code {
            200..=299 => {
                c.reinvite = None;
                let answer = std::str::from_utf8(&resp.body).ok();
                let answer = answer.and_then(|b| Session::parse(b).ok());
                let theirs = answer.as_ref().map(sdp::audio_direction);
                if let Some(a) = &answer {
                    c.negotiated = Some(sdp::accept_answer(
                        a,
                        on,
                        c.media.sdes.as_ref(),
                        c.media.dtls.as_ref(),
                    ));
                }
                self.send_ack(id, Some(resp.cseq().0)).await;
                self.session_refreshed(id);
                self.hold_changed(id, on, theirs).await;
                self.start_media(id).await;
                self.offer_hold(id).await;
            }
            491 => {
                c.reinvite = None;
                c.reinvite_retry_at = Some(Instant::now() + glare_wait(owner));
                tracing::info!("call {id}: re-INVITE crossed the other side's; retrying");
            }
            401 | 407 if self.retry_with_credentials(id, &resp).await => {}
            408 | 481 => self.dialog_gone(id, code, &msg::reason_of(&resp)).await,
            _ => self.reinvite_failed(id, on, &resp).await,
        }
    }

    /// The other side refused our hold change: the call stays as it was, and the user is told.
    async fn reinvite_failed(&mut self, id: CallId, on: bool, resp: &Response) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.reinvite = None;
            c.want_hold = c.local_hold;
        }
        let what = match on {
            true => "put the call on hold",
            false => "resume the call",
        };
        let why = super::reason::line(msg::code_of(resp), &msg::reason_of(resp));
        let message = format!("Could not {what}: {why}");
        self.emit(Event::Error { message }).await;
    }

    /// Our hold is now `on`; the answer's audio direction `theirs` says whether they hold us
    /// (RFC 3264 8.4): `inactive`, or `sendonly` to our `sendrecv`.
    async fn hold_changed(&mut self, id: CallId, on: bool, theirs: Option<&'static str>) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let remote = match (theirs, on) {
            (Some(d), false) => matches!(d, "sendonly" | "inactive"),
            (Some(d), true) => d == "inactive",
            (None, _) => c.remote_hold,
        };
        let changed = c.local_hold != on || c.remote_hold != remote;
        (c.local_hold, c.remote_hold) = (on, remote);
        if changed {
            let ev = Event::Hold {
                call: id,
                local: on,
                remote,
            };
            self.emit(ev).await;
        }
    }

    /// Answers a 401/407 to our pending re-INVITE with credentials, as a new transaction.
    async fn retry_with_credentials(&mut self, id: CallId, resp: &Response) -> bool {
        let Some(p) = self.calls.get_mut(&id).and_then(|c| c.reinvite.as_mut()) else {
            return false;
        };
        if p.auth_tries >= MAX_AUTH_TRIES {
            return false;
        }
        p.auth_tries += 1;
        let request = p.request.clone();
        let Some(req) = self.with_credentials(id, request, resp) else {
            return false;
        };
        if let Some(p) = self.calls.get_mut(&id).and_then(|c| c.reinvite.as_mut()) {
            p.request = req.clone();
        }
        match self.dialog_peer(id).await {
            Some(peer) => {
                self.send(Ctx::ReInvite(id), req, peer);
                true
            }
            None => false,
        }
    }

    /// A 481 or 408 to an in-dialog request: the other side no longer has the call.
    pub(super) async fn dialog_gone(&mut self, id: CallId, code: u16, phrase: &str) {
        if code == 408 {
            // It may still be there but unreachable: tell it, without waiting for an answer.
            if let Some(bye) = self.calls.get_mut(&id).and_then(Self::new_bye) {
                if let Some(p) = self.dialog_peer(id).await {
                    self.send(Ctx::Orphan, bye, p);
                }
            }
        }
        self.end_call(id, code, phrase).await;
    }

    /// Glare waits that are over: the re-INVITE goes again.
    pub(super) async fn retry_reinvites(&mut self, now: Instant) {
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.reinvite_retry_at.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            c.reinvite_retry_at = None;
            match c.reoffer_owed {
                true => self.refresh_session(id).await,
                false => self.offer_hold(id).await,
            }
        }
    }

    /// A re-INVITE that cannot be taken now: 491 when ours is pending (glare), 500 with
    /// Retry-After while the first INVITE or a previous re-INVITE is not finished (14.2).
    fn reinvite_refusal(&self, id: CallId) -> Option<u16> {
        let c = self.calls.get(&id)?;
        if c.reinvite.is_some() {
            return Some(491);
        }
        let early = matches!(c.state, CallState::Incoming | CallState::Connecting);
        (early || c.reinvite_unacked).then_some(500)
    }

    fn refuse_reinvite(&self, inc: &Incoming, code: u16) {
        let mut r = msg::response_to(&inc.request, code, None, None);
        if code == 500 {
            let secs = rand::thread_rng().gen_range(1..=10);
            msg::push(&mut r.headers, "Retry-After", secs.to_string());
        }
        self.respond(inc, r);
    }

    /// An outgoing call still ringing whose early dialog `req` is in (we keep no early
    /// dialogs as caller, so this matches on Call-ID and our tag).
    pub(super) fn find_early(&self, req: &Request) -> Option<CallId> {
        let tag = req.to_tag()?;
        self.calls
            .iter()
            .find(|(_, c)| {
                c.dialog.is_none() && c.invite.call_id() == req.call_id() && c.local_tag == tag
            })
            .map(|(id, _)| *id)
    }

    pub(super) async fn reinvite(&mut self, inc: Incoming) {
        let Some(id) = self.find_by_dialog(&inc.request) else {
            return match self.find_early(&inc.request) {
                Some(_) => self.refuse_reinvite(&inc, 500),
                None => self.respond(&inc, self.reply_for(&inc.request, 481)),
            };
        };
        if let Some(code) = self.reinvite_refusal(id) {
            return self.refuse_reinvite(&inc, code);
        }
        let c = self.calls.get_mut(&id).unwrap();
        if let Some(contact) = inc.request.contact() {
            if let Some(d) = c.dialog.as_mut() {
                d.remote_target = contact.uri;
            }
        }
        let body = inc.request.body.clone();
        let offer = std::str::from_utf8(&body)
            .ok()
            .and_then(|b| Session::parse(b).ok());
        let held = offer
            .as_ref()
            .map(|s| matches!(sdp::audio_direction(s), "sendonly" | "inactive"));
        if offer.as_ref().is_some_and(|o| restarts_ice(c, o)) {
            // Their ICE restart is answered with new credentials of ours (RFC 8445 9): with
            // the old ones the other side takes our answer for no restart.
            if let Some(ice) = c.media.ice.as_mut() {
                (ice.ufrag, ice.pwd) = crate::nat::ice::credentials();
            }
        }
        let Some(sdp) = Self::local_sdp(c, Some(&body)) else {
            return self.respond(&inc, self.reply_for(&inc.request, 488));
        };
        let hold_changed = held.is_some_and(|h| h != c.remote_hold);
        if let Some(h) = held {
            c.remote_hold = h;
        }
        c.reinvite_unacked = true;
        c.answer_in_ack = body.is_empty();
        let (local, remote, account) = (c.local_hold, c.remote_hold, c.account);
        let mut ok = msg::response_to(&inc.request, 200, None, None);
        msg::push(&mut ok.headers, "Content-Type", "application/sdp");
        let user = self
            .accounts
            .get(&account)
            .map(|a| a.user())
            .unwrap_or_default();
        ok.body = sdp.into_bytes();
        msg::push(&mut ok.headers, "Contact", self.contact(&user, inc.source));
        // Any re-INVITE refreshes the session (RFC 4028 10).
        self.renew_session_timer(id, &inc.request, &mut ok);
        if let Some(k) = &inc.key {
            self.endpoint.respond_until_ack(k, ok);
        }
        // The new offer's address, codec or direction applies to the running media.
        self.start_media(id).await;
        if hold_changed {
            let ev = Event::Hold {
                call: id,
                local,
                remote,
            };
            self.emit(ev).await;
        }
    }
}

/// Whether `offer` restarts ICE: its audio's credentials differ from those the call runs on.
fn restarts_ice(c: &super::call::Call, offer: &Session) -> bool {
    let running = c
        .negotiated
        .as_ref()
        .and_then(|n| n.audio.as_ref()?.ice.as_ref());
    let Some(running) = running else {
        return false;
    };
    let audio = offer
        .media
        .iter()
        .find(|m| m.kind == "audio" && m.port != 0);
    audio
        .and_then(|m| sdp::ice_of(offer, m))
        .is_some_and(|o| o.ufrag != running.ufrag || o.pwd != running.pwd)
}
