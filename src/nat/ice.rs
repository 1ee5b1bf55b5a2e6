//! ICE (RFC 8445) for a call's audio, on `rice-proto`'s sans-IO agent: our candidates (host,
//! server-reflexive from STUN, relayed from TURN) go into the SDP, the agent checks every pair
//! against the other side's and picks one, and RTP then flows on that pair. Consent freshness
//! (RFC 7675), which the agent lacks, is here: a check on the chosen pair every 4-6 s, and
//! nothing more is sent once 30 s pass without an answer.

use super::nomination::{self, Nomination, Passwords};
use super::turn::Relay;
use rice_proto::agent::{Agent, AgentPoll};
use rice_proto::candidate::{Candidate, CandidateType, TransportType};
use rice_proto::component::ComponentConnectionState;
use rice_proto::component::ComponentConnectionState::Connected;
use rice_proto::stream::{Credentials, GatheredCandidate};
use rice_proto::turn::TurnClient;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use turn_client_proto::stun::agent::Transmit;

/// Our side or theirs, as SDP says it: `a=ice-ufrag`, `a=ice-pwd`, and each `a=candidate`'s
/// value (without `candidate:`).
pub use crate::sdp::IceAttrs;

/// Without an answer to a consent check for this long, the other side no longer wants our
/// media (RFC 7675 5.1).
const CONSENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Datagrams to send, each with where it goes.
pub type Outgoing = Vec<(Box<[u8]>, SocketAddr)>;

/// What a media session needs to run ICE: both sides' attributes and our role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceStart {
    /// The offerer controls (RFC 8445 6.1.1): its agent picks the pair.
    pub controlling: bool,
    pub local: IceAttrs,
    pub remote: IceAttrs,
}

impl IceStart {
    /// Whether `next` (a later offer or answer) restarts ICE: either side's credentials
    /// changed (RFC 8445 9); new candidates or the same SDP again do not.
    pub fn restarted_by(&self, next: &IceStart) -> bool {
        let creds = |a: &IceAttrs| (a.ufrag.clone(), a.pwd.clone());
        creds(&self.local) != creds(&next.local) || creds(&self.remote) != creds(&next.remote)
    }
}

/// Fresh credentials for a new ICE session (or a restart, RFC 8445 9): 4 and 22 characters
/// of the ICE alphabet, the shortest RFC 8839 5.4 allows for the password.
pub fn credentials() -> (String, String) {
    (rice_proto::random_string(4), rice_proto::random_string(22))
}

/// RFC 8445 5.1.2.1's priority for a candidate of `kind` on our one component.
fn priority(kind: CandidateType) -> u32 {
    type_priority(kind, false)
}

/// As `priority`; `natted` (a public address differs from ours) ranks our private host
/// address below the public one (RFC 8445 5.1.2.2 lets us choose, so long as
/// peer-reflexive stays above server-reflexive): from behind a NAT the public one is the one
/// that reaches, and peers that check one pair at a time (baresip 1.0) try it first instead
/// of waiting out a private address that leads nowhere, or to themselves.
fn type_priority(kind: CandidateType, natted: bool) -> u32 {
    let type_pref = match kind {
        CandidateType::Host if natted => 90,
        CandidateType::Host => 126,
        CandidateType::PeerReflexive => 110,
        CandidateType::ServerReflexive => 100,
        CandidateType::Relayed => 0,
    };
    (type_pref << 24) | (65535 << 8) | 255
}

/// Our candidates as SDP values: the socket's own address, the address STUN saw (when it
/// differs) and the TURN relay's, each with its own foundation.
pub fn candidates(
    host: SocketAddr,
    reflexive: Option<SocketAddr>,
    relayed: Option<SocketAddr>,
) -> Vec<String> {
    let reflexive = reflexive.filter(|r| *r != host);
    let natted = reflexive.is_some();
    let mut out = vec![candidate("1", (CandidateType::Host, natted), host, None)];
    if let Some(r) = reflexive {
        let kind = (CandidateType::ServerReflexive, natted);
        out.push(candidate("2", kind, r, Some(host)));
    }
    if let Some(r) = relayed {
        out.push(candidate(
            "3",
            (CandidateType::Relayed, natted),
            r,
            Some(host),
        ));
    }
    out
}

fn candidate(
    foundation: &str,
    (kind, natted): (CandidateType, bool),
    addr: SocketAddr,
    related: Option<SocketAddr>,
) -> String {
    let prio = type_priority(kind, natted);
    let mut b = Candidate::builder(1, kind, TransportType::Udp, foundation, addr).priority(prio);
    if let Some(r) = related {
        b = b.related_address(r);
    }
    let line = b.build().to_sdp_string();
    line.trim_start_matches("a=candidate:").to_string()
}

fn parse(value: &str) -> Option<Candidate> {
    format!("a=candidate:{value}").parse().ok()
}

#[derive(thiserror::Error, Debug)]
pub enum IceError {
    #[error("the other side's ICE candidates are unusable")]
    NoCandidates,
    #[error("the ICE agent refused our candidates")]
    Agent,
}

/// One call's ICE agent, on our one RTP socket (RTCP shares it, `a=rtcp-mux`).
pub struct IceLink {
    agent: Agent,
    stream: usize,
    /// Where the sans-IO agents' clock starts (the relay's, when there is one).
    epoch: Instant,
    socket: SocketAddr,
    start: IceStart,
    state: ComponentConnectionState,
    consent: Consent,
    /// The tie-breaker our consent checks carry, the same in each (RFC 8445 7.1.1: one per
    /// agent, not one per request).
    tie: u64,
    /// The pair just chosen, until the session reports it.
    chosen: Option<(bool, SocketAddr, SocketAddr)>,
    /// Both sides' candidates as given to the agent, and our TURN server.
    locals: Vec<Candidate>,
    remotes: Vec<Candidate>,
    turn_server: Option<SocketAddr>,
    /// Controlled: the nominations seen, for when the agent loses one.
    nomination: Nomination,
    /// The path media takes now: relayed or not, and the address it goes to.
    path: Option<(bool, SocketAddr)>,
}

impl std::fmt::Debug for IceLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IceLink({:?}, {:?})", self.socket, self.state)
    }
}

impl IceLink {
    /// An agent for `socket` (our host candidate's address), carrying `relay`'s allocation
    /// when our candidates include it.
    pub fn new(
        start: IceStart,
        socket: SocketAddr,
        relay: Option<Relay>,
    ) -> Result<Self, IceError> {
        let mut agent = Agent::builder()
            .trickle_ice(false)
            .controlling(start.controlling)
            .build();
        let stream = agent.add_stream();
        let turn_server = relay.as_ref().map(|r| r.server());
        let (epoch, mut turn) = match relay {
            Some(r) => {
                let (client, epoch) = r.into_client();
                (epoch, Some(TurnClient::from(client)))
            }
            None => (Instant::now(), None),
        };
        let (mut locals, mut remotes) = (Vec::new(), Vec::new());
        let mut s = agent.mut_stream(stream).ok_or(IceError::Agent)?;
        let component = s.add_component().map_err(|_| IceError::Agent)?;
        let creds = |a: &IceAttrs| Credentials::new(a.ufrag.clone(), a.pwd.clone());
        s.set_local_credentials(creds(&start.local));
        s.set_remote_credentials(creds(&start.remote));
        for mut c in start.local.candidates.iter().filter_map(|v| parse(v)) {
            c.component_id = component;
            let relayed = c.candidate_type == CandidateType::Relayed;
            c.base_address = if relayed { c.address } else { socket };
            let turn_agent = if relayed {
                turn.take().map(Box::new)
            } else {
                None
            };
            if relayed && turn_agent.is_none() {
                continue;
            }
            locals.push(c.clone());
            s.add_local_gathered_candidate(GatheredCandidate {
                candidate: c,
                turn_agent,
            });
        }
        s.end_of_local_candidates();
        let mut any = false;
        for mut c in start.remote.candidates.iter().filter_map(|v| parse(v)) {
            if c.transport_type == TransportType::Udp && c.component_id == 1 {
                c.component_id = component;
                remotes.push(c.clone());
                s.add_remote_candidate(c);
                any = true;
            }
        }
        s.end_of_remote_candidates();
        if !any {
            return Err(IceError::NoCandidates);
        }
        Ok(IceLink {
            agent,
            stream,
            epoch,
            socket,
            start,
            state: ComponentConnectionState::New,
            consent: Consent::default(),
            tie: rand::random(),
            chosen: None,
            locals,
            remotes,
            turn_server,
            nomination: Nomination::default(),
            path: None,
        })
    }

    /// What this agent was started with: a new offer or answer with other credentials is an
    /// ICE restart (RFC 8445 9).
    pub fn start(&self) -> &IceStart {
        &self.start
    }

    fn at(&self, now: Instant) -> turn_client_proto::stun::Instant {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        turn_client_proto::stun::Instant::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// Whether media may flow: a pair chosen and consent not lost.
    pub fn connected(&self) -> bool {
        self.state == Connected && !self.consent.lost
    }

    /// The datagram that carries `data` to the other side on the chosen pair, and where it
    /// goes (`None` before a pair is chosen or after consent is lost: RFC 7675 5.1).
    pub fn send(&mut self, data: &[u8], now: Instant) -> Option<(Box<[u8]>, SocketAddr)> {
        if !self.connected() {
            return None;
        }
        self.send_raw(data, now)
    }

    /// A datagram that arrived on our socket from `from`: the media in it, if any (checks,
    /// answers and the relay's own messages are handled here).
    pub fn recv(&mut self, data: &[u8], from: SocketAddr, now: Instant) -> Vec<Vec<u8>> {
        if self.consent.answered(data, &self.start.remote.pwd) {
            self.consent.fresh_at = Some(now);
            return Vec::new();
        }
        let nominated = self.nominated_by(data, from);
        let at = self.at(now);
        let Some(mut s) = self.agent.mut_stream(self.stream) else {
            return Vec::new();
        };
        let t = Transmit::new(data, TransportType::Udp, from, self.socket);
        let reply = s.handle_incoming_data(1, t, at);
        tracing::trace!(
            "ICE: {} bytes from {from}: handled {}, data {}",
            data.len(),
            reply.handled,
            reply.data.is_some()
        );
        let mut out: Vec<Vec<u8>> = reply
            .data
            .map(|d| d.as_ref().to_vec())
            .into_iter()
            .collect();
        while let Some(p) = s.poll_recv() {
            out.push(p.data);
        }
        if self.waits_for_nomination() {
            let media_from = (!out.is_empty())
                .then(|| self.sender_of(data, from))
                .flatten();
            if let Some(peer) = nominated.or(media_from) {
                self.adopt(self.turn_server == Some(from), peer);
            }
        }
        out
    }

    /// Controlled and without a pair yet: the agent may lose the other side's choice.
    fn waits_for_nomination(&self) -> bool {
        !self.start.controlling && self.state != Connected
    }

    /// The peer whose pair `data` (from `from`) completes a nomination of (RFC 8445 7.3.1.5),
    /// when we are still waiting for one.
    fn nominated_by(&mut self, data: &[u8], from: SocketAddr) -> Option<SocketAddr> {
        if !self.waits_for_nomination() {
            return None;
        }
        let pwds = Passwords {
            local: &self.start.local.pwd,
            remote: &self.start.remote.pwd,
        };
        let seen = nomination::seen(data, from, self.turn_server, pwds)?;
        self.nomination.note(seen)
    }

    /// Who sent the media in `datagram`: `from`, or the peer our TURN server relays it from.
    fn sender_of(&self, datagram: &[u8], from: SocketAddr) -> Option<SocketAddr> {
        match self.turn_server == Some(from) {
            true => data_indication_peer(datagram),
            false => Some(from),
        }
    }

    /// The controlling side chose the pair to `peer` (`relayed` through our TURN server), as
    /// its nomination or its media shows, while our agent (controlled) still waits: it is
    /// ours too. The agent can lose a nomination that races its own check on the same pair.
    fn adopt(&mut self, relayed: bool, peer: SocketAddr) {
        let local = match relayed {
            true => CandidateType::Relayed,
            false => CandidateType::Host,
        };
        let Some(local) = self
            .locals
            .iter()
            .find(|c| c.candidate_type == local)
            .cloned()
        else {
            return;
        };
        let known = self.remotes.iter().find(|c| c.address == peer).cloned();
        let remote = known.unwrap_or_else(|| {
            let kind = CandidateType::PeerReflexive;
            Candidate::builder(1, kind, TransportType::Udp, "prflx", peer)
                .priority(priority(kind))
                .build()
        });
        tracing::info!("ICE: the other side's choice, seen in its nomination or media");
        self.select(rice_proto::candidate::CandidatePair::new(local, remote));
        self.changed(Connected, Instant::now());
    }

    /// What the agent has to send now (checks, answers, relay refreshes), and when it next
    /// wants attention.
    pub fn poll(&mut self, now: Instant) -> (Outgoing, Option<Instant>) {
        let at = self.at(now);
        let mut wake = None;
        loop {
            match self.agent.poll(at) {
                AgentPoll::WaitUntil(t) => {
                    wake = Some(t.to_std(self.epoch));
                    break;
                }
                AgentPoll::Closed => break,
                AgentPoll::ComponentStateChange(c) => self.changed(c.state, now),
                AgentPoll::SelectedPair(p) => self.select(p.selected.candidate_pair().clone()),
                other => tracing::debug!("ICE: {other:?}"),
            }
        }
        let mut out = Vec::new();
        while let Some(t) = self.agent.poll_transmit(at) {
            out.push((t.transmit.data, t.transmit.to));
        }
        if let Some(check) = self.consent_due(now) {
            out.push(check);
        }
        let wake = [wake, self.consent.next_at()].into_iter().flatten().min();
        (out, wake)
    }

    /// The pair chosen since the last call, if one was: relayed (by either side's TURN server)
    /// or not, our address, theirs.
    pub fn take_chosen(&mut self) -> Option<(bool, SocketAddr, SocketAddr)> {
        self.chosen.take()
    }

    /// The agent's choice becomes the pair media is sent on.
    fn select(&mut self, pair: rice_proto::candidate::CandidatePair) {
        // Through a TURN server, ours or theirs.
        let relayed = [&pair.local, &pair.remote]
            .iter()
            .any(|c| c.candidate_type == CandidateType::Relayed);
        // The agent may choose again what we adopted: the same path is no news.
        let path = (relayed, pair.remote.address);
        if self.path.replace(path) != Some(path) {
            self.chosen = Some((relayed, pair.local.address, pair.remote.address));
        }
        tracing::info!(
            "ICE: media goes {} {} -> {} {}",
            pair.local.candidate_type,
            pair.local.address,
            pair.remote.candidate_type,
            pair.remote.address
        );
        let mut s = self.agent.mut_stream(self.stream);
        let c = s.as_mut().and_then(|s| s.mut_component(1));
        if let Some(Err(e)) = c.map(|mut c| c.set_selected_pair(pair)) {
            tracing::warn!("ICE: cannot use the chosen pair: {e:?}");
        }
    }

    fn changed(&mut self, state: ComponentConnectionState, now: Instant) {
        tracing::info!("ICE: {state:?}");
        if state == Connected && self.consent.fresh_at.is_none() {
            self.consent.fresh_at = Some(now);
            self.consent.next = Some(now + Consent::interval());
        }
        self.state = state;
    }

    /// A consent check when one is due, sent on the chosen pair like media.
    fn consent_due(&mut self, now: Instant) -> Option<(Box<[u8]>, SocketAddr)> {
        if self.state != Connected || self.consent.lost {
            return None;
        }
        if self
            .consent
            .fresh_at
            .is_some_and(|t| now >= t + CONSENT_TIMEOUT)
        {
            tracing::warn!("ICE: no consent for 30 s: we stop sending (RFC 7675)");
            self.consent.lost = true;
            return None;
        }
        if self.consent.next.is_none_or(|t| now < t) {
            return None;
        }
        self.consent.next = Some(now + Consent::interval());
        // The role as it stands: a role conflict during the checks may have switched it.
        let role = (self.agent.controlling(), self.tie);
        let prio = priority(CandidateType::PeerReflexive);
        let (id, bytes) = consent_request(&self.start, role, prio)?;
        self.consent.pending.push(id);
        if self.consent.pending.len() > 8 {
            self.consent.pending.remove(0);
        }
        self.send_raw(&bytes, now)
    }

    fn send_raw(&mut self, bytes: &[u8], now: Instant) -> Option<(Box<[u8]>, SocketAddr)> {
        let at = self.at(now);
        let mut s = self.agent.mut_stream(self.stream)?;
        let t = s.mut_component(1)?.send(bytes, at).ok()?;
        Some((t.data, t.to))
    }

    /// Whether the other side stopped answering our consent checks.
    pub fn consent_lost(&self) -> bool {
        self.consent.lost
    }

    /// The call is over: the relay's allocation goes back.
    pub fn close(&mut self, now: Instant) {
        let at = self.at(now);
        self.agent.close(at);
    }
}

/// RFC 7675's consent state for the chosen pair.
#[derive(Debug, Default)]
struct Consent {
    /// The last answer (or when the pair was chosen).
    fresh_at: Option<Instant>,
    next: Option<Instant>,
    /// Our checks still unanswered, by transaction ID.
    pending: Vec<[u8; 12]>,
    lost: bool,
}

impl Consent {
    /// 5 s, randomised by ±20% so that checks do not fall into step (RFC 7675 5.1).
    fn interval() -> Duration {
        Duration::from_millis(rand::Rng::gen_range(&mut rand::thread_rng(), 4000..=6000))
    }

    fn next_at(&self) -> Option<Instant> {
        if self.lost {
            return None;
        }
        let deadline = self.fresh_at.map(|t| t + CONSENT_TIMEOUT);
        [self.next, deadline].into_iter().flatten().min()
    }

    /// Whether `data` holds a valid answer to one of our checks: straight from the peer, or
    /// inside a TURN server's ChannelData or Data indication, so the search is for the STUN
    /// header anywhere in the datagram.
    fn answered(&mut self, data: &[u8], remote_pwd: &str) -> bool {
        // RTP and RTCP straight from the peer (version 2: the top bits 10) are never it,
        // and they are nearly every datagram: no search for them.
        let rtp = data.first().is_some_and(|b| b & 0xC0 == 0x80);
        if self.pending.is_empty() || rtp {
            return false;
        }
        let Some((i, at)) = self.pending.iter().enumerate().find_map(|(i, id)| {
            let mut needle = [0u8; 16];
            needle[..4].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
            needle[4..].copy_from_slice(id);
            memchr::memmem::find(data, &needle).map(|at| (i, at))
        }) else {
            return false;
        };
        let Some(start) = at.checked_sub(4) else {
            return false;
        };
        let len = data
            .get(start + 2..start + 4)
            .map(|b| u16::from_be_bytes([b[0], b[1]]));
        let Some(stun) = len.and_then(|l| data.get(start..start + 20 + usize::from(l))) else {
            return false;
        };
        if !consent_answer_valid(stun, remote_pwd) {
            return false;
        }
        self.pending.remove(i);
        true
    }
}

/// A binding request on the chosen pair with the ICE credentials, as a check would be
/// (RFC 7675 5.1: USERNAME, MESSAGE-INTEGRITY, FINGERPRINT, and the role and priority
/// attributes ICE agents require).
/// A consent check (RFC 7675) on the chosen pair, with our role as it stands and our
/// tie-breaker (`role`).
fn consent_request(
    start: &IceStart,
    (controlling, tie): (bool, u64),
    prio: u32,
) -> Option<([u8; 12], Vec<u8>)> {
    use rice_stun_types::attribute::{IceControlled, IceControlling, Priority};
    use stun_types::attribute::Username;
    use stun_types::message::{
        IntegrityAlgorithm, Message, MessageIntegrityCredentials, MessageWrite, MessageWriteExt,
        MessageWriteVec, ShortTermCredentials, BINDING,
    };
    let mut msg = Message::builder_request(BINDING, MessageWriteVec::new());
    let id: u128 = msg.transaction_id().into();
    let user = Username::new(&format!("{}:{}", start.remote.ufrag, start.local.ufrag)).ok()?;
    msg.add_attribute(&user).ok()?;
    msg.add_attribute(&Priority::new(prio)).ok()?;
    match controlling {
        true => msg.add_attribute(&IceControlling::new(tie)).ok()?,
        false => msg.add_attribute(&IceControlled::new(tie)).ok()?,
    }
    let creds =
        MessageIntegrityCredentials::ShortTerm(ShortTermCredentials::new(start.remote.pwd.clone()));
    msg.add_message_integrity(&creds, IntegrityAlgorithm::Sha1)
        .ok()?;
    msg.add_fingerprint().ok()?;
    let bytes = id.to_be_bytes();
    let mut tid = [0u8; 12];
    tid.copy_from_slice(&bytes[4..]);
    Some((tid, msg.finish()))
}

/// The peer a TURN server's Data indication (RFC 8656 11.6) carries a datagram from.
fn data_indication_peer(datagram: &[u8]) -> Option<SocketAddr> {
    nomination::relayed_from(&stun_types::message::Message::from_bytes(datagram).ok()?)
}

fn consent_answer_valid(bytes: &[u8], remote_pwd: &str) -> bool {
    stun_types::message::Message::from_bytes(bytes)
        .is_ok_and(|msg| nomination::answers(&msg, remote_pwd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(host: SocketAddr) -> IceAttrs {
        let (ufrag, pwd) = credentials();
        IceAttrs {
            ufrag,
            pwd,
            candidates: candidates(host, None, None),
            lite: false,
        }
    }

    /// Two agents whose datagrams are handed across in memory, on a simulated clock.
    #[derive(Debug)]
    struct Pair {
        a: IceLink,
        b: IceLink,
        /// Where each sees the other's datagrams come from: its own address, or its NAT's.
        a_seen_as: SocketAddr,
        b_seen_as: SocketAddr,
        now: Instant,
        /// B still answers (else it vanished).
        b_alive: bool,
        /// What reached A's and B's sessions.
        got: (Vec<Vec<u8>>, Vec<Vec<u8>>),
    }

    const A: &str = "192.0.2.10:4000";
    const B: &str = "198.51.100.20:5000";
    /// B's NAT, when B is behind one (B's address is then unreachable from A).
    const B_NAT: &str = "203.0.113.11:5000";
    const A_NAT: &str = "203.0.113.12:4000";

    fn pair() -> Pair {
        pair_with(None, None)
    }

    /// A and B, each behind a NAT at `a_nat`, `b_nat` (when given) that keeps one mapping for
    /// the socket (a cone).
    fn pair_with(a_nat: Option<SocketAddr>, b_nat: Option<SocketAddr>) -> Pair {
        let (a_addr, b_addr) = (A.parse().unwrap(), B.parse().unwrap());
        let (mut la, mut lb) = (attrs(a_addr), attrs(b_addr));
        la.candidates = candidates(a_addr, a_nat, None);
        lb.candidates = candidates(b_addr, b_nat, None);
        let start = |controlling, local: &IceAttrs, remote: &IceAttrs| IceStart {
            controlling,
            local: local.clone(),
            remote: remote.clone(),
        };
        Pair {
            a: IceLink::new(start(true, &la, &lb), a_addr, None).unwrap(),
            b: IceLink::new(start(false, &lb, &la), b_addr, None).unwrap(),
            a_seen_as: a_nat.unwrap_or(a_addr),
            b_seen_as: b_nat.unwrap_or(b_addr),
            now: Instant::now(),
            b_alive: true,
            got: Default::default(),
        }
    }

    impl Pair {
        /// Runs both agents for `secs` of simulated time, 10 ms a step.
        fn run(&mut self, secs: u64) {
            self.run_delayed(secs, (0, 0));
        }

        /// As `run`, A's datagrams taking `steps` steps longer to reach B than B's take back.
        fn run_delayed(&mut self, secs: u64, (ab, ba): (usize, usize)) {
            let mut on_the_way = std::collections::VecDeque::from(vec![Vec::new(); ab]);
            let mut back = std::collections::VecDeque::from(vec![Vec::new(); ba]);
            for _ in 0..secs * 100 {
                self.now += Duration::from_millis(10);
                on_the_way.push_back(self.a.poll(self.now).0);
                for (bytes, to) in on_the_way.pop_front().unwrap_or_default() {
                    if to == self.b_seen_as && self.b_alive {
                        let from = self.a_seen_as;
                        self.got.1.extend(self.b.recv(&bytes, from, self.now));
                    }
                }
                back.push_back(self.b.poll(self.now).0);
                for (bytes, to) in back.pop_front().unwrap_or_default() {
                    if to == self.a_seen_as && self.b_alive {
                        let from = self.b_seen_as;
                        self.got.0.extend(self.a.recv(&bytes, from, self.now));
                    }
                }
            }
        }
    }

    #[test]
    fn two_agents_pick_a_pair_and_carry_media_both_ways() {
        let mut p = pair();
        assert!(
            p.a.send(b"too early", p.now).is_none(),
            "no media before a pair"
        );
        p.run(3);
        assert!(p.a.connected() && p.b.connected(), "{:?} {:?}", p.a, p.b);
        let (bytes, to) = p.a.send(b"\x80hello", p.now).unwrap();
        assert_eq!(to, B.parse::<std::net::SocketAddr>().unwrap());
        assert_eq!(
            p.b.recv(&bytes, A.parse().unwrap(), p.now),
            vec![b"\x80hello".to_vec()]
        );
        let (bytes, _) = p.b.send(b"\x80back", p.now).unwrap();
        assert_eq!(
            p.a.recv(&bytes, B.parse().unwrap(), p.now),
            vec![b"\x80back".to_vec()]
        );
    }

    #[test]
    fn a_nomination_that_races_our_own_check_still_connects_behind_nats() {
        // With B's datagrams 50-70 ms slower than A's, A's nomination reaches B while B's
        // own check on the pair is out, and that check's answer comes back before B's
        // triggered one: rice-proto 0.4.3 alone then loses the nomination (B never connects,
        // and with DTLS neither side sends). Other delays, for the orders around it.
        let nat = |a: &str| Some(a.parse().unwrap());
        for (ab, ba) in (0..=4)
            .step_by(2)
            .flat_map(|ab| (0..=8).map(move |ba| (ab, ba)))
        {
            let mut p = pair_with(nat(A_NAT), nat(B_NAT));
            p.run_delayed(3, (ab, ba));
            let delays = format!("{}/{} ms", ab * 10, ba * 10);
            assert!(p.a.connected() && p.b.connected(), "{delays}: {p:?}");
            let (bytes, to) = p.b.send(b"\x80back", p.now).unwrap();
            assert_eq!(to, p.a_seen_as, "{delays}");
            let got = p.a.recv(&bytes, p.b_seen_as, p.now);
            assert_eq!(got, vec![b"\x80back".to_vec()], "{delays}");
        }
    }

    #[test]
    fn consent_holds_while_the_peer_answers_and_is_lost_when_it_vanishes() {
        let mut p = pair();
        p.run(3);
        // A minute of answered consent checks (over RFC 7675's 30 s): still connected.
        p.run(60);
        assert!(p.a.connected() && !p.a.consent_lost());
        assert!(p.a.consent.pending.len() <= 1, "{:?}", p.a.consent.pending);
        p.b_alive = false;
        // The last answer came up to 6 s (a check's spacing) before the peer vanished.
        p.run(20);
        assert!(p.a.connected(), "less than 30 s without an answer");
        p.run(15);
        assert!(p.a.consent_lost());
        assert!(
            p.a.send(b"\x80more", p.now).is_none(),
            "no media without consent"
        );
    }

    /// The ICE role attribute of a STUN request, with its tie-breaker.
    fn role_of(bytes: &[u8]) -> Option<(u16, u64)> {
        let mut at = 20;
        while let Some(h) = bytes.get(at..at + 4) {
            let (kind, len) = (
                u16::from_be_bytes([h[0], h[1]]),
                usize::from(u16::from_be_bytes([h[2], h[3]])),
            );
            if kind == 0x8029 || kind == 0x802A {
                let v = bytes.get(at + 4..at + 12)?;
                return Some((kind, u64::from_be_bytes(v.try_into().ok()?)));
            }
            at += 4 + len.div_ceil(4) * 4;
        }
        None
    }

    /// Every consent check carries the agent's role and one tie-breaker (they used to carry
    /// a new one each time).
    #[test]
    fn consent_checks_keep_one_tie_breaker() {
        let mut p = pair();
        p.run(3);
        let mut roles = Vec::new();
        while roles.len() < 3 {
            p.now += Duration::from_millis(10);
            for (bytes, _) in p.a.poll(p.now).0 {
                let ours =
                    p.a.consent
                        .pending
                        .iter()
                        .any(|id| bytes.get(8..20) == Some(id));
                roles.extend(role_of(&bytes).filter(|_| ours));
            }
        }
        assert_eq!(roles[0].0, 0x802A, "A controls");
        assert!(roles.iter().all(|r| *r == roles[0]), "{roles:x?}");
    }

    #[test]
    fn a_peer_without_usable_candidates_is_refused() {
        let a: SocketAddr = A.parse().unwrap();
        let mut remote = attrs(B.parse().unwrap());
        remote.candidates = vec![
            "garbage".into(),
            "1 2 UDP 1 198.51.100.20 5001 typ host".into(),
        ];
        let start = IceStart {
            controlling: true,
            local: attrs(a),
            remote,
        };
        assert!(matches!(
            IceLink::new(start, a, None),
            Err(IceError::NoCandidates)
        ));
    }

    #[test]
    fn candidates_are_written_as_sdp_wants_them() {
        let host = "192.0.2.10:4000".parse().unwrap();
        let public = "203.0.113.5:6000".parse().unwrap();
        let c = candidates(
            host,
            Some(public),
            Some("203.0.113.1:50000".parse().unwrap()),
        );
        // Behind a NAT, the public address ranks above the private one.
        assert_eq!(c[0], "1 1 UDP 1526726655 192.0.2.10 4000 typ host");
        assert_eq!(
            c[1],
            "2 1 UDP 1694498815 203.0.113.5 6000 typ srflx raddr 192.0.2.10 rport 4000"
        );
        assert!(
            c[2].starts_with("3 1 UDP 16777215 203.0.113.1 50000 typ relay"),
            "{}",
            c[2]
        );
        // The same address from STUN as the host's is no second candidate.
        let open = candidates(host, Some(host), None);
        assert_eq!(open, ["1 1 UDP 2130706431 192.0.2.10 4000 typ host"]);
    }
}
