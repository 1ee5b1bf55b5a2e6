//! Where a call's RTP goes: straight to the peer from our socket, through our TURN relay
//! (RFC 8656, wrapped on the way out and unwrapped on the way in), or on the pair ICE chose
//! (RFC 8445), so the session above sees the peer's address whichever it is.

use crate::nat::ice::{IceLink, IceStart};
use crate::nat::turn::Relay;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;
use tokio::net::UdpSocket;

enum Path {
    Direct,
    Relay(Box<Relay>),
    /// The agent, and the address the session knows the peer by (the SDP's `c=`/`m=`).
    Ice(Box<IceLink>, SocketAddr),
}

/// ICE when both sides do it (and our socket has an address), else straight or relayed.
fn path_for(
    local: Option<SocketAddr>,
    relay: Option<Relay>,
    ice: Option<IceStart>,
    peer: SocketAddr,
) -> Path {
    let (Some(start), Some(local)) = (ice, local) else {
        return relay.map_or(Path::Direct, |r| Path::Relay(Box::new(r)));
    };
    match IceLink::new(start, local, relay) {
        Ok(agent) => Path::Ice(Box::new(agent), peer),
        Err(e) => {
            tracing::warn!("no ICE for this call: {e}; sending to {peer}");
            Path::Direct
        }
    }
}

pub struct Link {
    socket: UdpSocket,
    path: Mutex<Path>,
    /// When the relay or the ICE agent wants to refresh, check or resend next.
    due_at: Mutex<Option<Instant>>,
}

impl Link {
    /// `ice` with a peer that does ICE (`peer` is its SDP address); else straight or relayed.
    pub fn new(
        socket: UdpSocket,
        relay: Option<Relay>,
        ice: Option<IceStart>,
        peer: SocketAddr,
    ) -> Link {
        let path = path_for(socket.local_addr().ok(), relay, ice, peer);
        let link = Link {
            socket,
            path: Mutex::new(path),
            due_at: Mutex::new(None),
        };
        link.poll();
        link
    }

    /// A re-INVITE's new media: other ICE credentials on either side are an ICE restart
    /// (RFC 8445 9), on the same socket (a relay already handed to the old agent stays
    /// with it, so the new one has host and reflexive candidates).
    pub fn repoint(&self, ice: Option<IceStart>, peer: SocketAddr) {
        let mut path = self.path.lock().unwrap();
        match (&mut *path, &ice) {
            (Path::Ice(agent, at), Some(start)) if !agent.start().restarted_by(start) => {
                *at = peer;
                return;
            }
            (Path::Ice(..), _) => tracing::info!("ICE restarts (new credentials, or none)"),
            (_, None) => return,
            (_, Some(_)) => {}
        }
        let old = std::mem::replace(&mut *path, Path::Direct);
        drop(path);
        let relay = match old {
            Path::Relay(r) => Some(*r),
            Path::Ice(agent, _) => {
                self.close_agent(agent);
                None
            }
            Path::Direct => None,
        };
        *self.path.lock().unwrap() = path_for(self.socket.local_addr().ok(), relay, ice, peer);
        self.poll();
    }

    /// Closes an agent we no longer use and sends what it still has to say (its
    /// allocation's release).
    fn close_agent(&self, mut agent: Box<IceLink>) {
        let now = Instant::now();
        agent.close(now);
        let (out, _) = agent.poll(now);
        for (bytes, to) in out {
            let _ = self.socket.try_send_to(&bytes, to);
        }
    }

    /// Sends without waiting (a full buffer loses the packet, as the network might).
    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) -> bool {
        let now = Instant::now();
        let mut path = self.path.lock().unwrap();
        let (wrapped, dest) = match &mut *path {
            Path::Direct => return self.socket.try_send_to(bytes, to).is_ok(),
            Path::Relay(relay) => {
                relay.open_to(to, now);
                (relay.wrap(bytes, now), relay.server())
            }
            Path::Ice(agent, _) => match agent.send(bytes, now) {
                Some((data, to)) => (Some(data.into_vec()), to),
                None => return false,
            },
        };
        drop(path);
        self.poll();
        wrapped.is_some_and(|w| self.socket.try_send_to(&w, dest).is_ok())
    }

    /// The next datagram for the session, with who sent it; the relay's and ICE's own
    /// traffic is handled here and not returned.
    pub async fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            let got = self.take(&buf[..n], from);
            match got {
                Taken::Same => return Ok((n, from)),
                Taken::Data(data, peer) => {
                    let len = data.len().min(buf.len());
                    buf[..len].copy_from_slice(&data[..len]);
                    return Ok((len, peer));
                }
                Taken::Nothing => self.poll(),
            }
        }
    }

    fn take(&self, datagram: &[u8], from: SocketAddr) -> Taken {
        let now = Instant::now();
        let mut path = self.path.lock().unwrap();
        match &mut *path {
            Path::Direct => Taken::Same,
            // A peer that reached us directly.
            Path::Relay(relay) if from != relay.server() => Taken::Same,
            Path::Relay(relay) => match relay.unwrap(datagram, now) {
                Some((data, peer)) => Taken::Data(data, peer),
                None => Taken::Nothing,
            },
            Path::Ice(agent, peer) => {
                let mut data = agent.recv(datagram, from, now);
                // RTP and RTCP come one to a datagram; a second one would be a TURN
                // server's batch, which UDP allocations never send.
                match data.is_empty() {
                    true => Taken::Nothing,
                    false => Taken::Data(data.swap_remove(0), *peer),
                }
            }
        }
    }

    /// Resolves when the relay or agent has something to do.
    pub async fn due(&self) {
        let at = *self.due_at.lock().unwrap();
        match at {
            Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
            None => std::future::pending().await,
        }
    }

    /// The pair ICE chose, once: whether ours is relayed, our address on it and theirs.
    pub fn take_chosen(&self) -> Option<(bool, SocketAddr, SocketAddr)> {
        match &mut *self.path.lock().unwrap() {
            Path::Ice(a, _) => a.take_chosen(),
            _ => None,
        }
    }

    /// Whether the other side stopped answering ICE's consent checks (RFC 7675).
    pub fn consent_lost(&self) -> bool {
        matches!(&*self.path.lock().unwrap(), Path::Ice(a, _) if a.consent_lost())
    }

    /// The call is over: the relay's allocation goes back to the server at once.
    pub fn close(&self) {
        let now = Instant::now();
        match &mut *self.path.lock().unwrap() {
            Path::Relay(relay) => relay.release(now),
            Path::Ice(agent, _) => agent.close(now),
            Path::Direct => return,
        }
        self.poll();
    }

    /// Sends what the relay or agent has due and notes when it next wants attention.
    pub fn poll(&self) {
        let now = Instant::now();
        let mut path = self.path.lock().unwrap();
        let (out, next) = match &mut *path {
            Path::Direct => (Vec::new(), None),
            Path::Relay(relay) => {
                let (out, next) = relay.poll(now);
                let server = relay.server();
                (out.into_iter().map(|b| (b.into(), server)).collect(), next)
            }
            Path::Ice(agent, _) => agent.poll(now),
        };
        drop(path);
        for (bytes, to) in out {
            let r = self.socket.try_send_to(&bytes, to);
            tracing::trace!("media link out: {} bytes to {to}: {r:?}", bytes.len());
        }
        // Never sooner than a tick: a client that asks again at once must not spin us.
        let soon = now + std::time::Duration::from_millis(20);
        *self.due_at.lock().unwrap() = next.map(|t| t.max(soon));
    }
}

enum Taken {
    /// Media as it came.
    Same,
    /// Media out of a relay's or ICE's wrapping, and the peer it is from.
    Data(Vec<u8>, SocketAddr),
    /// The relay's or agent's own business.
    Nothing,
}
