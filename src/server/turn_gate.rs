//! What the TURN server (`relay`) is never asked to do, checked on each datagram before the
//! sans-IO server sees it and on each answer after: relay to a peer the reach rule refuses
//! (loopback, private, link-local, the server's own: a 403, so nobody tunnels into the
//! server's network), hold more allocations than a user's or the server's quota (486; 508 at
//! the server's), or judge a password guess while its source or user is held back (the
//! request goes on with its integrity spoilt, so the answer is exactly a wrong password's).
//! Answers to signed requests tell which guesses failed, for the hold-back and the log.

use super::guard::{Guard, Service};
use super::reach::Reach;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use stun_types::attribute::{
    ErrorCode, MessageIntegrity, MessageIntegritySha256, Userhash, Username,
};
use stun_types::message::{
    IntegrityAlgorithm, LongTermCredentials, Message, MessageClass, MessageWriteVec, TransactionId,
};
use stun_types::prelude::*;
use turn_server_proto::types::attribute::XorPeerAddress;
pub use turn_server_proto::types::message::ALLOCATE;
use turn_server_proto::types::message::{CHANNEL_BIND, CREATE_PERMISSION};

/// Signed requests awaiting their answer, at most (beyond: the oldest are forgotten).
const MAX_PENDING: usize = 4096;

/// Allocations one user may hold, and the server in all.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub per_user: usize,
    pub total: usize,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            per_user: 10,
            total: 1000,
        }
    }
}

/// What to do with a datagram from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the server as it is.
    Pass,
    /// Hand the server this instead (a held guess, made to fail its integrity check).
    Spoilt(Vec<u8>),
    /// Answer the client this, and the server sees nothing.
    Answer(Vec<u8>),
}

pub struct TurnGate {
    pub reach: Reach,
    pub quotas: Quotas,
    pub guard: Guard,
    realm: String,
    users: HashMap<String, String>,
    /// The user each client's 5-tuple allocated under.
    clients: HashMap<SocketAddr, String>,
    /// Each relayed address, and the client it is for.
    allocations: HashMap<SocketAddr, SocketAddr>,
    /// Signed requests not yet answered: who asked.
    pending: HashMap<TransactionId, (String, IpAddr)>,
}

impl TurnGate {
    pub fn new(realm: &str, users: HashMap<String, String>, reach: Reach, quotas: Quotas) -> Self {
        TurnGate {
            reach,
            quotas,
            guard: Guard::default(),
            realm: realm.to_string(),
            users,
            clients: HashMap::new(),
            allocations: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// A datagram from a client at `from`.
    pub fn inbound(&mut self, data: &[u8], from: SocketAddr, now: Instant) -> Verdict {
        // Channel data and indications (the media) pass at once: only requests are looked at.
        let Ok(msg) = Message::from_bytes(data) else {
            return Verdict::Pass;
        };
        if !msg.has_class(MessageClass::Request) || integrity_of(&msg).is_none() {
            return Verdict::Pass;
        }
        let Some(user) = self.user_of(&msg) else {
            return Verdict::Pass;
        };
        if self.guard.held(&user, from.ip(), now) {
            self.note(&msg, &user, from);
            return Verdict::Spoilt(spoilt(data, &msg));
        }
        if let Some(code) = self.refusal(&msg, &user, from) {
            return Verdict::Answer(self.error(&msg, code, &user));
        }
        self.note(&msg, &user, from);
        if msg.method() == ALLOCATE {
            self.clients.insert(from, user);
        }
        Verdict::Pass
    }

    /// Who a request says it is from: its USERNAME, or the user whose USERHASH it carries
    /// (RFC 8489 14.4; an unknown hash is named by itself, so its guesses are held back too).
    fn user_of(&self, msg: &Message<'_>) -> Option<String> {
        if let Ok(u) = msg.attribute::<Username>() {
            return Some(u.username().to_string());
        }
        let hash = *msg.attribute::<Userhash>().ok()?.hash();
        let known = self
            .users
            .keys()
            .find(|u| Userhash::compute(u, &self.realm) == hash);
        Some(match known {
            Some(u) => u.clone(),
            None => crate::msrp::digest::hex(&hash),
        })
    }

    /// Why a signed request from `user` is refused here, if it is.
    fn refusal(&self, msg: &Message<'_>, user: &str, from: SocketAddr) -> Option<u16> {
        let method = msg.method();
        if method == CREATE_PERMISSION || method == CHANNEL_BIND {
            let tx = msg.transaction_id();
            // Another relayed address of ours is the one of our own a peer may be: two users
            // behind NATs that let nothing in meet there.
            let refused = msg
                .iter_attributes()
                .filter(|(_, a)| a.get_type() == XorPeerAddress::TYPE)
                .filter_map(|(_, a)| XorPeerAddress::from_raw_ref(&a).ok())
                .map(|p| p.addr(tx))
                .any(|a| !self.allocations.contains_key(&a) && !self.reach.permits(a.ip()));
            return refused.then_some(ErrorCode::FORBIDDEN);
        }
        let new = method == ALLOCATE && !self.allocations.values().any(|c| *c == from);
        if !new {
            return None;
        }
        let mine = self
            .allocations
            .values()
            .filter(|c| self.clients.get(c).is_some_and(|u| u == user))
            .count();
        if mine >= self.quotas.per_user {
            return Some(ErrorCode::ALLOCATION_QUOTA_REACHED);
        }
        (self.allocations.len() >= self.quotas.total).then_some(ErrorCode::INSUFFICIENT_CAPACITY)
    }

    /// Remembers a signed request, to learn from its answer whether the password was right.
    fn note(&mut self, msg: &Message<'_>, user: &str, from: SocketAddr) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.clear();
        }
        let who = (user.to_string(), from.ip());
        self.pending.insert(msg.transaction_id(), who);
    }

    /// An answer the server sends a client: a signed request's 401 is a failed guess.
    pub fn outbound(&mut self, data: &[u8], now: Instant) {
        // Most of what goes out is media toward clients: nothing to learn while none waits.
        if self.pending.is_empty() {
            return;
        }
        let Ok(msg) = Message::from_bytes(data) else {
            return;
        };
        let Some((user, ip)) = self.pending.remove(&msg.transaction_id()) else {
            return;
        };
        let code = msg.attribute::<ErrorCode>().ok().map(|e| e.code());
        match (msg.class(), code) {
            (MessageClass::Error, Some(ErrorCode::UNAUTHORIZED)) => {
                self.guard.failed(Service::Turn, &user, ip, now)
            }
            (MessageClass::Success, _) => self.guard.succeeded(&user, ip),
            _ => {}
        }
    }

    /// The server gave `client` the relayed address `relayed`.
    pub fn allocated(&mut self, relayed: SocketAddr, client: SocketAddr) {
        self.allocations.insert(relayed, client);
    }

    /// The relayed address `relayed` is given back.
    pub fn released(&mut self, relayed: SocketAddr) {
        if let Some(client) = self.allocations.remove(&relayed) {
            if !self.allocations.values().any(|c| *c == client) {
                self.clients.remove(&client);
            }
        }
        crate::memory::shrink_sparse(&mut self.allocations);
        crate::memory::shrink_sparse(&mut self.clients);
    }

    /// Our own error answer, signed with the user's long-term key as the request was.
    fn error(&self, msg: &Message<'_>, code: u16, user: &str) -> Vec<u8> {
        let mut b = Message::builder_error(msg, MessageWriteVec::new());
        let error = ErrorCode::builder(code).build().expect("a known code");
        let _ = b.add_attribute(&error);
        if let (Some(password), Some((_, algorithm))) = (self.users.get(user), integrity_of(msg)) {
            let creds = LongTermCredentials::new(user.to_string(), password.clone());
            let key = creds.to_key(self.realm.clone());
            let _ = b.add_message_integrity(&key.into(), algorithm);
        }
        let _ = b.add_fingerprint();
        b.finish()
    }
}

/// Where a request's integrity attribute is, and which: SHA-1 or SHA-256 (RFC 8489 14.6).
fn integrity_of(msg: &Message<'_>) -> Option<(usize, IntegrityAlgorithm)> {
    msg.iter_attributes()
        .find_map(|(offset, a)| match a.get_type() {
            t if t == MessageIntegrity::TYPE => Some((offset, IntegrityAlgorithm::Sha1)),
            t if t == MessageIntegritySha256::TYPE => Some((offset, IntegrityAlgorithm::Sha256)),
            _ => None,
        })
}

/// `data` with a byte of its integrity value changed: it can only fail its check.
fn spoilt(data: &[u8], msg: &Message<'_>) -> Vec<u8> {
    let mut copy = data.to_vec();
    let at = integrity_of(msg).map(|(offset, _)| offset + 4);
    if let Some(byte) = at.and_then(|i| copy.get_mut(i)) {
        *byte ^= 0xff;
    }
    copy
}
