//! The endpoint: one tokio task owning a transport and every transaction (RFC 3261 17, 18).
//! Transaction users (the engine's UA core, the server's proxy core) send requests and responses
//! through an `Endpoint` handle and receive new requests as `EndpointEvent`s. The endpoint adds
//! the top Via (branch, rport), stamps `received`/`rport` on what arrives, matches responses and
//! retransmissions, sends ACKs for non-2xx finals, builds CANCELs and retransmits a UA's 2xx
//! until the ACK comes (RFC 3261 13.3.1.4).

use super::deadlines::Deadlines;
use super::headers::Via;
use super::message::{self as msg, decode, Inbound, MessageExt, Method, Request, Response};
use super::transaction::{Action, ClientTx, Kind, ServerTx, Timers};
use super::transport::{Peer, Proto, Transport};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey {
    pub branch: String,
    pub method: String,
}

/// A request that is not part of a known transaction.
#[derive(Debug)]
pub struct Incoming {
    pub request: Request,
    pub source: Peer,
    /// The server transaction to answer through; `None` for an ACK to a 2xx.
    pub key: Option<TxKey>,
    /// For CANCEL: the INVITE server transaction it cancels, when there is one.
    pub cancels: Option<TxKey>,
}

#[derive(Debug)]
pub enum EndpointEvent {
    Request(Box<Incoming>),
    /// A 2xx we sent was never ACKed within 64*T1: the dialog should be ended with BYE.
    AckTimeout {
        call_id: String,
    },
    /// A response matching no client transaction (a proxy forwards these statelessly, 16.11).
    StrayResponse(Box<Response>),
    /// A keepalive was answered (RFC 5626 4.4): a STUN binding response on UDP, with the
    /// address the other side saw us at, or a CRLF pong on a TCP connection we opened.
    Pong {
        peer: Peer,
        stun: Option<(crate::nat::stun::TxId, SocketAddr)>,
    },
    /// A TCP connection we opened was closed by the other side (or the network).
    Closed {
        peer: Peer,
    },
}

/// How to keep a flow open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// A STUN binding request (UDP), answered with our public address.
    Stun,
    /// CRLFCRLF: on TCP answered with CRLF; on UDP to a server without STUN, unanswered.
    Crlf,
}

pub struct ClientHandle {
    pub key: TxKey,
    pub responses: mpsc::UnboundedReceiver<Response>,
}

enum Op {
    Request {
        req: Request,
        peer: Peer,
        branch: String,
        responses: Option<mpsc::UnboundedSender<Response>>,
        /// Down a flow (RFC 5626): on its transport whatever the size, there being no other way.
        pinned: bool,
    },
    Respond {
        key: TxKey,
        resp: Response,
        until_ack: bool,
    },
    Stateless {
        req: Request,
        peer: Peer,
        branch: String,
    },
    StatelessResponse {
        resp: Response,
        peer: Peer,
    },
    Cancel(TxKey, Option<String>),
    Ping(Peer, Vec<u8>),
    Abandon(TxKey),
    SendFailed(TxKey),
}

/// What keeps an endpoint's memory and queue bounded under load.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// New requests beyond this many live transactions are answered 503.
    pub max_transactions: usize,
    /// A new request that waited longer than this in our queue is answered 503: we are behind,
    /// and shedding new work now keeps the calls already taken completing.
    pub max_lag: Duration,
    /// The Retry-After of those 503s, seconds (RFC 3261 21.5.4).
    pub retry_after: u32,
    /// TCP connections beyond this many are closed as they come.
    pub max_connections: usize,
}

/// A user agent's: only a real backlog (seconds) turns calls away.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_transactions: 300_000,
            max_lag: Duration::from_secs(2),
            retry_after: 5,
            max_connections: 4096,
        }
    }
}

/// The To tag of our overload 503s, so their ACKs are dropped at once.
const SHED_TAG: &str = "ovl";

#[derive(Clone)]
pub struct Endpoint {
    ops: mpsc::UnboundedSender<Op>,
    local: SocketAddr,
    /// For what runs beside the transactions: TLS listening, names, connecting ahead.
    transport: Transport,
    pub timers: Timers,
}

impl Endpoint {
    pub async fn start(
        bind: SocketAddr,
        timers: Timers,
    ) -> io::Result<(Endpoint, mpsc::UnboundedReceiver<EndpointEvent>)> {
        Self::start_with(bind, timers, Limits::default()).await
    }

    pub async fn start_with(
        bind: SocketAddr,
        timers: Timers,
        limits: Limits,
    ) -> io::Result<(Endpoint, mpsc::UnboundedReceiver<EndpointEvent>)> {
        let (in_tx, in_rx) = mpsc::channel(super::transport::INBOX_SIZE);
        let transport = Transport::bind(bind, in_tx, limits.max_connections).await?;
        let local = transport.local_addr();
        let (ops_tx, ops_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let core = Core {
            transport: transport.clone(),
            limits,
            epoch: Instant::now(),
            deadlines: Deadlines::default(),
            timers,
            local,
            clients: HashMap::new(),
            servers: HashMap::new(),
            acks: HashMap::new(),
            events: ev_tx,
            ops: ops_tx.downgrade(),
        };
        tokio::spawn(core.run(ops_rx, in_rx));
        Ok((
            Endpoint {
                ops: ops_tx,
                local,
                transport,
                timers,
            },
            ev_rx,
        ))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Listens for SIP over TLS on `addr` too (a server's 5061).
    pub async fn listen_tls(
        &self,
        addr: SocketAddr,
        config: std::sync::Arc<rustls::ServerConfig>,
    ) -> io::Result<SocketAddr> {
        self.transport.listen_tls(addr, config).await
    }

    pub fn takes_tls_on_tcp(&self) -> bool {
        self.transport.takes_tls_on_tcp()
    }

    /// Takes TLS on the SIP TCP port as well (see `Transport::accept_tls_on_tcp`).
    pub fn accept_tls_on_tcp(&self, config: std::sync::Arc<rustls::ServerConfig>) {
        self.transport.accept_tls_on_tcp(config)
    }

    /// Where we take SIP over TLS, if we do.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.transport.tls_addr()
    }

    /// What a TLS connection to `addr` must prove; see `Transport::expect`.
    pub fn expect_tls(&self, addr: SocketAddr, target: super::transport::TlsTarget) {
        self.transport.expect(addr, target)
    }

    /// Whether a connection to `peer` is open now (UDP: always).
    pub fn connected(&self, peer: Peer) -> bool {
        peer.proto == Proto::Udp || self.transport.connected(peer)
    }

    /// Opens the connection to `peer` now, so a refused certificate is known before any
    /// request is written (`tls::CertRefused` inside the error).
    pub async fn connect(&self, peer: Peer) -> io::Result<()> {
        match peer.proto {
            Proto::Udp => Ok(()),
            _ => self.transport.connection(peer).await.map(|_| ()),
        }
    }

    /// The address peers should use to reach us from `toward` (our IP on the route to it).
    pub fn contact_addr(&self, toward: SocketAddr) -> SocketAddr {
        SocketAddr::new(local_ip_toward(self.local.ip(), toward), self.local.port())
    }

    /// Starts a client transaction. The endpoint adds the top Via and Max-Forwards.
    pub fn send_request(&self, req: Request, peer: Peer) -> ClientHandle {
        self.send_request_branch(req, peer, msg::new_branch())
    }

    /// Like `send_request` with the caller's branch (a proxy's carries its loop-detection hash).
    pub fn send_request_branch(&self, req: Request, peer: Peer, branch: String) -> ClientHandle {
        self.request_op(req, peer, branch, false)
    }

    /// Like `send_request_branch`, down a flow a UA behind a NAT opened: over that flow's
    /// transport even when big (RFC 3261 18.1.1's move to TCP cannot get through the NAT).
    pub fn send_request_down_flow(&self, req: Request, peer: Peer, branch: String) -> ClientHandle {
        self.request_op(req, peer, branch, true)
    }

    fn request_op(&self, req: Request, peer: Peer, branch: String, pinned: bool) -> ClientHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let key = TxKey {
            branch,
            method: req.method.to_string(),
        };
        let _ = self.ops.send(Op::Request {
            req,
            peer,
            branch: key.branch.clone(),
            responses: Some(tx),
            pinned,
        });
        ClientHandle { key, responses: rx }
    }

    pub fn respond(&self, key: &TxKey, resp: Response) {
        let _ = self.ops.send(Op::Respond {
            key: key.clone(),
            resp,
            until_ack: false,
        });
    }

    /// A UA's 2xx to INVITE: retransmitted until the ACK arrives.
    pub fn respond_until_ack(&self, key: &TxKey, resp: Response) {
        let _ = self.ops.send(Op::Respond {
            key: key.clone(),
            resp,
            until_ack: true,
        });
    }

    /// Sends a request outside any transaction (ACK for 2xx, a proxy's forwarded ACK).
    pub fn send_stateless(&self, req: Request, peer: Peer) {
        self.send_stateless_branch(req, peer, msg::new_branch());
    }

    /// A stateless request whose Via branch the caller chose (to recognise its responses).
    pub fn send_stateless_branch(&self, req: Request, peer: Peer, branch: String) {
        let _ = self.ops.send(Op::Stateless { req, peer, branch });
    }

    /// Sends a response outside any transaction (a proxy forwarding a stray response).
    pub fn send_response_stateless(&self, resp: Response, peer: Peer) {
        let _ = self.ops.send(Op::StatelessResponse { resp, peer });
    }

    /// Forgets a client transaction that will never end by itself (an INVITE whose callee
    /// neither answers nor responds to CANCEL); its response channel closes.
    pub fn abandon(&self, key: &TxKey) {
        let _ = self.ops.send(Op::Abandon(key.clone()));
    }

    /// Sends a keepalive on the flow to `peer`; a STUN one returns its transaction ID, which
    /// its `EndpointEvent::Pong` carries.
    pub fn ping(&self, peer: Peer, how: Ping) -> Option<crate::nat::stun::TxId> {
        let (id, bytes) = match how {
            Ping::Stun => {
                let (id, bytes) = crate::nat::stun::binding_request();
                (Some(id), bytes)
            }
            Ping::Crlf => (None, b"\r\n\r\n".to_vec()),
        };
        let _ = self.ops.send(Op::Ping(peer, bytes));
        id
    }

    /// Cancels a pending INVITE client transaction (RFC 3261 9.1).
    pub fn cancel(&self, key: &TxKey) {
        self.cancel_with_reason(key, None);
    }

    /// Cancels with a Reason header (RFC 3326), e.g. "call completed elsewhere".
    pub fn cancel_with_reason(&self, key: &TxKey, reason: Option<String>) {
        let _ = self.ops.send(Op::Cancel(key.clone(), reason));
    }
}

/// Our IP on the route toward `dest`; asks the kernel's routing table, sends nothing.
/// RFC 3261 18.1.1: the largest request sent over UDP when the path MTU is unknown.
const UDP_MTU_LIMIT: usize = 1300;

pub fn local_ip_toward(bound: IpAddr, dest: SocketAddr) -> IpAddr {
    if !bound.is_unspecified() {
        return bound;
    }
    let any: SocketAddr = if dest.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    std::net::UdpSocket::bind(any)
        .and_then(|s| {
            s.connect(dest)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(bound)
}

/// The transaction a request makes: INVITE's own (RFC 3261 17.1.1), or the general one.
fn tx_kind(req: &Request) -> Kind {
    match req.method == Method::Invite {
        true => Kind::Invite,
        false => Kind::NonInvite,
    }
}

struct ClientEntry {
    tx: ClientTx,
    request: Request,
    bytes: Vec<u8>,
    peer: Peer,
    responses: Option<mpsc::UnboundedSender<Response>>,
    ack: Option<Vec<u8>>,
    cancel_wanted: bool,
    cancel_reason: Option<String>,
    provisional_seen: bool,
    /// The UDP peer a request too big for UDP was moved off (RFC 3261 18.1.1), to go back
    /// to if TCP cannot be had there at all.
    udp_fallback: Option<Peer>,
}

struct ServerEntry {
    tx: ServerTx,
    peer: Peer,
    last: Vec<u8>,
}

struct PendingAck {
    bytes: Vec<u8>,
    peer: Peer,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

/// Whose timers a deadline is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Timer {
    Client(TxKey),
    Server(TxKey),
    /// A 2xx resent until its ACK comes: (Call-ID, CSeq).
    Ack(AckKey),
}

/// A 2xx awaiting its ACK, by (Call-ID, CSeq number).
type AckKey = (String, u32);

struct Core {
    transport: Transport,
    limits: Limits,
    /// Where timer ticks are counted from.
    epoch: Instant,
    deadlines: Deadlines<Timer>,
    timers: Timers,
    local: SocketAddr,
    clients: HashMap<TxKey, ClientEntry>,
    servers: HashMap<TxKey, ServerEntry>,
    acks: HashMap<AckKey, PendingAck>,
    events: mpsc::UnboundedSender<EndpointEvent>,
    ops: mpsc::WeakUnboundedSender<Op>,
}

impl Core {
    async fn run(
        mut self,
        mut ops: mpsc::UnboundedReceiver<Op>,
        mut inbox: mpsc::Receiver<super::transport::Arrival>,
    ) {
        loop {
            let deadline = self.next_deadline().map(|d| self.tick_after(d));
            let sleep = tokio::time::sleep_until(
                deadline
                    .map(tokio::time::Instant::from_std)
                    .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                op = ops.recv() => match op {
                    Some(op) => self.handle_op(op),
                    None => break,
                },
                Some((bytes, peer, at)) = inbox.recv() => self.handle_inbound(&bytes, peer, at),
                _ = sleep => {
                    self.on_timers(Instant::now());
                    tracing::trace!(clients = self.clients.len(), servers = self.servers.len(), acks = self.acks.len(), "transactions");
                }
            }
        }
        self.transport.close();
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// `d` rounded up to the next tick of T1/20 (25 ms by default), so the timers of many
    /// transactions run in one wake-up instead of one each; no timer runs early, none more
    /// than a tick late.
    fn tick_after(&self, d: Instant) -> Instant {
        let tick = (self.timers.t1 / 20).max(Duration::from_micros(100));
        let since = d.saturating_duration_since(self.epoch);
        let ticks = since.as_nanos().div_ceil(tick.as_nanos());
        let nanos = u64::try_from(ticks * tick.as_nanos()).unwrap_or(u64::MAX);
        self.epoch + Duration::from_nanos(nanos)
    }

    /// Files the timer's deadline again after its transaction changed (or went).
    fn touch(&mut self, t: Timer) {
        let at = match &t {
            Timer::Client(k) => self.clients.get(k).and_then(|e| e.tx.next_deadline()),
            Timer::Server(k) => self.servers.get(k).and_then(|e| e.tx.next_deadline()),
            Timer::Ack(k) => self.acks.get(k).map(|p| p.next.min(p.give_up)),
        };
        self.deadlines.set(&t, at);
    }

    /// Adds our Via (and Max-Forwards) and encodes the request, moving it to TCP when it is
    /// too big for UDP.
    fn stamp(&self, req: &mut Request, peer: Peer, branch: &str, pinned: bool) -> (Peer, Vec<u8>) {
        msg::prepend(&mut req.headers, "Via", self.via_for(peer, branch));
        if req.header("Max-Forwards").is_none() {
            msg::push(&mut req.headers, "Max-Forwards", "70");
        }
        let bytes = msg::encode_request(req);
        if pinned {
            return (peer, bytes);
        }
        let safe = self.congestion_safe(req, bytes.len(), peer);
        if safe == peer {
            return (peer, bytes);
        }
        msg::pop_first(&mut req.headers, "Via");
        msg::prepend(&mut req.headers, "Via", self.via_for(safe, branch));
        (safe, msg::encode_request(req))
    }

    /// RFC 3261 18.1.1: a request larger than 1300 bytes (the MTU being unknown) goes over
    /// TCP, not UDP, unless its URI pins UDP.
    fn congestion_safe(&self, req: &Request, len: usize, peer: Peer) -> Peer {
        if peer.proto != Proto::Udp || len <= UDP_MTU_LIMIT {
            return peer;
        }
        let pinned = req
            .uri
            .to_string()
            .to_ascii_lowercase()
            .contains("transport=udp");
        match pinned {
            true => peer,
            false => Peer {
                proto: Proto::Tcp,
                ..peer
            },
        }
    }

    fn via_for(&self, peer: Peer, branch: &str) -> String {
        let ip = local_ip_toward(self.local.ip(), peer.addr);
        let port = match (peer.proto, self.transport.tls_addr()) {
            (Proto::Tls, Some(tls)) => tls.port(),
            _ => self.local.port(),
        };
        let host = SocketAddr::new(ip, port);
        format!(
            "SIP/2.0/{} {host};branch={branch};rport",
            peer.proto.as_str()
        )
    }

    /// Sends bytes; a TCP peer without a connection gets one opened in the background.
    fn send(&self, peer: Peer, bytes: Vec<u8>, on_fail: Option<TxKey>) {
        match self.transport.try_send(peer, &bytes) {
            Ok(true) => {}
            Ok(false) => {
                let transport = self.transport.clone();
                let ops = self.ops.clone();
                tokio::spawn(async move {
                    if let Err(e) = transport.send(peer, bytes).await {
                        tracing::debug!("send to {:?} failed: {e}", peer);
                        if let (Some(key), Some(ops)) = (on_fail, ops.upgrade()) {
                            let _ = ops.send(Op::SendFailed(key));
                        }
                    }
                });
            }
            Err(e) => {
                tracing::debug!("send to {:?} failed: {e}", peer);
                if let (Some(key), Some(ops)) = (on_fail, self.ops.upgrade()) {
                    let _ = ops.send(Op::SendFailed(key));
                }
            }
        }
    }

    fn handle_op(&mut self, op: Op) {
        let now = Instant::now();
        match op {
            Op::Request {
                mut req,
                peer,
                branch,
                responses,
                pinned,
            } => {
                let wanted = peer;
                let (peer, bytes) = self.stamp(&mut req, peer, &branch, pinned);
                let kind = tx_kind(&req);
                let key = TxKey {
                    branch,
                    method: req.method.to_string(),
                };
                self.send(peer, bytes.clone(), Some(key.clone()));
                let entry = ClientEntry {
                    tx: ClientTx::new(kind, peer.proto.reliable(), self.timers, now),
                    request: req,
                    bytes,
                    peer,
                    responses,
                    ack: None,
                    cancel_wanted: false,
                    cancel_reason: None,
                    provisional_seen: false,
                    udp_fallback: (peer != wanted).then_some(wanted),
                };
                self.clients.insert(key.clone(), entry);
                self.touch(Timer::Client(key));
            }
            Op::Respond {
                key,
                resp,
                until_ack,
            } => {
                let Some(entry) = self.servers.get_mut(&key) else {
                    tracing::debug!("response for unknown transaction {key:?}");
                    return;
                };
                let code = msg::code_of(&resp);
                if !entry.tx.on_send(code, now) {
                    return;
                }
                let bytes = msg::encode_response(&resp);
                entry.last = bytes.clone();
                let peer = entry.peer;
                self.touch(Timer::Server(key));
                if until_ack && (200..300).contains(&code) {
                    let k = (resp.call_id(), resp.cseq().0);
                    self.acks.insert(
                        k.clone(),
                        PendingAck {
                            bytes: bytes.clone(),
                            peer,
                            interval: self.timers.t1,
                            next: now + self.timers.t1,
                            give_up: now + self.timers.t1 * 64,
                        },
                    );
                    self.touch(Timer::Ack(k));
                }
                self.send(peer, bytes, None);
            }
            Op::StatelessResponse { resp, peer } => {
                self.send(peer, msg::encode_response(&resp), None);
            }
            Op::Abandon(key) => {
                self.clients.remove(&key);
                self.touch(Timer::Client(key));
            }
            Op::Stateless {
                mut req,
                peer,
                branch,
            } => {
                let (peer, bytes) = self.stamp(&mut req, peer, &branch, false);
                self.send(peer, bytes, None);
            }
            Op::Ping(peer, bytes) => self.send(peer, bytes, None),
            Op::Cancel(key, reason) => {
                let Some(entry) = self.clients.get_mut(&key) else {
                    return;
                };
                entry.cancel_reason = reason;
                if entry.provisional_seen {
                    let (cancel, peer) = (
                        build_cancel(&entry.request, entry.cancel_reason.as_deref()),
                        entry.peer,
                    );
                    self.start_cancel(cancel, peer, &key.branch, now);
                } else {
                    // RFC 3261 9.1: wait for a provisional response before cancelling.
                    entry.cancel_wanted = true;
                }
            }
            Op::SendFailed(key) => {
                if self.back_to_udp(&key, now) {
                    return;
                }
                if let Some(entry) = self.clients.get_mut(&key) {
                    let actions = entry.tx.on_transport_error();
                    self.client_actions(&key, actions, None);
                }
            }
        }
    }

    /// A request moved to TCP for its size whose peer takes no TCP goes over UDP after all:
    /// 18.1.1's TCP is for congestion, and a UDP-only phone (many are) would otherwise never
    /// hear the call. Its Via says UDP again, and its timers are UDP's.
    fn back_to_udp(&mut self, key: &TxKey, now: Instant) -> bool {
        let Some(udp) = self.clients.get(key).and_then(|e| e.udp_fallback) else {
            return false;
        };
        let via = self.via_for(udp, &key.branch);
        let timers = self.timers;
        let Some(entry) = self.clients.get_mut(key) else {
            return false;
        };
        tracing::info!("{:?} takes no TCP: the request goes over UDP", udp.addr);
        msg::pop_first(&mut entry.request.headers, "Via");
        msg::prepend(&mut entry.request.headers, "Via", via);
        entry.bytes = msg::encode_request(&entry.request);
        entry.peer = udp;
        entry.udp_fallback = None;
        entry.tx = ClientTx::new(tx_kind(&entry.request), false, timers, now);
        let bytes = entry.bytes.clone();
        self.send(udp, bytes, Some(key.clone()));
        self.touch(Timer::Client(key.clone()));
        true
    }

    fn start_cancel(&mut self, cancel: Request, peer: Peer, branch: &str, now: Instant) {
        let key = TxKey {
            branch: branch.to_string(),
            method: "CANCEL".into(),
        };
        let bytes = msg::encode_request(&cancel);
        self.send(peer, bytes.clone(), None);
        self.clients.insert(
            key.clone(),
            ClientEntry {
                tx: ClientTx::new(Kind::NonInvite, peer.proto.reliable(), self.timers, now),
                request: cancel,
                bytes,
                peer,
                responses: None,
                ack: None,
                cancel_wanted: false,
                cancel_reason: None,
                provisional_seen: false,
                udp_fallback: None,
            },
        );
        self.touch(Timer::Client(key));
    }

    fn handle_inbound(&mut self, bytes: &[u8], source: Peer, at: Instant) {
        if bytes.is_empty() && source.proto.reliable() {
            let _ = self.events.send(EndpointEvent::Closed { peer: source });
            return;
        }
        if let Some(stun) = self.pong(bytes, source) {
            let _ = self.events.send(EndpointEvent::Pong { peer: source, stun });
            return;
        }
        match decode(bytes) {
            Inbound::Request(req) => self.on_request(req, source, at),
            Inbound::Response(resp) => self.on_response(resp),
            Inbound::Rejected { rejection, reply } => {
                tracing::info!(
                    "refused a request from {}: {} {}",
                    source.addr,
                    rejection.status,
                    rejection.reason
                );
                self.send(source, reply, None);
            }
            Inbound::Dropped(why) => {
                if bytes.iter().any(|b| !b.is_ascii_whitespace()) {
                    tracing::debug!("dropped bytes from {}: {why}", source.addr);
                }
            }
        }
    }

    /// A keepalive's answer: `Some(None)` for a CRLF pong, `Some(Some(..))` for STUN.
    fn pong(
        &self,
        bytes: &[u8],
        source: Peer,
    ) -> Option<Option<(crate::nat::stun::TxId, SocketAddr)>> {
        use crate::nat::stun;
        if source.proto.reliable() && bytes == b"\r\n" {
            return Some(None);
        }
        if source.proto != Proto::Udp || !stun::looks_like_stun(bytes) {
            return None;
        }
        match stun::read(bytes, source.addr) {
            Some(stun::Stun::Response { id, mapped }) => Some(Some((id, mapped))),
            _ => {
                tracing::debug!("ignored a STUN message from {}", source.addr);
                None
            }
        }
    }

    fn on_response(&mut self, resp: Response) {
        let Some(via) = resp.top_via() else { return };
        let key = TxKey {
            branch: via.branch().unwrap_or_default().to_string(),
            method: resp.cseq().1,
        };
        let now = Instant::now();
        let code = msg::code_of(&resp);
        let Some(entry) = self.clients.get_mut(&key) else {
            tracing::debug!("stray response {code} for {key:?}");
            let _ = self
                .events
                .send(EndpointEvent::StrayResponse(Box::new(resp)));
            return;
        };
        let actions = entry.tx.on_response(code, now);
        if code < 200 && key.method == "INVITE" {
            entry.provisional_seen = true;
            if std::mem::take(&mut entry.cancel_wanted) {
                let (cancel, peer) = (
                    build_cancel(&entry.request, entry.cancel_reason.as_deref()),
                    entry.peer,
                );
                self.start_cancel(cancel, peer, &key.branch, now);
            }
        }
        self.client_actions(&key, actions, Some(resp));
    }

    fn client_actions(&mut self, key: &TxKey, actions: Vec<Action>, resp: Option<Response>) {
        self.run_client_actions(key, actions, resp);
        self.touch(Timer::Client(key.clone()));
    }

    fn run_client_actions(&mut self, key: &TxKey, actions: Vec<Action>, resp: Option<Response>) {
        for action in actions {
            let Some(entry) = self.clients.get_mut(key) else {
                return;
            };
            match action {
                Action::Retransmit => {
                    let (peer, bytes) = (entry.peer, entry.bytes.clone());
                    self.send(peer, bytes, None);
                }
                Action::SendAck => {
                    if entry.ack.is_none() {
                        if let Some(r) = &resp {
                            entry.ack = Some(msg::encode_request(&build_ack(&entry.request, r)));
                        }
                    }
                    if let Some(ack) = entry.ack.clone() {
                        let peer = entry.peer;
                        self.send(peer, ack, None);
                    }
                }
                Action::Deliver => {
                    if let (Some(tx), Some(r)) = (&entry.responses, &resp) {
                        let _ = tx.send(r.clone());
                    }
                }
                Action::Timeout => {
                    if let Some(tx) = &entry.responses {
                        let _ = tx.send(msg::no_response(&entry.request));
                    }
                }
                Action::Terminate => {
                    self.clients.remove(key);
                }
            }
        }
    }

    fn on_request(&mut self, mut req: Request, source: Peer, at: Instant) {
        let Some(mut via) = req.top_via() else { return };
        // RFC 3261 18.2.1 and RFC 3581: record where the request really came from.
        let via_ip = via.host.trim_start_matches('[').trim_end_matches(']');
        if via_ip.parse::<IpAddr>().ok() != Some(source.addr.ip()) {
            via.params
                .set("received", Some(source.addr.ip().to_string()));
        }
        if via.params.has("rport") {
            via.params
                .set("rport", Some(source.addr.port().to_string()));
        }
        msg::pop_first(&mut req.headers, "Via");
        msg::prepend(&mut req.headers, "Via", via.to_string());
        if source.proto.reliable() {
            // RFC 3261 18.2.2: if this connection is gone when we answer, open one to the
            // source IP and the Via's port.
            let port = via.port.unwrap_or(source.proto.default_port());
            let back = SocketAddr::new(source.addr.ip(), port);
            self.transport.remember_sent_by(source.addr, back);
        }
        let branch = via.branch().map(str::to_string).unwrap_or_else(|| {
            // RFC 2543 peers: no magic cookie, match on the dialog identifiers instead.
            format!(
                "2543|{}|{}|{}",
                req.call_id(),
                req.tag_from().unwrap_or_default(),
                req.cseq().0
            )
        });
        let method = req.method.to_string();
        let now = Instant::now();

        if req.method == Method::Ack {
            let key = TxKey {
                branch: branch.clone(),
                method: "INVITE".into(),
            };
            if let Some(entry) = self.servers.get_mut(&key) {
                if entry.tx.state != super::transaction::State::Accepted {
                    entry.tx.on_ack(now);
                    self.touch(Timer::Server(key));
                    return;
                }
            }
            if req.to_tag().is_some_and(|t| t.starts_with(SHED_TAG)) {
                return; // the ACK of an overload 503: nothing more to do
            }
            let k = (req.call_id(), req.cseq().0);
            if self.acks.remove(&k).is_some() {
                self.touch(Timer::Ack(k));
            }
            let _ = self.events.send(EndpointEvent::Request(Box::new(Incoming {
                request: req,
                source,
                key: None,
                cancels: None,
            })));
            return;
        }

        let key = TxKey { branch, method };
        if let Some(entry) = self.servers.get_mut(&key) {
            if entry
                .tx
                .on_retransmitted_request()
                .contains(&Action::Retransmit)
            {
                let (peer, last) = (entry.peer, entry.last.clone());
                self.send(peer, last, None);
            }
            self.touch(Timer::Server(key));
            return;
        }
        if self.overloaded(&req, now, at) {
            return self.shed(&req, response_peer(&via, source));
        }
        let kind = tx_kind(&req);
        let cancels = (req.method == Method::Cancel)
            .then(|| TxKey {
                branch: key.branch.clone(),
                method: "INVITE".into(),
            })
            .filter(|k| self.servers.contains_key(k));
        self.servers.insert(
            key.clone(),
            ServerEntry {
                tx: ServerTx::new(kind, source.proto.reliable(), self.timers),
                peer: response_peer(&via, source),
                last: Vec::new(),
            },
        );
        self.touch(Timer::Server(key.clone()));
        let _ = self.events.send(EndpointEvent::Request(Box::new(Incoming {
            request: req,
            source,
            key: Some(key),
            cancels,
        })));
    }

    /// Whether a new request should be turned away: it starts new work (no To tag; not a
    /// CANCEL, whose INVITE we took) while we are behind or full.
    fn overloaded(&self, req: &Request, now: Instant, arrived: Instant) -> bool {
        if req.method == Method::Cancel || req.to_tag().is_some() {
            return false;
        }
        let behind = now.saturating_duration_since(arrived) > self.limits.max_lag;
        let full = self.clients.len() + self.servers.len() >= self.limits.max_transactions;
        behind || full
    }

    /// 503 with Retry-After, statelessly: keeping no state is what makes it cheap.
    fn shed(&mut self, req: &Request, peer: Peer) {
        let tag = format!("{SHED_TAG}{}", msg::new_tag());
        let mut resp = msg::response_to(req, 503, Some("Service Unavailable"), Some(&tag));
        msg::push(
            &mut resp.headers,
            "Retry-After",
            self.limits.retry_after.to_string(),
        );
        tracing::debug!("overloaded: 503 to a {} from {}", req.method, peer.addr);
        self.send(peer, msg::encode_response(&resp), None);
    }

    /// Runs the timers that are due, and only those.
    fn on_timers(&mut self, now: Instant) {
        // Sent after the loop: a TCP peer whose connection is gone needs `send` to reconnect.
        let mut resend = Vec::new();
        for t in self.deadlines.due(now) {
            match &t {
                Timer::Client(key) => {
                    if let Some(entry) = self.clients.get_mut(key) {
                        let actions = entry.tx.on_timer(now);
                        self.run_client_actions(key, actions, None);
                    }
                }
                Timer::Server(key) => self.server_timer(key, now, &mut resend),
                Timer::Ack(k) => self.ack_timer(k, now, &mut resend),
            }
            self.touch(t);
        }
        for (peer, bytes) in resend {
            self.send(peer, bytes, None);
        }
        // Once a burst's transactions have all run out, their memory goes back to the system.
        let shrunk = [
            crate::memory::shrink_sparse(&mut self.clients),
            crate::memory::shrink_sparse(&mut self.servers),
            crate::memory::shrink_sparse(&mut self.acks),
            self.deadlines.shrink_sparse(),
        ];
        if shrunk.contains(&true) {
            crate::memory::give_back();
        }
    }

    fn server_timer(&mut self, key: &TxKey, now: Instant, resend: &mut Vec<(Peer, Vec<u8>)>) {
        let Some(entry) = self.servers.get_mut(key) else {
            return;
        };
        for action in entry.tx.on_timer(now) {
            match action {
                Action::Retransmit => resend.push((entry.peer, entry.last.clone())),
                Action::Terminate => {
                    self.servers.remove(key);
                    return;
                }
                _ => {}
            }
        }
    }

    /// A 2xx still without its ACK: sent again, or given up on (the user hears of it).
    fn ack_timer(&mut self, k: &AckKey, now: Instant, resend: &mut Vec<(Peer, Vec<u8>)>) {
        let Some(p) = self.acks.get_mut(k) else {
            return;
        };
        if p.give_up <= now {
            self.acks.remove(k);
            let call_id = k.0.clone();
            let _ = self.events.send(EndpointEvent::AckTimeout { call_id });
        } else if p.next <= now {
            resend.push((p.peer, p.bytes.clone()));
            p.interval = (p.interval * 2).min(self.timers.t2);
            p.next = now + p.interval;
        }
    }
}

/// RFC 3261 18.2.2 with RFC 3581: TCP and TLS answer on the connection; UDP to the source address when
/// `rport` was asked for, else to the source IP and the Via port.
fn response_peer(via: &Via, source: Peer) -> Peer {
    if source.proto.reliable() || via.params.has("rport") {
        return source;
    }
    Peer {
        proto: Proto::Udp,
        addr: SocketAddr::new(source.addr.ip(), via.port.unwrap_or(5060)),
    }
}

/// Headers an ACK or CANCEL copies from the INVITE (RFC 3261 17.1.1.3, 9.1).
fn derived_request(invite: &Request, method: Method, to: Option<String>) -> Request {
    let mut headers = msg::Headers::default();
    if let Some(via) = msg::get_all(&invite.headers, "Via").first() {
        msg::push(&mut headers, "Via", via.clone());
    }
    for name in ["From", "Call-ID"] {
        if let Some(v) = invite.header(name) {
            msg::push(&mut headers, name, v);
        }
    }
    if let Some(v) = to.or_else(|| invite.header("To")) {
        msg::push(&mut headers, "To", v);
    }
    msg::push(
        &mut headers,
        "CSeq",
        format!("{} {method}", invite.cseq().0),
    );
    for route in msg::get_all(&invite.headers, "Route") {
        msg::push(&mut headers, "Route", route);
    }
    msg::push(&mut headers, "Max-Forwards", "70");
    Request {
        method,
        uri: invite.uri.clone(),
        version: msg::Version::V2,
        headers,
        body: Vec::new(),
    }
}

fn build_ack(invite: &Request, resp: &Response) -> Request {
    derived_request(invite, Method::Ack, resp.header("To"))
}

fn build_cancel(invite: &Request, reason: Option<&str>) -> Request {
    let mut cancel = derived_request(invite, Method::Cancel, None);
    if let Some(r) = reason {
        msg::push(&mut cancel.headers, "Reason", r);
    }
    cancel
}
