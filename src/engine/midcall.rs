//! In-call signalling: hold and resume by re-INVITE (RFC 3264 8.4: our audio `sendonly` while we
//! hold, `sendrecv` again to resume) and keypad digits by SIP INFO `application/dtmf-relay`, the
//! form PBXs accept when there is no RTP to carry RFC 4733 events.

use super::{CallId, CallState, Core, Ctx, Event};
use crate::sdp;
use crate::sip::endpoint::Incoming;
use crate::sip::message::{self as msg, MessageExt, Method, Request, Response};

const DTMF_DIGITS: &str = "0123456789*#ABCD";

/// `Signal=5` from a dtmf-relay body.
pub fn parse_dtmf_relay(body: &str) -> Option<char> {
    body.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("signal"))
        .and_then(|(_, v)| v.trim().chars().next())
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| DTMF_DIGITS.contains(*c))
}

impl Core {
    /// Our Contact for in-dialog requests of a call.
    fn call_contact(&self, id: CallId) -> Option<String> {
        let c = self.calls.get(&id)?;
        let user = self.accounts.get(&c.account)?.user();
        Some(self.contact(&user, c.invite_peer?))
    }

    /// Sends an in-dialog request built by `build` to the dialog's next hop.
    async fn send_in_dialog(
        &mut self,
        id: CallId,
        ctx: Ctx,
        build: impl FnOnce(&mut Request),
    ) -> bool {
        let Some(contact) = self.call_contact(id) else {
            return false;
        };
        let Some(c) = self.calls.get_mut(&id) else {
            return false;
        };
        let method = match ctx {
            Ctx::ReInvite(..) => Method::Invite,
            _ => Method::Info,
        };
        let Some(d) = c.dialog.as_mut() else {
            return false;
        };
        let mut req = d.request(method, None, &contact);
        msg::push(&mut req.headers, "User-Agent", super::USER_AGENT);
        build(&mut req);
        match self.dialog_peer(id).await {
            Some(p) => {
                self.send(ctx, req, p);
                true
            }
            None => false,
        }
    }

    pub(super) async fn hold(&mut self, id: CallId, on: bool) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.state != CallState::Connected || c.local_hold == on {
            return;
        }
        c.sdp_version += 1;
        let dir = if on { "sendonly" } else { "sendrecv" };
        let body = sdp::offer_with_direction(&c.media, c.sdp_version, dir).to_string();
        let sent = self
            .send_in_dialog(id, Ctx::ReInvite(id, on), |req| {
                msg::push(&mut req.headers, "Content-Type", "application/sdp");
                req.body = body.into_bytes();
            })
            .await;
        if !sent {
            let message = "Cannot reach the other side to change hold".to_string();
            self.emit(Event::Error { message }).await;
        }
    }

    pub(super) async fn reinvite_response(&mut self, id: CallId, on: bool, resp: Response) {
        let code = msg::code_of(&resp);
        if code < 200 {
            return;
        }
        if code < 300 {
            self.send_ack(id, Some(resp.cseq().0)).await;
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            let changed = c.local_hold != on;
            c.local_hold = on;
            let (local, remote) = (c.local_hold, c.remote_hold);
            if changed {
                self.emit(Event::Hold {
                    call: id,
                    local,
                    remote,
                })
                .await;
            }
        } else {
            let what = if on {
                "put the call on hold"
            } else {
                "resume the call"
            };
            let message = format!(
                "Could not {what}: {}",
                super::reason::line(code, &msg::reason_of(&resp))
            );
            self.emit(Event::Error { message }).await;
        }
    }

    pub(super) async fn dtmf(&mut self, id: CallId, digit: char) {
        let d = digit.to_ascii_uppercase();
        if !DTMF_DIGITS.contains(d) {
            let message = format!("“{digit}” is not a keypad key");
            return self.emit(Event::Error { message }).await;
        }
        if self.calls.get(&id).map(|c| c.state) != Some(CallState::Connected) {
            return;
        }
        self.send_in_dialog(id, Ctx::Info(id), |req| {
            msg::push(&mut req.headers, "Content-Type", "application/dtmf-relay");
            req.body = format!("Signal={d}\r\nDuration=160\r\n").into_bytes();
        })
        .await;
    }

    pub(super) async fn info_response(&mut self, _id: CallId, resp: Response) {
        let code = msg::code_of(&resp);
        if code >= 300 {
            let message = format!(
                "The key was not delivered: {}",
                super::reason::line(code, &msg::reason_of(&resp))
            );
            self.emit(Event::Error { message }).await;
        }
    }

    pub(super) async fn incoming_info(&mut self, inc: Incoming) {
        let Some(id) = self.find_by_dialog(&inc.request) else {
            return self.respond(&inc, self.reply_for(&inc.request, 481));
        };
        let ctype = inc
            .request
            .header("Content-Type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let digit = (ctype.starts_with("application/dtmf-relay"))
            .then(|| parse_dtmf_relay(&String::from_utf8_lossy(&inc.request.body)))
            .flatten();
        match digit {
            Some(digit) => {
                self.respond(&inc, msg::response_to(&inc.request, 200, None, None));
                self.emit(Event::Dtmf { call: id, digit }).await;
            }
            None => {
                let mut r = self.reply_for(&inc.request, 415);
                msg::push(&mut r.headers, "Accept", "application/dtmf-relay");
                self.respond(&inc, r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dtmf_relay_bodies() {
        assert_eq!(
            super::parse_dtmf_relay("Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(super::parse_dtmf_relay("signal = #\n"), Some('#'));
        assert_eq!(super::parse_dtmf_relay("Signal=x\n"), None);
        assert_eq!(super::parse_dtmf_relay("Duration=160"), None);
    }
}
