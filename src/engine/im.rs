//! One-off texts by SIP MESSAGE (RFC 3428): sent to any address (digest answered), received as
//! `text/*` and answered 200 (415 for other bodies), and kept in the store like chat.

use super::{reason, AccountId, Core, Ctx, Event};
use crate::sip::headers::{NameAddr, SipUri};
use crate::sip::message::{self as msg, Headers, MessageExt, Method, Request, Response, Version};
use crate::sip::transport::Peer;
use crate::store::NewMessage;

/// Digest answers tried for one MESSAGE.
const MAX_TRIES: u8 = 2;

pub(crate) struct Pending {
    account: AccountId,
    request: Request,
    peer: Peer,
    to: String,
    tries: u8,
}

impl Core {
    pub(super) async fn send_pager(&mut self, account: AccountId, target: &str, text: &str) {
        let to = target.to_string();
        let Some(uri) = self.complete_target(account, target) else {
            let message = format!("“{target}” is not a SIP address");
            return self.emit(Event::MessageFailed { to, message }).await;
        };
        let peer = match self
            .route_targets(account, &uri)
            .await
            .map(|t| t.into_iter().next())
        {
            Ok(Some(p)) => p,
            Ok(None) | Err(_) => {
                let message = format!("Cannot reach {}", uri.aor());
                return self.emit(Event::MessageFailed { to, message }).await;
            }
        };
        let Some(acc) = self.accounts.get(&account) else {
            return;
        };
        let mut h = Headers::default();
        msg::push(
            &mut h,
            "From",
            format!("{};tag={}", acc.name_addr(), msg::new_tag()),
        );
        msg::push(&mut h, "To", NameAddr::new(uri.aor()).to_string());
        msg::push(&mut h, "Call-ID", msg::new_call_id(&acc.uri.host));
        msg::push(&mut h, "CSeq", "1 MESSAGE");
        msg::push(&mut h, "User-Agent", super::USER_AGENT);
        msg::push(&mut h, "Content-Type", "text/plain;charset=UTF-8");
        let request = Request {
            method: Method::Message,
            uri: msg::request_uri(&uri),
            version: Version::V2,
            headers: h,
            body: text.as_bytes().to_vec(),
        };
        let aor = acc.uri.aor();
        self.store_pager(&aor, &uri.aor(), "outgoing", text).await;
        let id = self.next_pager;
        self.next_pager += 1;
        self.send(Ctx::Pager(id), request.clone(), peer);
        let to = uri.aor();
        self.pagers.insert(
            id,
            Pending {
                account,
                request,
                peer,
                to,
                tries: 0,
            },
        );
    }

    /// Saved before the event that tells of it goes out, like calls.
    async fn store_pager(&self, account: &str, peer: &str, direction: &'static str, text: &str) {
        let Some(db) = &self.db else { return };
        let (account, peer, text) = (account.to_string(), peer.to_string(), text.to_string());
        let saved = db.run(move |s| {
            let m = NewMessage {
                account: &account,
                peer: &peer,
                direction,
                content_type: "text/plain",
                body: &text,
                state: if direction == "incoming" {
                    "received"
                } else {
                    "sent"
                },
            };
            s.add_message(&m).map(|_| ())
        });
        if let Some(Err(e)) = saved.await {
            tracing::warn!("could not save a message: {e}");
        }
    }

    pub(super) async fn pager_response(&mut self, id: u32, resp: Response) {
        let code = msg::code_of(&resp);
        if code < 200 {
            return;
        }
        let Some(mut p) = self.pagers.remove(&id) else {
            return;
        };
        if matches!(code, 401 | 407) && p.tries < MAX_TRIES {
            let mut req = p.request.clone();
            let ok = self
                .accounts
                .get_mut(&p.account)
                .is_some_and(|a| a.authorize(&mut req, &resp));
            if ok {
                let n = req.cseq().0 + 1;
                msg::set(&mut req.headers, "CSeq", format!("{n} MESSAGE"));
                p.tries += 1;
                p.request = req.clone();
                self.send(Ctx::Pager(id), req, p.peer);
                self.pagers.insert(id, p);
                return;
            }
        }
        let ev = match code {
            200..=299 => Event::MessageSent { to: p.to },
            c => Event::MessageFailed {
                to: p.to,
                message: reason::line(c, &msg::reason_of(&resp)),
            },
        };
        self.emit(ev).await;
    }

    pub(super) async fn incoming_pager(&mut self, inc: crate::sip::endpoint::Incoming) {
        let req = &inc.request;
        let ctype = req
            .header("Content-Type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !ctype.starts_with("text/") {
            let mut r = self.reply_for(req, 415);
            msg::push(&mut r.headers, "Accept", "text/plain");
            return self.respond(&inc, r);
        }
        let from = req
            .addr_from()
            .and_then(|a| SipUri::parse(&a.uri).ok())
            .map(|u| u.aor())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&req.body).to_string();
        self.respond(&inc, self.reply_for(req, 200));
        let account = self
            .accounts
            .values()
            .next()
            .map(|a| a.uri.aor())
            .unwrap_or_default();
        self.store_pager(&account, &from, "incoming", &text).await;
        self.emit(Event::InstantMessage { from, text }).await;
    }
}
