//! Finding the servers for a SIP URI (RFC 3263 4): an IP literal or an explicit port is used as
//! is; otherwise NAPTR records pick the transports (`SIPS+D2T`, `SIP+D2U`, `SIP+D2T`), then SRV
//! records (`_sips._tcp`, `_sip._udp`, `_sip._tcp`) give the servers in RFC 2782 order (lowest
//! priority first, weighted random among equals), then A/AAAA records on port 5060 (5061 for
//! TLS). Every address found is a target, so a caller can fail over to the next on a timeout or
//! 503 (4.3). A `sips:` URI goes over TLS or not at all: never over UDP or TCP instead.
//! DNS is hickory-resolver's: asynchronous, and it reads NAPTR and SRV, which libc cannot.

use super::headers::SipUri;
use super::transport::{Peer, Proto};
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;
use rand::Rng;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

/// Resolves URIs; cheap to clone. The DNS resolver is built on the first name looked up: an
/// account on an IP literal never pays for it (its code and tables are a fifth of an idle
/// agent's memory).
#[derive(Clone)]
pub struct Locator {
    servers: NameServers,
    dns: Arc<OnceLock<Option<TokioResolver>>>,
}

#[derive(Clone, Copy)]
enum NameServers {
    System,
    One(SocketAddr),
    None,
}

fn not_secure(uri: &SipUri, t: &str) -> io::Error {
    let why = format!("{} is a sips: address: it cannot go over {t}", uri.aor());
    io::Error::new(io::ErrorKind::Unsupported, why)
}

/// The transport a URI asks for (`None`: ours to choose, `preferred` if given). A `sips:`
/// URI is TLS whatever else is preferred (RFC 3261 26.2.2).
fn transport_of(uri: &SipUri, preferred: Option<Proto>) -> io::Result<Option<Proto>> {
    let named = match uri.transport() {
        None => None,
        Some(t) => Some(Proto::parse(t).ok_or_else(|| {
            let why = format!("transport={t} is not supported (only UDP, TCP and TLS)");
            io::Error::new(io::ErrorKind::Unsupported, why)
        })?),
    };
    if uri.scheme.eq_ignore_ascii_case("sips") {
        return match named {
            None | Some(Proto::Tls) => Ok(Some(Proto::Tls)),
            Some(p) => Err(not_secure(uri, p.as_str())),
        };
    }
    Ok(named.or(preferred))
}

/// Refuses a URI we cannot reach at all (unknown transports, sips: over UDP), whatever the route.
pub fn check_transport(uri: &SipUri) -> io::Result<()> {
    transport_of(uri, None).map(|_| ())
}

/// RFC 2782 order: by priority; within one priority, weighted random draws (`draw(total)`
/// returns 0..=total), zero-weight records first as the RFC arranges them.
pub fn order_srv<T>(mut records: Vec<(u16, u16, T)>, mut draw: impl FnMut(u32) -> u32) -> Vec<T> {
    records.sort_by_key(|r| (r.0, r.1 != 0));
    let mut out = Vec::with_capacity(records.len());
    while !records.is_empty() {
        let prio = records[0].0;
        let n = records.iter().take_while(|r| r.0 == prio).count();
        let total: u32 = records[..n].iter().map(|r| u32::from(r.1)).sum();
        let pick = draw(total);
        let mut running = 0;
        let at = records[..n]
            .iter()
            .position(|r| {
                running += u32::from(r.1);
                running >= pick
            })
            .unwrap_or(0);
        out.push(records.remove(at).2);
    }
    out
}

/// NAPTR services we can use (RFC 3263 4.1): SIP over UDP or TCP, SIPS over TCP.
fn naptr_proto(services: &[u8]) -> Option<Proto> {
    match services.to_ascii_uppercase().as_slice() {
        b"SIP+D2U" => Some(Proto::Udp),
        b"SIP+D2T" => Some(Proto::Tcp),
        b"SIPS+D2T" => Some(Proto::Tls),
        _ => None,
    }
}

/// The SRV name for a transport (RFC 3263 4.1): TLS is `_sips._tcp`.
fn srv_name(proto: Proto, host: &str) -> String {
    match proto {
        Proto::Udp => format!("_sip._udp.{host}."),
        Proto::Tcp => format!("_sip._tcp.{host}."),
        Proto::Tls => format!("_sips._tcp.{host}."),
    }
}

impl Locator {
    /// The system's name servers (`/etc/resolv.conf`); without them, names go to `getaddrinfo`.
    pub fn system() -> Locator {
        Locator::new(NameServers::System)
    }

    /// One given name server (tests, or a user's choice).
    pub fn with_nameserver(addr: SocketAddr) -> Locator {
        Locator::new(NameServers::One(addr))
    }

    fn new(servers: NameServers) -> Locator {
        let dns = Arc::new(OnceLock::new());
        Locator { servers, dns }
    }

    fn dns(&self) -> Option<&TokioResolver> {
        let build = || match self.servers {
            NameServers::System => TokioResolver::builder_tokio()
                .map(|b| b.build())
                .map_err(|e| tracing::info!("no DNS configuration, SRV lookups off: {e}"))
                .ok(),
            NameServers::One(addr) => {
                let mut cfg = ResolverConfig::new();
                cfg.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
                let provider = TokioConnectionProvider::default();
                Some(TokioResolver::builder_with_config(cfg, provider).build())
            }
            NameServers::None => None,
        };
        self.dns.get_or_init(build).as_ref()
    }

    /// The first target for `uri`.
    pub async fn resolve(&self, uri: &SipUri) -> io::Result<Peer> {
        self.resolve_with(uri, None).await
    }

    /// The first target for `uri`, over `preferred` unless the URI names a transport.
    pub async fn resolve_with(&self, uri: &SipUri, preferred: Option<Proto>) -> io::Result<Peer> {
        let all = self.targets(uri, preferred).await?;
        all.into_iter().next().ok_or_else(|| no_address(&uri.host))
    }

    /// Every target for `uri` in the order RFC 3263 says to try them.
    pub async fn targets(&self, uri: &SipUri, preferred: Option<Proto>) -> io::Result<Vec<Peer>> {
        let proto = transport_of(uri, preferred)?;
        let host = uri.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            let proto = proto.unwrap_or(Proto::Udp);
            let addr = (ip, uri.port.unwrap_or(proto.default_port())).into();
            return Ok(vec![Peer { proto, addr }]);
        }
        if let Some(port) = uri.port {
            return self
                .addresses(host, port, proto.unwrap_or(Proto::Udp))
                .await;
        }
        if uri.transport().is_none() {
            let found = self.naptr(host, proto).await;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        // Ours to choose: TLS first where the domain offers it.
        let protos = match proto {
            Some(p) => vec![p],
            None => vec![Proto::Tls, Proto::Udp, Proto::Tcp],
        };
        for p in protos {
            let found = self.srv(&srv_name(p, host), p).await;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        let proto = proto.unwrap_or(Proto::Udp);
        self.addresses(host, proto.default_port(), proto).await
    }

    /// NAPTR (RFC 3263 4.1): the SRV names of the transports we can use, best order first.
    async fn naptr(&self, host: &str, only: Option<Proto>) -> Vec<Peer> {
        let Some(dns) = self.dns() else {
            return Vec::new();
        };
        let Ok(lookup) = dns.lookup(format!("{host}."), RecordType::NAPTR).await else {
            return Vec::new();
        };
        let mut records: Vec<_> = lookup
            .iter()
            .filter_map(|r| match r {
                RData::NAPTR(n) if n.flags().eq_ignore_ascii_case(b"s") => {
                    let p = naptr_proto(n.services())?;
                    Some((n.order(), n.preference(), p, n.replacement().to_utf8()))
                }
                _ => None,
            })
            .filter(|r| only.is_none_or(|p| p == r.2))
            .collect();
        records.sort_by_key(|r| (r.0, r.1));
        let mut out = Vec::new();
        for (_, _, proto, name) in records {
            out.extend(self.srv(&name, proto).await);
        }
        out
    }

    async fn srv(&self, name: &str, proto: Proto) -> Vec<Peer> {
        let Some(dns) = self.dns() else {
            return Vec::new();
        };
        let Ok(lookup) = dns.srv_lookup(name).await else {
            return Vec::new();
        };
        let records = lookup
            .iter()
            .map(|r| (r.priority(), r.weight(), (r.target().to_utf8(), r.port())))
            .collect();
        let ordered = order_srv(records, |total| rand::thread_rng().gen_range(0..=total));
        let mut out = Vec::new();
        for (target, port) in ordered {
            let target = target.trim_end_matches('.');
            match self.addresses(target, port, proto).await {
                Ok(peers) => out.extend(peers),
                Err(e) => tracing::debug!("{name}: {target} has no address: {e}"),
            }
        }
        out
    }

    async fn addresses(&self, host: &str, port: u16, proto: Proto) -> io::Result<Vec<Peer>> {
        let peer = |ip| Peer {
            proto,
            addr: SocketAddr::new(ip, port),
        };
        if let Some(dns) = self.dns() {
            if let Ok(ips) = dns.lookup_ip(format!("{host}.")).await {
                let all: Vec<Peer> = ips.iter().map(peer).collect();
                if !all.is_empty() {
                    return Ok(all);
                }
            }
        }
        let all: Vec<Peer> = tokio::net::lookup_host((host, port))
            .await?
            .map(|a| peer(a.ip()))
            .collect();
        match all.is_empty() {
            true => Err(no_address(host)),
            false => Ok(all),
        }
    }
}

fn no_address(host: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}"))
}

/// Resolves without DNS NAPTR/SRV: IP literals and names through the system resolver.
pub async fn resolve(uri: &SipUri) -> io::Result<Peer> {
    Locator::new(NameServers::None).resolve(uri).await
}

/// Every target for a server given as `host[:port][;transport=...]` (an account's outbound
/// server), over `proto` unless it names its own transport.
pub async fn server_targets(locator: &Locator, s: &str, proto: Proto) -> io::Result<Vec<Peer>> {
    let uri = SipUri::parse(&format!("sip:{s}"))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    locator.targets(&uri, Some(proto)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn srv_priority_first_then_weight() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut heavy_first = 0;
        for _ in 0..1000 {
            let recs = vec![(1, 0, "backup"), (0, 10, "light"), (0, 90, "heavy")];
            let order = order_srv(recs, |t| rng.gen_range(0..=t));
            assert_eq!(
                order[2], "backup",
                "priority 1 comes after every priority 0"
            );
            heavy_first += usize::from(order[0] == "heavy");
        }
        // 90 of 100 weight: about 900 of 1000 draws put it first.
        assert!((850..=950).contains(&heavy_first), "{heavy_first}");
    }

    #[test]
    fn sips_is_tls_only_and_unknown_transports_are_refused() {
        let sips = SipUri::parse("sips:bob@example.com").unwrap();
        assert_eq!(
            transport_of(&sips, Some(Proto::Udp)).unwrap(),
            Some(Proto::Tls)
        );
        let sips_udp = SipUri::parse("sips:bob@example.com;transport=udp").unwrap();
        let e = transport_of(&sips_udp, None).unwrap_err();
        assert!(e.to_string().contains("sips:"), "{e}");
        let tls = SipUri::parse("sip:bob@example.com;transport=tls").unwrap();
        assert_eq!(
            transport_of(&tls, Some(Proto::Udp)).unwrap(),
            Some(Proto::Tls)
        );
        assert_eq!(naptr_proto(b"sips+d2t"), Some(Proto::Tls));
        assert_eq!(
            srv_name(Proto::Tls, "example.com"),
            "_sips._tcp.example.com."
        );
        let sctp = SipUri::parse("sip:bob@example.com;transport=sctp").unwrap();
        assert!(transport_of(&sctp, None).is_err());
        let tcp = SipUri::parse("sip:bob@example.com;transport=TCP").unwrap();
        assert_eq!(
            transport_of(&tcp, Some(Proto::Udp)).unwrap(),
            Some(Proto::Tcp)
        );
    }
}
