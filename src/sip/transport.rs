//! UDP, TCP and TLS transports (RFC 3261 section 18, RFC 5630 for TLS). A UDP socket and a TCP
//! listener on the same port, for each address family: bound to an unspecified address
//! (`0.0.0.0` or `::`), we listen on IPv4 and IPv6 alike; a TLS listener on a port of its own
//! when asked (`listen_tls`). Connections are pooled by transport and remote address and framed
//! by Content-Length. A TLS connection we open checks the server's certificate against the name
//! set for that address (`expect`), before a byte of SIP is written. Everything received goes
//! up one channel as `(bytes, Peer)`.

use super::parse;
use crate::nat::stun;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Udp,
    Tcp,
    Tls,
}

impl Proto {
    pub fn as_str(&self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
            Proto::Tls => "TLS",
        }
    }

    pub fn parse(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Some(Proto::Udp),
            "tcp" => Some(Proto::Tcp),
            "tls" => Some(Proto::Tls),
            _ => None,
        }
    }

    /// Over a connection (TCP or TLS): no retransmissions, CRLF keepalives.
    pub fn reliable(&self) -> bool {
        *self != Proto::Udp
    }

    /// RFC 3261 19.1.2: 5061 for TLS, 5060 otherwise.
    pub fn default_port(&self) -> u16 {
        match self {
            Proto::Tls => 5061,
            _ => 5060,
        }
    }
}

/// What a TLS connection to an address must prove: a certificate for `name`, as `config` trusts.
#[derive(Clone)]
pub struct TlsTarget {
    pub name: rustls::pki_types::ServerName<'static>,
    pub config: Arc<rustls::ClientConfig>,
}

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub proto: Proto,
    pub addr: SocketAddr,
}

/// Which end of a TCP connection we are: it decides what a CRLF keepalive means (RFC 5626
/// 3.5.1: the side that connected pings with CRLFCRLF, the side that accepted pongs with CRLF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Accepted,
    Opened,
}

/// Keepalives at the front of a stream's buffer: (bytes they take, pings to answer, pongs
/// seen). On an accepted connection a lone CRLF waits for its other half.
fn keepalives(buf: &[u8], role: Role) -> (usize, usize, usize) {
    let crlfs = buf.chunks_exact(2).take_while(|c| *c == b"\r\n").count();
    match role {
        Role::Accepted => (crlfs / 2 * 4, crlfs / 2, 0),
        Role::Opened => (crlfs * 2, 0, crlfs),
    }
}

/// What arrived, from whom, and when (so the endpoint can tell how far behind it is).
pub type Arrival = (Vec<u8>, Peer, std::time::Instant);
/// Bounded: past this many waiting messages, UDP datagrams are dropped (their senders resend)
/// and TCP readers wait, so a flood cannot grow memory without end.
pub type Inbox = mpsc::Sender<Arrival>;
pub const INBOX_SIZE: usize = 16_384;

#[derive(Clone)]
pub struct Transport {
    udp4: Option<Arc<UdpSocket>>,
    udp6: Option<Arc<UdpSocket>>,
    local: SocketAddr,
    tls_local: Arc<Mutex<Option<SocketAddr>>>,
    conns: Arc<Mutex<HashMap<Peer, mpsc::UnboundedSender<Vec<u8>>>>>,
    /// What a TLS connection to each address must prove (set by whoever located it).
    tls_targets: Arc<Mutex<HashMap<SocketAddr, TlsTarget>>>,
    /// For a connection a request came in on: where to connect if it is gone (18.2.2).
    sent_by: Arc<Mutex<HashMap<SocketAddr, SocketAddr>>>,
    inbox: Inbox,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    max_connections: usize,
    /// TLS taken on the TCP port too (a connection that opens with a TLS record): a client's
    /// Contact says `transport=tls` on its one SIP port, where a registrar that does not reuse
    /// our connection (Asterisk's `rewrite_contact=no`) connects for incoming calls.
    tls_on_tcp: Arc<Mutex<Option<tokio_rustls::TlsAcceptor>>>,
}

/// A UDP socket and TCP listener sharing one address.
type Pair = (UdpSocket, TcpListener);

/// Binds UDP and TCP on `addr`; an IPv6 pair is made v6-only so the IPv4 pair can share the port.
fn bind_pair(addr: SocketAddr) -> io::Result<Pair> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = Domain::for_address(addr);
    let open = |ty, proto| -> io::Result<Socket> {
        let s = Socket::new(domain, ty, Some(proto))?;
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.set_nonblocking(true)?;
        Ok(s)
    };
    let udp = open(Type::DGRAM, Protocol::UDP)?;
    udp.bind(&addr.into())?;
    let bound = udp
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("no address"))?;
    let tcp = open(Type::STREAM, Protocol::TCP)?;
    tcp.set_reuse_address(true)?;
    tcp.bind(&bound.into())?;
    tcp.listen(128)?;
    let udp = UdpSocket::from_std(std::net::UdpSocket::from(udp))?;
    let tcp = TcpListener::from_std(std::net::TcpListener::from(tcp))?;
    Ok((udp, tcp))
}

/// The other family's unspecified address on `port`, when `addr` is unspecified.
fn other_family(addr: SocketAddr, port: u16) -> Option<SocketAddr> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => Some((Ipv6Addr::UNSPECIFIED, port).into()),
        IpAddr::V6(ip) if ip.is_unspecified() => Some((Ipv4Addr::UNSPECIFIED, port).into()),
        _ => None,
    }
}

/// Binds `addr`, and for an unspecified address the other family on the same port. A host
/// without IPv6 at all keeps IPv4 only (said in the log); a taken port is retried when the OS
/// picks it.
fn bind_families(addr: SocketAddr) -> io::Result<(Pair, Option<Pair>)> {
    let mut last_err = None;
    for _ in 0..20 {
        let first = match bind_pair(addr) {
            Ok(pair) => pair,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && addr.port() == 0 => {
                last_err = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let port = first.0.local_addr()?.port();
        let Some(other) = other_family(addr, port) else {
            return Ok((first, None));
        };
        match bind_pair(other) {
            Ok(second) => return Ok((first, Some(second))),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && addr.port() == 0 => {
                last_err = Some(e)
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(e),
            Err(e) => {
                tracing::info!("listening on {addr} only: {other} failed ({e})");
                return Ok((first, None));
            }
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free port")))
}

impl Transport {
    /// Binds UDP and TCP on the same address (port 0: the OS picks one free for both), and on
    /// the other family too when the address is unspecified.
    pub async fn bind(
        addr: SocketAddr,
        inbox: Inbox,
        max_connections: usize,
    ) -> io::Result<Transport> {
        let (first, second) = bind_families(addr)?;
        let local = first.0.local_addr()?;
        let mut t = Transport {
            udp4: None,
            udp6: None,
            local,
            tls_local: Arc::default(),
            conns: Arc::default(),
            tls_targets: Arc::default(),
            sent_by: Arc::default(),
            inbox,
            tasks: Arc::default(),
            max_connections,
            tls_on_tcp: Arc::default(),
        };
        for (udp, tcp) in std::iter::once(first).chain(second) {
            let udp = Arc::new(udp);
            match udp.local_addr()?.is_ipv4() {
                true => t.udp4 = Some(udp.clone()),
                false => t.udp6 = Some(udp.clone()),
            }
            t.spawn_udp_reader(udp);
            t.spawn_acceptor(tcp, None);
        }
        Ok(t)
    }

    /// Whether we listen on IPv4 and on IPv6.
    pub fn families(&self) -> (bool, bool) {
        (self.udp4.is_some(), self.udp6.is_some())
    }

    fn udp_for(&self, to: SocketAddr) -> io::Result<&Arc<UdpSocket>> {
        let sock = match to.is_ipv4() {
            true => self.udp4.as_ref(),
            false => self.udp6.as_ref(),
        };
        sock.ok_or_else(|| {
            let fam = if to.is_ipv4() { "IPv4" } else { "IPv6" };
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("not listening on {fam}: cannot reach {to}"),
            )
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Where we listen for TLS, if we do.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        *self.tls_local.lock().unwrap()
    }

    /// Listens for TLS on `addr`, presenting `config`'s certificate.
    pub async fn listen_tls(
        &self,
        addr: SocketAddr,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        *self.tls_local.lock().unwrap() = Some(bound);
        self.spawn_acceptor(listener, Some(tokio_rustls::TlsAcceptor::from(config)));
        Ok(bound)
    }

    /// Sets what a TLS connection to `addr` must prove (RFC 5922: the name the user gave).
    pub fn expect(&self, addr: SocketAddr, target: TlsTarget) {
        let mut map = self.tls_targets.lock().unwrap();
        if map.len() >= 4096 {
            map.clear();
        }
        map.insert(addr, target);
    }

    /// Whether a connection to `peer` is open now.
    pub fn connected(&self, peer: Peer) -> bool {
        let conns = self.conns.lock().unwrap();
        conns.get(&peer).is_some_and(|tx| !tx.is_closed())
    }

    /// Stops every reader, writer and listener task; the sockets close with them.
    pub fn close(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        self.conns.lock().unwrap().clear();
    }

    fn track(&self, handle: tokio::task::JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap();
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle.abort_handle());
    }

    fn spawn_udp_reader(&self, udp: Arc<UdpSocket>) {
        let inbox = self.inbox.clone();
        self.track(tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                match udp.recv_from(&mut buf).await {
                    Ok((n, from)) => {
                        if stun::looks_like_stun(&buf[..n]) {
                            // Binding requests are answered here, statelessly (RFC 8489 as the
                            // SIP port's STUN server); responses go up to the keepalives.
                            if let Some(stun::Stun::Request { reply }) = stun::read(&buf[..n], from)
                            {
                                let _ = udp.try_send_to(&reply, from);
                                continue;
                            }
                        }
                        let peer = Peer {
                            proto: Proto::Udp,
                            addr: from,
                        };
                        let arrival = (buf[..n].to_vec(), peer, std::time::Instant::now());
                        match inbox.try_send(arrival) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                tracing::debug!("inbox full: dropped a datagram from {from}");
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
                        }
                    }
                    // ICMP port unreachable surfaces here on Linux; it is not fatal.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => {
                        tracing::warn!("UDP receive failed: {e}");
                        if inbox.is_closed() {
                            return;
                        }
                    }
                }
            }
        }));
    }

    /// Accepts connections: TCP ones are pooled at once; with `tls`, each handshake runs in
    /// its own task first, so a slow or silent client holds up nobody.
    fn spawn_acceptor(&self, listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
        let this = self.clone();
        self.track(tokio::spawn(async move {
            loop {
                let (stream, from) = crate::accept::next(&listener, "SIP over TCP").await;
                if this.inbox.is_closed() {
                    return;
                }
                // At the limit a new connection is closed at once: the client tries another
                // server (RFC 3263) or again later, and memory stays bounded.
                if this.conns.lock().unwrap().len() >= this.max_connections {
                    tracing::debug!("refused a connection from {from}: at the limit");
                    drop(stream);
                    continue;
                }
                let sniff = this.tls_on_tcp.lock().unwrap().clone();
                match (&tls, sniff) {
                    (None, None) => {
                        let peer = Peer {
                            proto: Proto::Tcp,
                            addr: from,
                        };
                        this.adopt(stream, peer, Role::Accepted);
                    }
                    (None, Some(acceptor)) => this.tcp_or_tls(acceptor, stream, from),
                    (Some(acceptor), _) => this.accept_tls(acceptor.clone(), stream, from),
                }
            }
        }));
    }

    /// Whether TLS is taken on the TCP listener too.
    pub fn takes_tls_on_tcp(&self) -> bool {
        self.tls_on_tcp.lock().unwrap().is_some()
    }

    /// Takes TLS on the TCP listener too, presenting `config`'s certificate.
    pub fn accept_tls_on_tcp(&self, config: Arc<rustls::ServerConfig>) {
        *self.tls_on_tcp.lock().unwrap() = Some(tokio_rustls::TlsAcceptor::from(config));
    }

    /// A connection to the TCP port: TLS when its first byte opens a TLS handshake record,
    /// plain SIP otherwise.
    fn tcp_or_tls(&self, acceptor: tokio_rustls::TlsAcceptor, stream: TcpStream, from: SocketAddr) {
        let this = self.clone();
        self.track(tokio::spawn(async move {
            match crate::accept::opens_with_tls(&stream, HANDSHAKE_WITHIN).await {
                Some(true) => this.accept_tls(acceptor, stream, from),
                Some(false) => {
                    let peer = Peer {
                        proto: Proto::Tcp,
                        addr: from,
                    };
                    this.adopt(stream, peer, Role::Accepted);
                }
                None => tracing::debug!("a connection from {from} sent nothing"),
            }
        }));
    }

    fn accept_tls(&self, acceptor: tokio_rustls::TlsAcceptor, stream: TcpStream, from: SocketAddr) {
        let this = self.clone();
        self.track(tokio::spawn(async move {
            let shake = tokio::time::timeout(HANDSHAKE_WITHIN, acceptor.accept(stream));
            match shake.await {
                Ok(Ok(tls)) => {
                    let peer = Peer {
                        proto: Proto::Tls,
                        addr: from,
                    };
                    this.adopt(tls, peer, Role::Accepted);
                }
                Ok(Err(e)) => tracing::debug!("TLS handshake with {from} failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake with {from} timed out"),
            }
        }));
    }

    /// Pools a connection: a writer task fed by a channel and a reader task that frames messages.
    fn adopt<S>(&self, stream: S, peer: Peer, role: Role) -> mpsc::UnboundedSender<Vec<u8>>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let remote = peer.addr;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        self.conns.lock().unwrap().insert(peer, tx.clone());
        self.track(tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                // A TLS stream holds written bytes until flushed.
                if wr.write_all(&bytes).await.is_err() || wr.flush().await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        }));
        let inbox = self.inbox.clone();
        let conns = self.conns.clone();
        let reply = tx.clone();
        self.track(tokio::spawn(async move {
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = [0u8; 8192];
            'read: loop {
                match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                let (used, pings, pongs) = keepalives(&buf, role);
                buf.drain(..used);
                for _ in 0..pings {
                    let _ = reply.send(b"\r\n".to_vec());
                }
                if pongs > 0 {
                    let arrival = (b"\r\n".to_vec(), peer, std::time::Instant::now());
                    if inbox.send(arrival).await.is_err() {
                        break 'read;
                    }
                }
                loop {
                    match parse::frame_len(&buf) {
                        Ok(Some(len)) => {
                            let msg: Vec<u8> = buf.drain(..len).collect();
                            let arrival = (msg, peer, std::time::Instant::now());
                            if inbox.send(arrival).await.is_err() {
                                break 'read;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // A stream we cannot frame cannot be resynchronised: answer what
                            // can be answered (413/400), then close it at once.
                            tracing::warn!("closing connection from {remote}: {e}");
                            if let Some(bytes) = parse::stream_refusal(&buf, &e) {
                                let _ = reply.send(bytes);
                            }
                            break 'read;
                        }
                    }
                }
            }
            conns.lock().unwrap().remove(&peer);
            if role == Role::Opened {
                // An empty arrival says a connection we opened is gone: a registration's flow
                // over it is dead (RFC 5626 4.4), and the engine registers again at once.
                let _ = inbox
                    .send((Vec::new(), peer, std::time::Instant::now()))
                    .await;
            }
        }));
        tx
    }

    /// Remembers where to answer `remote` (a connection's far end) if its connection closes.
    pub fn remember_sent_by(&self, remote: SocketAddr, back: SocketAddr) {
        let mut map = self.sent_by.lock().unwrap();
        // Bounded: a flood of short connections must not grow it without end.
        if map.len() >= 4096 {
            map.clear();
        }
        map.insert(remote, back);
    }

    /// Sends without waiting: Ok(false) means a TCP connection must be opened first (`send`).
    pub fn try_send(&self, peer: Peer, bytes: &[u8]) -> io::Result<bool> {
        match peer.proto {
            Proto::Udp => match self.udp_for(peer.addr)?.try_send_to(bytes, peer.addr) {
                Ok(_) => Ok(true),
                // A full socket buffer loses the datagram, as the network might: timers recover.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
                Err(e) => Err(e),
            },
            Proto::Tcp | Proto::Tls => {
                let conns = self.conns.lock().unwrap();
                match conns.get(&peer) {
                    Some(tx) if tx.send(bytes.to_vec()).is_ok() => Ok(true),
                    _ => Ok(false),
                }
            }
        }
    }

    pub async fn send(&self, peer: Peer, bytes: Vec<u8>) -> io::Result<()> {
        match peer.proto {
            Proto::Udp => self
                .udp_for(peer.addr)?
                .send_to(&bytes, peer.addr)
                .await
                .map(|_| ()),
            Proto::Tcp | Proto::Tls => {
                let tx = self.connection(peer).await?;
                tx.send(bytes)
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "connection closed"))
            }
        }
    }

    /// The open connection to `peer`, or a new one: for TLS, only once the server's
    /// certificate has been accepted (`CertRefused` inside the error if it was not).
    pub async fn connection(&self, peer: Peer) -> io::Result<mpsc::UnboundedSender<Vec<u8>>> {
        let existing = self.conns.lock().unwrap().get(&peer).cloned();
        if let Some(tx) = existing.filter(|tx| !tx.is_closed()) {
            return Ok(tx);
        }
        let back = self.sent_by.lock().unwrap().remove(&peer.addr);
        let to = Peer {
            addr: back.unwrap_or(peer.addr),
            ..peer
        };
        let stream = tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(to.addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let tx = match peer.proto {
            Proto::Tls => {
                let tls = self.handshake(stream, to.addr).await?;
                self.adopt(tls, to, Role::Opened)
            }
            _ => self.adopt(stream, to, Role::Opened),
        };
        if to != peer {
            // Later sends to the old connection's address use the new one.
            self.conns.lock().unwrap().insert(peer, tx.clone());
        }
        Ok(tx)
    }

    /// The client side of a TLS handshake with `addr`, checked as `expect` said (else
    /// against the address itself, with the system's roots).
    async fn handshake(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
    ) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let target = self.tls_targets.lock().unwrap().get(&addr).cloned();
        let target = match target {
            Some(t) => t,
            None => TlsTarget {
                name: rustls::pki_types::ServerName::IpAddress(addr.ip().into()),
                config: crate::tls::trust::system_config(),
            },
        };
        let connector = tokio_rustls::TlsConnector::from(target.config);
        tokio::time::timeout(HANDSHAKE_WITHIN, connector.connect(target.name, stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
    }
}

const CONNECT_WITHIN: Duration = Duration::from_secs(5);
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_keepalives_are_told_apart_by_who_connected() {
        assert_eq!(keepalives(b"\r\n\r\nREGISTER", Role::Accepted), (4, 1, 0));
        assert_eq!(keepalives(b"\r\n\r\n\r\n", Role::Accepted), (4, 1, 0));
        assert_eq!(keepalives(b"\r\n", Role::Opened), (2, 0, 1));
        assert_eq!(keepalives(b"SIP/2.0 200 OK\r\n", Role::Opened), (0, 0, 0));
    }
}
