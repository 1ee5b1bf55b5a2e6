//! What the conversation pane shows beyond calls: texts and files (stored ones at start, then
//! this run's), files under way (progress, rate, cancel) and offers waiting for accept or
//! decline. Filled from engine events only; the pane sends commands back through `App`.

use crate::engine::{CallId, Event, MessageRecord, TransferRecord};
use crate::store::now_unix;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Text {
        peer: String,
        incoming: bool,
        text: String,
    },
    File {
        peer: String,
        incoming: bool,
        name: String,
        path: Option<PathBuf>,
    },
    /// A file that did not make it, in words.
    Note { peer: String, text: String },
}

impl Item {
    pub fn peer(&self) -> &str {
        match self {
            Item::Text { peer, .. } | Item::File { peer, .. } | Item::Note { peer, .. } => peer,
        }
    }
}

/// An item and when it happened (Unix seconds), to place it among the calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub at: i64,
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

#[derive(Debug, Default)]
pub struct State {
    pub items: Vec<Said>,
    /// Files under way, by (call, name).
    pub transfers: BTreeMap<(CallId, String), Transfer>,
    pub offers: Vec<Offer>,
    /// The composer's text (several lines: Shift+Enter breaks a line).
    pub draft: iced::widget::text_editor::Content,
    /// Texts and files that arrived per peer while their conversation was not open.
    pub unread: BTreeMap<String, usize>,
}

/// `1.4 MB`, `820 KB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1000 => format!("{} KB", b / 1000),
        b => format!("{b} bytes"),
    }
}

impl State {
    /// Takes in what the engine said about chat and files; true when it is news from someone.
    pub fn absorb(&mut self, ev: &Event) -> bool {
        match ev.clone() {
            Event::Conversations {
                messages,
                transfers,
            } => self.load(&messages, &transfers),
            Event::Message { peer, text, .. } | Event::InstantMessage { from: peer, text } => {
                self.push(Item::Text {
                    peer,
                    incoming: true,
                    text,
                });
                return true;
            }
            Event::FileOffered {
                call,
                from,
                name,
                size,
                during_call,
                ..
            } => {
                self.offers.push(Offer {
                    call,
                    from,
                    name,
                    size,
                    during_call,
                });
                return true;
            }
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
                    peer,
                    incoming,
                    done,
                    total,
                    bytes_per_second,
                };
                self.transfers.insert((call, name), t);
            }
            Event::FileReceived {
                call,
                peer,
                name,
                path,
                ..
            } => {
                self.transfers.retain(|(c, _), _| *c != call);
                self.push(Item::File {
                    peer,
                    incoming: true,
                    name,
                    path: Some(path),
                });
                return true;
            }
            Event::FileSent {
                call, peer, name, ..
            } => {
                self.transfers.remove(&(call, name.clone()));
                self.push(Item::File {
                    peer,
                    incoming: false,
                    name,
                    path: None,
                });
            }
            Event::FileSentUnconfirmed {
                call, peer, name, ..
            } => {
                self.transfers.remove(&(call, name.clone()));
                self.push(Item::Note {
                    peer,
                    text: format!(
                        "{name} was sent, not confirmed: they left before saying it arrived whole"
                    ),
                });
            }
            Event::TransferCancelled {
                call,
                peer,
                name,
                by_peer,
            } => {
                self.offers.retain(|o| o.call != call);
                self.transfers.remove(&(call, name.clone()));
                let who = if by_peer { "by the other side" } else { "here" };
                self.push(Item::Note {
                    peer,
                    text: format!("{name} was cancelled {who}"),
                });
            }
            Event::TransferFailed {
                call,
                peer,
                message,
            } => {
                self.offers.retain(|o| o.call != call);
                self.transfers.retain(|(c, _), _| *c != call);
                self.push(Item::Note {
                    peer,
                    text: message,
                });
            }
            _ => {}
        }
        false
    }

    fn push(&mut self, item: Item) {
        self.items.push(Said {
            at: now_unix(),
            item,
        });
    }

    /// What the store kept from earlier runs, in time order, before this run's items.
    fn load(&mut self, messages: &[MessageRecord], transfers: &[TransferRecord]) {
        let mut stored: Vec<Said> = messages.iter().map(stored_text).collect();
        stored.extend(transfers.iter().map(stored_file));
        stored.sort_by_key(|s| s.at);
        stored.append(&mut self.items);
        self.items = stored;
    }

    /// A text of ours, shown at once.
    pub fn sent(&mut self, peer: &str, text: String) {
        self.push(Item::Text {
            peer: peer.to_string(),
            incoming: false,
            text,
        });
    }
}

fn stored_text(m: &MessageRecord) -> Said {
    let item = Item::Text {
        peer: m.peer_uri.clone(),
        incoming: m.direction == "incoming",
        text: m.body.clone(),
    };
    Said { at: m.at, item }
}

fn stored_file(t: &TransferRecord) -> Said {
    let (peer, name, incoming) = (
        t.peer_uri.clone(),
        t.name.clone(),
        t.direction == "incoming",
    );
    let item = match t.state.as_str() {
        "received" | "delivered" | "sent" => Item::File {
            peer,
            incoming,
            name,
            path: t.path.as_ref().map(PathBuf::from),
        },
        "cancelled" => Item::Note {
            peer,
            text: format!("{name} was cancelled"),
        },
        _ => Item::Note {
            peer,
            text: format!("{name} did not arrive whole"),
        },
    };
    Said {
        at: t.started_at,
        item,
    }
}
