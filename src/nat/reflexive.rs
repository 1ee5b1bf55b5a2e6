//! A media socket's public address, asked of a STUN server (RFC 8489): what goes into our
//! SDP when we sit behind a NAT, so that the other side's packets come back through it.

use super::stun::{self, Stun};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Tries, and how long each waits: a server that answered our keepalives answers at once;
/// one that is gone costs under a second.
const TRIES: [Duration; 3] = [
    Duration::from_millis(150),
    Duration::from_millis(300),
    Duration::from_millis(450),
];

/// Where `server` sees `sock` from, or `None` when it does not say in time. The socket is
/// lent, not taken: a copy of it asks.
pub async fn public_address(sock: &UdpSocket, server: SocketAddr) -> Option<SocketAddr> {
    let copy = sock.try_clone().ok()?;
    copy.set_nonblocking(true).ok()?;
    let copy = tokio::net::UdpSocket::from_std(copy).ok()?;
    let (id, request) = stun::binding_request();
    let mut buf = [0u8; 1500];
    for wait in TRIES {
        copy.send_to(&request, server).await.ok()?;
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Ok((n, from))) =
            tokio::time::timeout_at(deadline, copy.recv_from(&mut buf)).await
        {
            if from != server || !stun::looks_like_stun(&buf[..n]) {
                continue; // early media from the other side: theirs to resend
            }
            if let Some(Stun::Response { id: got, mapped }) = stun::read(&buf[..n], from) {
                if got == id {
                    return Some(mapped);
                }
            }
        }
    }
    None
}
