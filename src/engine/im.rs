//! One-off texts by SIP MESSAGE (RFC 3428): sent to any address (digest answered), received as
//! `text/*` and answered 200 (415 for other bodies), and kept in the store like chat.

use super::delivery::Text;
use super::{reason, AccountId, Core, Ctx, Direction, Event, MessageState};
use crate::sip::headers::{NameAddr, SipUri};
use crate::sip::message::{self as msg, Headers, MessageExt, Method, Request, Response, Version};
use crate::sip::transport::Peer;

/// Digest answers tried for one MESSAGE.
const MAX_TRIES: u8 = 2;

pub(crate) struct Pending {
    account: AccountId,
    request: Request,
    peer: Peer,
    to: String,
    tries: u8,
    /// The text's id, as `MessageSending` told it.
    id: i64,
}

impl Core {
    pub(super) async fn send_pager(&mut self, account: AccountId, target: &str, text: &str) {
        let uri = match self.checked_target(account, target) {
            Ok(uri) => uri,
            Err(e) => {
                let message = format!("Cannot send: {e}");
                return self.emit(Event::Error { message }).await;
            }
        };
        let id = self.text_sending(account, &uri.aor(), text, None).await;
        self.send_pager_as(account, &uri, text, id).await
    }

    /// Sends a failed text of ours again, under its id.
    pub(super) async fn retry_message(&mut self, account: AccountId, id: i64) {
        let row = self.query("read the message", move |s| s.message(id)).await;
        let Some(m) = row.flatten().filter(|m| m.direction == Direction::Outgoing) else {
            let message = "That message is no longer there to send again".to_string();
            return self.emit(Event::Error { message }).await;
        };
        let Ok(uri) = self.checked_target(account, &m.peer_uri) else {
            return;
        };
        self.set_text_state(id, MessageState::Sending).await;
        self.tell_sending(id, &m.peer_uri, &m.body, None).await;
        self.send_pager_as(account, &uri, &m.body, id).await
    }

    async fn send_pager_as(&mut self, account: AccountId, uri: &SipUri, text: &str, id: i64) {
        let to = uri.aor();
        let peer = match self
            .route_targets(account, uri)
            .await
            .map(|t| t.into_iter().next())
        {
            Ok(Some(p)) => p,
            Ok(None) | Err(_) => {
                let message = format!("Cannot reach {to}");
                return self.text_failed(id, to, message).await;
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
        msg::push(&mut h, "To", NameAddr::new(to.clone()).to_string());
        msg::push(&mut h, "Call-ID", msg::new_call_id(&acc.uri.host));
        msg::push(&mut h, "CSeq", "1 MESSAGE");
        msg::push(&mut h, "User-Agent", super::USER_AGENT);
        msg::push(&mut h, "Content-Type", "text/plain;charset=UTF-8");
        let request = Request {
            method: Method::Message,
            uri: msg::request_uri(uri),
            version: Version::V2,
            headers: h,
            body: text.as_bytes().to_vec(),
        };
        let pager = self.next_pager;
        self.next_pager += 1;
        self.send(Ctx::Pager(pager), request.clone(), peer);
        self.pagers.insert(
            pager,
            Pending {
                account,
                request,
                peer,
                to,
                tries: 0,
                id,
            },
        );
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
        match code {
            200..=299 => self.text_delivered(p.id, p.to).await,
            c => {
                let message = reason::line(c, &msg::reason_of(&resp));
                self.text_failed(p.id, p.to, message).await
            }
        }
    }

    pub(super) async fn incoming_pager(
        &mut self,
        inc: crate::sip::endpoint::Incoming,
        reached: super::gate::Reached,
    ) {
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
        let caller = self.caller(&inc, reached);
        let from = caller.address.clone();
        let text = String::from_utf8_lossy(&req.body).to_string();
        self.respond(&inc, self.reply_for(req, 200));
        let account = self
            .accounts
            .get(&reached.account())
            .map(|a| a.uri.aor())
            .unwrap_or_default();
        let id = self
            .store_text(Text {
                account: &account,
                peer: &from,
                direction: Direction::Incoming,
                state: MessageState::Received,
                content_type: "text/plain",
                body: &text,
                verified: caller.verified,
            })
            .await;
        let at = crate::store::now_unix();
        let verified = caller.verified;
        self.emit(Event::InstantMessage {
            id,
            from,
            text,
            at,
            verified,
        })
        .await;
    }
}
