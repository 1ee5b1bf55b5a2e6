//! Where a call's RTP goes: straight to the peer from our socket, or through our TURN relay
//! (RFC 8656), wrapped on the way out and unwrapped on the way in, so the session above sees
//! the peer's address either way.

use crate::nat::turn::Relay;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;
use tokio::net::UdpSocket;

pub struct Link {
    socket: UdpSocket,
    relay: Option<Mutex<Relay>>,
    /// When the relay wants to refresh or resend next.
    relay_at: Mutex<Option<Instant>>,
}

impl Link {
    pub fn new(socket: UdpSocket, relay: Option<Relay>) -> Link {
        let link = Link {
            socket,
            relay: relay.map(Mutex::new),
            relay_at: Mutex::new(None),
        };
        link.relay_poll();
        link
    }

    /// Sends without waiting (a full buffer loses the packet, as the network might).
    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) -> bool {
        let Some(relay) = &self.relay else {
            return self.socket.try_send_to(bytes, to).is_ok();
        };
        let now = Instant::now();
        let mut relay = relay.lock().unwrap();
        relay.open_to(to, now);
        let wrapped = relay.wrap(bytes, now);
        let server = relay.server();
        drop(relay);
        self.relay_poll();
        wrapped.is_some_and(|w| self.socket.try_send_to(&w, server).is_ok())
    }

    /// The next datagram for the session, with who sent it; the relay's own traffic is handled
    /// here and not returned.
    pub async fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            let Some(relay) = &self.relay else {
                return Ok((n, from));
            };
            let mut relay = relay.lock().unwrap();
            if from != relay.server() {
                return Ok((n, from)); // a peer that reached us directly
            }
            let got = relay.unwrap(&buf[..n], Instant::now());
            drop(relay);
            if let Some((data, peer)) = got {
                let len = data.len().min(buf.len());
                buf[..len].copy_from_slice(&data[..len]);
                return Ok((len, peer));
            }
            self.relay_poll();
        }
    }

    /// Resolves when the relay has something to do (never without a relay).
    pub async fn relay_due(&self) {
        let at = *self.relay_at.lock().unwrap();
        match at {
            Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
            None => std::future::pending().await,
        }
    }

    /// The call is over: the relay's allocation goes back to the server at once.
    pub fn close(&self) {
        if let Some(relay) = &self.relay {
            relay.lock().unwrap().release(Instant::now());
            self.relay_poll();
        }
    }

    /// Sends what the relay has due and notes when it next wants attention.
    pub fn relay_poll(&self) {
        let Some(relay) = &self.relay else { return };
        let mut relay = relay.lock().unwrap();
        let (out, next) = relay.poll(Instant::now());
        let server = relay.server();
        drop(relay);
        for bytes in out {
            let _ = self.socket.try_send_to(&bytes, server);
        }
        // Never sooner than a tick: a client that asks again at once must not spin us.
        let soon = Instant::now() + std::time::Duration::from_millis(20);
        *self.relay_at.lock().unwrap() = next.map(|t| t.max(soon));
    }
}
