//! Digest nonces (RFC 7616 3.3, 5.4): made without keeping anything (a time, a random salt and
//! a keyed hash of both and the client's address), so challenging a flood of strangers costs no memory;
//! bound to the client's address, so an answer cannot be replayed from elsewhere; used at
//! most once per nonce-count, and dead after their first wrong answer. Only nonces answered
//! are remembered, in a bounded table that forgets them when they expire.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const LIFETIME: Duration = Duration::from_secs(300);
/// Answered nonces remembered at most (beyond: the oldest go, and answer as stale).
const MAX_USED: usize = 65_536;

/// What a nonce in an answer is worth.
#[derive(Debug, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Ours but expired, for another client, already used with this count, or dead: the
    /// client should be challenged again.
    Stale,
}

#[derive(Debug, Clone, Copy)]
enum Use {
    /// The highest nonce-count seen.
    Count(u32),
    Dead,
}

pub struct Nonces {
    key: [u8; 32],
    epoch: Instant,
    used: Mutex<HashMap<String, (Instant, Use)>>,
}

impl Default for Nonces {
    fn default() -> Nonces {
        Nonces {
            key: rand::random(),
            epoch: Instant::now(),
            used: Mutex::default(),
        }
    }
}

impl Nonces {
    fn mac(&self, secs: u64, salt: &str, client: IpAddr) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        m.update(&secs.to_be_bytes());
        m.update(salt.as_bytes());
        m.update(client.to_string().as_bytes());
        crate::msrp::digest::hex(&m.finalize().into_bytes()[..16])
    }

    /// A new nonce for `client`, unlike any other.
    pub fn issue(&self, client: IpAddr, now: Instant) -> String {
        let secs = now.saturating_duration_since(self.epoch).as_secs();
        let salt = crate::msrp::digest::hex(&rand::random::<[u8; 8]>());
        format!("{secs:x}.{salt}.{}", self.mac(secs, &salt, client))
    }

    /// Whether `nonce` is ours, for `client`, unexpired and unused with `nc` (which it then
    /// uses up).
    pub fn check(&self, nonce: &str, nc: u32, client: IpAddr, now: Instant) -> Freshness {
        let Some(issued) = self.issued(nonce, client) else {
            return Freshness::Stale;
        };
        let age = now.saturating_duration_since(self.epoch + issued);
        if age >= LIFETIME {
            return Freshness::Stale;
        }
        let mut used = self.used.lock().unwrap();
        if !used.contains_key(nonce) && used.len() >= MAX_USED {
            used.retain(|_, (t, _)| now.saturating_duration_since(*t) < LIFETIME);
            if used.len() >= MAX_USED {
                return Freshness::Stale;
            }
        }
        let expires = self.epoch + issued + LIFETIME;
        match used.get(nonce) {
            Some((_, Use::Dead)) => Freshness::Stale,
            Some((_, Use::Count(last))) if nc <= *last => Freshness::Stale,
            _ => {
                used.insert(nonce.to_string(), (expires, Use::Count(nc)));
                Freshness::Fresh
            }
        }
    }

    /// A wrong answer: the nonce takes no more.
    pub fn kill(&self, nonce: &str) {
        if let Some((_, u)) = self.used.lock().unwrap().get_mut(nonce) {
            *u = Use::Dead;
        }
    }

    /// When `nonce` was issued (since the epoch), if we made it for `client`.
    fn issued(&self, nonce: &str, client: IpAddr) -> Option<Duration> {
        let mut parts = nonce.splitn(3, '.');
        let (secs, salt, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let secs = u64::from_str_radix(secs, 16).ok()?;
        let expected = self.mac(secs, salt, client);
        let ok = mac.len() == 32 && constant_eq(mac.as_bytes(), expected.as_bytes());
        ok.then(|| Duration::from_secs(secs))
    }

    /// Answered nonces remembered (for the memory tests).
    pub fn remembered(&self) -> usize {
        self.used.lock().unwrap().len()
    }
}

/// Equality that takes as long whatever the first difference.
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_nonce_is_for_one_client_once_per_count() {
        let n = Nonces::default();
        let now = Instant::now();
        let nonce = n.issue(ip(1), now);
        assert_eq!(
            n.check(&nonce, 1, ip(2), now),
            Freshness::Stale,
            "another client"
        );
        assert_eq!(n.check(&nonce, 1, ip(1), now), Freshness::Fresh);
        assert_eq!(n.check(&nonce, 1, ip(1), now), Freshness::Stale, "a replay");
        assert_eq!(n.check(&nonce, 2, ip(1), now), Freshness::Fresh);
        n.kill(&nonce);
        assert_eq!(n.check(&nonce, 3, ip(1), now), Freshness::Stale, "dead");
        let later = now + LIFETIME + Duration::from_secs(1);
        let old = n.issue(ip(1), now);
        assert_eq!(n.check(&old, 1, ip(1), later), Freshness::Stale, "expired");
        assert_eq!(
            n.check("1.abc", 1, ip(1), now),
            Freshness::Stale,
            "not ours"
        );
    }

    #[test]
    fn every_challenge_has_its_own_nonce() {
        let n = Nonces::default();
        let now = Instant::now();
        assert_ne!(n.issue(ip(1), now), n.issue(ip(1), now));
    }

    #[test]
    fn challenging_keeps_nothing() {
        let n = Nonces::default();
        let now = Instant::now();
        for i in 0..10_000u32 {
            n.issue(IpAddr::from(std::net::Ipv4Addr::from(i)), now);
        }
        assert_eq!(n.remembered(), 0);
    }
}
