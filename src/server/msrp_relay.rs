//! The MSRP relay of `parley serve --relay` (RFC 4976), for the server's own users: a client
//! behind a NAT, which nobody can connect to, connects out to the relay, authenticates with
//! `AUTH` (digest, its SIP password) and is given a URI to put first in its SDP `a=path`.
//! What arrives for that URI goes down the client's own connection; what the client sends
//! goes on toward the rest of its To-Path. Each hop takes itself off the To-Path and puts
//! itself on the front of the From-Path, so answers find their way back. Nothing is relayed
//! for strangers: a message must name one of our users' sessions, and only a user's own
//! connection may send beyond the relay, to whoever is next on its To-Path (another relay,
//! or a peer that waits for a connection), which we connect to if it has not reached us.
//! Over TLS (RFC 4976 4) when the server has a certificate: one port takes both, told apart
//! by the first byte (a TLS handshake's is 22, an MSRP request's `M`), and a user who came over
//! TLS is granted an `msrps:` URI. Next hops that are `msrps:` are reached over TLS, their
//! certificate checked against the system's roots (a relay's must name its host, RFC 4976 4).
//!
//! Not a proxy for strangers: onward connections go only where `Reach` permits (no loopback,
//! private or own addresses unless the admin allows them), at most `MAX_ONWARD` at a time per
//! user, and a next hop that cannot be reached is told only when the connection attempt's
//! whole time is up, whatever the reason (no quick "closed port" answers for scanning). A
//! connection that neither authenticated nor reached a user's session is closed after
//! a while (`UNPROVEN_FOR`), and only so many wait per source and in all. AUTH goes over TLS alone
//! when the relay has a certificate; its guesses are held back as SIP's (`guard`), with
//! nonces that cost nothing to hand out (`nonce`).

use super::guard::{Guard, Guess, Service, Verdict};
use super::nonce::Nonces;
use super::reach::Reach;
use crate::msrp::frame::{self, Decoder, Head, Item, Kind};
use crate::msrp::Stream;
use crate::sip::digest::{Algorithm, Challenge, Credentials};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long a session's URI is granted for (RFC 4976 `Expires`); it also ends with the
/// client's connection.
const GRANT: u32 = 3600;
/// Messages queued toward one connection: a slow reader holds the sender back.
const QUEUE: usize = 64;
/// How long a next hop may take to take our connection.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// Onward connections one user may have open or opening at once.
const MAX_ONWARD: usize = 8;
/// How long a connection may stay without authenticating or reaching a user's session.
pub const UNPROVEN_FOR: Duration = Duration::from_secs(30);
/// Such connections at most, from one address and in all.
const UNPROVEN_PER_SOURCE: usize = 16;
const UNPROVEN_IN_ALL: usize = 256;

#[derive(Debug, Clone)]
pub struct MsrpRelayConfig {
    pub listen: SocketAddr,
    pub realm: String,
    pub users: HashMap<String, String>,
    pub digest: Vec<Algorithm>,
    /// The server's certificate, for users and peers who come over TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Where onward connections may go.
    pub reach: Reach,
    /// How long a connection may stay unproven (`UNPROVEN_FOR`).
    pub unproven_for: Duration,
}

/// A running relay; dropping it stops it.
pub struct MsrpRelay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _task: super::Running,
}

impl MsrpRelay {
    pub async fn start(cfg: MsrpRelayConfig) -> std::io::Result<MsrpRelay> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        // The URIs we grant name the address clients reach us at: the domain when we listen
        // on every address.
        let me = match addr.ip().is_unspecified() {
            true => format!("{}:{}", cfg.realm, addr.port()),
            false => addr.to_string(),
        };
        let (opened, mut opened_rx) = mpsc::unbounded_channel::<Opened>();
        let shared = Arc::new(Shared {
            me,
            cfg,
            sessions: Mutex::default(),
            peers: Mutex::default(),
            nonces: Nonces::default(),
            guard: Guard::default(),
            unproven: Mutex::default(),
            onward: Mutex::default(),
            opened,
        });
        // Connections we open are run from here too (a connection's own task cannot start
        // another like itself).
        let ours = shared.clone();
        let task = super::Running(tokio::spawn(async move {
            loop {
                tokio::select! {
                    (stream, from) = crate::accept::next(&listener, "MSRP relay") => {
                        let Some(waiting) = Unproven::admit(&shared, from.ip()) else {
                            tracing::debug!("MSRP relay: too many unproven from {from}, closed");
                            continue;
                        };
                        tracing::debug!("MSRP relay: connection from {from}");
                        tokio::spawn(take(shared.clone(), stream, waiting));
                    }
                    Some((stream, queue, slot)) = opened_rx.recv() => {
                        let how = How { secure: false, unproven: None, _onward: Some(slot) };
                        tokio::spawn(carry(shared.clone(), stream, how, queue));
                    }
                }
            }
        }));
        Ok(MsrpRelay {
            addr,
            shared: ours,
            _task: task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many sessions it carries for its users now.
    pub fn sessions(&self) -> usize {
        self.shared.sessions.lock().unwrap().len()
    }

    /// How many peers without a session here it can reach now (connections open to it).
    pub fn peers(&self) -> usize {
        self.shared.peers.lock().unwrap().len()
    }
}

type Queue = mpsc::Sender<Vec<u8>>;
/// A connection we opened to a next hop, with the queue to write it from and the user's
/// onward slot it takes.
type Opened = (Stream, (Queue, mpsc::Receiver<Vec<u8>>), Onward);

/// A connection that has not yet authenticated or reached a user's session, counted against
/// its source's and the relay's limits until it does or goes.
struct Unproven {
    shared: Arc<Shared>,
    ip: IpAddr,
    until: tokio::time::Instant,
}

impl Unproven {
    fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Option<Unproven> {
        let mut counts = shared.unproven.lock().unwrap();
        let all: usize = counts.values().sum();
        let mine = counts.get(&ip).copied().unwrap_or(0);
        if all >= UNPROVEN_IN_ALL || mine >= UNPROVEN_PER_SOURCE {
            return None;
        }
        *counts.entry(ip).or_insert(0) += 1;
        Some(Unproven {
            shared: shared.clone(),
            ip,
            until: tokio::time::Instant::now() + shared.cfg.unproven_for,
        })
    }
}

impl Drop for Unproven {
    fn drop(&mut self) {
        uncount(&mut self.shared.unproven.lock().unwrap(), &self.ip);
    }
}

/// One fewer of `key` in `counts`; a count that reaches nothing takes no room.
fn uncount<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// One of a user's onward connections, open or opening; given back when dropped.
struct Onward {
    shared: Arc<Shared>,
    user: String,
}

impl Onward {
    fn take(shared: &Arc<Shared>, user: &str) -> Option<Onward> {
        let mut counts = shared.onward.lock().unwrap();
        let n = counts.entry(user.to_string()).or_insert(0);
        if *n >= MAX_ONWARD {
            return None;
        }
        *n += 1;
        Some(Onward {
            shared: shared.clone(),
            user: user.to_string(),
        })
    }
}

impl Drop for Onward {
    fn drop(&mut self) {
        uncount(&mut self.shared.onward.lock().unwrap(), &self.user);
    }
}

/// How a connection came to be: over TLS, still to prove itself, or one of a user's onward.
struct How {
    secure: bool,
    unproven: Option<Unproven>,
    _onward: Option<Onward>,
}

/// How long a connection may take to show its first byte or finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// An accepted connection, TLS or plain as its first byte says, carried.
async fn take(shared: Arc<Shared>, stream: TcpStream, waiting: Unproven) {
    let tls = crate::accept::opens_with_tls(&stream, HANDSHAKE)
        .await
        .unwrap_or(false);
    let conn: Stream = match (tls, &shared.cfg.tls) {
        (true, Some(config)) => {
            let accept = tokio_rustls::TlsAcceptor::from(config.clone()).accept(stream);
            match tokio::time::timeout(HANDSHAKE, accept).await {
                Ok(Ok(s)) => Box::new(s),
                _ => return tracing::debug!("MSRP relay: a TLS handshake failed"),
            }
        }
        (true, None) => return tracing::debug!("MSRP relay: TLS asked of a plain relay"),
        (false, _) => Box::new(stream),
    };
    let how = How {
        secure: tls,
        unproven: Some(waiting),
        _onward: None,
    };
    carry(shared, conn, how, mpsc::channel(QUEUE)).await;
}

struct Shared {
    /// Our `host:port`, as it appears in the URIs we grant.
    me: String,
    cfg: MsrpRelayConfig,
    /// Granted session ids and the connection of the user they belong to.
    sessions: Mutex<HashMap<String, Queue>>,
    /// Peers without a session here (the other side of a call) by their URI, so that a
    /// user's answers reach them down the connection they opened.
    peers: Mutex<HashMap<String, Queue>>,
    nonces: Nonces,
    guard: Guard,
    /// Unproven connections per source address.
    unproven: Mutex<HashMap<IpAddr, usize>>,
    /// Onward connections per user.
    onward: Mutex<HashMap<String, usize>>,
    /// Where connections we open go to be run.
    opened: mpsc::UnboundedSender<Opened>,
}

/// One connection, accepted or opened by us toward the next hop: a reader that routes each
/// message as its head arrives and streams its body after it, and a writer fed through the
/// queue by everyone routing to this connection.
async fn carry(
    shared: Arc<Shared>,
    stream: Stream,
    how: How,
    (tx, rx): (Queue, mpsc::Receiver<Vec<u8>>),
) {
    let (rd, wr) = tokio::io::split(stream);
    let writer = tokio::spawn(write_loop(wr, rx));
    let source = how.unproven.as_ref().map(|u| u.ip);
    let mut conn = Conn {
        shared: shared.clone(),
        tx,
        secure: how.secure,
        source,
        user: None,
        unproven: how.unproven,
        own: Vec::new(),
        current: None,
    };
    if let Err(e) = conn.read_loop(rd).await {
        tracing::debug!("MSRP relay: connection ends: {e}");
    }
    let mut sessions = shared.sessions.lock().unwrap();
    for sid in &conn.own {
        sessions.remove(sid);
    }
    drop(sessions);
    // Nothing more reaches a peer down this connection: strangers' connections leave no trace.
    let tx = conn.tx.clone();
    shared
        .peers
        .lock()
        .unwrap()
        .retain(|_, q| !q.same_channel(&tx));
    writer.abort();
}

async fn write_loop(mut wr: tokio::io::WriteHalf<Stream>, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        // Flushed each time: TLS holds what is written until then.
        if wr.write_all(&bytes).await.is_err() || wr.flush().await.is_err() {
            return;
        }
    }
}

/// Where a message goes next: a connection we have, or one to open to the next relay.
enum Next {
    Queue(Queue),
    Open(String),
}

/// Where the message being read goes, and whether its body began.
struct Forward {
    to: Queue,
    tid: String,
    body: bool,
}

struct Conn {
    shared: Arc<Shared>,
    tx: Queue,
    /// It came over TLS: what we grant on it is `msrps:`.
    secure: bool,
    /// Where an accepted connection comes from (none for ours).
    source: Option<IpAddr>,
    /// The user who authenticated on it.
    user: Option<String>,
    /// Until it authenticates or reaches a user's session: closed at its deadline.
    unproven: Option<Unproven>,
    /// The sessions granted on this connection (gone with it).
    own: Vec<String>,
    current: Option<Forward>,
}

impl Conn {
    async fn read_loop(&mut self, mut rd: tokio::io::ReadHalf<Stream>) -> Result<(), String> {
        let (mut dec, mut buf) = (Decoder::default(), Vec::with_capacity(16 * 1024));
        loop {
            let read = rd.read_buf(&mut buf);
            let n = match self.unproven.as_ref().map(|u| u.until) {
                Some(until) => tokio::time::timeout_at(until, read)
                    .await
                    .map_err(|_| "neither authenticated nor for a session in time")?,
                None => read.await,
            };
            if n.map_err(|e| e.to_string())? == 0 {
                return Ok(());
            }
            let mut used = 0;
            while let Some((item, n)) = dec.next(&buf[used..]).map_err(|e| e.to_string())? {
                used += n;
                let out = self.item(item).await;
                if let Some((to, bytes)) = out {
                    to.send(bytes).await.map_err(|_| "the next hop went away")?;
                }
            }
            buf.drain(..used);
            if buf.capacity() > 1024 * 1024 && buf.len() < 16 * 1024 {
                buf.shrink_to(16 * 1024);
            }
        }
    }

    /// What one decoded item becomes: bytes for some connection, or nothing.
    async fn item(&mut self, item: Item<'_>) -> Option<(Queue, Vec<u8>)> {
        match item {
            Item::Head(h) => self.head(h).await,
            Item::Body(b) => {
                let f = self.current.as_mut()?;
                let mut out = Vec::with_capacity(b.len() + 2);
                if !f.body {
                    // The blank line between headers and body.
                    out.extend_from_slice(b"\r\n");
                    f.body = true;
                }
                out.extend_from_slice(b);
                Some((f.to.clone(), out))
            }
            Item::End(c) => {
                let f = self.current.take()?;
                Some((f.to, frame::end_line(&f.tid, f.body, c)))
            }
        }
    }

    async fn head(&mut self, h: Head) -> Option<(Queue, Vec<u8>)> {
        self.current = None;
        let is_auth = matches!(&h.kind, Kind::Request(m) if m == "AUTH");
        if is_auth {
            let reply = self.auth(&h);
            return Some((self.tx.clone(), reply));
        }
        let routed = match self.route(&h) {
            Ok((Next::Open(uri), head)) => self.open(&uri).await.map(|q| (q, head)),
            Ok((Next::Queue(q), head)) => Ok((q, head)),
            Err(e) => Err(e),
        };
        match routed {
            Ok((to, head)) => {
                self.current = Some(Forward {
                    to: to.clone(),
                    tid: h.transaction.clone(),
                    body: false,
                });
                Some((to, head))
            }
            Err((code, why)) => {
                // Requests are refused in words; a response that leads nowhere is dropped.
                let Kind::Request(_) = &h.kind else {
                    return None;
                };
                let reply = refusal(&h, code, why, &self.shared.me);
                Some((self.tx.clone(), reply))
            }
        }
    }
}

/// A connection to a next hop at `authority` (reached at `addr`), over TLS that the system's
/// roots vouch for when `tls`.
async fn connect_to(authority: &str, addr: SocketAddr, tls: bool) -> std::io::Result<Stream> {
    let s = TcpStream::connect(addr).await?;
    let _ = s.set_nodelay(true);
    if !tls {
        return Ok(Box::new(s));
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let name = crate::tls::trust::server_name(host)
        .ok_or_else(|| std::io::Error::other(format!("{host} is no name to check")))?;
    let connector = tokio_rustls::TlsConnector::from(crate::tls::trust::system_config());
    Ok(Box::new(connector.connect(name, s).await?))
}

/// The URI's `host:port` and session id (`msrp://host:port/sid;tcp`).
fn parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri
        .strip_prefix("msrp://")
        .or_else(|| uri.strip_prefix("msrps://"))?;
    let (authority, tail) = rest
        .split_once('/')
        .unwrap_or((rest.trim_end_matches(";tcp"), ""));
    Some((authority, tail.split(';').next().unwrap_or_default()))
}

impl Conn {
    fn is_me(&self, uri: &str) -> bool {
        parts(uri).is_some_and(|(a, _)| a.eq_ignore_ascii_case(&self.shared.me))
    }

    /// A connection of ours to the next hop on a user's To-Path (RFC 4976 6.3), kept for
    /// whatever else goes there and for what comes back on it.
    async fn open(&self, uri: &str) -> Result<Queue, (u16, &'static str)> {
        let unreachable = (408, "The next hop cannot be reached");
        let user = self.user.as_deref().unwrap_or_default();
        let slot = Onward::take(&self.shared, user).ok_or((403, "Too many next hops at once"))?;
        let (authority, _) = parts(uri).ok_or(unreachable)?;
        let deadline = tokio::time::Instant::now() + CONNECT_WITHIN;
        let to = self.permitted(authority).await?;
        let connect = connect_to(authority, to, uri.starts_with("msrps:"));
        let stream = match tokio::time::timeout_at(deadline, connect).await {
            Ok(Ok(s)) => s,
            failed => {
                if let Ok(Err(e)) = failed {
                    tracing::info!("MSRP relay: cannot reach {uri}: {e}");
                }
                // Refused, reset or silent, all are told alike and only when the time is up:
                // the relay is no port scanner.
                tokio::time::sleep_until(deadline).await;
                return Err(unreachable);
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let key = uri.to_string();
        self.shared.peers.lock().unwrap().insert(key, tx.clone());
        let _ = self.shared.opened.send((stream, (tx.clone(), rx), slot));
        Ok(tx)
    }

    /// The address of `authority` that the relay may connect to: looked up once, and the
    /// address checked is the one connected to.
    async fn permitted(&self, authority: &str) -> Result<SocketAddr, (u16, &'static str)> {
        let refused = (403, "This relay does not go there");
        let found = tokio::net::lookup_host(authority)
            .await
            .map_err(|_| refused)?;
        let reach = &self.shared.cfg.reach;
        let mut found = found.filter(|a| reach.permits(a.ip()));
        found.next().ok_or_else(|| {
            tracing::info!("MSRP relay: refused a next hop at {authority}");
            refused
        })
    }

    /// The next hop of a message and its head as it leaves: our URIs off the front of its
    /// To-Path and onto the front of its From-Path (RFC 4976 6.3).
    fn route(&mut self, h: &Head) -> Result<(Next, Vec<u8>), (u16, &'static str)> {
        let to: Vec<&str> = h
            .header("To-Path")
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let from: Vec<&str> = h
            .header("From-Path")
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let ours = to.iter().take_while(|u| self.is_me(u)).count();
        let (popped, rest) = to.split_at(ours);
        let (Some(last), Some(next), Some(origin)) = (popped.last(), rest.first(), from.first())
        else {
            return Err((403, "Not through this relay"));
        };
        let sid = parts(last).map(|(_, s)| s.to_string()).unwrap_or_default();
        let new_from: Vec<&str> = popped.iter().rev().chain(from.iter()).copied().collect();
        let head = rewrite(h, &rest.join(" "), &new_from.join(" "));
        let queue = match self.own.contains(&sid) {
            // Our user sends on: to a peer or relay that reached us, else we connect to it
            // (the next relay, or a peer that waits for a connection).
            true => {
                let known = self.shared.peers.lock().unwrap().get(*next).cloned();
                if known.is_none() {
                    return Ok((Next::Open(next.to_string()), head));
                }
                known
            }
            // Anyone (our user, or a peer) sends to one of our users' sessions.
            false => {
                let q = self.shared.sessions.lock().unwrap().get(&sid).cloned();
                if q.is_some() {
                    // It reached a user's session: no longer a stranger's idle connection.
                    self.unproven = None;
                }
                if q.is_some() && self.own.is_empty() {
                    // The first connection to claim a path keeps it while it lives: another
                    // cannot take over (or cut off) what goes back to that peer.
                    let mut peers = self.shared.peers.lock().unwrap();
                    peers
                        .entry(origin.to_string())
                        .or_insert_with(|| self.tx.clone());
                }
                q
            }
        };
        let queue = queue.ok_or((481, "No such session"))?;
        Ok((Next::Queue(queue), head))
    }

    /// RFC 4976 5: a 401 with a challenge, then 200 with the URI granted once the answer
    /// checks out with the user's password.
    fn auth(&mut self, h: &Head) -> Vec<u8> {
        let to = h.header("To-Path").unwrap_or_default().to_string();
        let from = h.header("From-Path").unwrap_or_default().to_string();
        let reply = |code, why: &str, extra: Vec<(&str, String)>| {
            let mut headers = vec![("To-Path", from.as_str()), ("From-Path", to.as_str())];
            headers.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
            frame::response_with(&h.transaction, code, why, &headers)
        };
        if !self.is_me(to.split_whitespace().next().unwrap_or_default()) {
            return reply(403, "Not this relay", Vec::new());
        }
        if self.shared.cfg.tls.is_some() && !self.secure {
            // The relay has a certificate: a password's digest goes nowhere in the clear.
            return reply(403, "AUTH over TLS only", Vec::new());
        }
        let creds = h.header("Authorization").and_then(Credentials::parse);
        let Some(creds) = creds.filter(|c| c.realm == self.shared.cfg.realm) else {
            let challenges = self.challenges();
            let extra = challenges
                .into_iter()
                .map(|c| ("WWW-Authenticate", c))
                .collect();
            return reply(401, "Unauthorized", extra);
        };
        match self.check(&creds) {
            Verdict::Right => {}
            Verdict::Stale => {
                let extra = self
                    .challenges()
                    .into_iter()
                    .map(|c| ("WWW-Authenticate", c))
                    .collect();
                return reply(401, "Unauthorized", extra);
            }
            Verdict::Wrong => return reply(403, "Forbidden", Vec::new()),
        }
        self.unproven = None;
        self.user = Some(creds.username.clone());
        let sid = crate::sip::message::random_token(16);
        let scheme = if self.secure { "msrps" } else { "msrp" };
        let grant = format!("{scheme}://{}/{sid};tcp", self.shared.me);
        let tx = self.tx.clone();
        self.shared.sessions.lock().unwrap().insert(sid.clone(), tx);
        self.own.push(sid);
        tracing::info!("MSRP relay: {} has {grant}", creds.username);
        let extra = vec![("Use-Path", grant), ("Expires", GRANT.to_string())];
        reply(200, "OK", extra)
    }

    /// The address a connection came from (ours to a next hop: unspecified).
    fn client(&self) -> IpAddr {
        self.source.unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn challenges(&self) -> Vec<String> {
        let nonce = self.shared.nonces.issue(self.client(), Instant::now());
        let cfg = &self.shared.cfg;
        Challenge::offers(&cfg.realm, &nonce, &cfg.digest, false)
    }

    /// A user's answer to one of our nonces, judged as SIP's are (`Guard::judge`). An answer
    /// without qop asks again; one with an algorithm we did not offer is wrong.
    fn check(&self, creds: &Credentials) -> Verdict {
        if creds.qop.is_none() {
            return Verdict::Stale;
        }
        let cfg = &self.shared.cfg;
        let offered = cfg.digest.contains(&creds.algorithm);
        let guess = Guess {
            creds,
            method: "AUTH",
            user: &creds.username,
            password: cfg
                .users
                .get(&creds.username)
                .map(String::as_str)
                .filter(|_| offered),
            source: self.client(),
        };
        self.shared
            .guard
            .judge(&self.shared.nonces, Service::Msrp, guess)
    }
}

/// The head again with new paths, up to (not including) the blank line before a body; a
/// bodiless message's end-line is written when the decoder reaches it.
fn rewrite(h: &Head, to: &str, from: &str) -> Vec<u8> {
    let paths = [("To-Path", to), ("From-Path", from)];
    let others = h.headers.iter().filter(|(name, _)| {
        !name.eq_ignore_ascii_case("To-Path") && !name.eq_ignore_ascii_case("From-Path")
    });
    let headers: Vec<(&str, &str)> = paths
        .into_iter()
        .chain(others.map(|(n, v)| (n.as_str(), v.as_str())))
        .collect();
    frame::head(&h.transaction, &h.kind, &headers)
}

/// A relay's refusal of a request: back to where it came from, from us.
fn refusal(h: &Head, code: u16, why: &str, me: &str) -> Vec<u8> {
    let to = h.header("From-Path").unwrap_or_default();
    let us = format!("msrp://{me};tcp");
    frame::response(&h.transaction, code, why, to, &us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msrp::relay::{authenticate, RelayError};

    const WITHIN: Duration = Duration::from_secs(5);

    async fn relay() -> MsrpRelay {
        relay_with(None).await
    }

    async fn relay_with(tls: Option<Arc<rustls::ServerConfig>>) -> MsrpRelay {
        let cfg = MsrpRelayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            realm: "company.com".into(),
            users: HashMap::from([("alice".to_string(), "secret".to_string())]),
            digest: vec![Algorithm::Sha256, Algorithm::Md5],
            tls,
            // The relays here reach each other on loopback, which only an admin allows.
            reach: Reach {
                allow: vec![crate::server::reach::Cidr::parse("127.0.0.0/8").unwrap()],
            },
            unproven_for: UNPROVEN_FOR,
        };
        MsrpRelay::start(cfg).await.unwrap()
    }

    fn trusting(pin: crate::tls::Fingerprint) -> crate::msrp::relay::RelayTls {
        let trust = crate::tls::Trust {
            ca_file: None,
            pinned: Some(pin),
        };
        crate::msrp::relay::RelayTls {
            config: trust.client_config().unwrap(),
            name: crate::tls::trust::server_name("company.com").unwrap(),
        }
    }

    #[tokio::test]
    async fn over_tls_the_relay_proves_itself_and_grants_msrps_and_takes_no_plain_auth() {
        let id = crate::tls::Identity::generate(&["company.com".to_string()]).unwrap();
        let r = relay_with(Some(id.server_config().unwrap())).await;
        let own = "msrp://192.0.2.10:7000/own;tcp";
        let creds = ("alice", "secret");
        let tls = Some(trusting(id.fingerprint()));
        let g = authenticate(r.local_addr(), own, creds, WITHIN, tls)
            .await
            .unwrap();
        assert!(g.use_path.starts_with("msrps://"), "{}", g.use_path);
        assert_eq!(g.fingerprint, Some(id.fingerprint()));
        // A relay showing another certificate is refused before the password's digest leaves.
        let other = crate::tls::Fingerprint([9; 32]);
        let refused = authenticate(r.local_addr(), own, creds, WITHIN, Some(trusting(other))).await;
        assert!(
            matches!(refused, Err(RelayError::Certificate(..))),
            "{refused:?}"
        );
        assert_eq!(r.sessions(), 1);
        // The same port takes plain MSRP, but no password's digest in the clear.
        let plain = authenticate(r.local_addr(), own, creds, WITHIN, None).await;
        assert!(
            matches!(plain, Err(RelayError::Refused(_, ref w)) if w.contains("over TLS only")),
            "{plain:?}"
        );
    }

    /// Sends one request on a fresh connection and reads what comes back.
    async fn stranger(relay: SocketAddr, to: &str, body: &[u8]) -> String {
        let mut s = TcpStream::connect(relay).await.unwrap();
        let from = "msrp://198.51.100.7:9999/xyz;tcp";
        let req = frame::request(
            "tx0001",
            "SEND",
            &[("To-Path", to), ("From-Path", from)],
            Some(body),
        );
        s.write_all(&req).await.unwrap();
        read_some(&mut s).await
    }

    async fn read_some(s: &mut (impl AsyncReadExt + Unpin)) -> String {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("nothing came")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    }

    #[tokio::test]
    async fn a_user_gets_a_path_and_what_comes_for_it_goes_down_its_connection() {
        let r = relay().await;
        let own = "msrp://192.0.2.10:7000/own;tcp";
        let granted = authenticate(r.local_addr(), own, ("alice", "secret"), WITHIN, None)
            .await
            .unwrap();
        // A wrong password is refused (and holds this address back: see `guard`).
        let wrong = authenticate(r.local_addr(), own, ("alice", "wrong"), WITHIN, None).await;
        assert!(matches!(wrong, Err(RelayError::Refused(_, ref w)) if w.starts_with("403")));
        assert!(granted
            .use_path
            .starts_with(&format!("msrp://{}/", r.local_addr())));
        // A message for a session nobody was given is refused.
        let unknown = format!("msrp://{}/nobody;tcp {own}", r.local_addr());
        let reply = stranger(r.local_addr(), &unknown, b"hi").await;
        assert!(reply.contains(" 481 "), "{reply}");
        // Nor may a stranger send past the relay to anyone else.
        let onward = format!("msrp://{}/x;tcp msrp://203.0.113.9:1/y;tcp", r.local_addr());
        assert!(stranger(r.local_addr(), &onward, b"hi")
            .await
            .contains(" 481 "));
        // For Alice's path: delivered to her, the relay off the To-Path, onto the From-Path.
        let mut alice = granted.stream;
        let to = format!("{} {own}", granted.use_path);
        let relay_addr = r.local_addr();
        // It sends and goes away.
        let mut s = TcpStream::connect(relay_addr).await.unwrap();
        let from = "msrp://198.51.100.7:9999/xyz;tcp";
        let headers = [("To-Path", to.as_str()), ("From-Path", from)];
        s.write_all(&frame::request("tx0001", "SEND", &headers, Some(b"hello")))
            .await
            .unwrap();
        let got = read_some(&mut alice).await;
        assert!(got.contains(&format!("To-Path: {own}\r\n")), "{got}");
        let from = format!(
            "From-Path: {} msrp://198.51.100.7:9999/xyz;tcp",
            granted.use_path
        );
        assert!(got.contains(&from), "{got}");
        assert!(got.contains("hello\r\n-------tx0001$"), "{got}");
        // The stranger is gone: so is the way back to it.
        drop(s);
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.peers() > 0 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(r.peers(), 0);
    }

    #[tokio::test]
    async fn two_users_of_two_relays_reach_each_other() {
        let (r1, r2) = (relay().await, relay().await);
        let (a_own, b_own) = (
            "msrp://192.0.2.10:7000/a;tcp",
            "msrp://192.0.2.20:7000/b;tcp",
        );
        let a = authenticate(r1.local_addr(), a_own, ("alice", "secret"), WITHIN, None);
        let b = authenticate(r2.local_addr(), b_own, ("alice", "secret"), WITHIN, None);
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let mut alice = a.stream;
        let mut bob = b.stream;
        // Alice's relay first, then Bob's path as his SDP gives it.
        let to = format!("{} {} {b_own}", a.use_path, b.use_path);
        let req = frame::request(
            "tx0002",
            "SEND",
            &[("To-Path", &to), ("From-Path", a_own)],
            Some(b"hi"),
        );
        alice.write_all(&req).await.unwrap();
        let got = read_some(&mut bob).await;
        assert!(got.contains(&format!("To-Path: {b_own}\r\n")), "{got}");
        let from = format!("From-Path: {} {} {a_own}", b.use_path, a.use_path);
        assert!(got.contains(&from), "{got}");
        // Bob's answer goes back the way it came.
        let back = frame::response("tx0002", 200, "OK", &from["From-Path: ".len()..], b_own);
        bob.write_all(&back).await.unwrap();
        let answer = read_some(&mut alice).await;
        assert!(answer.contains("MSRP tx0002 200 OK"), "{answer}");
        assert!(
            answer.contains(&format!("To-Path: {a_own}\r\n")),
            "{answer}"
        );
    }
}
