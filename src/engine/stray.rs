//! 2xx answers for dialogs we do not keep (RFC 3261 13.2.2.4, 15): a second fork that answered
//! after the first, or an answer that arrives once the call is over. Each is ACKed on its own
//! dialog, so the answerer stops retransmitting, and then ended with BYE.

use super::{Core, Ctx};
use crate::sip::dialog::Dialog;
use crate::sip::message::{self as msg, MessageExt, Method, Response};
use crate::sip::transport::Peer;

impl Core {
    /// ACKs `resp` and sends BYE on the dialog it would create; `fallback` is where the
    /// INVITE went, used when the dialog's next hop cannot be resolved.
    pub(super) async fn refuse_2xx(&mut self, resp: &Response, fallback: Option<Peer>) {
        let Some(mut d) = Dialog::from_2xx(resp) else {
            tracing::info!("a 2xx with no Contact or tags cannot be ACKed; ignored");
            return;
        };
        let Some(peer) = self.hop(&d, fallback).await else {
            return;
        };
        tracing::info!(call_id = %d.call_id, tag = %d.remote_tag, "ending an extra answer");
        let mut ack = d.request(Method::Ack, Some(resp.cseq().0), "");
        msg::remove(&mut ack.headers, "Contact");
        self.endpoint.send_stateless(ack, peer);
        let mut bye = d.request(Method::Bye, None, "");
        msg::remove(&mut bye.headers, "Contact");
        msg::push(&mut bye.headers, "User-Agent", super::USER_AGENT);
        self.send(Ctx::Orphan, bye, peer);
    }
}
