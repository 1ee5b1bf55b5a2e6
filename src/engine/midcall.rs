//! In-call requests: the shared way to send one in the dialog, and keypad digits: RFC 4733
//! events in the media when both sides agreed to telephone-event, else SIP INFO
//! `application/dtmf-relay`, the form PBXs accept instead.
//! (Hold and resume by re-INVITE are in `reinvite`.)

use super::{CallId, CallState, Core, Ctx, Event};
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

    /// Sends an in-dialog request built by `build` to the dialog's next hop; returns what
    /// was sent, for a retry with credentials.
    pub(super) async fn send_in_dialog(
        &mut self,
        id: CallId,
        ctx: Ctx,
        build: impl FnOnce(&mut Request),
    ) -> Option<Request> {
        let contact = self.call_contact(id)?;
        let c = self.calls.get_mut(&id)?;
        let method = match ctx {
            Ctx::ReInvite(..) => Method::Invite,
            _ => Method::Info,
        };
        let mut req = c.dialog.as_mut()?.request(method, None, &contact);
        msg::push(&mut req.headers, "User-Agent", super::USER_AGENT);
        build(&mut req);
        let p = self.dialog_peer(id).await?;
        self.send(ctx, req.clone(), p);
        Some(req)
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
        if self.key_in_media(id, d) {
            return;
        }
        // No telephone-event agreed: SIP INFO, which PBXs take instead.
        let sent = self
            .send_in_dialog(id, Ctx::Info(id), |req| {
                msg::push(&mut req.headers, "Content-Type", "application/dtmf-relay");
                req.body = format!("Signal={d}\r\nDuration=160\r\n").into_bytes();
            })
            .await;
        if let (Some(req), Some(c)) = (sent, self.calls.get_mut(&id)) {
            c.infos.push((req, 0));
        }
    }

    pub(super) async fn info_response(&mut self, id: CallId, resp: Response) {
        let code = msg::code_of(&resp);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let n = resp.cseq().0;
        let Some(at) = c.infos.iter().position(|(r, _)| r.cseq().0 == n) else {
            return;
        };
        if code < 200 {
            return;
        }
        let (req, tries) = c.infos.remove(at);
        match code {
            200..=299 => {}
            401 | 407 if tries < 2 => self.info_with_credentials(id, req, tries, &resp).await,
            408 | 481 => self.dialog_gone(id, code, &msg::reason_of(&resp)).await,
            _ => {
                let why = super::reason::line(code, &msg::reason_of(&resp));
                let message = format!("The key was not delivered: {why}");
                self.emit(Event::Error { message }).await;
            }
        }
    }

    /// A challenged in-dialog request of call `id` with credentials and the dialog's next
    /// CSeq, ready to go as a new transaction; `None` when the account cannot answer.
    pub(super) fn with_credentials(
        &mut self,
        id: CallId,
        mut req: Request,
        resp: &Response,
    ) -> Option<Request> {
        let account = self.calls.get(&id)?.account;
        let ok = self
            .accounts
            .get_mut(&account)
            .is_some_and(|a| a.authorize(&mut req, resp));
        let d = self.calls.get_mut(&id)?.dialog.as_mut().filter(|_| ok)?;
        d.local_cseq += 1;
        msg::set(
            &mut req.headers,
            "CSeq",
            format!("{} {}", d.local_cseq, req.method),
        );
        Some(req)
    }

    /// Sends a challenged INFO again with credentials, as a new transaction.
    async fn info_with_credentials(
        &mut self,
        id: CallId,
        req: Request,
        tries: u8,
        resp: &Response,
    ) {
        if !self.calls.contains_key(&id) {
            return;
        }
        let Some(req) = self.with_credentials(id, req, resp) else {
            let message = "The key was not delivered: the other side refused our credentials";
            return self
                .emit(Event::Error {
                    message: message.into(),
                })
                .await;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.infos.push((req.clone(), tries + 1));
        }
        if let Some(p) = self.dialog_peer(id).await {
            self.send(Ctx::Info(id), req, p);
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
