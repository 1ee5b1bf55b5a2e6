//! Finding the server for a SIP URI (RFC 3263, without NAPTR): an IP literal or an explicit port
//! is used as is; otherwise `_sip._udp` / `_sip._tcp` SRV records are tried (lowest priority,
//! then highest weight), then the name's A/AAAA records on port 5060.
//! DNS is hickory-resolver's: asynchronous, and it reads SRV, which the system resolver cannot.

use super::headers::SipUri;
use super::transport::{Peer, Proto};
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;
use std::io;
use std::net::{IpAddr, SocketAddr};

/// Resolves URIs; cheap to clone.
#[derive(Clone)]
pub struct Locator {
    dns: Option<TokioResolver>,
}

impl Locator {
    /// The system's name servers (`/etc/resolv.conf`); without them, names go to `getaddrinfo`.
    pub fn system() -> Locator {
        let dns = TokioResolver::builder_tokio()
            .map(|b| b.build())
            .map_err(|e| tracing::info!("no DNS configuration, SRV lookups off: {e}"))
            .ok();
        Locator { dns }
    }

    /// One given name server (tests, or a user's choice).
    pub fn with_nameserver(addr: SocketAddr) -> Locator {
        let mut cfg = ResolverConfig::new();
        cfg.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
        let dns =
            TokioResolver::builder_with_config(cfg, TokioConnectionProvider::default()).build();
        Locator { dns: Some(dns) }
    }

    pub async fn resolve(&self, uri: &SipUri) -> io::Result<Peer> {
        let proto = uri.transport().and_then(Proto::parse).unwrap_or(Proto::Udp);
        let host = uri.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Peer {
                proto,
                addr: (ip, uri.port.unwrap_or(5060)).into(),
            });
        }
        if uri.port.is_none() {
            if let Some(peer) = self.srv(host, proto).await {
                return Ok(peer);
            }
        }
        let port = uri.port.unwrap_or(5060);
        let addr = self.address(host, port).await?;
        Ok(Peer { proto, addr })
    }

    async fn srv(&self, host: &str, proto: Proto) -> Option<Peer> {
        let dns = self.dns.as_ref()?;
        let name = format!("_sip._{}.{host}.", proto.as_str().to_ascii_lowercase());
        let lookup = dns.srv_lookup(name.as_str()).await.ok()?;
        let mut records: Vec<_> = lookup.iter().collect();
        // RFC 2782: lowest priority first; among equals, the heaviest (no random spread: one try).
        records.sort_by_key(|r| (r.priority(), std::cmp::Reverse(r.weight())));
        for r in records {
            let target = r.target().to_utf8();
            let target = target.trim_end_matches('.');
            if let Ok(addr) = self.address(target, r.port()).await {
                tracing::debug!("{name} -> {target}:{} ({addr})", r.port());
                return Some(Peer { proto, addr });
            }
        }
        None
    }

    async fn address(&self, host: &str, port: u16) -> io::Result<SocketAddr> {
        if let Some(dns) = &self.dns {
            if let Ok(ips) = dns.lookup_ip(format!("{host}.")).await {
                if let Some(ip) = ips.iter().next() {
                    return Ok(SocketAddr::new(ip, port));
                }
            }
        }
        tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}"))
            })
    }
}

/// Resolves without DNS SRV: IP literals and names through the system resolver.
pub async fn resolve(uri: &SipUri) -> io::Result<Peer> {
    Locator { dns: None }.resolve(uri).await
}

/// Resolves `host[:port]` (a server given on the command line) for a transport.
pub async fn resolve_hostport(s: &str, proto: Proto) -> io::Result<Peer> {
    let uri = SipUri::parse(&format!("sip:{s}"))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut peer = resolve(&uri).await?;
    peer.proto = proto;
    Ok(peer)
}
