//! Where each text stands, for the conversation to show: ours is stored as sending and told
//! with its id (`MessageSending`), then becomes delivered or failed (`MessageSent`,
//! `MessageFailed`) when the other side's answer comes; a failed one can be sent again under
//! the same id. Theirs is stored as received. A call's chat answers its texts in order (MSRP
//! 200s), so each call keeps its unanswered ones in a queue.

use super::{AccountId, CallId, Core, Direction, Event, MessageState};
use crate::store::{now_unix, NewMessage};

/// A text to keep: who with, which way, where it stands.
pub(super) struct Text<'a> {
    pub account: &'a str,
    pub peer: &'a str,
    pub direction: Direction,
    pub state: MessageState,
    pub content_type: &'a str,
    pub body: &'a str,
    /// Whether the server vouched for the peer (see `gate::Caller`).
    pub verified: bool,
}

impl Core {
    /// Stores a text before anyone hears of it and returns its id (the row's; without a store,
    /// one unique in this run).
    pub(super) async fn store_text(&mut self, t: Text<'_>) -> i64 {
        let minted = -i64::from(self.mint());
        let Some(db) = &self.db else { return minted };
        let account = t.account.to_string();
        let peer = t.peer.to_string();
        let (content_type, body) = (t.content_type.to_string(), t.body.to_string());
        let (direction, state, verified) = (t.direction, t.state, t.verified);
        let saved = db.run(move |s| {
            s.add_message(&NewMessage {
                account: &account,
                peer: &peer,
                direction,
                content_type: &content_type,
                body: &body,
                state,
                verified,
            })
        });
        match saved.await {
            Some(Ok(id)) => id,
            Some(Err(e)) => {
                tracing::warn!("could not save a message: {e}");
                minted
            }
            None => minted,
        }
    }

    /// Stores and tells a text of ours that is on its way.
    pub(super) async fn text_sending(
        &mut self,
        account: AccountId,
        to: &str,
        text: &str,
        call: Option<CallId>,
    ) -> i64 {
        let aor = self
            .accounts
            .get(&account)
            .map(|a| a.uri.aor())
            .unwrap_or_default();
        let id = self
            .store_text(Text {
                account: &aor,
                peer: to,
                direction: Direction::Outgoing,
                state: MessageState::Sending,
                content_type: "text/plain",
                body: text,
                verified: true,
            })
            .await;
        self.tell_sending(id, to, text, call).await;
        id
    }

    pub(super) async fn tell_sending(&self, id: i64, to: &str, text: &str, call: Option<CallId>) {
        self.emit(Event::MessageSending {
            id,
            to: to.to_string(),
            text: text.to_string(),
            at: now_unix(),
            call,
        })
        .await;
    }

    pub(super) async fn text_delivered(&self, id: i64, to: String) {
        self.set_text_state(id, MessageState::Delivered).await;
        self.emit(Event::MessageSent { id, to }).await;
    }

    pub(super) async fn text_failed(&self, id: i64, to: String, message: String) {
        self.set_text_state(id, MessageState::Failed).await;
        self.emit(Event::MessageFailed { id, to, message }).await;
    }

    pub(super) async fn set_text_state(&self, id: i64, state: MessageState) {
        if let (Some(db), true) = (&self.db, id > 0) {
            let saved = db.run(move |s| s.set_message_state(id, state)).await;
            if let Some(Err(e)) = saved {
                tracing::warn!("could not save a message's state: {e}");
            }
        }
    }

    /// The call's chat took our oldest unanswered text.
    pub(super) async fn call_text_delivered(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(id) = c.texts.pop_front() {
            let to = c.peer.clone();
            self.text_delivered(id, to).await;
        }
    }

    /// The call's chat broke or ended: what it never answered did not arrive.
    pub(super) async fn call_texts_failed(
        &mut self,
        pending: std::collections::VecDeque<i64>,
        to: &str,
        why: &str,
    ) {
        for id in pending {
            self.text_failed(id, to.to_string(), why.to_string()).await;
        }
    }
}
