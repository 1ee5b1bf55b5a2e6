//! The keepalive schedule of one flow to a registrar (RFC 5626 4.4), sans-IO: when to ping,
//! and when a flow whose pings go unanswered has failed. Driven by `(input, now)`.
//! Silence means failure only from a server that answers: one that said `outbound`, or has
//! answered before. Registrars without RFC 5626 (Asterisk) never answer a CRLF ping; for them
//! the pings only keep a NAT's mapping, and the connection itself and the registration's
//! refresh tell whether the flow lives.

use super::stun::TxId;
use crate::sip::endpoint::Ping;
use crate::sip::transport::Proto;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// UDP: under the 20 s after which many home NATs forget an idle mapping (RFC 5626 suggests
/// a shorter interval where NATs are known to need it); TCP: RFC 5626 4.4.1's 95-120 s.
pub const UDP_INTERVAL: Duration = Duration::from_secs(15);
pub const TCP_INTERVAL: Duration = Duration::from_secs(120);
/// RFC 5626 4.4.1: a pong not back within 10 s means the flow failed.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// A STUN request is sent again this long after the last try, doubling (RFC 8489 6.2.1).
const FIRST_RESEND: Duration = Duration::from_millis(500);

/// What the schedule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Ping(Ping),
    /// No answer in time: the flow is gone; register again at once.
    Failed,
}

/// What an answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Alive,
    /// The public address changed (RFC 5626 4.4.2): the NAT gave us a new mapping, so the
    /// server's picture of the flow is wrong; register again.
    Moved(SocketAddr),
    /// Not an answer to our ping.
    Unrelated,
}

#[derive(Debug)]
struct Waiting {
    /// Every try's STUN transaction (a resend is a new request; any answer will do).
    ids: Vec<TxId>,
    since: Instant,
    resend_at: Instant,
    resend_every: Duration,
}

/// What a silence after a ping means on this flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not answered yet: a first silence says the server does not answer pings (no STUN on
    /// UDP, no RFC 5626 pongs on TCP), not that it died.
    Probe,
    /// Answered before, or promised by `outbound`: silence means the flow failed.
    Answered,
    /// Pings nobody answers: they keep the NAT's mapping only.
    Blind,
}

#[derive(Debug)]
pub struct Keepalive {
    proto: Proto,
    interval: Duration,
    next: Instant,
    waiting: Option<Waiting>,
    mode: Mode,
    mapped: Option<SocketAddr>,
}

impl Keepalive {
    /// `flow_timer`: the registrar's Flow-Timer header (seconds), when it sent one;
    /// `outbound`: the registrar said `Require: outbound` (RFC 5626), so pongs are owed.
    pub fn new(proto: Proto, flow_timer: Option<u32>, outbound: bool, now: Instant) -> Keepalive {
        let default = match proto {
            Proto::Udp => UDP_INTERVAL,
            Proto::Tcp | Proto::Tls => TCP_INTERVAL,
        };
        let interval = flow_timer
            .filter(|s| *s > 0)
            .map_or(default, |s| Duration::from_secs(s.into()));
        // The first ping goes at once: it tells whether the server answers STUN, and our
        // public address, before the first call needs them.
        let mut k = Keepalive {
            proto,
            interval,
            next: now,
            waiting: None,
            mode: Mode::Probe,
            mapped: None,
        };
        k.expect_pongs(outbound);
        k
    }

    /// The registrar said (again) whether it does RFC 5626 outbound: on TCP and TLS its
    /// pongs are then owed, and their absence fails the flow.
    pub fn expect_pongs(&mut self, outbound: bool) {
        if outbound && self.proto.reliable() {
            self.mode = Mode::Answered;
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether the server has shown it does not answer STUN on this flow.
    pub fn without_stun(&self) -> bool {
        self.proto == Proto::Udp && self.mode == Mode::Blind
    }

    /// The public address the last STUN answer named.
    pub fn mapped(&self) -> Option<SocketAddr> {
        self.mapped
    }

    /// RFC 5626 4.4.1: each ping at a random 80-100% of the interval, so that many clients
    /// behind one NAT do not ping in step.
    fn schedule(&mut self, now: Instant) {
        let share = rand::random::<f64>().mul_add(0.2, 0.8);
        self.next = now + self.interval.mul_f64(share);
    }

    pub fn next_deadline(&self) -> Instant {
        match &self.waiting {
            Some(w) if self.proto == Proto::Udp => w.resend_at.min(w.since + ANSWER_WITHIN),
            Some(w) => w.since + ANSWER_WITHIN,
            None => self.next,
        }
    }

    /// What is due at `now`, if anything. After `Due::Ping` call `sent`.
    pub fn poll(&mut self, now: Instant) -> Option<Due> {
        if let Some(w) = &self.waiting {
            if now >= w.since + ANSWER_WITHIN {
                self.waiting = None;
                if self.mode == Mode::Probe {
                    match self.proto {
                        Proto::Udp => {
                            tracing::info!("the server does not answer STUN: keepalives are CRLFs")
                        }
                        _ => tracing::info!(
                            "the server does not answer CRLF pings: the connection and the \
                             registration's refresh say whether the flow lives"
                        ),
                    }
                    self.mode = Mode::Blind;
                    return None;
                }
                return Some(Due::Failed);
            }
            let resend = self.proto == Proto::Udp && now >= w.resend_at;
            return resend.then_some(Due::Ping(Ping::Stun));
        }
        if now < self.next {
            return None;
        }
        Some(Due::Ping(match (self.proto, self.mode) {
            (Proto::Udp, Mode::Blind) | (Proto::Tcp | Proto::Tls, _) => Ping::Crlf,
            (Proto::Udp, _) => Ping::Stun,
        }))
    }

    /// The ping `poll` asked for went out; `id` is a STUN one's transaction.
    pub fn sent(&mut self, id: Option<TxId>, now: Instant) {
        if let Some(w) = &mut self.waiting {
            w.ids.extend(id);
            w.resend_every *= 2;
            w.resend_at = now + w.resend_every;
            return;
        }
        self.schedule(now);
        if self.mode == Mode::Blind {
            return;
        }
        self.waiting = Some(Waiting {
            ids: id.into_iter().collect(),
            since: now,
            resend_at: now + FIRST_RESEND,
            resend_every: FIRST_RESEND,
        });
    }

    /// A pong (`stun`: a STUN answer's ID and mapped address; `None`: a CRLF pong).
    pub fn answer(&mut self, stun: Option<(TxId, SocketAddr)>, now: Instant) -> Answer {
        let Some(w) = &self.waiting else {
            return Answer::Unrelated;
        };
        let ours = match stun {
            Some((id, _)) => w.ids.contains(&id),
            None => self.proto.reliable(),
        };
        if !ours {
            return Answer::Unrelated;
        }
        self.waiting = None;
        self.schedule(now);
        self.mode = Mode::Answered;
        let Some((_, mapped)) = stun else {
            return Answer::Alive;
        };
        match self.mapped.replace(mapped) {
            Some(before) if before != mapped => Answer::Moved(mapped),
            _ => Answer::Alive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Runs the schedule until it asks for something.
    fn until_due(k: &mut Keepalive, now: &mut Instant) -> Due {
        loop {
            *now = (*now).max(k.next_deadline());
            if let Some(d) = k.poll(*now) {
                return d;
            }
        }
    }

    #[test]
    fn udp_pings_within_the_interval_and_learns_the_public_address() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Proto::Udp, None, false, t0);
        let mut now = t0;
        assert_eq!(until_due(&mut k, &mut now), Due::Ping(Ping::Stun));
        assert_eq!(now, t0, "the first ping goes at once");
        k.sent(Some(1), now);
        let public = addr("203.0.113.2:40000");
        assert_eq!(k.answer(Some((2, public)), now), Answer::Unrelated);
        assert_eq!(k.answer(Some((1, public)), now), Answer::Alive);
        assert_eq!(k.mapped(), Some(public));
        let t1 = now;
        assert_eq!(until_due(&mut k, &mut now), Due::Ping(Ping::Stun));
        assert!(now - t1 >= UDP_INTERVAL.mul_f64(0.8) && now - t1 <= UDP_INTERVAL);
        k.sent(Some(3), now);
        let moved = addr("203.0.113.2:40001");
        assert_eq!(k.answer(Some((3, moved)), now), Answer::Moved(moved));
    }

    #[test]
    fn a_flow_that_stops_answering_fails_after_resends() {
        let mut now = Instant::now();
        let mut k = Keepalive::new(Proto::Udp, Some(5), false, now);
        assert_eq!(until_due(&mut k, &mut now), Due::Ping(Ping::Stun));
        k.sent(Some(1), now);
        k.answer(Some((1, addr("203.0.113.2:1"))), now);
        let mut tries = 0;
        loop {
            match until_due(&mut k, &mut now) {
                Due::Ping(Ping::Stun) => {
                    tries += 1;
                    k.sent(Some(10 + tries), now);
                }
                Due::Failed => break,
                d => panic!("unexpected {d:?}"),
            }
        }
        // The first ping and its resends at 0.5, 1.5, 3.5 and 7.5 s.
        assert_eq!(tries, 5);
    }

    #[test]
    fn a_server_without_stun_gets_unanswered_crlfs_and_is_not_failed() {
        let mut now = Instant::now();
        let mut k = Keepalive::new(Proto::Udp, None, false, now);
        let mut seen = Vec::new();
        while seen.len() < 12 {
            let d = until_due(&mut k, &mut now);
            assert_ne!(d, Due::Failed);
            let Due::Ping(how) = d else { unreachable!() };
            seen.push(how);
            k.sent((how == Ping::Stun).then_some(seen.len() as u128), now);
        }
        assert_eq!(seen.last(), Some(&Ping::Crlf));
    }

    #[test]
    fn an_outbound_tcp_flow_pings_with_crlf_and_fails_without_a_pong() {
        let mut now = Instant::now();
        let mut k = Keepalive::new(Proto::Tcp, Some(30), true, now);
        assert_eq!(k.interval(), Duration::from_secs(30));
        assert_eq!(until_due(&mut k, &mut now), Due::Ping(Ping::Crlf));
        k.sent(None, now);
        assert_eq!(k.answer(None, now), Answer::Alive);
        assert_eq!(until_due(&mut k, &mut now), Due::Ping(Ping::Crlf));
        k.sent(None, now);
        assert_eq!(until_due(&mut k, &mut now), Due::Failed);
    }

    /// Asterisk: no `outbound`, and CRLF pings never answered. The flow is not failed: the
    /// pings go on (they keep a NAT's mapping), for as long as anyone cares to look.
    #[test]
    fn a_tcp_registrar_that_never_answers_pings_is_not_failed() {
        let mut now = Instant::now();
        let mut k = Keepalive::new(Proto::Tcp, None, false, now);
        for _ in 0..12 {
            let d = until_due(&mut k, &mut now);
            assert_eq!(d, Due::Ping(Ping::Crlf));
            k.sent(None, now);
        }
    }

    /// A registrar without `outbound` that answers CRLF pings anyway (Kamailio) has shown it
    /// does: its later silence fails the flow.
    #[test]
    fn a_tcp_registrar_that_answered_once_is_watched_after() {
        let mut now = Instant::now();
        let mut k = Keepalive::new(Proto::Tcp, None, false, now);
        assert_eq!(until_due(&mut k, &mut now), Due::Ping(Ping::Crlf));
        k.sent(None, now);
        assert_eq!(k.answer(None, now), Answer::Alive);
        assert_eq!(until_due(&mut k, &mut now), Due::Ping(Ping::Crlf));
        k.sent(None, now);
        assert_eq!(until_due(&mut k, &mut now), Due::Failed);
    }
}
