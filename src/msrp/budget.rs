//! What one peer may have in flight across all its MSRP sessions at once. Each session bounds
//! itself (`inbox`); a peer with several calls or chats at once is bounded here too, by its
//! network address (the one thing it cannot choose freely on a TCP connection): unfinished
//! files (each an offer waiting with up to one chunk in memory, or an open temporary file),
//! unfinished texts, and their bytes. A message in flight holds a `Ticket`; dropping it (the
//! message ended, was refused, or its session closed) gives its share back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Unfinished files of one peer across its sessions (twice a session's).
pub const PEER_FILES: usize = 8;
/// Unfinished texts of one peer across its sessions (twice a session's).
pub const PEER_TEXTS: usize = 32;
/// Bytes of one peer's unfinished texts together (twice a session's).
pub const PEER_TEXT_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Usage {
    files: usize,
    texts: usize,
    text_bytes: usize,
}

/// The shares of every peer; cloned into each session of one engine.
#[derive(Debug, Clone, Default)]
pub struct Budget(Arc<Mutex<HashMap<IpAddr, Usage>>>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Text,
}

/// One message's share of its peer's budget, given back when dropped.
#[derive(Debug)]
pub struct Ticket {
    budget: Budget,
    peer: IpAddr,
    kind: Kind,
    bytes: usize,
}

impl Budget {
    fn with<R>(&self, peer: IpAddr, f: impl FnOnce(&mut Usage) -> R) -> R {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let usage = map.entry(peer).or_default();
        let r = f(usage);
        if *usage == Usage::default() {
            map.remove(&peer);
        }
        r
    }

    /// A share for one more unfinished file of `peer`, if it has room for one.
    pub fn file(&self, peer: IpAddr) -> Option<Ticket> {
        let ok = self.with(peer, |u| {
            let ok = u.files < PEER_FILES;
            u.files += usize::from(ok);
            ok
        });
        ok.then(|| self.ticket(peer, Kind::File))
    }

    /// A share for one more unfinished text of `peer`, if it has room for one.
    pub fn text(&self, peer: IpAddr) -> Option<Ticket> {
        let ok = self.with(peer, |u| {
            let ok = u.texts < PEER_TEXTS && u.text_bytes < PEER_TEXT_BYTES;
            u.texts += usize::from(ok);
            ok
        });
        ok.then(|| self.ticket(peer, Kind::Text))
    }

    fn ticket(&self, peer: IpAddr, kind: Kind) -> Ticket {
        Ticket {
            budget: self.clone(),
            peer,
            kind,
            bytes: 0,
        }
    }

    /// How many unfinished files `peer` has now (for tests and logs).
    pub fn files_of(&self, peer: IpAddr) -> usize {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&peer).map_or(0, |u| u.files)
    }
}

impl Ticket {
    /// Takes `n` more bytes of text for this message; `false` (and nothing taken) when the
    /// peer's texts together would pass their bound.
    pub fn grow(&mut self, n: usize) -> bool {
        let ok = self.budget.with(self.peer, |u| {
            let ok = u.text_bytes.saturating_add(n) <= PEER_TEXT_BYTES;
            if ok {
                u.text_bytes += n;
            }
            ok
        });
        if ok {
            self.bytes += n;
        }
        ok
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let (kind, bytes) = (self.kind, self.bytes);
        self.budget.with(self.peer, |u| {
            match kind {
                Kind::File => u.files = u.files.saturating_sub(1),
                Kind::Text => u.texts = u.texts.saturating_sub(1),
            }
            u.text_bytes = u.text_bytes.saturating_sub(bytes);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_so_many_files_and_texts_and_gets_them_back() {
        let b = Budget::default();
        let (peer, other): (IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let files: Vec<Ticket> = (0..PEER_FILES).map(|_| b.file(peer).unwrap()).collect();
        assert!(b.file(peer).is_none());
        // Another peer is not held back by the first.
        assert!(b.file(other).is_some());
        drop(files);
        assert_eq!(b.files_of(peer), 0);
        assert!(b.file(peer).is_some());

        let mut text = b.text(peer).unwrap();
        assert!(text.grow(PEER_TEXT_BYTES - 10));
        assert!(!text.grow(11));
        let mut second = b.text(peer).unwrap();
        assert!(second.grow(10));
        // The bytes are all taken: no third text starts.
        assert!(b.text(peer).is_none());
        drop((text, second));
        assert!(b.0.lock().unwrap().is_empty(), "nothing is left behind");
    }
}
