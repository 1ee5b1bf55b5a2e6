//! Conversations: one per contact (all their addresses together) and one per stranger who wrote
//! or called, so nobody's message is left without a place to answer it. The sidebar lists them
//! newest first with a preview; the main pane opens one.

use super::chat::{self, Item};
use crate::engine::{Address, CallOutcome, CallRecord, Contact, Direction, MessageState};

/// Whom a conversation is with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Thread {
    Contact(i64),
    /// Someone not in the contacts, by address key.
    Peer(String),
}

/// A conversation as the sidebar lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub thread: Thread,
    pub name: String,
    /// The address to call or write to.
    pub address: String,
    /// When the latest thing happened, and what, in a few words.
    pub last: Option<(i64, String)>,
    pub unread: usize,
    /// Someone nobody vouched for, who may not be who the address says.
    pub unverified: bool,
}

/// The key a peer's things are kept under: its address key, or for a sender the server did not
/// vouch for, that key behind a `?` (no contact's address has one), so that claiming a
/// contact's address never files anything under the contact.
pub fn peer_key(peer: &str, verified: bool) -> String {
    match verified {
        true => Address::key(peer),
        false => format!("?{}", Address::key(bare(peer))),
    }
}

/// Whether a key is an unverified sender's.
pub fn is_unverified(key: &str) -> bool {
    key.starts_with('?')
}

/// A key without its unverified mark: the address it names.
pub fn bare(key: &str) -> &str {
    key.trim_start_matches('?')
}

/// How a key reads in the window: the address, marked when nobody vouched for it.
pub fn shown(key: &str) -> String {
    match key.strip_prefix('?') {
        Some(addr) => format!("{addr} (unverified)"),
        None => key.to_string(),
    }
}

/// The address behind a key, to call or write to (through the server, which reaches the
/// real owner of a claimed address).
pub fn address(key: &str) -> String {
    format!("sip:{}", bare(key))
}

/// A call's key in History and the conversations.
pub fn call_key(c: &CallRecord) -> String {
    peer_key(&c.peer_uri, c.verified)
}

/// What the window says of someone nobody vouched for (a conversation, a call card).
pub const UNVERIFIED: &str = "Unverified: not confirmed by your server";

/// The address keys a contact's conversation covers.
pub fn contact_keys(c: &Contact) -> Vec<String> {
    c.uris.iter().map(|u| Address::key(u)).collect()
}

/// The contact owning an address, if any.
pub fn owner<'a>(contacts: &'a [Contact], peer: &str) -> Option<&'a Contact> {
    if is_unverified(peer) {
        return None;
    }
    let k = Address::key(peer);
    contacts.iter().find(|c| contact_keys(c).contains(&k))
}

/// The conversation an address belongs to.
pub fn thread_of(contacts: &[Contact], peer: &str) -> Thread {
    match owner(contacts, peer) {
        Some(c) => Thread::Contact(c.id),
        None if is_unverified(peer) => Thread::Peer(peer.to_string()),
        None => Thread::Peer(Address::key(peer)),
    }
}

/// The address keys of a conversation.
pub fn keys(contacts: &[Contact], t: &Thread) -> Vec<String> {
    match t {
        Thread::Contact(id) => contacts
            .iter()
            .find(|c| c.id == *id)
            .map(contact_keys)
            .unwrap_or_default(),
        Thread::Peer(k) => vec![k.clone()],
    }
}

/// What a text, file or call reads as in a preview.
fn preview(item: &Item) -> String {
    match item {
        Item::Text {
            incoming: false,
            state: MessageState::Failed,
            ..
        } => "Not delivered".into(),
        Item::Text {
            incoming, text: t, ..
        } => {
            let line = t.lines().next().unwrap_or_default();
            if *incoming {
                line.to_string()
            } else {
                format!("You: {line}")
            }
        }
        Item::File { incoming, name, .. } => match incoming {
            true => format!("File: {name}"),
            false => format!("You sent {name}"),
        },
        Item::Note { text } => text.clone(),
    }
}

fn call_preview(c: &CallRecord) -> String {
    match c.outcome() {
        Some(CallOutcome::Answered) | None => match c.direction {
            Direction::Incoming => "Incoming call".into(),
            Direction::Outgoing => "Outgoing call".into(),
        },
        Some(CallOutcome::Missed) => "Missed call".into(),
        Some(o) => o.words("They", c.direction),
    }
}

/// The newest of a conversation's items and calls.
fn latest(keys: &[String], chat: &chat::State, calls: &[CallRecord]) -> Option<(i64, String)> {
    let said = chat.last_with(keys).map(|s| (s.at, preview(&s.item)));
    let call = calls
        .iter()
        .rev()
        .find(|c| keys.contains(&call_key(c)))
        .map(|c| (c.started_at, call_preview(c)));
    match (said, call) {
        (Some(s), Some(c)) => Some(if c.0 > s.0 { c } else { s }),
        (s, c) => s.or(c),
    }
}

/// Every conversation matching `search` (name, address or note), newest first; contacts with
/// nothing yet follow by name.
pub fn list(
    contacts: &[Contact],
    search: &str,
    chat: &chat::State,
    calls: &[CallRecord],
) -> Vec<Summary> {
    let q = search.trim().to_lowercase();
    let mut out: Vec<Summary> = contacts
        .iter()
        .filter(|c| {
            q.is_empty()
                || c.name.to_lowercase().contains(&q)
                || c.note.to_lowercase().contains(&q)
                || c.uris.iter().any(|u| u.to_lowercase().contains(&q))
        })
        .map(|c| {
            let keys = contact_keys(c);
            Summary {
                thread: Thread::Contact(c.id),
                name: c.name.clone(),
                address: c.uris.first().cloned().unwrap_or_default(),
                last: latest(&keys, chat, calls),
                unread: chat.unread_with(&keys),
                unverified: false,
            }
        })
        .collect();
    let mut strangers: Vec<String> = chat
        .peers()
        .map(str::to_string)
        .chain(calls.iter().map(call_key))
        .filter(|k| owner(contacts, k).is_none())
        .filter(|k| q.is_empty() || k.to_lowercase().contains(&q))
        .collect();
    strangers.sort();
    strangers.dedup();
    for k in strangers {
        let keys = vec![k.clone()];
        out.push(Summary {
            thread: Thread::Peer(k.clone()),
            name: bare(&k).to_string(),
            address: address(&k),
            last: latest(&keys, chat, calls),
            unread: chat.unread_with(&keys),
            unverified: is_unverified(&k),
        });
    }
    out.sort_by(|a, b| match (&a.last, &b.last) {
        (Some(x), Some(y)) => y.0.cmp(&x.0),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
    });
    out
}
