//! A media socket's relay on a TURN server (RFC 8656), on `turn-client-proto`'s sans-IO client:
//! allocated before we offer or answer (the relayed address goes into our SDP), then carried
//! by the media session, which sends through it and unwraps what comes back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use turn_client_proto::api::{TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet};
use turn_client_proto::prelude::*;
use turn_client_proto::stun::agent::Transmit;
use turn_client_proto::types::{TransportType, TurnCredentials};
use turn_client_proto::udp::TurnClientUdp;

/// How long an allocation may take before we offer without it.
const ALLOCATE_WITHIN: Duration = Duration::from_secs(3);

/// Where to relay, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    pub addr: SocketAddr,
    pub user: String,
    pub password: String,
}

#[derive(thiserror::Error, Debug)]
pub enum TurnError {
    #[error("the TURN server {0} did not answer")]
    NoAnswer(SocketAddr),
    #[error("the TURN server {0} refused an allocation (wrong user or password?)")]
    Refused(SocketAddr),
    #[error("cannot use the media socket: {0}")]
    Io(#[from] std::io::Error),
}

/// An allocation on a TURN server, and the peer it relays for.
#[derive(Debug)]
pub struct Relay {
    client: TurnClientUdp,
    /// Where the sans-IO client's clock starts.
    epoch: Instant,
    local: SocketAddr,
    server: SocketAddr,
    relayed: SocketAddr,
    peer: Option<SocketAddr>,
    /// `None` while the allocation is under way, then whether it was made.
    allocated: Option<bool>,
}

impl Relay {
    /// Our address on the relay: what the other side sends to.
    pub fn relayed(&self) -> SocketAddr {
        self.relayed
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    fn at(&self, now: Instant) -> turn_client_proto::stun::Instant {
        turn_client_proto::stun::Instant::from_nanos(
            i64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(i64::MAX),
        )
    }

    /// The client and its clock's start, for an ICE agent to carry the allocation on.
    pub fn into_client(self) -> (TurnClientUdp, Instant) {
        (self.client, self.epoch)
    }

    /// Relays to and from `peer`: a channel (which also permits it) to it.
    pub fn open_to(&mut self, peer: SocketAddr, now: Instant) {
        if self.peer == Some(peer) {
            return;
        }
        let at = self.at(now);
        if let Err(e) = self.client.bind_channel(TransportType::Udp, peer, at) {
            tracing::info!("TURN: no channel to {peer}: {e:?}");
        }
        self.peer = Some(peer);
    }

    /// The datagram to send the server so that `data` reaches the peer.
    pub fn wrap(&mut self, data: &[u8], now: Instant) -> Option<Vec<u8>> {
        let (peer, at) = (self.peer?, self.at(now));
        match self.client.send_to(TransportType::Udp, peer, data, at) {
            Ok(Some(t)) => Some(t.build().data),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!("TURN: cannot relay yet: {e:?}");
                None
            }
        }
    }

    /// A datagram from the server: what a peer sent us, and who (`None`: the relay's own
    /// business, handled here).
    pub fn unwrap(&mut self, data: &[u8], now: Instant) -> Option<(Vec<u8>, SocketAddr)> {
        let at = self.at(now);
        let t = Transmit {
            data,
            transport: TransportType::Udp,
            from: self.server,
            to: self.local,
        };
        match self.client.recv(t, at) {
            TurnRecvRet::PeerData(p) => Some((p.data().to_vec(), p.peer)),
            _ => None,
        }
    }

    /// Gives the allocation back (a refresh with lifetime 0); its message is in the next `poll`.
    pub fn release(&mut self, now: Instant) {
        let at = self.at(now);
        let _ = self.client.delete(at);
    }

    /// The relay's own messages due now (refreshes, resends), and when to ask again.
    pub fn poll(&mut self, now: Instant) -> (Vec<Vec<u8>>, Option<Instant>) {
        let at = self.at(now);
        let mut out = Vec::new();
        while let Some(t) = self.client.poll_transmit(at) {
            out.push(t.data.to_vec());
        }
        while let Some(ev) = self.client.poll_event() {
            tracing::debug!("TURN: {ev:?}");
            match ev {
                TurnEvent::AllocationCreated(_, addr) => {
                    self.relayed = addr;
                    self.allocated = Some(true);
                }
                TurnEvent::AllocationCreateFailed(_) => self.allocated = Some(false),
                _ => {}
            }
        }
        let next = match self.client.poll(at) {
            TurnPollRet::WaitUntil(t) => Some(t.to_std(self.epoch)),
            _ => None,
        };
        (out, next)
    }
}

/// Allocates a relay for `sock` on `server`; the socket is lent (a copy of it asks).
pub async fn allocate(sock: &std::net::UdpSocket, server: &TurnServer) -> Result<Relay, TurnError> {
    let copy = sock.try_clone()?;
    copy.set_nonblocking(true)?;
    let copy = tokio::net::UdpSocket::from_std(copy)?;
    let local = sock.local_addr()?;
    let creds = TurnCredentials::new(&server.user, &server.password);
    let mut relay = Relay {
        client: TurnClientUdp::allocate(local, server.addr, TurnConfig::new(creds)),
        epoch: Instant::now(),
        local,
        server: server.addr,
        relayed: local,
        peer: None,
        allocated: None,
    };
    let deadline = tokio::time::Instant::now() + ALLOCATE_WITHIN;
    let mut buf = vec![0u8; 2048];
    loop {
        let (out, next) = relay.poll(Instant::now());
        for bytes in out {
            copy.send_to(&bytes, server.addr).await?;
        }
        match relay.allocated {
            Some(true) => return Ok(relay),
            Some(false) => return Err(TurnError::Refused(server.addr)),
            None => {}
        }
        let wake = next
            .map(tokio::time::Instant::from_std)
            .unwrap_or(deadline)
            .min(deadline);
        if tokio::time::Instant::now() >= deadline {
            return Err(TurnError::NoAnswer(server.addr));
        }
        if let Ok(Ok((n, from))) = tokio::time::timeout_at(wake, copy.recv_from(&mut buf)).await {
            if from == server.addr {
                let at = relay.at(Instant::now());
                let t = Transmit {
                    data: &buf[..n],
                    transport: TransportType::Udp,
                    from,
                    to: local,
                };
                let _ = relay.client.recv(t, at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_silent_server_gives_no_relay_and_says_so() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = TurnServer {
            addr: silent.local_addr().unwrap(),
            user: "u".into(),
            password: "p".into(),
        };
        let ours = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = allocate(&ours, &server).await.unwrap_err();
        assert!(
            matches!(err, TurnError::NoAnswer(a) if a == server.addr),
            "{err}"
        );
        // It asked: the server's socket holds the Allocate request.
        silent.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = silent.recv_from(&mut buf).unwrap();
        assert!(crate::nat::stun::looks_like_stun(&buf[..n]));
    }
}
