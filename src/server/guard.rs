//! Holding back password guessing, for every service that checks a password (SIP digest, the
//! TURN server, the MSRP relay). A source or a user that fails is held back for a time that
//! doubles with each failure; while held, its guesses are not judged at all: the right
//! password gets the same refusal as a wrong one, so a guesser learns nothing from the answer
//! or its timing. Holds spare a user at the addresses they already signed in from, so a
//! guesser elsewhere does not lock the real user out. Every failure is one log line a fail2ban
//! filter can read. Both tables are bounded: strangers cannot grow them without end.
//! `judge` is the one way SIP digest and MSRP AUTH answers are judged.

use super::nonce::{Freshness, Nonces};
use crate::sip::digest::Credentials;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first failure holds for this long; each one after doubles it, up to `MAX_HOLD`.
const FIRST_HOLD: Duration = Duration::from_secs(1);
const MAX_HOLD: Duration = Duration::from_secs(15 * 60);
/// Failures are forgotten after this long without one.
const FORGET: Duration = Duration::from_secs(60 * 60);
/// Sources and users tracked at most (beyond: the longest quiet ones go).
const MAX_TRACKED: usize = 16_384;
/// Addresses remembered per user as ones they signed in from.
const MAX_HOMES: usize = 8;

/// The password a user we do not have is checked against, so that refusing them takes the
/// same work as refusing a known user's wrong one.
const NOBODY: &str = "\u{0}no such user\u{0}";

/// A digest answer, as a service hands it to `judge`.
pub struct Guess<'a> {
    pub creds: &'a Credentials,
    /// The request's method (`REGISTER`, `AUTH`).
    pub method: &'a str,
    /// Whom the answer must prove (SIP: the From's or To's user).
    pub user: &'a str,
    /// Their password; `None` for a user we do not have (or an answer not to be taken).
    pub password: Option<&'a str>,
    pub source: IpAddr,
}

/// What a digest answer is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Right,
    /// Not one of our fresh nonces for this client: challenge again, nothing judged.
    Stale,
    /// Wrong, a user we lack, or held back: all answered alike.
    Wrong,
}

/// Which service judged a password, as the log line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sip,
    Turn,
    Msrp,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Sip => "sip",
            Service::Turn => "turn",
            Service::Msrp => "msrp",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    until: Instant,
    last: Instant,
}

impl Record {
    fn hold(failures: u32) -> Duration {
        let doubled = FIRST_HOLD.saturating_mul(1 << failures.saturating_sub(1).min(20));
        doubled.min(MAX_HOLD)
    }
}

/// Failure records keyed by source or user, bounded.
struct Table<K>(HashMap<K, Record>);

impl<K: Hash + Eq + Clone> Table<K> {
    fn held(&self, k: &K, now: Instant) -> bool {
        self.0.get(k).is_some_and(|r| r.until > now)
    }

    fn fail(&mut self, k: &K, now: Instant) -> u32 {
        if !self.0.contains_key(k) && self.0.len() >= MAX_TRACKED {
            self.make_room(now);
        }
        let r = self.0.entry(k.clone()).or_insert(Record {
            failures: 0,
            until: now,
            last: now,
        });
        if now.duration_since(r.last) > FORGET {
            r.failures = 0;
        }
        r.failures = r.failures.saturating_add(1);
        r.last = now;
        r.until = now + Record::hold(r.failures);
        r.failures
    }

    /// Forgets what is no longer held; if all still are (a flood), the quietest quarter, so
    /// the next inserts find room without another sweep.
    fn make_room(&mut self, now: Instant) {
        self.0
            .retain(|_, r| r.until > now && now.duration_since(r.last) < FORGET);
        if self.0.len() >= MAX_TRACKED {
            let mut lasts: Vec<Instant> = self.0.values().map(|r| r.last).collect();
            let quarter = lasts.len() / 4;
            let (_, cut, _) = lasts.select_nth_unstable(quarter);
            let cut = *cut;
            self.0.retain(|_, r| r.last > cut);
        }
    }
}

/// The hold-back state of one server (shared by its services).
pub struct Guard {
    sources: Mutex<Table<IpAddr>>,
    users: Mutex<Table<String>>,
    /// A user guessed at from one address: held even at the user's own address.
    pairs: Mutex<Table<(IpAddr, String)>>,
    /// Where each user last signed in from: spared by the user's hold.
    homes: Mutex<HashMap<String, Vec<IpAddr>>>,
}

impl Default for Guard {
    fn default() -> Guard {
        Guard {
            sources: Mutex::new(Table(HashMap::new())),
            users: Mutex::new(Table(HashMap::new())),
            pairs: Mutex::new(Table(HashMap::new())),
            homes: Mutex::default(),
        }
    }
}

impl Guard {
    /// Whether a guess for `user` from `source` is held back: answered as wrong, not judged.
    /// Failures for this user from this address always hold; at an address the user signed
    /// in from before, nothing else does: neither a guesser elsewhere nor a colleague's typos
    /// behind the same NAT lock them out.
    pub fn held(&self, user: &str, source: IpAddr, now: Instant) -> bool {
        let pair = (source, user.to_string());
        if self.pairs.lock().unwrap().held(&pair, now) {
            return true;
        }
        let at_home = self
            .homes
            .lock()
            .unwrap()
            .get(user)
            .is_some_and(|h| h.contains(&source));
        !at_home
            && (self.sources.lock().unwrap().held(&source, now)
                || self.users.lock().unwrap().held(&pair.1, now))
    }

    /// A wrong (or held) guess: the source and the user are held longer, and it is logged.
    pub fn failed(&self, service: Service, user: &str, source: IpAddr, now: Instant) {
        let n = self.sources.lock().unwrap().fail(&source, now);
        self.users.lock().unwrap().fail(&user.to_string(), now);
        self.pairs
            .lock()
            .unwrap()
            .fail(&(source, user.to_string()), now);
        // The source first, before anything the guesser chose: a filter's <HOST> is ours.
        tracing::info!(
            "authentication failed from {source}: service={} user={:?} failures={n}",
            service.name(),
            user
        );
    }

    /// The right password, judged: this source is one of the user's homes from now on. The
    /// source's own record stays: signing in to one's own account clears no guesses at others.
    pub fn succeeded(&self, user: &str, source: IpAddr) {
        self.pairs
            .lock()
            .unwrap()
            .0
            .remove(&(source, user.to_string()));
        let mut homes = self.homes.lock().unwrap();
        if !homes.contains_key(user) && homes.len() >= MAX_TRACKED {
            return; // the table is full of real users; this one is judged as before
        }
        let h = homes.entry(user.to_string()).or_default();
        if !h.contains(&source) {
            if h.len() >= MAX_HOMES {
                h.remove(0);
            }
            h.push(source);
        }
    }

    /// Judges a digest answer: a stale nonce asks again; a guess held back, a wrong password
    /// and a user we lack are all wrong (the nonce dies, the failure is held and logged);
    /// only a right password from someone not held is right.
    pub fn judge(&self, nonces: &Nonces, service: Service, g: Guess<'_>) -> Verdict {
        let now = Instant::now();
        let (creds, source) = (g.creds, g.source);
        if nonces.check(&creds.nonce, creds.nonce_count(), source, now) == Freshness::Stale {
            return Verdict::Stale;
        }
        let held = self.held(g.user, source, now);
        let right = creds.verify(g.method, g.password.unwrap_or(NOBODY));
        if held || !right || g.password.is_none() || creds.username != g.user {
            nonces.kill(&creds.nonce);
            self.failed(service, g.user, source, now);
            return Verdict::Wrong;
        }
        self.succeeded(g.user, source);
        Verdict::Right
    }

    /// How many sources and users are tracked (for the memory tests).
    pub fn tracked(&self) -> usize {
        self.sources.lock().unwrap().0.len()
            + self.users.lock().unwrap().0.len()
            + self.pairs.lock().unwrap().0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_failure_holds_the_source_and_doubles() {
        let g = Guard::default();
        let t0 = Instant::now();
        assert!(!g.held("alice", ip(1), t0));
        g.failed(Service::Sip, "alice", ip(1), t0);
        assert!(g.held("alice", ip(1), t0 + Duration::from_millis(900)));
        assert!(!g.held("alice", ip(1), t0 + Duration::from_millis(1100)));
        let t1 = t0 + Duration::from_secs(2);
        g.failed(Service::Sip, "alice", ip(1), t1);
        assert!(g.held("alice", ip(1), t1 + Duration::from_millis(1900)));
        assert!(!g.held("alice", ip(1), t1 + Duration::from_millis(2100)));
    }

    #[test]
    fn a_users_hold_spares_where_they_signed_in_from() {
        let g = Guard::default();
        let t0 = Instant::now();
        g.succeeded("alice", ip(1));
        for n in 0..5 {
            g.failed(Service::Sip, "alice", ip(10 + n), t0);
        }
        assert!(g.held("alice", ip(99), t0), "a new address waits");
        assert!(!g.held("alice", ip(1), t0), "her own address is judged");
        assert!(
            !g.held("bob", ip(98), t0),
            "other users elsewhere are not held"
        );
        g.succeeded("bob", ip(10));
        assert!(g.held("carol", ip(10), t0), "the guessing address is held");
        assert!(
            !g.held("bob", ip(10), t0),
            "but not for bob, who signed in there"
        );
        g.failed(Service::Sip, "alice", ip(1), t0);
        assert!(
            g.held("alice", ip(1), t0),
            "a guess at her own address holds it too"
        );
    }

    #[test]
    fn the_tables_are_bounded() {
        let g = Guard::default();
        let t0 = Instant::now();
        for n in 0..(MAX_TRACKED as u32 + 100) {
            let source = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            g.failed(Service::Turn, &format!("u{n}"), source, t0);
        }
        assert!(g.tracked() <= 3 * MAX_TRACKED);
    }
}
