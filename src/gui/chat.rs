//! What conversations hold beyond calls: texts (with where each of ours stands) and files
//! (stored ones at start, then this run's), files under way and offers waiting for an answer,
//! and what is unread. Keyed by the peer's address as `Address::key` compares it, so a contact
//! and someone not in the contacts are alike. Filled from engine events only.

use super::threads::peer_key;
use crate::engine::{
    Address, CallId, Direction, Event, MessageRecord, MessageState, TransferRecord, TransferState,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Text {
        /// The engine's id, which delivery news and Retry refer to.
        id: i64,
        incoming: bool,
        text: String,
        state: MessageState,
        /// Why ours was not delivered, in words.
        error: Option<String>,
    },
    File {
        incoming: bool,
        name: String,
        size: u64,
        path: Option<PathBuf>,
    },
    /// A file that did not make it, in words.
    Note { text: String },
}

/// An item, whom it is with (an address key) and when it happened (Unix seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub at: i64,
    pub peer: String,
    pub item: Item,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub peer: String,
    pub incoming: bool,
    pub done: u64,
    pub total: u64,
    pub bytes_per_second: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub call: CallId,
    pub from: String,
    pub name: String,
    pub size: u64,
    /// On a call's or chat's line (taken or refused) rather than an offer of its own.
    pub during_call: bool,
}

/// News from someone: whose, and in words for a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct News {
    pub peer: String,
    pub words: String,
    /// Counted as unread (an offer waits on its card instead).
    pub counted: bool,
}

#[derive(Debug, Default)]
pub struct State {
    /// Oldest first.
    pub items: Vec<Said>,
    /// Files under way, by (call, name).
    pub transfers: BTreeMap<(CallId, String), Transfer>,
    pub offers: Vec<Offer>,
    /// The composer's text (several lines: Shift+Enter breaks a line).
    pub draft: iced::widget::text_editor::Content,
    /// Texts and files that arrived per peer (address key) while their conversation was not
    /// in view.
    pub unread: BTreeMap<String, usize>,
    /// Calls and sessions whose other side nobody vouched for: their files and texts are
    /// kept under the unverified key.
    unverified: std::collections::BTreeSet<CallId>,
}

/// `1.4 MB`, `820 KB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1000 => format!("{} KB", b / 1000),
        b => format!("{b} bytes"),
    }
}

/// A peer's key; an unverified sender's (`?`, see `threads::peer_key`) stays as it is.
fn key(peer: &str) -> String {
    match super::threads::is_unverified(peer) {
        true => peer.to_string(),
        false => Address::key(peer),
    }
}

impl State {
    /// Takes in what the engine said about chat and files; news when someone sent something.
    pub fn absorb(&mut self, ev: &Event) -> Option<News> {
        match ev {
            Event::Conversations {
                messages,
                transfers,
            } => self.load(messages, transfers),
            Event::Message {
                id,
                peer,
                text,
                at,
                verified,
                ..
            }
            | Event::InstantMessage {
                id,
                from: peer,
                text,
                at,
                verified,
            } => {
                let peer = peer_key(peer, *verified);
                self.text(*at, &peer, *id, true, text, MessageState::Received);
                return Some(news(&peer, text.clone(), true));
            }
            Event::IncomingCall {
                call,
                verified: false,
                ..
            }
            | Event::ChatOffered {
                call,
                verified: false,
                ..
            } => {
                self.unverified.insert(*call);
            }
            Event::MessageSending {
                id, to, text, at, ..
            } => {
                match self.text_mut(*id) {
                    // A retry: the same bubble goes back to "sending".
                    Some((state, error)) => (*state, *error) = (MessageState::Sending, None),
                    None => self.text(*at, to, *id, false, text, MessageState::Sending),
                }
            }
            Event::MessageSent { id, .. } => {
                if let Some((state, _)) = self.text_mut(*id) {
                    *state = MessageState::Delivered;
                }
            }
            Event::MessageFailed { id, message, .. } => {
                if let Some((state, error)) = self.text_mut(*id) {
                    (*state, *error) = (MessageState::Failed, Some(message.clone()));
                }
            }
            Event::FileOffered {
                call,
                from,
                name,
                size,
                during_call,
                verified,
                ..
            } => {
                let from = peer_key(from, *verified);
                if !verified {
                    self.unverified.insert(*call);
                }
                self.offers.push(Offer {
                    call: *call,
                    from: from.clone(),
                    name: name.clone(),
                    size: *size,
                    during_call: *during_call,
                });
                return Some(news(&from, format!("offers {name}"), false));
            }
            Event::FileReceived {
                call,
                peer,
                name,
                size,
                path,
                at,
                ..
            } => {
                self.transfers.retain(|(c, _), _| c != call);
                let peer = self.key_of(*call, peer);
                self.file(*at, &peer, true, name, *size, Some(path.clone()));
                return Some(news(&peer, format!("sent you {name}"), true));
            }
            _ => self.transfer_news(ev),
        }
        None
    }

    /// Files under way and how they ended.
    fn transfer_news(&mut self, ev: &Event) {
        match ev.clone() {
            Event::TransferProgress {
                call,
                peer,
                name,
                incoming,
                done,
                total,
                bytes_per_second,
            } => {
                // A file on a call's line moves while it waits for the user's word.
                self.offers
                    .retain(|o| o.during_call || o.call != call || o.name != name);
                let t = Transfer {
                    peer: self.key_of(call, &peer),
                    incoming,
                    done,
                    total,
                    bytes_per_second,
                };
                self.transfers.insert((call, name), t);
            }
            Event::FileSent {
                call,
                peer,
                name,
                size,
                at,
            } => {
                self.transfers.remove(&(call, name.clone()));
                let peer = self.key_of(call, &peer);
                self.file(at, &peer, false, &name, size, None);
            }
            Event::FileSentUnconfirmed {
                call,
                peer,
                name,
                at,
                ..
            } => {
                self.transfers.remove(&(call, name.clone()));
                let text = format!(
                    "{name} was sent, not confirmed: they left before saying it arrived whole"
                );
                self.note(at, &self.key_of(call, &peer), text);
            }
            Event::TransferCancelled {
                call,
                peer,
                name,
                by_peer,
                at,
            } => {
                self.offers.retain(|o| o.call != call);
                self.transfers.remove(&(call, name.clone()));
                let who = if by_peer { "by the other side" } else { "here" };
                let peer = self.key_of(call, &peer);
                self.note(at, &peer, format!("{name} was cancelled {who}"));
            }
            Event::TransferFailed {
                call,
                peer,
                message,
                at,
            } => {
                self.offers.retain(|o| o.call != call);
                self.transfers.retain(|(c, _), _| *c != call);
                self.note(at, &self.key_of(call, &peer), message);
            }
            _ => {}
        }
    }

    /// The key of a call's peer: unverified when the call's other side is.
    fn key_of(&self, call: CallId, peer: &str) -> String {
        peer_key(peer, !self.unverified.contains(&call))
    }

    fn text_mut(&mut self, id: i64) -> Option<(&mut MessageState, &mut Option<String>)> {
        self.items.iter_mut().rev().find_map(|s| match &mut s.item {
            Item::Text {
                id: i,
                state,
                error,
                ..
            } if *i == id => Some((state, error)),
            _ => None,
        })
    }

    fn text(
        &mut self,
        at: i64,
        peer: &str,
        id: i64,
        incoming: bool,
        text: &str,
        state: MessageState,
    ) {
        let item = Item::Text {
            id,
            incoming,
            text: text.to_string(),
            state,
            error: None,
        };
        self.insert(at, peer, item);
    }

    fn file(
        &mut self,
        at: i64,
        peer: &str,
        incoming: bool,
        name: &str,
        size: u64,
        path: Option<PathBuf>,
    ) {
        let item = Item::File {
            incoming,
            name: name.to_string(),
            size,
            path,
        };
        self.insert(at, peer, item);
    }

    fn note(&mut self, at: i64, peer: &str, text: String) {
        self.insert(at, peer, Item::Note { text });
    }

    /// In time order; what happened in the same second keeps the order it was told in.
    fn insert(&mut self, at: i64, peer: &str, item: Item) {
        let i = self.items.partition_point(|s| s.at <= at);
        let peer = key(peer);
        self.items.insert(i, Said { at, peer, item });
    }

    /// What the store kept from earlier runs, before this run's items.
    fn load(&mut self, messages: &[MessageRecord], transfers: &[TransferRecord]) {
        let mut stored: Vec<Said> = messages.iter().map(stored_text).collect();
        stored.extend(transfers.iter().map(stored_file));
        stored.sort_by_key(|s| s.at);
        for s in std::mem::take(&mut self.items) {
            let i = stored.partition_point(|o| o.at <= s.at);
            stored.insert(i, s);
        }
        self.items = stored;
    }

    /// The newest item with any of these peers.
    pub fn last_with(&self, peers: &[String]) -> Option<&Said> {
        self.items.iter().rev().find(|s| peers.contains(&s.peer))
    }

    pub fn unread_with(&self, peers: &[String]) -> usize {
        peers.iter().filter_map(|p| self.unread.get(p)).sum()
    }

    /// The conversation with these peers is in view: nothing in it is unread.
    pub fn read(&mut self, peers: &[String]) {
        for p in peers {
            self.unread.remove(p);
        }
    }

    pub fn count_unread(&mut self, peer: &str) {
        *self.unread.entry(key(peer)).or_default() += 1;
    }

    pub fn total_unread(&self) -> usize {
        self.unread.values().sum()
    }

    /// Every peer someone has a text or file with.
    pub fn peers(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|s| s.peer.as_str())
    }
}

fn news(peer: &str, words: String, counted: bool) -> News {
    News {
        peer: key(peer),
        words,
        counted,
    }
}

fn stored_text(m: &MessageRecord) -> Said {
    let incoming = m.direction == Direction::Incoming;
    // A text a previous run left sending never got its answer: it did not arrive.
    let (state, error) = match m.state {
        MessageState::Sending => (
            MessageState::Failed,
            Some("Parley stopped before it was delivered".to_string()),
        ),
        MessageState::Failed => (MessageState::Failed, Some("Not delivered".to_string())),
        s => (s, None),
    };
    let item = Item::Text {
        id: m.id,
        incoming,
        text: m.body.clone(),
        state,
        error,
    };
    Said {
        at: m.at,
        peer: peer_key(&m.peer_uri, m.verified),
        item,
    }
}

fn stored_file(t: &TransferRecord) -> Said {
    let (name, incoming) = (t.name.clone(), t.direction == Direction::Incoming);
    let item = match t.state {
        TransferState::Received | TransferState::Delivered | TransferState::Sent => Item::File {
            incoming,
            name,
            size: t.size,
            path: t.path.as_ref().map(PathBuf::from),
        },
        TransferState::Cancelled => Item::Note {
            text: format!("{name} was cancelled"),
        },
        _ => Item::Note {
            text: format!("{name} did not arrive whole"),
        },
    };
    Said {
        at: t.started_at,
        peer: peer_key(&t.peer_uri, t.verified),
        item,
    }
}
