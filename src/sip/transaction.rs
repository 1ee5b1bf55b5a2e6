//! Transaction state machines (RFC 3261 section 17, with RFC 6026's Accepted state).
//! Sans-IO: each machine takes `(input, now)` and returns actions; the endpoint owns the sockets
//! and the clock. Timers: A/B/D (client INVITE), E/F/K (client non-INVITE), G/H/I (server
//! INVITE), J (server non-INVITE), L/M (RFC 6026). Reliable transports skip retransmits and waits.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    fn b(&self) -> Duration {
        self.t1 * 64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invite,
    NonInvite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calling (client INVITE) or Trying (non-INVITE, both sides).
    Initial,
    Proceeding,
    Completed,
    /// RFC 6026: a 2xx to INVITE has passed; late 2xx copies still go to the TU.
    Accepted,
    /// Server INVITE after the ACK arrived (Timer I).
    Confirmed,
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the request again (client) or the last response again (server).
    Retransmit,
    /// Client INVITE: send the ACK for a non-2xx final response.
    SendAck,
    /// Hand the response to the transaction user.
    Deliver,
    /// Timer B/F (client) or H (server) fired: the peer never answered.
    Timeout,
    Terminate,
}

/// Retransmission and end timers shared by all four machines.
#[derive(Debug, Clone)]
struct Clock {
    retransmit_at: Option<Instant>,
    interval: Duration,
    timeout_at: Option<Instant>,
    end_at: Option<Instant>,
}

impl Clock {
    fn next(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }
}

#[derive(Debug, Clone)]
pub struct ClientTx {
    pub kind: Kind,
    pub state: State,
    reliable: bool,
    timers: Timers,
    clock: Clock,
}

impl ClientTx {
    /// A transaction whose request was just sent at `now`.
    pub fn new(kind: Kind, reliable: bool, timers: Timers, now: Instant) -> ClientTx {
        ClientTx {
            kind,
            state: State::Initial,
            reliable,
            timers,
            clock: Clock {
                retransmit_at: (!reliable).then(|| now + timers.t1),
                interval: timers.t1,
                timeout_at: Some(now + timers.b()),
                end_at: None,
            },
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.clock.next()
    }

    pub fn on_response(&mut self, code: u16, now: Instant) -> Vec<Action> {
        use Action::*;
        let provisional = code < 200;
        match (self.kind, self.state) {
            (Kind::Invite, State::Initial | State::Proceeding) => {
                if provisional {
                    self.state = State::Proceeding;
                    self.clock.retransmit_at = None;
                    self.clock.timeout_at = None;
                    vec![Deliver]
                } else if code < 300 {
                    self.enter(State::Accepted, now + self.timers.b());
                    vec![Deliver]
                } else {
                    let d = if self.reliable {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(32)
                    };
                    self.enter(State::Completed, now + d);
                    vec![SendAck, Deliver]
                }
            }
            (Kind::Invite, State::Completed) if code >= 300 => vec![SendAck],
            (Kind::Invite, State::Accepted) if (200..300).contains(&code) => vec![Deliver],
            (Kind::NonInvite, State::Initial | State::Proceeding) => {
                if provisional {
                    self.state = State::Proceeding;
                    vec![Deliver]
                } else {
                    let k = if self.reliable {
                        Duration::ZERO
                    } else {
                        self.timers.t4
                    };
                    self.enter(State::Completed, now + k);
                    vec![Deliver]
                }
            }
            _ => vec![],
        }
    }

    fn enter(&mut self, state: State, end_at: Instant) {
        self.state = state;
        self.clock.retransmit_at = None;
        self.clock.timeout_at = None;
        self.clock.end_at = Some(end_at);
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.clock.end_at.is_some_and(|t| t <= now) {
            self.state = State::Terminated;
            return vec![Action::Terminate];
        }
        if self.clock.timeout_at.is_some_and(|t| t <= now) {
            self.state = State::Terminated;
            return vec![Action::Timeout, Action::Terminate];
        }
        if let Some(at) = self.clock.retransmit_at.filter(|t| *t <= now) {
            out.push(Action::Retransmit);
            self.clock.interval = match (self.kind, self.state) {
                (Kind::Invite, _) => self.clock.interval * 2,
                (Kind::NonInvite, State::Proceeding) => self.timers.t2,
                (Kind::NonInvite, _) => (self.clock.interval * 2).min(self.timers.t2),
            };
            self.clock.retransmit_at = Some(at.max(now) + self.clock.interval);
        }
        out
    }

    /// The transport could not send: RFC 3261 17.1.4, treated like a timeout.
    pub fn on_transport_error(&mut self) -> Vec<Action> {
        self.state = State::Terminated;
        vec![Action::Timeout, Action::Terminate]
    }
}

#[derive(Debug, Clone)]
pub struct ServerTx {
    pub kind: Kind,
    pub state: State,
    reliable: bool,
    timers: Timers,
    clock: Clock,
    /// Whether any response was sent, so a retransmitted request has something to answer with.
    pub has_response: bool,
}

impl ServerTx {
    pub fn new(kind: Kind, reliable: bool, timers: Timers) -> ServerTx {
        ServerTx {
            kind,
            state: if kind == Kind::Invite {
                State::Proceeding
            } else {
                State::Initial
            },
            reliable,
            timers,
            clock: Clock {
                retransmit_at: None,
                interval: timers.t1,
                timeout_at: None,
                end_at: None,
            },
            has_response: false,
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.clock.next()
    }

    /// The request arrived again.
    pub fn on_retransmitted_request(&mut self) -> Vec<Action> {
        match self.state {
            State::Proceeding | State::Completed if self.has_response => vec![Action::Retransmit],
            _ => vec![],
        }
    }

    /// The TU sends a response with this status; returns whether it may go on the wire.
    pub fn on_send(&mut self, code: u16, now: Instant) -> bool {
        let allowed = match (self.kind, self.state) {
            (_, State::Initial | State::Proceeding) => true,
            // RFC 6026: a proxy passes on further 2xx copies while Accepted.
            (Kind::Invite, State::Accepted) => (200..300).contains(&code),
            _ => false,
        };
        if !allowed {
            return false;
        }
        self.has_response = true;
        let b = self.timers.b();
        match self.kind {
            Kind::Invite if code < 200 => self.state = State::Proceeding,
            Kind::Invite if code < 300 => {
                if self.state != State::Accepted {
                    self.state = State::Accepted;
                    self.clock.end_at = Some(now + b);
                }
            }
            Kind::Invite => {
                self.state = State::Completed;
                self.clock.retransmit_at = (!self.reliable).then(|| now + self.timers.t1);
                self.clock.interval = self.timers.t1;
                self.clock.timeout_at = Some(now + b);
            }
            Kind::NonInvite if code < 200 => self.state = State::Proceeding,
            Kind::NonInvite => {
                self.state = State::Completed;
                self.clock.end_at = Some(now + if self.reliable { Duration::ZERO } else { b });
            }
        }
        true
    }

    /// An ACK for our non-2xx final response arrived (server INVITE only).
    pub fn on_ack(&mut self, now: Instant) {
        if self.kind == Kind::Invite && self.state == State::Completed {
            self.state = State::Confirmed;
            self.clock.retransmit_at = None;
            self.clock.timeout_at = None;
            self.clock.end_at = Some(
                now + if self.reliable {
                    Duration::ZERO
                } else {
                    self.timers.t4
                },
            );
        }
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<Action> {
        if self.clock.end_at.is_some_and(|t| t <= now) {
            self.state = State::Terminated;
            return vec![Action::Terminate];
        }
        if self.clock.timeout_at.is_some_and(|t| t <= now) {
            self.state = State::Terminated;
            return vec![Action::Timeout, Action::Terminate];
        }
        if let Some(at) = self.clock.retransmit_at.filter(|t| *t <= now) {
            self.clock.interval = (self.clock.interval * 2).min(self.timers.t2);
            self.clock.retransmit_at = Some(at.max(now) + self.clock.interval);
            return vec![Action::Retransmit];
        }
        vec![]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs timers from `start` in 1 ms steps until `until`, recording (elapsed ms, action).
    fn run_client(tx: &mut ClientTx, start: Instant, until: u64) -> Vec<(u64, Action)> {
        let mut out = Vec::new();
        for t in 0..=until {
            for a in tx.on_timer(start + ms(t)) {
                out.push((t, a));
            }
        }
        out
    }

    #[test]
    fn timer_a_doubles_and_timer_b_gives_up_after_64_t1() {
        let t0 = Instant::now();
        let mut tx = ClientTx::new(Kind::Invite, false, Timers::default(), t0);
        let log = run_client(&mut tx, t0, 32_000);
        let retrans: Vec<u64> = log
            .iter()
            .filter(|(_, a)| *a == Retransmit)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(retrans, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(log.last().unwrap(), &(32_000, Terminate));
        assert!(log.contains(&(32_000, Timeout)));
    }

    #[test]
    fn invite_provisional_stops_retransmits_and_error_sends_ack_with_timer_d() {
        let t0 = Instant::now();
        let mut tx = ClientTx::new(Kind::Invite, false, Timers::default(), t0);
        assert_eq!(tx.on_response(180, t0 + ms(100)), vec![Deliver]);
        assert!(run_client(&mut tx, t0, 40_000).is_empty());
        assert_eq!(tx.on_response(486, t0 + ms(40_000)), vec![SendAck, Deliver]);
        assert_eq!(tx.state, State::Completed);
        // A retransmitted final response gets the ACK again but is not delivered twice.
        assert_eq!(tx.on_response(486, t0 + ms(40_100)), vec![SendAck]);
        assert!(tx.on_timer(t0 + ms(71_999)).is_empty());
        assert_eq!(tx.on_timer(t0 + ms(72_000)), vec![Terminate]);
    }

    #[test]
    fn invite_2xx_enters_accepted_and_passes_copies_up() {
        let t0 = Instant::now();
        let mut tx = ClientTx::new(Kind::Invite, true, Timers::default(), t0);
        assert_eq!(tx.on_response(200, t0), vec![Deliver]);
        assert_eq!(tx.state, State::Accepted);
        assert_eq!(tx.on_response(200, t0 + ms(500)), vec![Deliver]);
        assert_eq!(tx.on_timer(t0 + ms(32_000)), vec![Terminate]);
    }

    #[test]
    fn timer_e_caps_at_t2_and_timer_k_waits_t4() {
        let t0 = Instant::now();
        let mut tx = ClientTx::new(Kind::NonInvite, false, Timers::default(), t0);
        let log = run_client(&mut tx, t0, 12_000);
        let retrans: Vec<u64> = log
            .iter()
            .filter(|(_, a)| *a == Retransmit)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(retrans, vec![500, 1500, 3500, 7500, 11500]);
        assert_eq!(tx.on_response(200, t0 + ms(12_000)), vec![Deliver]);
        assert_eq!(tx.on_response(200, t0 + ms(12_001)), vec![]);
        assert!(tx.on_timer(t0 + ms(16_999)).is_empty());
        assert_eq!(tx.on_timer(t0 + ms(17_000)), vec![Terminate]);
    }

    #[test]
    fn timer_f_and_reliable_transport() {
        let t0 = Instant::now();
        let mut tx = ClientTx::new(Kind::NonInvite, true, Timers::default(), t0);
        let log = run_client(&mut tx, t0, 32_000);
        assert_eq!(log, vec![(32_000, Timeout), (32_000, Terminate)]);
        let mut tx = ClientTx::new(Kind::NonInvite, true, Timers::default(), t0);
        tx.on_response(200, t0);
        assert_eq!(tx.on_timer(t0), vec![Terminate]);
    }

    #[test]
    fn server_invite_timers_g_h_i() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(Kind::Invite, false, Timers::default());
        assert!(tx.on_retransmitted_request().is_empty());
        assert!(tx.on_send(180, t0));
        assert_eq!(tx.on_retransmitted_request(), vec![Retransmit]);
        assert!(tx.on_send(486, t0));
        let mut g = Vec::new();
        let mut h = None;
        for t in 0..=32_000 {
            for a in tx.on_timer(t0 + ms(t)) {
                match a {
                    Retransmit => g.push(t),
                    Timeout => h = Some(t),
                    _ => {}
                }
            }
        }
        assert_eq!(
            g,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(h, Some(32_000));

        let mut tx = ServerTx::new(Kind::Invite, false, Timers::default());
        tx.on_send(603, t0);
        tx.on_ack(t0 + ms(100));
        assert_eq!(tx.state, State::Confirmed);
        assert!(tx.on_timer(t0 + ms(5_099)).is_empty());
        assert_eq!(tx.on_timer(t0 + ms(5_100)), vec![Terminate]);
    }

    #[test]
    fn server_non_invite_timer_j_and_late_sends_refused() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(Kind::NonInvite, false, Timers::default());
        assert!(tx.on_send(200, t0));
        assert!(!tx.on_send(500, t0));
        assert_eq!(tx.on_retransmitted_request(), vec![Retransmit]);
        assert!(tx.on_timer(t0 + ms(31_999)).is_empty());
        assert_eq!(tx.on_timer(t0 + ms(32_000)), vec![Terminate]);
        let mut inv = ServerTx::new(Kind::Invite, false, Timers::default());
        assert!(inv.on_send(200, t0));
        assert!(inv.on_send(200, t0 + ms(500)));
        assert!(!inv.on_send(486, t0 + ms(600)));
    }
}
