//! `parley serve --relay`: a TURN server (RFC 8656) for the server's own users (long-term
//! credentials, realm = the domain), on `turn-server-proto`'s sans-IO server. One task owns it:
//! datagrams from clients (the TURN port) and from peers (one relayed socket per allocation,
//! each read by a task of its own) go in, and what it asks to send goes out of the right socket.
//! `turn_gate` stands in front of it: peers the reach rule refuses, quotas, held guesses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use turn_server_proto::api::{SocketAllocateError, TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer;
use turn_server_proto::stun::agent::Transmit;
use turn_server_proto::types::TransportType;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where clients reach the TURN server (UDP).
    pub listen: SocketAddr,
    /// Ports for relayed addresses.
    pub ports: RangeInclusive<u16>,
    pub realm: String,
    pub users: HashMap<String, String>,
    /// Where relayed data may go.
    pub reach: super::reach::Reach,
    pub quotas: super::turn_gate::Quotas,
    /// The address relayed addresses are given as, when not the local one (a NAT in front).
    pub external_ip: Option<IpAddr>,
}

/// A running relay; dropping it stops it.
pub struct Relay {
    addr: SocketAddr,
    _task: super::Running,
}

impl Relay {
    pub async fn start(cfg: RelayConfig) -> std::io::Result<Relay> {
        let sock = UdpSocket::bind(cfg.listen).await?;
        let addr = sock.local_addr()?;
        let mut server = TurnServer::new(TransportType::Udp, addr, cfg.realm.clone());
        for (user, password) in &cfg.users {
            server.add_user(user.clone(), password.clone());
        }
        let gate = super::turn_gate::TurnGate::new(&cfg.realm, cfg.users, cfg.reach, cfg.quotas);
        let core = Core {
            server,
            gate,
            external: cfg.external_ip,
            epoch: Instant::now(),
            listen: std::sync::Arc::new(sock),
            relayed: HashMap::new(),
            ports: cfg.ports,
        };
        let task = super::Running(tokio::spawn(core.run()));
        Ok(Relay { addr, _task: task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A datagram a peer sent to one of our relayed addresses.
type FromPeer = (SocketAddr, SocketAddr, Vec<u8>);

struct Core {
    server: TurnServer,
    gate: super::turn_gate::TurnGate,
    external: Option<IpAddr>,
    epoch: Instant,
    listen: std::sync::Arc<UdpSocket>,
    /// Each relayed socket, and the task reading it.
    relayed: HashMap<SocketAddr, (std::sync::Arc<UdpSocket>, tokio::task::AbortHandle)>,
    ports: RangeInclusive<u16>,
}

impl Drop for Core {
    fn drop(&mut self) {
        for (_, reader) in self.relayed.values() {
            reader.abort();
        }
    }
}

impl Core {
    fn at(&self) -> turn_server_proto::types::Instant {
        let since = Instant::now().saturating_duration_since(self.epoch);
        turn_server_proto::types::Instant::from_nanos(
            i64::try_from(since.as_nanos()).unwrap_or(i64::MAX),
        )
    }

    async fn run(mut self) {
        let (peer_tx, mut peer_rx) = mpsc::channel::<FromPeer>(4096);
        let listen = self.listen.clone();
        let mut buf = vec![0u8; 65_536];
        loop {
            let wait = self.step(&peer_tx).await;
            tokio::select! {
                r = listen.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.arrived(&buf[..n], from, self.server.listen_address()),
                    Err(e) => tracing::debug!("relay: {e}"),
                },
                Some((to, from, data)) = peer_rx.recv() => self.arrived(&data, from, to),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// A datagram that came to our address `to` (the TURN port, or a relayed address).
    fn arrived(&mut self, data: &[u8], from: SocketAddr, to: SocketAddr) {
        use super::turn_gate::Verdict;
        let listen = self.server.listen_address();
        let verdict = match to == listen {
            true => self.gate.inbound(data, from, Instant::now()),
            false => Verdict::Pass,
        };
        let data = match &verdict {
            Verdict::Pass => data,
            Verdict::Spoilt(d) => d.as_slice(),
            Verdict::Answer(reply) => return self.send(listen, from, reply),
        };
        let t = Transmit {
            data,
            transport: TransportType::Udp,
            from,
            to,
        };
        let at = self.at();
        if let Some(out) = self.server.recv(t, at) {
            let out = out.build();
            self.send(out.from, out.to, &out.data);
        }
    }

    /// Out of the socket that has address `from`: the TURN port (the server's answers, which
    /// the gate reads), or a relayed one.
    fn send(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let sock = match self.relayed.get(&from) {
            Some((s, _)) => s,
            None => {
                self.gate.outbound(data, Instant::now());
                &self.listen
            }
        };
        let _ = sock.try_send_to(data, to);
    }

    /// Does what the server asks for; returns how long it may wait.
    async fn step(&mut self, peer_tx: &mpsc::Sender<FromPeer>) -> Duration {
        loop {
            let at = self.at();
            while let Some(t) = self.server.poll_transmit(at) {
                self.send(t.from, t.to, &t.data);
            }
            match self.server.poll(at) {
                TurnServerPollRet::WaitUntil(t) => {
                    let until = t.to_std(self.epoch);
                    let wait = until.saturating_duration_since(Instant::now());
                    return wait.clamp(Duration::from_millis(5), Duration::from_secs(60));
                }
                TurnServerPollRet::AllocateSocket {
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                } => {
                    // Relayed on the address clients reached us on.
                    let ip = crate::sip::endpoint::local_ip_toward(listen_addr.ip(), client_addr);
                    let got = self.open_relayed(ip, peer_tx).await;
                    if let Ok(relayed) = got {
                        self.gate.allocated(relayed, client_addr);
                    }
                    let at = self.at();
                    self.server.allocated_socket(
                        transport,
                        listen_addr,
                        client_addr,
                        allocation_transport,
                        family,
                        got,
                        at,
                    );
                }
                TurnServerPollRet::SocketClose { listen_addr, .. } => {
                    if let Some((_, reader)) = self.relayed.remove(&listen_addr) {
                        reader.abort();
                    }
                    self.gate.released(listen_addr);
                }
                _ => {}
            }
        }
    }

    /// A relayed socket on `ip`, in the configured port range, read by a task of its own.
    async fn open_relayed(
        &mut self,
        ip: IpAddr,
        peer_tx: &mpsc::Sender<FromPeer>,
    ) -> Result<SocketAddr, SocketAllocateError> {
        let (lo, hi) = (*self.ports.start(), *self.ports.end());
        let span = u32::from(hi - lo) + 1;
        let first = rand::random::<u32>() % span;
        for i in 0..span.min(200) {
            let port = lo + u16::try_from((first + i) % span).unwrap_or(0);
            let Ok(sock) = UdpSocket::bind((ip, port)).await else {
                continue;
            };
            let sock = std::sync::Arc::new(sock);
            // As clients and peers know it: behind a NAT, the public address in front.
            let addr = SocketAddr::new(self.external.unwrap_or(ip), port);
            let (tx, reading) = (peer_tx.clone(), sock.clone());
            let reader = tokio::spawn(async move {
                let sock = reading;
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                    if tx.send((addr, from, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            });
            self.relayed.insert(addr, (sock, reader.abort_handle()));
            return Ok(addr);
        }
        Err(SocketAllocateError::InsufficientCapacity)
    }
}
