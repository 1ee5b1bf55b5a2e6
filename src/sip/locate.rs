//! Turning a SIP URI into a transport address (RFC 3263, reduced). An IP literal is used as is;
//! a name is looked up with the system resolver (A/AAAA). The port defaults to 5060.

use super::headers::SipUri;
use super::transport::{Peer, Proto};
use std::io;

pub async fn resolve(uri: &SipUri) -> io::Result<Peer> {
    let proto = uri.transport().and_then(Proto::parse).unwrap_or(Proto::Udp);
    let host = uri.host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port.unwrap_or(5060);
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(Peer {
            proto,
            addr: (ip, port).into(),
        });
    }
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}")))?;
    Ok(Peer { proto, addr })
}

/// Resolves `host[:port]` (a server given on the command line) for a transport.
pub async fn resolve_hostport(s: &str, proto: Proto) -> io::Result<Peer> {
    let uri = SipUri::parse(&format!("sip:{s}"))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut peer = resolve(&uri).await?;
    peer.proto = proto;
    Ok(peer)
}
